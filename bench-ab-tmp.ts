import { F, setNumThreads, tidy, setBlasThreads } from './src/tensor/index.js';
import { trainingSetup } from './bench/lib/training-setup.js';
setNumThreads(2);
const model = process.argv[2] ?? 'vit_b_16';
const { model: m, opt, x, y } = trainingSetup(model, { size: 224, batch: 2, bf16: false });
const step = () => { tidy(() => { const l = F.crossEntropy(m.forward(x), y); l.backward(); }); opt.step({ zeroGrad: true }); };
step();
const res: Record<string, { wall: number[]; cpu: number[] }> = { '1': { wall: [], cpu: [] }, '2': { wall: [], cpu: [] } };
for (let r = 0; r < 3; r++) for (const t of r % 2 ? ['2', '1'] : ['1', '2']) {
  setBlasThreads(Number(t)); step();
  const t0 = performance.now(); const c0 = process.cpuUsage(); step();
  const c = process.cpuUsage(c0); res[t]!.wall.push(performance.now() - t0); res[t]!.cpu.push((c.user + c.system) / 1000);
}
const med = (a: number[]) => [...a].sort((p, q) => p - q)[1]!.toFixed(0);
for (const t of ['1', '2']) console.log(`${model} OpenBLAS ${t} thread(s): wall ${res[t]!.wall.map((v) => v.toFixed(0)).join(',')} (median ${med(res[t]!.wall)}), CPU ${res[t]!.cpu.map((v) => v.toFixed(0)).join(',')} (median ${med(res[t]!.cpu)})`);
