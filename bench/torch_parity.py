"""PyTorch side of bench/accuracy-parity.ts; run with Debian's /usr/bin/python3.

Trains a torchvision ResNet from the initial weights ablate wrote, on the pixels ablate decoded, in
the order ablate's DataLoader visits them, with the same optimizer, and prints per-epoch metrics.

  usage: torch_parity.py <dir> <seed>
  <dir>/meta.json            {"model", "num_classes", "size", "epochs", "batch", "lr", "momentum", "weight_decay", "threads", "precision"}
  <dir>/train.u8, val.u8     NHWC uint8 pixels;   train.labels, val.labels   int32
  <dir>/init-<seed>.pth      ablate's initial state dict
  <dir>/order-<seed>.i32     epochs × n_train positions, the order of each epoch
"""
import json
import sys
import time

import numpy as np
import torch
import torchvision


def main():
    d, seed = sys.argv[1], int(sys.argv[2])
    meta = json.load(open(f"{d}/meta.json"))
    torch.set_num_threads(meta["threads"])
    s, bs = meta["size"], meta["batch"]

    def load(split):
        x = np.fromfile(f"{d}/{split}.u8", dtype=np.uint8).reshape(-1, s, s, 3)
        y = np.fromfile(f"{d}/{split}.labels", dtype=np.int32)
        return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    xtr, ytr = load("train")
    xva, yva = load("val")
    orders = np.fromfile(f"{d}/order-{seed}.i32", dtype=np.int32).reshape(meta["epochs"], -1)
    bf16 = meta["precision"] == "bf16"

    model = getattr(torchvision.models, meta["model"])(num_classes=meta["num_classes"])
    model.load_state_dict(torch.load(f"{d}/init-{seed}.pth"), strict=True)
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=meta["lr"], momentum=meta["momentum"], weight_decay=meta["weight_decay"])
    fmt = torch.channels_last if bf16 else torch.contiguous_format

    def to_input(u8):
        # The same arithmetic as ablate's imagesToTensor: uint8 NHWC -> float NCHW, / 255.
        return u8.permute(0, 3, 1, 2).float().div(255).contiguous(memory_format=fmt)

    def forward(x):
        if bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(x).float()
        return model(x).float()

    epochs = []
    for ep in range(meta["epochs"]):
        t0 = time.perf_counter()
        model.train()
        order = torch.from_numpy(orders[ep].astype(np.int64))
        loss_sum, correct, seen = 0.0, 0, 0
        for k in range(0, len(order), bs):
            idx = order[k:k + bs]
            x, y = to_input(xtr[idx]), ytr[idx]
            logits = forward(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
        model.eval()
        vloss, vcorrect = 0.0, 0
        with torch.no_grad():
            for k in range(0, len(yva), bs):
                logits = forward(to_input(xva[k:k + bs]))
                y = yva[k:k + bs]
                vloss += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
                vcorrect += (logits.argmax(1) == y).sum().item()
        epochs.append({
            "loss": loss_sum / seen, "accuracy": correct / seen,
            "val_loss": vloss / len(yva), "val_accuracy": vcorrect / len(yva), "time_s": time.perf_counter() - t0,
        })
        print(f"torch seed {seed} epoch {ep + 1}: {epochs[-1]}", file=sys.stderr, flush=True)
    print(json.dumps({"epochs": epochs, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
