// The benchmark suite (`npm run bench`): each script in its own process, one after the other, so no
// two measurements share the machine; then a summary of the ratios against PyTorch.
// Usage: node --import tsx bench/run-all.ts [--quick] [--only engine-step,step-profile,train-throughput] [--skip data-decode]
//          [--out-dir DIR]   (JSON results; default: $TMPDIR/ablate-bench)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { BENCH_DIR, flag, hasFlag, listFlag, loadavg, machine, fmt } from './lib/common.js';

interface Bench { name: string; args: string[]; quickArgs: string[]; quick: boolean; writesJson: boolean }

const SUITE: Bench[] = [
  { name: 'engine-step', args: [], quickArgs: ['--quick'], quick: true, writesJson: true },
  { name: 'step-profile', args: ['--size', '224', '--precision', 'bf16', '--rounds', '2', '--peak-gflops', 'measure'], quickArgs: ['--size', '32', '--precision', 'fp32', '--rounds', '2'], quick: true, writesJson: true },
  { name: 'conv-weight-grad', args: [], quickArgs: ['--models', 'resnet34', '--sizes', '32', '--pairs', '6', '--shape-secs', '0.2'], quick: true, writesJson: true },
  { name: 'data-decode', args: [], quickArgs: ['--quick'], quick: true, writesJson: true },
  { name: 'epoch-one', args: [], quickArgs: ['--quick'], quick: true, writesJson: true },
  { name: 'loader-batches', args: [], quickArgs: ['--images', '256', '--rounds', '2'], quick: true, writesJson: true },
  { name: 'augment-speed', args: [], quickArgs: ['--iters', '5'], quick: true, writesJson: false },
  { name: 'train-throughput', args: [], quickArgs: ['--quick'], quick: true, writesJson: true },
  { name: 'accuracy-parity', args: [], quickArgs: ['--quick'], quick: true, writesJson: true },
  { name: 'allreduce', args: [], quickArgs: ['--steps', '5', '--warmup', '1', '--rounds', '1'], quick: true, writesJson: true },
  { name: 'models-forward', args: [], quickArgs: [], quick: false, writesJson: false },
];

function run(script: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, `${script}.ts`), ...args], { stdio: 'inherit' });
    p.on('error', () => resolve(1));
    p.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

function readResults(path: string): Record<string, any> | undefined {
  try {
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, any>) : undefined;
  } catch {
    return undefined;
  }
}

