"""Python side of the data benchmarks; run with Debian's /usr/bin/python3 (PIL and torch live there).

  pil-decode <list-file> <size> <repeats>   decode+resize (bilinear, RGB) every file; print JSON timings
  learnability <raw-dir> <epochs>           train small torch CNNs on a dumped generated dataset; print JSON accuracies
"""
import json
import sys
import time


def pil_decode(list_file, size, repeats):
    from PIL import Image

    paths = [p for p in open(list_file).read().split("\n") if p]
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for p in paths:
            with Image.open(p) as im:
                # draft() is Pillow's JPEG DCT-domain downscale, the counterpart of libvips' shrink-on-load.
                im.draft("RGB", (size, size))
                im = im.convert("RGB").resize((size, size), Image.BILINEAR)
                im.tobytes()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, best_cpu = wall, cpu
    print(json.dumps({"images": len(paths), "seconds": best, "images_per_s": len(paths) / best, "images_per_cpu_s": len(paths) / best_cpu}))


def learnability(raw_dir, epochs):
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    meta = json.load(open(f"{raw_dir}/meta.json"))
    s = meta["size"]

    def load(split):
        x = np.fromfile(f"{raw_dir}/{split}.u8", dtype=np.uint8).reshape(-1, s, s, 3)
        y = np.fromfile(f"{raw_dir}/{split}.labels", dtype=np.int32)
        return torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255), torch.from_numpy(y).long()

    xtr, ytr = load("train")
    xte, yte = load("test")

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, skip):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.skip = skip
            self.proj = None
            if skip and (stride != 1 or cin != cout):
                self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
            if self.skip:
                out = out + (self.proj(x) if self.proj is not None else x)
            return F.relu(out)

    def net(n, skip, bn=True):
        layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
        cin = 16
        for i, c in enumerate([16, 32, 64]):
            for j in range(n):
                layers.append(Block(cin, c, 2 if (j == 0 and i > 0) else 1, skip))
                cin = c
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, meta["classes"])]
        return nn.Sequential(*layers)

    def tiny():
        return nn.Sequential(nn.Conv2d(3, 16, 5, 2, 2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, meta["classes"]))

    results = {}
    for name, make in [("linear-ish tiny cnn", tiny), ("plain-20", lambda: net(3, False)), ("resnet-20", lambda: net(3, True)), ("plain-56", lambda: net(9, False)), ("resnet-56", lambda: net(9, True))]:
        if name.endswith("56") and "--deep" not in sys.argv:
            continue
        torch.manual_seed(0)
        m = make()
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(0)
        accs = []
        t0 = time.perf_counter()
        for ep in range(epochs):
            m.train()
            perm = torch.randperm(len(xtr), generator=g)
            for k in range(0, len(xtr), 32):
                idx = perm[k:k + 32]
                loss = F.cross_entropy(m(xtr[idx]), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            m.eval()
            with torch.no_grad():
                pred = torch.cat([m(xte[k:k + 500]).argmax(1) for k in range(0, len(xte), 500)])
            accs.append(round((pred == yte).float().mean().item(), 4))
        results[name] = {"test_acc_per_epoch": accs, "seconds": round(time.perf_counter() - t0, 1)}
        print(name, results[name], file=sys.stderr, flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "pil-decode":
        pil_decode(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "learnability":
        learnability(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(f"unknown command {cmd!r}")
