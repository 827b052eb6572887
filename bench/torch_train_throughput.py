"""PyTorch side of bench/train-throughput.ts; run with Debian's /usr/bin/python3.

The plain torchvision loop a PyTorch user would write: ImageFolder (PIL decode, RGB), Resize to a
square (stretch, like ablate's 'stretch'), ToTensor (/255), DataLoader(shuffle, num_workers), SGD.
Every epoch decodes every JPEG again: that is how DataLoader works without extra code.

  usage: torch_train_throughput.py <root> <model> <fp32|bf16> <epochs> <batch> <workers> <size> [threads|default] [ceiling]
  prints one JSON line with per-epoch wall time, images/s, data-wait fraction and peak RSS.
  With "ceiling", the machine's ceiling layer (bench/lib/ceiling.ts: bf16 3x3 conv, 256 channels, 14x14, batch 16,
  channels-last) is timed after every step, as ablate's side does; that time is left out of the epoch's.
"""
import json
import resource
import sys
import time

import torch
import torchvision
from torchvision import datasets, transforms


CEILING_FLOPS = 2 * 16 * 14 * 14 * 256 * 256 * 9


def ceiling_sampler():
    x = torch.randn(16, 256, 14, 14).to(memory_format=torch.channels_last).bfloat16()
    w = torch.randn(256, 256, 3, 3).to(memory_format=torch.channels_last).bfloat16()

    def sample(reps=4):
        t = time.perf_counter()
        for _ in range(reps):
            torch.conv2d(x, w, padding=1)
        return CEILING_FLOPS * reps / ((time.perf_counter() - t) * 1e9)

    sample(2)
    return sample


def main():
    root, name, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    epochs, batch, workers, size = (int(v) for v in sys.argv[4:8])
    threads = sys.argv[8] if len(sys.argv) > 8 else "default"
    ceiling = len(sys.argv) > 9 and sys.argv[9] == "ceiling"
    if threads != "default":
        torch.set_num_threads(int(threads))
    bf16 = mode == "bf16"
    torch.manual_seed(0)

    t_start = time.perf_counter()
    ds = datasets.ImageFolder(root, transform=transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()]))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
    model = getattr(torchvision.models, name)(num_classes=len(ds.classes))
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    sample_ceiling = ceiling_sampler() if ceiling else None
    prep_s = time.perf_counter() - t_start

    out_epochs = []
    first_end = None
    for epoch in range(epochs):
        t0 = time.perf_counter()
        wait = 0.0
        samples, sample_s = [], 0.0
        seen = 0
        loss_sum = 0.0
        it = iter(loader)
        while True:
            tw = time.perf_counter()
            try:
                x, y = next(it)
            except StopIteration:
                break
            wait += time.perf_counter() - tw
            if bf16:
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    logits = model(x)
            else:
                logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_sum += loss.item() * len(y)
            seen += len(y)
            if sample_ceiling:
                ts = time.perf_counter()
                samples.append(sample_ceiling())
                sample_s += time.perf_counter() - ts
        dt = time.perf_counter() - t0 - sample_s
        if first_end is None:
            first_end = time.perf_counter()
        record = {"time_s": dt, "images": seen, "images_per_s": seen / dt, "data_wait_fraction": wait / dt, "loss": loss_sum / max(1, seen)}
        if sample_ceiling:
            record.update(ceiling_gflops=samples, ceiling_s=sample_s)
        out_epochs.append(record)
        print(f"epoch {epoch + 1}: {seen / dt:.1f} images/s, data wait {100 * wait / dt:.1f}%", file=sys.stderr, flush=True)

    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "images": len(ds),
        "prep_s": prep_s,
        "first_epoch_total_s": first_end - t_start,
        "epochs": out_epochs,
        "max_rss_kb": self_kb,
        "max_rss_worker_kb": children_kb,
    }), flush=True)


if __name__ == "__main__":
    main()
