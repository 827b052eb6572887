"""PyTorch side of test/models/transformer-parity.test.ts: torchvision's ConvNeXt and VisionTransformer on weights
written by ablate, and weights written by torchvision for ablate to load.

  torch_transformer_parity.py DIR CASE...   CASE is convnext_tiny, vit_b_16 or vit_small (see build())

For each CASE:
  reads  DIR/CASE.ablate.pth (an ablate state dict) and DIR/CASE.input.pth ({"x": NCHW batch});
  loads it strictly into the torchvision model and writes DIR/CASE.out.pth with
    eval    logits in eval mode,
    train   logits of one train-mode forward (stochastic depth and dropout are 0, so only the mode differs);
  then builds a fresh seeded model with its layer scales, class token and head randomised (torchvision starts
  them at 1e-6 and zero, which would hide most of the net), saves its state dict as DIR/CASE.torch.pth and adds
  its eval-mode logits on the same input as torch_eval.
"""
import sys

import torch
from torchvision.models import convnext_tiny, vit_b_16
from torchvision.models.vision_transformer import VisionTransformer
from torch_modes import outputs_in_both_modes


def build(case, num_classes):
    if case == "convnext_tiny":
        return convnext_tiny(num_classes=num_classes, stochastic_depth_prob=0.0)
    if case == "vit_b_16":
        return vit_b_16(num_classes=num_classes)
    if case == "vit_small":
        # ablate's {patchSize: 8, depth: 2, heads: 4, width: 64, mlpDim: 128, inputSize: 32}.
        return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=num_classes)
    raise SystemExit(f"unknown case {case}")


def randomize(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_scale") or name.startswith("heads.") or name == "class_token":
                p.normal_(0, 0.5, generator=gen)


def main():
    out_dir, cases = sys.argv[1], sys.argv[2:]
    for case in cases:
        x = torch.load(f"{out_dir}/{case}.input.pth")["x"]
        sd = torch.load(f"{out_dir}/{case}.ablate.pth")
        head = "classifier.2.weight" if case.startswith("convnext") else "heads.head.weight"
        model = build(case, sd[head].shape[0])
        model.load_state_dict(sd, strict=True)
        out = outputs_in_both_modes(model, x)

        torch.manual_seed(1234)
        fresh = build(case, sd[head].shape[0])
        randomize(fresh, torch.Generator().manual_seed(99))
        fresh.eval()
        torch.save(fresh.state_dict(), f"{out_dir}/{case}.torch.pth")
        with torch.no_grad():
            out["torch_eval"] = fresh(x)
        torch.save(out, f"{out_dir}/{case}.out.pth")


if __name__ == "__main__":
    main()
