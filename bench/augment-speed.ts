// Is augmentation a bottleneck? Times the pipelines on a 16×3×224×224 batch (ms per batch, median),
// next to the same math written in PyTorch and run by /usr/bin/python3 in this run, when available.
// Usage: node --import tsx bench/augment-speed.ts [--batch 16] [--size 224] [--iters 20] [--device cpu|cuda]
import { spawnSync } from 'node:child_process';
import { Generator, getNumThreads, rand, randint, resolveDevice } from '../src/tensor/index.js';
import { buildAugmentPipeline } from '../src/augment/index.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const batch = Number(arg('batch', '16'));
const size = Number(arg('size', '224'));
const iters = Number(arg('iters', '20'));
const device = resolveDevice(arg('device', 'cpu') as 'cpu');
const numClasses = 120;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const SPECS: [string, unknown][] = [
  ['none', 'none'],
  ['standard', 'standard'],
  ['cutmix', 'cutmix'],
  ['standard+cutmix', 'standard+cutmix'],
  ['standard+mixup', 'standard+mixup'],
  ['saturation [0.5, 1.5]', [{ saturation: [0.5, 1.5] }]],
  ['randomResizedCrop+flip', ['randomResizedCrop', 'flip']],
  ['cutmix per image', [{ cutmix: { mode: 'sample' } }]],
];

const images = rand([batch, 3, size, size]).to({ device });
const labels = randint(0, numClasses, [batch]).to({ device });
const gen = new Generator(0);
const ours = new Map<string, { median: number; min: number }>();
console.log(`augment-speed: batch ${batch}×3×${size}×${size}, ${iters} iterations, device ${device}, ${getNumThreads()} thread(s)`);
for (const [name, spec] of SPECS) {
  const p = buildAugmentPipeline(spec, { numClasses, imageSize: size });
  const times: number[] = [];
  for (let i = 0; i < iters + 3; i++) {
    const t0 = performance.now();
    const r = p.apply(images, labels, gen, { training: true });
    // Reading one value waits for asynchronous (CUDA) work to finish.
    r.targets.sum().item();
    const dt = performance.now() - t0;
    r.images.dispose();
    r.targets.dispose();
    if (i >= 3) times.push(dt);
  }
  ours.set(name, { median: median(times), min: Math.min(...times) });
}

// The same tensor formulation in PyTorch: the reference for "how fast can this be on this machine".
const TORCH = `
import sys, time, torch
batch, size, iters, threads = map(int, sys.argv[1:5])
torch.set_num_threads(threads)
x = torch.rand(batch, 3, size, size)
y = torch.randint(0, 120, (batch,))
g = torch.Generator().manual_seed(0)
def per(lo, hi): return (torch.rand(batch, generator=g) * (hi - lo) + lo).view(-1, 1, 1, 1)
def hue(x, d):
    mx = x.amax(1, keepdim=True); mn = x.amin(1, keepdim=True); c = mx - mn
    safe = torch.where(c > 0, c, torch.ones_like(c)); r, gg, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    h = torch.where(mx == r, (gg - b) / safe, torch.where(mx == gg, (b - r) / safe + 2, (r - gg) / safe + 4))
    h = torch.remainder(h + d * 6, 6)
    def ch(n):
        k = torch.remainder(h + n, 6)
        return mx - c * torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return torch.cat([ch(5), ch(3), ch(1)], 1)
def standard(x):
    m = (torch.rand(batch, generator=g) < 0.5).view(-1, 1, 1, 1)
    x = torch.where(m, x.flip(3), x)
    x = x + per(-0.2, 0.2)
    x = hue(x, per(-0.2, 0.2))
    mean = x.mean((2, 3), keepdim=True)
    x = (x - mean) * per(0.2, 0.5) + mean
    return x.clamp(0, 1)
def cutmix(x):
    lam = float(torch.distributions.Beta(1.0, 1.0).sample())
    perm = torch.randperm(batch, generator=g)
    cw = int(size * (1 - lam) ** 0.5); cx, cy = torch.randint(size, (2,), generator=g).tolist()
    x1, x2 = max(cx - cw // 2, 0), min(cx + cw // 2, size); y1, y2 = max(cy - cw // 2, 0), min(cy + cw // 2, size)
    out = x.clone(); out[:, :, y1:y2, x1:x2] = x[perm, :, y1:y2, x1:x2]
    lam = 1 - (x2 - x1) * (y2 - y1) / (size * size)
    oh = torch.nn.functional.one_hot(y, 120).float()
    return out, oh * lam + oh[perm] * (1 - lam)
for name, f in [('standard', standard), ('cutmix', cutmix), ('standard+cutmix', lambda x: cutmix(standard(x)))]:
    ts = []
    for i in range(iters + 3):
        t0 = time.perf_counter(); f(x); dt = time.perf_counter() - t0
        if i >= 3: ts.append(dt * 1000)
    ts.sort(); print(name, ts[len(ts) // 2], ts[0])
`;
const torch = new Map<string, { median: number; min: number }>();
if (device === 'cpu') {
  const r = spawnSync('/usr/bin/python3', ['-c', TORCH, String(batch), String(size), String(iters), String(getNumThreads())], { encoding: 'utf8' });
  if (r.status === 0) {
    for (const line of r.stdout.trim().split('\n')) {
      const [name, med, min] = line.split(' ');
      torch.set(name!, { median: Number(med), min: Number(min) });
    }
  } else {
    console.log(`(PyTorch reference skipped: ${r.stderr.trim().split('\n').at(-1) ?? 'python3 failed'})`);
  }
}

// Medians suffer when other processes share the cores; minima show what the code itself costs.
const cell = (v: number | undefined, w = 9): string => (v === undefined ? '' : v.toFixed(1)).padStart(w);
console.log(`${'pipeline'.padEnd(24)} ${'median ms'.padStart(9)} ${'min ms'.padStart(9)} ${'torch med'.padStart(9)} ${'torch min'.padStart(9)} ${'min ratio'.padStart(9)}`);
for (const [name, t] of ours) {
  const ref = torch.get(name);
  console.log(`${name.padEnd(24)} ${cell(t.median)} ${cell(t.min)} ${cell(ref?.median)} ${cell(ref?.min)} ${ref === undefined ? '' : (t.min / ref.min).toFixed(2).padStart(9)}`);
}
