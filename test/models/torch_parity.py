"""PyTorch side of test/models/parity.test.ts: runs torchvision's ResNets on weights written by ablate
and writes weights for ablate to load.

  torch_parity.py DIR CASE...   CASE is e.g. resnet18, resnet50, plain34

For each CASE:
  reads  DIR/CASE.ablate.pth (an ablate state dict) and DIR/input.pth ({"x": NCHW batch});
  loads it strictly into the torchvision model and writes DIR/CASE.out.pth with
    eval           logits in eval mode,
    train          logits of one train-mode forward (batch statistics),
    after.<key>    every buffer after that train-mode forward (running stats, num_batches_tracked);
  then seeds torch, builds a fresh model with random BN statistics, saves its state dict as
    DIR/CASE.torch.pth, and adds its eval-mode logits on the same input as torch_eval.
Plain nets are torchvision's ResNets with the shortcut additions and projection convs removed.
"""
import sys
import types

import torch
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck


def plain_basic_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    return self.relu(self.bn2(self.conv2(out)))


def plain_bottleneck_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    return self.relu(self.bn3(self.conv3(out)))


def build(case, num_classes):
    plain = case.startswith("plain")
    depth = case[len("plain"):] if plain else case[len("resnet"):]
    model = getattr(torchvision.models, "resnet" + depth)(num_classes=num_classes)
    if plain:
        for m in model.modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                m.downsample = None
                fwd = plain_basic_forward if isinstance(m, BasicBlock) else plain_bottleneck_forward
                m.forward = types.MethodType(fwd, m)
    return model


def randomize_bn(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0, 0.1, generator=gen)


def main():
    out_dir, cases = sys.argv[1], sys.argv[2:]
    x = torch.load(f"{out_dir}/input.pth")["x"]
    for case in cases:
        sd = torch.load(f"{out_dir}/{case}.ablate.pth")
        model = build(case, sd["fc.weight"].shape[0])
        model.load_state_dict(sd, strict=True)
        out = {}
        model.eval()
        with torch.no_grad():
            out["eval"] = model(x)
        model.train()
        with torch.no_grad():
            out["train"] = model(x)
        for k, v in model.state_dict().items():
            if "running" in k or "num_batches" in k:
                out["after." + k] = v

        torch.manual_seed(1234)
        fresh = build(case, sd["fc.weight"].shape[0])
        randomize_bn(fresh, torch.Generator().manual_seed(99))
        fresh.eval()
        torch.save(fresh.state_dict(), f"{out_dir}/{case}.torch.pth")
        with torch.no_grad():
            out["torch_eval"] = fresh(x)
        torch.save(out, f"{out_dir}/{case}.out.pth")


if __name__ == "__main__":
    main()
