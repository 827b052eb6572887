// A TorchScript model against the same architecture built by ablate: training steps (forward, cross-entropy,
// backward, SGD with momentum) of torchvision's resnet18 scripted by PyTorch (`model: { torchscript }`) and of
// ablate's resnet18 preset, alternating round by round in one process (so both see the same machine), medians
// of wall and process CPU time per step. Target: the scripted model within 10% of the native one.
// Usage: node --import tsx bench/torchscript-step.ts [--batch 16] [--size 64] [--rounds 6] [--steps 5] [--precision fp32|bf16]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { F, Generator, SGD, getNumThreads, randint, randn, tidy, withAutocast, type Tensor } from '../src/tensor/index.js';
import { createModelFromSpec } from '../src/models/index.js';
import type { Model } from '../src/nn/index.js';
import { PYTHON, flag, intFlag, machine, median, printTable, saveResults, fmt } from './lib/common.js';

const batch = intFlag('batch', 16);
const size = intFlag('size', 64);
const rounds = intFlag('rounds', 6);
const steps = intFlag('steps', 5);
const precision = flag('precision', 'fp32');
if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`--precision: expected fp32 or bf16, received ${precision}`);

const dir = mkdtempSync(join(tmpdir(), 'ablate-bench-torchscript-'));
const file = join(dir, 'resnet18.pt');
const made = spawnSync(PYTHON, ['-c', `import torch, torchvision; torch.jit.script(torchvision.models.resnet18(num_classes=10)).save(${JSON.stringify(file)})`], { encoding: 'utf8' });
if (made.status !== 0) {
  console.log(`torchscript-step: skipped: ${PYTHON} with torch and torchvision is needed to script the model (${made.stderr.trim().split('\n').pop() ?? made.error?.message})`);
  process.exit(0);
}

interface Side {
  name: string;
  model: Model;
  opt: SGD;
  wall: number[];
  cpu: number[];
}
const sides: Side[] = [
  { name: 'ablate resnet18', model: createModelFromSpec('resnet18', { numClasses: 10, seed: 0 }) },
  { name: 'TorchScript resnet18', model: createModelFromSpec({ torchscript: file }, { numClasses: 10 }) },
].map((s) => {
  if (precision === 'bf16') s.model.toMemoryFormat('channels_last');
  return { ...s, opt: new SGD(s.model.parameters(), { lr: 0.01, momentum: 0.9 }), wall: [], cpu: [] };
});
const x = randn([batch, 3, size, size], { generator: new Generator(1) });
const xs = precision === 'bf16' ? x.contiguous('channels_last') : x;
const y = randint(0, 10, [batch], { generator: new Generator(2) });

function step(s: Side): void {
  tidy(() => {
    const forward = (): Tensor => F.crossEntropy(s.model.forward(xs), y);
    const loss = precision === 'bf16' ? withAutocast({ device: 'cpu', dtype: 'bfloat16' }, forward) : forward();
    loss.backward();
  });
  s.opt.step({ zeroGrad: true });
}

for (const s of sides) for (let i = 0; i < 2; i++) step(s); // warm-up: allocator, kernels chosen
const load = [machine().loadavg];
for (let r = 0; r < rounds; r++) {
  // ABBA order within each pair of rounds, so neither side always runs first.
  for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
    for (let i = 0; i < steps; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      step(s);
      s.wall.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      s.cpu.push((c.user + c.system) / 1000);
    }
  }
}
load.push(machine().loadavg);

const [native, script] = sides as [Side, Side];
const ratio = median(native.wall) / median(script.wall);
console.log(`torchscript-step: batch ${batch}×3×${size}×${size}, ${precision}, ${getNumThreads()} thread(s), ${rounds} rounds × ${steps} steps; load ${load.join(' → ')}`);
printTable(['model', 'ms/step (median)', 'CPU ms/step', 'min ms'], sides.map((s) => [s.name, fmt(median(s.wall)), fmt(median(s.cpu)), fmt(Math.min(...s.wall))]));
console.log(`speed of the TorchScript model relative to ablate's own: ${fmt(ratio, 3)}× (target ≥ 0.90)`);
const out = saveResults('torchscript-step', {
  batch, size, precision, threads: getNumThreads(), rounds, steps, machine: machine(), loadavg: load,
  sides: sides.map((s) => ({ name: s.name, wallMs: s.wall, cpuMs: s.cpu, medianMs: median(s.wall) })), ratio,
});
console.log(`results: ${out}`);
for (const s of sides) {
  s.opt.dispose();
  s.model.dispose();
}
if (xs !== x) xs.dispose();
x.dispose();
y.dispose();
rmSync(dir, { recursive: true, force: true });
