"""Checkpoint fixtures for test/models/pth*.test.ts, made and checked with real PyTorch.

  pth_fixtures.py make OUTDIR      write fixtures into OUTDIR and print {file: canonical value}
  pth_fixtures.py verify FILE...   torch.load each file (default and weights_only=True) and print
                                   {file: {"default": canon, "weights_only": canon, "resnet18": "ok"|error},
                                    "torch_version": "..."}

The canonical form is plain JSON both sides can build: tensors become
{"tensor": [dtype, shape, sha256 of contiguous little-endian bytes]}, dicts {"dict": [[k, v], ...]}
(order kept), lists and tuples JSON arrays.
"""
import collections
import hashlib
import json
import os
import sys

import torch
import torchvision


def canon(v):
    if isinstance(v, torch.Tensor):
        t = v.detach().contiguous()
        dtype = str(t.dtype).replace("torch.", "")
        raw = t.view(torch.int16) if t.dtype == torch.bfloat16 else t
        return {"tensor": [dtype, list(t.shape), hashlib.sha256(raw.numpy().tobytes()).hexdigest()]}
    if isinstance(v, dict):
        return {"dict": [[canon(k), canon(x)] for k, x in v.items()]}
    if isinstance(v, (list, tuple)):
        return [canon(x) for x in v]
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    return v


def resnet18_state_dict():
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    sd = model.state_dict()
    # Fresh BN statistics are 0/1; random ones make a mix-up of buffers detectable.
    for k, v in sd.items():
        if k.endswith("running_mean") or k.endswith("running_var"):
            v.copy_(torch.rand_like(v) + 0.5)
        if k.endswith("num_batches_tracked"):
            v.fill_(1234)
    return sd


class Evil:
    """Pickles as a call to os.system; a safe loader must refuse it before anything runs."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


def make(out):
    os.makedirs(out, exist_ok=True)
    files = {}

    def save(name, obj, **kw):
        path = os.path.join(out, name)
        torch.save(obj, path, **kw)
        files[name] = path

    sd = resnet18_state_dict()
    save("resnet18.pth", sd)
    save("resnet18_legacy.pth", sd, _use_new_zipfile_serialization=False)
    save("protocol4.pth", sd, pickle_protocol=4)

    torch.manual_seed(1)
    dtypes = collections.OrderedDict(
        f32=torch.randn(3, 4),
        f64=torch.randn(5, dtype=torch.float64),
        f16=torch.randn(2, 3).half(),
        bf16=torch.randn(4, 2).bfloat16(),
        i64=torch.tensor([-(2 ** 40), 0, 2 ** 40 + 7, -1], dtype=torch.int64),
        i32=torch.tensor([-5, 7, 2 ** 31 - 1], dtype=torch.int32),
        i16=torch.tensor([-300, 300], dtype=torch.int16),
        i8=torch.tensor([-128, 127, 0], dtype=torch.int8),
        u8=torch.tensor([0, 255, 17], dtype=torch.uint8),
        b=torch.tensor([True, False, True]),
        scalar=torch.tensor(3.5),
        empty=torch.zeros(0, 3),
    )
    save("dtypes.pth", dtypes)

    base = torch.arange(60, dtype=torch.float32)
    m = torch.randn(6, 5)
    views = collections.OrderedDict(
        base=base,
        shared_slice=base[10:20],  # same storage, offset 10
        shared_view=base.view(3, 4, 5),
        transposed=m.t(),
        strided=m[1:, ::2],
        expanded=torch.randn(3, 1).expand(3, 4),  # stride 0
        channels_last=torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last),
        half_t=torch.randn(4, 3).half().t(),
        long_t=torch.arange(12, dtype=torch.int64).reshape(3, 4).t(),
        bf16_t=torch.randn(3, 5).bfloat16().t(),
    )
    save("views.pth", views)
    save("views_legacy.pth", views, _use_new_zipfile_serialization=False)

    torch.manual_seed(2)
    small = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    opt = torch.optim.SGD(small.parameters(), lr=0.1, momentum=0.9)
    small(torch.randn(1, 3, 6, 6)).sum().backward()
    opt.step()
    save("nested.pth", {
        "state_dict": small.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 3,
        "best_acc": 0.75,
        "arch": "resnet18",
        "flags": [True, None, 1.5, -7, (1, "two")],
    })
    save("dataparallel.pth", collections.OrderedDict(
        ("module." + k, v) for k, v in small.state_dict().items()))
    save("params.pth", small.state_dict(keep_vars=True))  # nn.Parameter values

    marker = os.path.join(out, "PWNED")
    save("evil.pth", {"x": Evil(marker)})
    save("evil_legacy.pth", {"x": Evil(marker)}, _use_new_zipfile_serialization=False)
    save("module.pth", torch.nn.Linear(2, 2))

    # These files were just written by torch itself (some with pickle protocol 4, which torch >= 2.6's default
    # weights_only loader refuses): trusted, so read them the way torch < 2.6 did by default.
    trusted = {"weights_only": False} if "weights_only" in torch.load.__code__.co_varnames else {}
    manifest = {}
    for name, path in files.items():
        if name.startswith("evil") or name == "module.pth":
            continue
        manifest[name] = canon(torch.load(path, **trusted))
    json.dump(manifest, sys.stdout)


def verify(paths):
    result = {}
    for path in paths:
        entry = {"default": canon(torch.load(path))}
        try:
            entry["weights_only"] = canon(torch.load(path, weights_only=True))
        except Exception as e:  # reported, the test decides
            entry["weights_only"] = "error: " + str(e)
        loaded = torch.load(path)
        if isinstance(loaded, dict) and "fc.weight" in loaded:
            try:
                torchvision.models.resnet18().load_state_dict(loaded)  # strict
                entry["resnet18"] = "ok"
            except Exception as e:
                entry["resnet18"] = "error: " + str(e)
        result[path] = entry
    result["torch_version"] = torch.__version__
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "verify":
        verify(sys.argv[2:])
    else:
        sys.exit("usage: pth_fixtures.py make OUTDIR | verify FILE...")
