"""PyTorch side of test/nn/transformer-layers.test.ts: the reference outputs and gradients of the layers ablate
added for ConvNeXt and ViT.

  torch_transformer_layers.py IN.pth OUT.pth

IN holds, per case, the input `<case>.x`, its weights `<case>.<name>` and a cotangent `<case>.g`; OUT gets
`<case>.y` (the output), `<case>.dx` and `<case>.d<name>`: the gradients of sum(y * g).
"""
import sys

import torch
import torch.nn.functional as F
from torchvision.ops import SqueezeExcitation


def run(case, t):
    x = t[f"{case}.x"].clone().requires_grad_(True)
    w = {k[len(case) + 1:]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith(case + ".") and k not in (f"{case}.x", f"{case}.g")}
    if case == "ln_last":
        y = F.layer_norm(x, (x.shape[-1],), w["weight"], w["bias"], 1e-6)
    elif case == "ln_channels":
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), w["weight"], w["bias"], 1e-6).permute(0, 3, 1, 2)
    elif case == "gelu":
        y = F.gelu(x)
    elif case == "gelu_tanh":
        y = F.gelu(x, approximate="tanh")
    elif case == "silu":
        y = F.silu(x)
    elif case == "hardswish":
        y = F.hardswish(x)
    elif case == "hardsigmoid":
        y = F.hardsigmoid(x)
    elif case in ("se", "se_silu"):
        se = SqueezeExcitation(x.shape[1], w["fc1.weight"].shape[0],
                               activation=torch.nn.ReLU if case == "se" else torch.nn.SiLU,
                               scale_activation=torch.nn.Sigmoid if case == "se" else torch.nn.Hardsigmoid)
        with torch.no_grad():
            for k, p in se.named_parameters():
                p.copy_(w[k])
        y = se(x)
        y.backward(t[f"{case}.g"])
        out = {f"{case}.y": y.detach(), f"{case}.dx": x.grad}
        out.update({f"{case}.d{k}": p.grad for k, p in se.named_parameters()})
        return out
    elif case == "mha":
        d = x.shape[2]
        m = torch.nn.MultiheadAttention(d, 4, batch_first=True)
        with torch.no_grad():
            for k, p in m.named_parameters():
                p.copy_(w[k])
        y, _ = m(x, x, x, need_weights=False)
        y.backward(t[f"{case}.g"])
        out = {f"{case}.y": y.detach(), f"{case}.dx": x.grad}
        out.update({f"{case}.d{k}": p.grad for k, p in m.named_parameters()})
        return out
    else:
        raise SystemExit(f"unknown case {case}")
    y.backward(t[f"{case}.g"])
    out = {f"{case}.y": y.detach(), f"{case}.dx": x.grad}
    out.update({f"{case}.d{k}": v.grad for k, v in w.items()})
    return out


def main():
    t = torch.load(sys.argv[1])
    cases = sorted({k.split(".")[0] for k in t})
    out = {}
    for c in cases:
        out.update(run(c, t))
    torch.save(out, sys.argv[2])


if __name__ == "__main__":
    main()
