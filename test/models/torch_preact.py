"""PyTorch side of test/models/preact-parity.test.ts: an independent, hand-written pre-activation ResNet
(He et al. 2016 "Identity Mappings in Deep Residual Networks"; timm's ResNetV2 layout) built from an
ablate resolved config, with ablate's documented parameter names.

  torch_preact.py DIR CASE...

DIR/cases.json maps CASE to an ablate resolved ResNet config. For each CASE with weights
(DIR/CASE.ablate.pth and DIR/input.pth {"x": NCHW}), loads them strictly and writes DIR/CASE.out.pth:
  eval, train      logits in eval mode and of one train-mode forward,
  after.<key>      every BN buffer after that forward,
  params           the number of trainable parameters (a 1-element tensor).
A CASE without weights only gets params.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_modes import outputs_in_both_modes


def norm(channels, cfg):
    return nn.BatchNorm2d(channels, eps=cfg["bnEps"], momentum=cfg["bnMomentum"])


class ZeroPad(nn.Module):
    """He et al. 2016a option A: subsample by the stride and append zero channels."""

    def __init__(self, filters, stride):
        super().__init__()
        self.filters, self.stride = filters, stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.filters - x.shape[1]))


class PreActBlock(nn.Module):
    """x + F(x) with F = (BN-ReLU-conv) x n. A shortcut that reshapes reads the pre-activated input."""

    def __init__(self, cfg, inp, stage, stride):
        super().__init__()
        width = cfg["widths"][stage]
        if cfg["block"] == "basic":
            convs = [(3, width, stride), (3, width, 1)]
        else:
            s1, s2 = (stride, 1) if cfg["stride"] == "1x1" else (1, stride)
            convs = [(1, width, s1), (3, width, s2), (1, cfg["baseWidths"][stage] * 4, 1)]
        c = inp
        for i, (k, f, s) in enumerate(convs, 1):
            setattr(self, f"bn{i}", norm(c, cfg))
            setattr(self, f"conv{i}", nn.Conv2d(c, f, k, s, padding=k // 2, bias=False))
            c = f
        self.n, self.out = len(convs), c
        reshape = stride != 1 or inp != c
        kind = cfg["shortcut"]
        if kind == "none":
            self.kind = "none"
        elif kind == "all-projection" or (reshape and kind == "projection"):
            self.kind = "transform"
            self.downsample = nn.Sequential(nn.Conv2d(inp, c, 1, stride, bias=False))
        elif reshape:
            self.kind = "transform"
            self.downsample = ZeroPad(c, stride)
        else:
            self.kind = "identity"

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        y = self.conv1(pre)
        for i in range(2, self.n + 1):
            y = getattr(self, f"conv{i}")(F.relu(getattr(self, f"bn{i}")(y)))
        if self.kind == "none":
            return y
        return y + (x if self.kind == "identity" else self.downsample(pre))


class PreActResNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        imagenet = cfg["layout"] == "imagenet"
        k, s, p = (7, 2, 3) if imagenet else (3, 1, 1)
        self.conv1 = nn.Conv2d(cfg["inChannels"], cfg["stemWidth"], k, s, p, bias=False)
        self.pool = nn.MaxPool2d(3, 2, 1) if imagenet else nn.Identity()
        c = cfg["stemWidth"]
        self.stages = len(cfg["layers"])
        for st, n in enumerate(cfg["layers"]):
            blocks = []
            for i in range(n):
                blocks.append(PreActBlock(cfg, c, st, 2 if i == 0 and st > 0 else 1))
                c = blocks[-1].out
            setattr(self, f"layer{st + 1}", nn.Sequential(*blocks))
        self.norm = norm(c, cfg)
        self.fc = nn.Linear(c, cfg["numClasses"])

    def forward(self, x):
        x = self.pool(self.conv1(x))
        for st in range(self.stages):
            x = getattr(self, f"layer{st + 1}")(x)
        x = F.adaptive_avg_pool2d(F.relu(self.norm(x)), 1).flatten(1)
        return self.fc(x)


def main():
    out_dir, cases = sys.argv[1], sys.argv[2:]
    configs = json.load(open(f"{out_dir}/cases.json"))
    for case in cases:
        model = PreActResNet(configs[case])
        out = {"params": torch.tensor([sum(p.numel() for p in model.parameters())], dtype=torch.int64)}
        weights = f"{out_dir}/{case}.ablate.pth"
        if os.path.exists(weights):
            x = torch.load(f"{out_dir}/input.pth")["x"]
            model.load_state_dict(torch.load(weights), strict=True)
            out.update(outputs_in_both_modes(model, x))
        torch.save(out, f"{out_dir}/{case}.out.pth")


if __name__ == "__main__":
    main()
