// OpenBLAS's thread count for one model's fp32 training step: 1 against libtorch's count, alternating step by step in
// one process (setBlasThreads), so machine load hits both alike. What src/nn/blas-policy.ts decides per model; see
// bench/notes-models.md. Wall and process CPU time per step (all threads; OpenBLAS's spinning workers count there).
// A 1000-class preset (the labels are ImageNet-sized). Usage: node --import tsx bench/blas-threads.ts [--model vit_b_16] [--size 224] [--batch 2] [--rounds 3]
import { F, getNumThreads, setBlasThreads, tidy } from '../src/tensor/index.js';
import { trainingSetup } from './lib/training-setup.js';
import { flag, intFlag, loadavg, median } from './lib/common.js';

const model = flag('model', 'vit_b_16');
const rounds = intFlag('rounds', 3);
const { model: m, opt, x, y } = trainingSetup(model, { size: intFlag('size', 224), batch: intFlag('batch', 2), bf16: false });
const step = () => {
  tidy(() => F.crossEntropy(m.forward(x), y).backward());
  opt.step({ zeroGrad: true });
};
const all = getNumThreads();
if (setBlasThreads(1) === null) throw new Error("libtorch's BLAS here is not OpenBLAS: nothing to compare");
step();
const settings = [1, all];
const res = new Map(settings.map((t) => [t, { wall: [] as number[], cpu: [] as number[] }]));
const loadBefore = loadavg();
for (let r = 0; r < rounds; r++) for (const t of r % 2 ? [...settings].reverse() : settings) {
  setBlasThreads(t);
  step(); // the first step after a change settles OpenBLAS's pool; the next is timed
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  step();
  const c = process.cpuUsage(c0);
  res.get(t)!.wall.push(performance.now() - t0);
  res.get(t)!.cpu.push((c.user + c.system) / 1000);
}
console.log(`${model} fp32 training step, ${all} libtorch threads, ${rounds} rounds; load ${loadBefore} → ${loadavg()}`);
for (const [t, r] of res) {
  console.log(`  OpenBLAS ${t} thread(s): wall ${r.wall.map((v) => v.toFixed(0)).join(', ')} ms (median ${median(r.wall).toFixed(0)}), CPU ${r.cpu.map((v) => v.toFixed(0)).join(', ')} ms (median ${median(r.cpu).toFixed(0)})`);
}
m.dispose();
opt.dispose();
