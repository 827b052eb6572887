"""PyTorch side of test/models/torchscript.test.ts: makes TorchScript files and checks what ablate did with them.

  torch_script.py make DIR          DIR/net.pt (Net below, scripted), DIR/resnet18.pt (torchvision, scripted),
                                    DIR/traced.pt (Net traced in eval mode), DIR/traced-plain.pt (Plain traced), each
                                    with 4 classes, weights from fixed seeds; DIR/pair.pt (returns a tuple),
                                    DIR/two-inputs.pt (forward takes two inputs)
  torch_script.py sgd DIR FILE      one SGD step (lr 0.1, momentum 0.9, weight decay 1e-4, train mode) of the
                                    scripted FILE on DIR/batch.pth ({x, y}); writes DIR/sgd.out.pth: the state
                                    dict after the step and the step's logits under "__logits__"
  torch_script.py strict ARCH PTH   loads PTH (ablate's model.pth) into a fresh ARCH (net | resnet18) with
                                    load_state_dict(strict=True) and prints the number of tensors that differ from
                                    the untrained file's (so a test sees that training changed them)
"""
import sys
from typing import Tuple

import torch
import torch.nn as nn
import torchvision


class Net(nn.Module):
    """A user's own module: conv, BatchNorm, dropout, a linear classifier."""

    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, num_classes))

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = x.mean((2, 3))
        return self.head(self.drop(x))


class Plain(nn.Module):
    """No BatchNorm, no dropout: the same in both modes, so tracing it loses nothing."""

    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class Pair(nn.Module):
    """Returns two tensors (logits and features): not what a classifier's forward may return."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x) -> Tuple[torch.Tensor, torch.Tensor]:
        feats = x.mean((2, 3))
        return self.fc(feats), feats


class TwoInputs(nn.Module):
    """forward(images, mask): ablate passes one batch, so it cannot drive this module."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x, mask):
        return self.fc(x.mean((2, 3)) * mask)


def build(arch):
    torch.manual_seed(0)
    if arch == "net":
        return Net(4)
    return torchvision.models.resnet18(num_classes=4)


def main():
    cmd = sys.argv[1]
    if cmd == "make":
        d = sys.argv[2]
        torch.jit.script(build("net")).save(f"{d}/net.pt")
        torch.jit.script(build("resnet18")).save(f"{d}/resnet18.pt")
        torch.jit.trace(build("net").eval(), torch.zeros(1, 3, 16, 16)).save(f"{d}/traced.pt")
        torch.manual_seed(0)
        torch.jit.trace(Plain(4), torch.zeros(1, 3, 16, 16)).save(f"{d}/traced-plain.pt")
        torch.jit.script(Pair()).save(f"{d}/pair.pt")
        torch.jit.script(TwoInputs()).save(f"{d}/two-inputs.pt")
    elif cmd == "sgd":
        d, file = sys.argv[2], sys.argv[3]
        torch.set_num_threads(1)
        m = torch.jit.load(file)
        m.train()
        batch = torch.load(f"{d}/batch.pth")
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        logits = m(batch["x"])
        nn.functional.cross_entropy(logits, batch["y"]).backward()
        opt.step()
        out = {k: v.detach().clone() for k, v in m.state_dict().items()}
        out["__logits__"] = logits.detach()
        torch.save(out, f"{d}/sgd.out.pth")
    elif cmd == "strict":
        arch, pth = sys.argv[2], sys.argv[3]
        fresh = build(arch)
        before = {k: v.clone() for k, v in fresh.state_dict().items()}
        fresh.load_state_dict(torch.load(pth), strict=True)
        changed = sum(1 for k, v in fresh.state_dict().items() if not torch.equal(v, before[k]))
        print(f"loaded {len(before)} changed {changed}")
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
