// Forward (eval, no grad) and training-step (forward + backward) time of the ResNet presets, ms per
// batch (median), next to torchvision doing the same work in this run via /usr/bin/python3 when available.
// Usage: node --import tsx bench/models-forward.ts [--batch 8] [--size 64] [--iters 10] [--models resnet18,plain34,resnet50,resnet56-cifar]
import { spawnSync } from 'node:child_process';
import { F, Generator, getNumThreads, noGrad, randint, randn, tidy } from '../src/tensor/index.js';
import { createModel } from '../src/models/index.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const batch = Number(arg('batch', '8'));
const size = Number(arg('size', '64'));
const iters = Number(arg('iters', '10'));
const presets = arg('models', 'resnet18,plain34,resnet50,resnet56-cifar').split(',');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function time(fn: () => void): number {
  for (let i = 0; i < 2; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

const ours = new Map<string, { fwd: number; step: number }>();
console.log(`models-forward: batch ${batch}×3×${size}×${size}, ${iters} iterations, ${getNumThreads()} thread(s)`);
for (const preset of presets) {
  const m = createModel(preset, { seed: 0, numClasses: 10 });
  const x = randn([batch, 3, size, size], { generator: new Generator(1) });
  const y = randint(0, 10, [batch], { generator: new Generator(2) });
  m.eval();
  const fwd = time(() => tidy(() => void noGrad(() => m.forward(x))));
  m.train();
  const params = m.parameters();
  const step = time(() =>
    tidy(() => {
      F.crossEntropy(m.forward(x), y).backward();
      for (const p of params) p.grad = null;
    }),
  );
  ours.set(preset, { fwd, step });
  m.dispose();
  x.dispose();
  y.dispose();
}

const PY = `
import sys, time, types, torch, torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck
torch.set_num_threads(int(sys.argv[1])); batch, size, iters = map(int, sys.argv[2:5])
def plain(m):
    for b in m.modules():
        if isinstance(b, BasicBlock):
            b.downsample = None
            b.forward = types.MethodType(lambda s, x: s.relu(s.bn2(s.conv2(s.relu(s.bn1(s.conv1(x)))))), b)
    return m
def med(f):
    for _ in range(2): f()
    ts = []
    for _ in range(iters):
        t = time.perf_counter(); f(); ts.append((time.perf_counter() - t) * 1000)
    return sorted(ts)[len(ts) // 2]
for name in sys.argv[5:]:
    if name.endswith('-cifar'):
        print(name, 'nan', 'nan'); continue
    depth = name.replace('plain', '').replace('resnet', '')
    m = getattr(torchvision.models, 'resnet' + depth)(num_classes=10)
    if name.startswith('plain'): m = plain(m)
    x = torch.randn(batch, 3, size, size); y = torch.randint(0, 10, (batch,))
    m.eval()
    def fwd():
        with torch.no_grad(): m(x)
    f = med(fwd)
    m.train()
    def step():
        torch.nn.functional.cross_entropy(m(x), y).backward(); m.zero_grad(set_to_none=True)
    print(name, f, med(step))
`;
const py = spawnSync('/usr/bin/python3', ['-c', PY, String(getNumThreads()), String(batch), String(size), String(iters), ...presets], { encoding: 'utf8' });
const theirs = new Map<string, [number, number]>();
if (py.status === 0) {
  for (const line of py.stdout.trim().split('\n')) {
    const [name, f, s] = line.split(' ');
    theirs.set(name!, [Number(f), Number(s)]);
  }
} else {
  console.log(`(PyTorch comparison unavailable: ${py.error?.message ?? py.stderr.trim().split('\n').pop()})`);
}

const fmt = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(1));
console.log('model'.padEnd(18) + 'fwd ms'.padStart(9) + 'torch'.padStart(9) + 'ratio'.padStart(7) + 'step ms'.padStart(10) + 'torch'.padStart(9) + 'ratio'.padStart(7));
for (const [name, o] of ours) {
  const t = theirs.get(name);
  const ratio = (a: number, b: number | undefined) => (b === undefined || Number.isNaN(b) ? '—' : (a / b).toFixed(2));
  console.log(name.padEnd(18) + fmt(o.fwd).padStart(9) + fmt(t?.[0]).padStart(9) + ratio(o.fwd, t?.[0]).padStart(7) + fmt(o.step).padStart(10) + fmt(t?.[1]).padStart(9) + ratio(o.step, t?.[1]).padStart(7));
}
