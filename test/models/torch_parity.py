"""PyTorch side of test/models/parity.test.ts: runs torchvision's models on weights written by ablate
and writes weights for ablate to load.

  torch_parity.py DIR CASE...   CASE is e.g. resnet18, resnet50, plain34, vgg11_bn, densenet121, mobilenet_v2,
                                resnext50_32x4d (torchvision's builder names), mobilenet_v2_cifar

For each CASE:
  reads  DIR/CASE.ablate.pth (an ablate state dict) and DIR/input.pth ({"x": NCHW batch});
  loads it strictly into the torchvision model and writes DIR/CASE.out.pth with
    eval           logits in eval mode,
    train          logits of one train-mode forward (batch statistics),
    after.<key>    every buffer after that train-mode forward (running stats, num_batches_tracked);
  then seeds torch, builds a fresh model with random BN statistics, saves its state dict as
    DIR/CASE.torch.pth, and adds its eval-mode logits on the same input as torch_eval.
Plain nets are torchvision's ResNets with the shortcut additions and projection convs removed;
mobilenet_v2_cifar is torchvision's mobilenet_v2 with the stem and the 24-channel stage at stride 1.
Dropout is set to p=0, so train-mode logits are deterministic (ablate's side sets dropout: 0).
DenseNets also get DIR/CASE.torch_old.pth: the same state dict under the key names of torchvision's
published files (`norm.1` for `norm1`), which its loader renames.
"""
import re
import sys
import types

import torch
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck
from torch_modes import outputs_in_both_modes


def plain_basic_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    return self.relu(self.bn2(self.conv2(out)))


def plain_bottleneck_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    return self.relu(self.bn3(self.conv3(out)))


def build(case, num_classes):
    if not re.fullmatch(r"(resnet|plain)\d+", case):
        model = getattr(torchvision.models, case.removesuffix("_cifar"))(num_classes=num_classes)
        if case == "mobilenet_v2_cifar":
            model.features[0][0].stride = (1, 1)
            model.features[2].conv[1][0].stride = (1, 1)
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        return model
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
        num_classes = [v for k, v in sd.items() if k.endswith("weight") and v.dim() == 2][-1].shape[0]
        model = build(case, num_classes)
        model.load_state_dict(sd, strict=True)
        out = outputs_in_both_modes(model, x)

        torch.manual_seed(1234)
        fresh = build(case, num_classes)
        randomize_bn(fresh, torch.Generator().manual_seed(99))
        fresh.eval()
        torch.save(fresh.state_dict(), f"{out_dir}/{case}.torch.pth")
        if case.startswith("densenet"):
            # As published: old names, and no num_batches_tracked (they predate it).
            old = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v
                   for k, v in fresh.state_dict().items() if not k.endswith("num_batches_tracked")}
            assert any(".norm.1." in k for k in old)
            torch.save(old, f"{out_dir}/{case}.torch_old.pth")
        with torch.no_grad():
            out["torch_eval"] = fresh(x)
        torch.save(out, f"{out_dir}/{case}.out.pth")


if __name__ == "__main__":
    main()
