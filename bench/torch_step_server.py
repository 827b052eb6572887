"""PyTorch side of bench/engine-step.ts; run with Debian's /usr/bin/python3.

A persistent process: builds torchvision's resnet34 for one configuration, warms up, then answers
one JSON line per command read from stdin, so process start-up never lands inside a measurement.

  usage: torch_step_server.py <size> <fp32|bf16> <threads> <batch> [<model>]
  stdin:  "run K"  -> K timed training steps -> {"ms": [...], "cpuMs": [...] (process CPU time), "loss": last}
          "ops K"  -> K timed small element-wise ops (mul+add on one batch) -> {"ms": [...]}
          "profile K" -> K steps under the autograd profiler, per phase (forward+loss, backward, optimizer):
                      {"phases": {phase: {"ms": total wall ms, "ops": [[name, calls, self_us, total_us, top_us], ...]}}}
          "rss"    -> {"hwm_kb": peak resident set, "rss_kb": now} from /proc/self/status
          "quit"
"""
import json
import sys
import time
from collections import defaultdict

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

    def forward_loss():
        if bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(x)
        else:
            logits = model(x)
        return torch.nn.functional.cross_entropy(logits.float(), y)

    def profile(k):
        # The same phases bench/step-profile.ts times on ablate's side; sums by op name, top level = no parent op.
        phases = {p: {"ms": 0.0, "ops": defaultdict(lambda: [0, 0.0, 0.0, 0.0])} for p in ("forward", "backward", "optimizer")}
        for _ in range(k):
            holder = {}
            for phase, fn in (("forward", lambda: holder.update(loss=forward_loss())), ("backward", lambda: holder["loss"].backward()),
                              ("optimizer", lambda: (opt.step(), opt.zero_grad(set_to_none=True)))):
                with torch.autograd.profiler.profile() as prof:
                    t = time.perf_counter()
                    fn()
                    phases[phase]["ms"] += (time.perf_counter() - t) * 1000
                for e in prof.function_events:
                    row = phases[phase]["ops"][e.name]
                    row[0] += 1
                    row[1] += e.self_cpu_time_total
                    row[2] += e.cpu_time_total
                    if e.cpu_parent is None:
                        row[3] += e.cpu_time_total
            holder["loss"].item()
        return {p: {"ms": v["ms"], "ops": [[n, *r] for n, r in v["ops"].items()]} for p, v in phases.items()}

    def status_kb():
        out = {}
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    out["hwm_kb" if line.startswith("VmHWM") else "rss_kb"] = int(line.split()[1])
        return out

    baseline = status_kb()

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
                ms, cpu_ms, loss = [], [], float("nan")
                for _ in range(int(cmd[1])):
                    t, c = time.perf_counter(), time.process_time()
                    loss = step()
                    ms.append((time.perf_counter() - t) * 1000)
                    cpu_ms.append((time.process_time() - c) * 1000)
                print(json.dumps({"ms": ms, "cpuMs": cpu_ms, "loss": loss}), flush=True)
            elif cmd[0] == "profile":
                print(json.dumps({"phases": profile(int(cmd[1]))}), flush=True)
            elif cmd[0] == "rss":
                print(json.dumps({**status_kb(), "before_first_step_kb": baseline["rss_kb"]}), flush=True)
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
