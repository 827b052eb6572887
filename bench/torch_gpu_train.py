"""PyTorch side of bench/gpu-train.ts: the fastest plain loop a PyTorch user writes for a GPU.

torchvision ResNet, channels-last, bf16 autocast, SGD(momentum 0.9), cudnn.benchmark; the images are uint8 NHWC in
pinned host memory (decoded once, like ablate's cache) and go to the GPU with non_blocking copies, then permute,
float and /255 on the GPU, exactly what ablate does. No per-step host synchronisation.

  usage: torch_gpu_train.py <model> <batch> <size> <classes> <warmup_steps> <timed_steps> [device]
  prints one JSON line: images/s over the timed steps, the final loss, peak GPU memory.
"""
import json
import sys
import time

import torch
import torchvision


def main():
    name, batch, size, classes, warmup, timed = sys.argv[1], *(int(v) for v in sys.argv[2:7])
    device = torch.device(sys.argv[7] if len(sys.argv) > 7 else "cuda")
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    model = getattr(torchvision.models, name)(num_classes=classes).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    n = batch * 4
    cuda = device.type == "cuda"
    images = torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8)
    labels = torch.randint(0, classes, (n,), dtype=torch.int64)
    if cuda:
        images, labels = images.pin_memory(), labels.pin_memory()
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(i):
        k = (i % 4) * batch
        x = images[k:k + batch].to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
        x = x.contiguous(memory_format=torch.channels_last)
        y = labels[k:k + batch].to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            out = model(x)
        loss = loss_fn(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    model.train()
    for i in range(warmup):
        step(i)
    sync()
    t0 = time.perf_counter()
    for i in range(timed):
        loss = step(i)
    sync()
    dt = time.perf_counter() - t0
    print(json.dumps({
        "side": "pytorch", "torch": torch.__version__, "model": name, "batch": batch, "size": size,
        "images_per_s": batch * timed / dt, "steps": timed, "seconds": dt, "loss": float(loss),
        "peak_gpu_mib": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
    }))


if __name__ == "__main__":
    main()
