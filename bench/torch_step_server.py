"""PyTorch side of bench/engine-step.ts; run with Debian's /usr/bin/python3.

A persistent process: builds torchvision's resnet34 for one configuration, warms up, then answers
one JSON line per command read from stdin, so process start-up never lands inside a measurement.

  usage: torch_step_server.py <size> <fp32|bf16> <threads> <batch> [<model>]
  stdin:  "run K"  -> K timed training steps -> {"ms": [...], "loss": last}
          "ops K"  -> K timed small element-wise ops (mul+add on one batch) -> {"ms": [...]}
          "quit"
"""
import json
import sys
import time

import torch
import torchvision


def main():
    size, precision, threads, batch = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    name = sys.argv[5] if len(sys.argv) > 5 else "resnet34"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    bf16 = precision == "bf16"
    model = getattr(torchvision.models, name)()
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 1000, (batch,))
    if bf16:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        # Same structure as ablate's fit loop: forward under autocast, loss in fp32 outside it.
        if bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(x)
        else:
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    small = torch.rand(16, 3, 224, 224)

    step()
    print(json.dumps({"ready": True, "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "quit":
                break
            if cmd[0] == "run":
                ms, loss = [], float("nan")
                for _ in range(int(cmd[1])):
                    t = time.perf_counter()
                    loss = step()
                    ms.append((time.perf_counter() - t) * 1000)
                print(json.dumps({"ms": ms, "loss": loss}), flush=True)
            elif cmd[0] == "ops":
                ms = []
                for _ in range(int(cmd[1])):
                    t = time.perf_counter()
                    small.mul(1.5).add(0.25).sum().item()
                    ms.append((time.perf_counter() - t) * 1000)
                print(json.dumps({"ms": ms}), flush=True)
            else:
                print(json.dumps({"error": f"unknown command {line.strip()!r}"}), flush=True)
        except Exception as e:  # report, keep serving: the caller decides
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)


if __name__ == "__main__":
    main()