function summary(outDir: string, ran: ReadonlySet<string>): void {
  // Only this invocation's results: the folder may hold older ones (another run, another checkout).
  const readJson = (file: string) => (ran.has(basename(file, '.json')) ? readResults(file) : undefined);
  console.log('\n================ summary (ablate vs PyTorch, measured in this run) ================');
  const es = readJson(join(outDir, 'engine-step.json'));
  for (const p of es?.pairs ?? []) {
    const cpu = p.cpuRatio !== undefined ? `; CPU time ablate ${fmt(p.ablateCpuMs)} ms, PyTorch ${fmt(p.torchCpuMs)} ms → ${fmt(p.cpuRatio, 2)}×` : '';
    console.log(`engine step resnet34 ${p.size}×${p.size} ${p.precision} ${p.threads}t: ablate ${fmt(p.ablateMs)} ms, PyTorch ${fmt(p.torchMs)} ms → speed ${fmt(p.speedRatio, 2)}× (target ≥ ${p.size <= 64 ? '1.0' : '0.95'})${cpu} (load ${p.loadBefore} → ${p.loadAfter})`);
  }
  for (const r of es?.memory ?? []) {
    console.log(`peak RSS of a training step ${r.model} 224×224 ${r.precision} ${r.threads}t: ablate ${fmt(r.ablateHwmMiB, 0)} MiB, PyTorch ${fmt(r.torchHwmMiB, 0)} MiB → ${fmt(r.ratio, 2)}× (target ≤ 1.0) (load ${r.loadBefore} → ${r.loadAfter})`);
  }
  const sp = readJson(join(outDir, 'step-profile.json'));
  if (sp) {
    const a = sp.ablate;
    const t = sp.pytorch;
    const share = (x: any, key: string) => (x ? `${fmt((100 * (x.rows[key] ?? 0)) / x.totalMs, 0)}%` : '—');
    console.log(`step profile ${sp.model} ${sp.size}×${sp.size} ${sp.precision}: ablate ${fmt(a.totalMs)} ms (conv fwd ${share(a, 'fwd conv')}, conv bwd ${share(a, 'bwd conv')}, optimizer ${share(a, 'optimizer')}, ` +
      `outside ops ${fmt(a.outside.forward + a.outside.backward + a.outside.optimizer, 1)} ms)` + (t ? `; PyTorch ${fmt(t.totalMs)} ms (conv bwd ${share(t, 'bwd conv')}, outside ops ${fmt(t.outside.forward + t.outside.backward + t.outside.optimizer, 1)} ms)` : '') +
      `; ${fmt(sp.ablateStepGflops, 0)} GFLOPS over the step${sp.peakGflops ? `, ${fmt((100 * sp.ablateStepGflops) / sp.peakGflops, 0)}% of a ${fmt(sp.peakGflops, 0)}-GFLOPS ceiling${sp.ceilingSamples ? ' timed between its steps' : ''}` : ''} (load ${sp.loadBefore} → ${sp.loadAfter})`);
  }
  for (const o of es?.omp ?? []) {
    const ms = o.ms as Record<string, number>;
    const vs = Object.keys(ms).filter((k) => k !== 'default').map((k) => `${k} ${fmt(ms[k]! / ms.default!, 2)}×`).join(', ');
    console.log(`OpenMP waiting, ${o.workload}${o.contended ? ', +1 busy process' : ''}: default ${fmt(ms.default, 2)} ms; ${vs} the default's time`);
  }
  const cw = readJson(join(outDir, 'conv-weight-grad.json'));
  for (const r of cw?.steps ?? []) {
    console.log(`bf16 conv weight gradients as a GEMM (mode here: ${cw!.autoMode}), ${r.model} ${r.size}×${r.size} step: ${fmt(r.gemmMs)} ms vs libtorch's kernels ${fmt(r.libtorchMs)} ms → ${fmt(r.libtorchMs / r.gemmMs, 2)}× (load ${r.loadBefore} → ${r.loadAfter})`);
  }
  const dd = readJson(join(outDir, 'data-decode.json'));
  for (const r of dd?.rows ?? []) {
    console.log(`decode+resize ${r.files} → ${dd!.size}px, one thread: ablate ${fmt(r.ablate.cpu, 0)}/cpu-s (${fmt(r.ablate.wall, 0)}/s), Pillow ${fmt(r.pillow.cpu, 0)}/cpu-s (${fmt(r.pillow.wall, 0)}/s) → ${fmt(r.ratioCpu, 2)}× per core, ${fmt(r.ratioWall, 2)}× wall (target ≥ 1.0; loadavg ${r.loadavg})`);
  }
  const e1 = readJson(join(outDir, 'epoch-one.json'));
  if (e1?.summary) {
    const s = e1.summary;
    console.log(`epoch 1 vs steady, ${e1.model} ${e1.size}px, median of ${e1.rounds} round(s): decode while epoch 1 trains ${fmt(s.overlapRatio, 2)}× (target ≥ 0.9), ` +
      `warm cache ${fmt(s.warmRatio, 2)}×, epoch 1 overlap ÷ warm cache ${fmt(s.pairedRatio, 2)}×; data wait ${fmt(100 * s.overlapWait)}%`);
  }
  const lb = readJson(join(outDir, 'loader-batches.json'));
  if (lb) {
    const [fresh, reused] = lb.rows;
    console.log(`loader, ${lb.size}² batch ${lb.batch}: JS thread ${fmt(fresh.busyMs, 2)} ms/batch with fresh buffers, ${fmt(reused.busyMs, 2)} with reuseBuffers (training's) → ${fmt(lb.ratio, 2)}×`);
  }
  const tt = readJson(join(outDir, 'train-throughput.json'));
  for (const r of tt?.ratios ?? []) {
    console.log(`training throughput ${r.model} ablate ${r.ablate} vs ${r.versus}: steady ${fmt(r.steady, 2)}×${r.steadyPerCeiling !== undefined ? ` (${fmt(r.steadyPerCeiling, 2)}× each against its own run's ceiling)` : ''}, first epoch ${fmt(r.firstEpoch, 2)}× (target ≥ ${r.target}×); peak RSS ratio ${fmt(r.rss, 2)}, before ablate's first checkpoint ${fmt(r.rssBeforeCheckpoint, 2)} (target ≤ 1)`);
  }
  for (const r of tt?.results ?? []) {
    if (r.side === 'ablate') console.log(`data wait fraction ${r.model} ablate ${r.mode}, steady state: ${fmt(100 * r.steadyDataWait)}% (target < 5%)`);
    if (r.steadyShare !== undefined) {
      console.log(`share of the machine, ${r.model} ${r.side} ${r.mode} (${r.threads} thread(s)), end to end: ${fmt(100 * r.steadyShare, 0)}% of the ceiling layer's ${fmt(r.steadyCeilingGflops, 0)} GFLOPS sampled in the same run, ${fmt(100 * r.steadyShareOfBest, 0)}% of its best sample (${fmt(r.steadyBestCeilingGflops, 0)})${r.side === 'ablate' ? ' (target ≥ 50% of the best)' : ''}`);
    }
  }
  const ar = readJson(join(outDir, 'allreduce.json'));
  if (ar) console.log(`all-reduce of ResNet-50 gradients, 2 ranks Gloo: ablate ${fmt(ar.ablateMs)} ms, PyTorch DDP ${fmt(ar.torchMs)} ms → speed ${fmt(ar.ratio, 2)}× (loadavg ${ar.loadavg})`);
  const ap = readJson(join(outDir, 'accuracy-parity.json'));
  if (ap) {
    console.log(`accuracy parity ${ap.model} ${ap.size}px, ${ap.epochs} epochs: final |ablate − PyTorch| ≤ ${fmt(100 * ap.crossGap)} points; seed-to-seed ${fmt(100 * ap.seedGap)} points`);
  }
}

async function main(): Promise<void> {
  const quick = hasFlag('quick');
  const outDir = flag('out-dir', join(tmpdir(), 'ablate-bench'));
  const only = listFlag('only', '');
  const skip = new Set(listFlag('skip', ''));
  const known = new Set(SUITE.map((b) => b.name));
  for (const n of [...only, ...skip]) if (!known.has(n)) throw new TypeError(`Expected one of ${[...known].join(', ')} in --only/--skip but received ${JSON.stringify(n)}`);
  const chosen = SUITE.filter((b) => (only.length ? only.includes(b.name) : quick ? b.quick : true) && !skip.has(b.name));

  const m = machine();
  console.log(`ablate benchmark suite${quick ? ' (quick)' : ''}: ${chosen.map((b) => b.name).join(', ')}; ${m.cores} cores, loadavg ${m.loadavg}; results in ${outDir}`);
  const failed: string[] = [];
  const t0 = performance.now();
  for (const b of chosen) {
    console.log(`\n================ ${b.name} (loadavg ${loadavg()}) ================`);
    const args = [...(quick ? b.quickArgs : b.args), ...(b.writesJson ? ['--out', join(outDir, `${b.name}.json`)] : [])];
    if (b.writesJson) rmSync(join(outDir, `${b.name}.json`), { force: true }); // a failed run must not leave an older result to summarise
    const code = await run(b.name, args);
    if (code !== 0) failed.push(`${b.name} (exit ${code})`);
  }
  summary(outDir, new Set(chosen.map((b) => b.name)));
  console.log(`\nsuite took ${fmt((performance.now() - t0) / 60000, 1)} min; loadavg now ${loadavg()}`);
  if (failed.length) {
    console.log(`failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

await main();
