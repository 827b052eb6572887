// A training step (forward + cross-entropy + backward + SGD step), batch 16, through ablate's TypeScript API and
// through PyTorch (the same torchvision model, Debian python3-torch) in the same run: ResNet-34 by default, any
// registry model with a torchvision twin through --models (torchvision's names: vit_b_16,convnext_tiny,mobilenet_v2).
// Each configuration gets two persistent processes (ours and PyTorch's) with the same thread count;
// they are warmed up, then measured in alternating rounds so drifting machine load hits both alike.
// Speed ratio = PyTorch ms / ablate ms (≥ 0.95 means the binding adds no measurable overhead).
//
// It also answers whether bin/ablate.js should set OMP_WAIT_POLICY=PASSIVE: the same ablate step and
// a small element-wise op, default vs PASSIVE (set before the addon loads, in a child), quiet and
// next to one busy-looping process.
//
// ATen's CPU kernel set (--cpu-capability avx2,avx512): ablate and PyTorch each run once per ATEN_CPU_CAPABILITY
// value, all four interleaved, to choose ablate's default per CPU (src/tensor/native.ts) with measurements.
//
// Peak memory: per model (--memory-models resnet34,resnet50) a fresh pair of processes runs a few 224² steps and
// reports its peak resident set (VmHWM), ablate's against PyTorch's (target ≤ 1.0×, bf16 + channels-last).
//
// Usage: node --import tsx bench/engine-step.ts [--quick] [--sizes 32,224] [--precisions fp32,bf16]
//          [--models resnet34,vit_b_16,convnext_tiny] [--threads all,1] [--rounds 5] [--steps-small 10] [--steps-large 3] [--batch 16]
//          [--no-memory] [--memory-models resnet34,resnet50] [--memory-precisions bf16] [--memory-steps 4]
//          [--cpu-capability avx2,avx512 [--cpu-capability-sizes 32:fp32,224:bf16]]
//          [--no-omp | --omp-only] [--omp-sizes 32,224] [--omp-precision fp32] [--no-contend]
//          [--node-flags='--single-threaded-gc'] [--omp-variants default,OMP_WAIT_POLICY=PASSIVE,js:OMP_WAIT_POLICY=PASSIVE,GOMP_SPINCOUNT=10000] [--out results.json]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  F, defaultThreads, getNumThreads, rand, setNumThreads, tidy, withAutocast, engineInfo, cpuSupportsBf16,
} from '../src/tensor/index.js';
import {
  LineServer, interleave, startAll, PYTHON, BENCH_DIR, flag, hasFlag, intFlag, listFlag, median, spreadPct, machine, loadavg, printTable, fmt, saveResults, torchAvailable,
} from './lib/common.js';
import { trainingSetup } from './lib/training-setup.js';
import { engineStepServer, type StepServerConfig } from './lib/engine-step-server.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Extra node/V8 flags for ablate's measurement processes, e.g. --node-flags=--single-threaded-gc. */
const NODE_FLAGS = (process.argv.find((a) => a.startsWith('--node-flags='))?.slice('--node-flags='.length) ?? '').split(/\s+/).filter(Boolean);

// ---------------------------------------------------------------- ablate measurement process
async function serve(): Promise<void> {
  const size = intFlag('size', 32);
  const bf16 = flag('precision', 'fp32') === 'bf16';
  const batch = intFlag('batch', 16);
  setNumThreads(intFlag('threads', defaultThreads()));
  const { model, opt, g, x, y } = trainingSetup(flag('model', 'resnet34'), { size, batch, bf16 });
  const small = rand([16, 3, 224, 224], { generator: g });

  // The same structure as the fit loop: forward under autocast, the loss in fp32 outside it.
  const step = (): number => {
    const loss = tidy(() => {
      const logits = bf16 ? withAutocast({ device: 'cpu', dtype: 'bfloat16' }, () => model.forward(x)) : model.forward(x);
      const l = F.crossEntropy(logits.float(), y);
      l.backward();
      return l.item();
    });
    opt.step({ zeroGrad: true });
    return loss;
  };
  // CPU time beside wall time: on a shared machine a step's wall time also counts the time its threads waited
  // for a core (and, at a barrier, for each other), while its CPU time counts the work (with OMP_WAIT_POLICY=PASSIVE).
  const cpuMs: number[] = [];
  const timed = (k: number, fn: () => unknown): number[] => {
    const ms: number[] = [];
    cpuMs.length = 0;
    for (let i = 0; i < k; i++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      fn();
      ms.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpuMs.push((c.user + c.system) / 1000);
    }
    return ms;
  };

  const beforeFirstStepKb = statusKb().rss_kb;
  step();
  const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
  out({ ready: true, threads: getNumThreads(), ompWaitPolicy: process.env.OMP_WAIT_POLICY ?? null });
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, arg] = line.trim().split(/\s+/);
    try {
      if (cmd === 'quit') break;
      if (cmd === 'run') {
        let loss = NaN;
        const f0 = process.resourceUsage().minorPageFault;
        const ms = timed(Number(arg), () => (loss = step()));
        out({ ms, cpuMs, loss, minorFaultsPerStep: (process.resourceUsage().minorPageFault - f0) / Number(arg) });
      } else if (cmd === 'rss') {
        out({ ...statusKb(), before_first_step_kb: beforeFirstStepKb });
      } else if (cmd === 'ops') {
        out({ ms: timed(Number(arg), () => tidy(() => small.mul(1.5).add(0.25).sum().item())) });
      } else if (cmd) {
        out({ error: `unknown command ${JSON.stringify(line)}` });
      }
    } catch (e) {
      out({ error: (e as Error).message });
    }
  }
  model.dispose();
  opt.dispose();
}

/** Peak and current resident set of this process (what `ru_maxrss` reports, and what it is now). */
function statusKb(): { hwm_kb: number; rss_kb: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { hwm_kb: kb('VmHWM'), rss_kb: kb('VmRSS') };
}

// ---------------------------------------------------------------- orchestration
type Cfg = StepServerConfig;
const label = (c: Cfg) => `${c.model && c.model !== 'resnet34' ? `${c.model} ` : ''}${c.size}x${c.size} ${c.precision} ${c.threads}t`;

function ablateServer(c: Cfg, batch: number, env: NodeJS.ProcessEnv = process.env, name = 'ablate', preload: string[] = []): LineServer {
  return engineStepServer(`${name} ${label(c)}`, c, batch, env, { nodeFlags: NODE_FLAGS, preload });
}
function torchServer(c: Cfg, batch: number): LineServer {
  return new LineServer(`pytorch ${label(c)}`, PYTHON, [join(BENCH_DIR, 'torch_step_server.py'), String(c.size), c.precision, String(c.threads), String(batch), c.model ?? 'resnet34']);
}

/**
 * Alternating rounds over several servers (the first goes first in even rounds, last in odd ones). Wall ms per
 * server, and process CPU ms where the command reports it (`cpu`, same order).
 */
interface PairResult extends Cfg {
  ablateMs: number; torchMs: number; speedRatio: number; ablateSpreadPct: number; torchSpreadPct: number;
  /** Process CPU time per step (all threads): on a loaded machine the steadier measure of the work each side does. */
  ablateCpuMs: number; torchCpuMs: number; cpuRatio: number;
  ablateSamples: number[]; torchSamples: number[]; loadBefore: string; loadAfter: string;
}

/** ablate alone, where PyTorch cannot run a configuration: its own step time still belongs in the record. */
async function measureAlone(c: Cfg, o: { batch: number; rounds: number; steps: number }): Promise<{ ms: number; cpuMs: number; loadBefore: string; loadAfter: string }> {
  const loadBefore = loadavg();
  const server = ablateServer(c, o.batch);
  await startAll([server]);
  try {
    await interleave([server], 1, `run ${Math.max(1, Math.ceil(o.steps / 2))}`);
    const cpu: number[][] = [];
    const [a] = await interleave([server], o.rounds, `run ${o.steps}`, cpu);
    return { ms: median(a!), cpuMs: median(cpu[0]!), loadBefore, loadAfter: loadavg() };
  } finally {
    await server.close();
  }
}

async function measurePair(c: Cfg, o: { batch: number; rounds: number; steps: number }): Promise<PairResult> {
  const loadBefore = loadavg();
  const servers = [ablateServer(c, o.batch), torchServer(c, o.batch)];
  const greet = await startAll(servers);
  if (greet[1]!.threads !== c.threads) console.log(`  note: PyTorch reports ${String(greet[1]!.threads)} threads`);
  try {
    // One untimed round each beyond the server's own warm-up step: allocator and oneDNN caches settle.
    await interleave(servers, 1, `run ${Math.max(1, Math.ceil(o.steps / 2))}`);
    const cpu: number[][] = [];
    const [a, t] = await interleave(servers, o.rounds, `run ${o.steps}`, cpu);
    const ablateMs = median(a!);
    const torchMs = median(t!);
    const ablateCpuMs = median(cpu[0]!);
    const torchCpuMs = median(cpu[1]!);
    return {
      ...c, ablateMs, torchMs, speedRatio: torchMs / ablateMs, ablateSpreadPct: spreadPct(a!), torchSpreadPct: spreadPct(t!),
      ablateCpuMs, torchCpuMs, cpuRatio: torchCpuMs / ablateCpuMs,
      ablateSamples: a!, torchSamples: t!, loadBefore, loadAfter: loadavg(),
    };
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
}

interface CapabilityResult extends Cfg {
  /** Median wall and CPU ms per side and ATEN_CPU_CAPABILITY value. */
  ms: Record<string, number>; cpuMs: Record<string, number>;
  loadBefore: string; loadAfter: string;
}

async function measureCapabilities(c: Cfg, caps: string[], o: { batch: number; rounds: number; steps: number }): Promise<CapabilityResult> {
  const loadBefore = loadavg();
  const envFor = (cap: string) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ATEN_CPU_CAPABILITY: cap };
    delete env.ABLATE_CPU_CAPABILITY_SET;
    return env;
  };
  const keys = caps.flatMap((cap) => [`ablate ${cap}`, `PyTorch ${cap}`]);
  const servers = caps.flatMap((cap) => [
    ablateServer(c, o.batch, envFor(cap), `ablate ${cap}`),
    new LineServer(`pytorch ${cap} ${label(c)}`, PYTHON, [join(BENCH_DIR, 'torch_step_server.py'), String(c.size), c.precision, String(c.threads), String(o.batch)], envFor(cap)),
  ]);
  await startAll(servers);
  try {
    await interleave(servers, 1, 'run 1');
    const cpu: number[][] = [];
    const ms = await interleave(servers, o.rounds, `run ${o.steps}`, cpu);
    return {
      ...c, ms: Object.fromEntries(keys.map((k, i) => [k, median(ms[i]!)])), cpuMs: Object.fromEntries(keys.map((k, i) => [k, median(cpu[i]!)])),
      loadBefore, loadAfter: loadavg(),
    };
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
}

interface MemoryResult extends Cfg {
  model: string; steps: number;
  ablateHwmMiB: number; torchHwmMiB: number; ratio: number;
  /** Resident set once the model exists, before the first step: the runtime's own share. */
  ablateBaseMiB: number; torchBaseMiB: number;
  loadBefore: string; loadAfter: string;
}

/** A fresh pair of processes per configuration, so each peak belongs to that model and precision alone. */
async function measureMemory(c: Cfg & { model: string }, o: { batch: number; steps: number }): Promise<MemoryResult> {
  const loadBefore = loadavg();
  const servers = [ablateServer(c, o.batch), torchServer(c, o.batch)];
  await startAll(servers);
  try {
    await interleave(servers, o.steps, 'run 1');
    const [a, t] = await Promise.all(servers.map((s) => s.request<{ hwm_kb: number; before_first_step_kb: number }>('rss')));
    const mib = (kb: number) => kb / 1024;
    return {
      ...c, steps: o.steps, ablateHwmMiB: mib(a!.hwm_kb), torchHwmMiB: mib(t!.hwm_kb), ratio: a!.hwm_kb / t!.hwm_kb,
      ablateBaseMiB: mib(a!.before_first_step_kb), torchBaseMiB: mib(t!.before_first_step_kb), loadBefore, loadAfter: loadavg(),
    };
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
}

interface OmpResult {
  workload: string; contended: boolean;
  /** Median ms per variant, keyed as given to --omp-variants. */
  ms: Record<string, number>;
  loadBefore: string; loadAfter: string;
}

/**
 * One ablate process per variant: 'default' (no OpenMP variables), 'NAME=value' (set in the child's
 * environment), or 'js:NAME=value' (set by JavaScript in the child before the addon loads).
 */
function ompServer(variant: string, c: Cfg, batch: number): LineServer {
  const env = { ...process.env };
  for (const k of ['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT', 'ABLATE_BENCH_SET_ENV']) delete env[k];
  if (variant === 'default') return ablateServer(c, batch, env, 'ablate default');
  const js = variant.startsWith('js:');
  const assignment = js ? variant.slice(3) : variant;
  const eq = assignment.indexOf('=');
  if (eq < 1) throw new TypeError(`Expected 'default', 'NAME=value' or 'js:NAME=value' in --omp-variants but received ${JSON.stringify(variant)}`);
  if (!js) return ablateServer(c, batch, { ...env, [assignment.slice(0, eq)]: assignment.slice(eq + 1) }, `ablate ${variant}`);
  return ablateServer(c, batch, { ...env, ABLATE_BENCH_SET_ENV: assignment }, `ablate ${variant}`, [pathToFileURL(join(BENCH_DIR, 'lib', 'omp-passive-preload.mjs')).href]);
}

/** A process that keeps one core busy, standing in for "another job on the machine". */
function busyLoop(): () => void {
  const p = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
  return () => p.kill('SIGKILL');
}

async function measureOmp(c: Cfg, o: { batch: number; rounds: number; steps: number; contend: boolean; variants: string[] }): Promise<OmpResult[]> {
  const servers = o.variants.map((v) => ompServer(v, c, o.batch));
  await startAll(servers);
  const out: OmpResult[] = [];
  const row = (workload: string, contended: boolean, ms: number[][], loadBefore: string): OmpResult =>
    ({ workload, contended, ms: Object.fromEntries(o.variants.map((v, i) => [v, median(ms[i]!)])), loadBefore, loadAfter: loadavg() });
  try {
    for (const contended of o.contend ? [false, true] : [false]) {
      const stop = contended ? busyLoop() : () => {};
      try {
        await interleave(servers, 1, 'run 1');
        const loadBefore = loadavg();
        out.push(row(`resnet34 step ${label(c)}`, contended, await interleave(servers, o.rounds, `run ${o.steps}`), loadBefore));
        out.push(row(`mul+add+sum 16x3x224x224 ${c.threads}t`, contended, await interleave(servers, o.rounds, 'ops 50'), loadBefore));
      } finally {
        stop();
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
  return out;
}

async function main(): Promise<void> {
  const quick = hasFlag('quick');
  const batch = intFlag('batch', 16);
  const rounds = intFlag('rounds', quick ? 3 : 5);
  const stepsSmall = intFlag('steps-small', quick ? 5 : 10);
  const stepsLarge = intFlag('steps-large', quick ? 2 : 3);
  const models = listFlag('models', 'resnet34');
  const sizes = listFlag('sizes', '32,224').map(Number);
  const precisions = listFlag('precisions', 'fp32,bf16') as Cfg['precision'][];
  const all = defaultThreads();
  const threads = [...new Set(listFlag('threads', quick ? 'all' : 'all,1').map((t) => (t === 'all' ? all : Number(t))))];
  for (const p of precisions) if (p !== 'fp32' && p !== 'bf16') throw new TypeError(`Expected fp32 or bf16 in --precisions but received ${JSON.stringify(p)}`);
  for (const s of [...sizes, ...threads]) if (!Number.isInteger(s) || s < 1) throw new TypeError(`Expected positive integers in --sizes/--threads but received ${s}`);
  const stepsFor = (size: number) => (size <= 64 ? stepsSmall : stepsLarge);

  const m = machine();
  const info = engineInfo();
  console.log(`engine-step: ${models.join(', ')} training step, batch ${batch}, ${rounds} interleaved rounds; ${m.cores} cores, loadavg ${m.loadavg}`);
  console.log(`libtorch ${info.libtorch}; CPU bf16: ${cpuSupportsBf16()}`);
  const torch = await torchAvailable();
  const results: {
    pairs: PairResult[]; memory: MemoryResult[]; capabilities: CapabilityResult[]; omp: OmpResult[];
    /** Configurations PyTorch failed on (1.13: bf16 ConvNeXt and MobileNetV2 on the CPU), ablate measured alone. */
    alone: (Cfg & { ablateMs: number; ablateCpuMs: number; torchError: string; loadBefore: string; loadAfter: string })[];
  } = { pairs: [], memory: [], capabilities: [], omp: [], alone: [] };

  if (!hasFlag('omp-only')) {
    if (!torch.ok) {
      console.log(`(PyTorch comparison skipped: ${torch.reason})`);
    } else {
      console.log(`PyTorch ${torch.version}`);
      for (const model of models) for (const t of threads) for (const size of sizes) for (const precision of precisions) {
        const c: Cfg = { size, precision, threads: t, model };
        process.stdout.write(`  measuring ${label(c)} …`);
        let r: PairResult;
        try {
          r = await measurePair(c, { batch, rounds, steps: stepsFor(size) });
        } catch (e) {
          // One side cannot run this configuration (PyTorch 1.13's CPU autocast refuses torchvision's ConvNeXt in bf16):
          // say why and measure the others.
          const lines = (e as Error).message.trim().split('\n');
          console.log(` failed: ${lines[0]} … ${lines.at(-1)}`);
          if (lines[0]!.startsWith('pytorch ')) {
            const r = await measureAlone(c, { batch, rounds, steps: stepsFor(size) });
            console.log(`    ablate alone: ${fmt(r.ms)} ms, CPU ${fmt(r.cpuMs)} ms per step (load ${r.loadBefore} → ${r.loadAfter})`);
            results.alone.push({ ...c, ablateMs: r.ms, ablateCpuMs: r.cpuMs, torchError: lines.at(-1)!, loadBefore: r.loadBefore, loadAfter: r.loadAfter });
          }
          continue;
        }
        console.log(` ablate ${fmt(r.ablateMs)} ms, PyTorch ${fmt(r.torchMs)} ms (load ${r.loadBefore} → ${r.loadAfter})`);
        results.pairs.push(r);
      }
      console.log(`\n${models.join(', ')} training step, ms/step (median; ± = half the IQR; CPU = process CPU time per step, all threads)`);
      printTable(['config', 'ablate ms', '±%', 'PyTorch ms', '±%', 'speed ablate/PyTorch', 'target', 'ablate CPU ms', 'PyTorch CPU ms', 'CPU ratio PyTorch/ablate', 'load'], results.pairs.map((r) => [
        label(r), fmt(r.ablateMs), fmt(r.ablateSpreadPct, 0), fmt(r.torchMs), fmt(r.torchSpreadPct, 0), fmt(r.speedRatio, 2), r.speedRatio >= 0.95 ? 'ok ≥0.95' : 'below 0.95',
        fmt(r.ablateCpuMs), fmt(r.torchCpuMs), fmt(r.cpuRatio, 2), `${r.loadBefore} → ${r.loadAfter}`,
      ]));
    }
  }

  if (hasFlag('cpu-capability') && torch.ok) {
    const caps = listFlag('cpu-capability', 'avx2,avx512');
    for (const spec of listFlag('cpu-capability-sizes', '32:fp32,224:bf16')) {
      const [size, precision] = spec.split(':') as [string, Cfg['precision']];
      const c: Cfg = { size: Number(size), precision, threads: all };
      process.stdout.write(`  ATEN_CPU_CAPABILITY ${caps.join(' vs ')}, ${label(c)} …`);
      const r = await measureCapabilities(c, caps, { batch, rounds, steps: stepsFor(c.size) });
      console.log(` done (load ${r.loadBefore} → ${r.loadAfter})`);
      results.capabilities.push(r);
    }
    const base = caps[0]!;
    console.log(`\nATen CPU kernel set: median ms per step (wall / process CPU) and ratio to ${base}`);
    printTable(['config', ...caps.flatMap((cap) => [`ablate ${cap}`, `PyTorch ${cap}`]), ...caps.slice(1).flatMap((cap) => [`ablate ${cap}/${base} CPU`, `PyTorch ${cap}/${base} CPU`]), 'load'], results.capabilities.map((r) => [
      label(r), ...caps.flatMap((cap) => [`${fmt(r.ms[`ablate ${cap}`])} / ${fmt(r.cpuMs[`ablate ${cap}`])}`, `${fmt(r.ms[`PyTorch ${cap}`])} / ${fmt(r.cpuMs[`PyTorch ${cap}`])}`]),
      ...caps.slice(1).flatMap((cap) => [fmt(r.cpuMs[`ablate ${cap}`]! / r.cpuMs[`ablate ${base}`]!, 3), fmt(r.cpuMs[`PyTorch ${cap}`]! / r.cpuMs[`PyTorch ${base}`]!, 3)]),
      `${r.loadBefore} → ${r.loadAfter}`,
    ]));
  }

  if (!hasFlag('omp-only') && !hasFlag('no-memory') && torch.ok) {
    const models = listFlag('memory-models', quick ? 'resnet34' : 'resnet34,resnet50');
    const memSteps = intFlag('memory-steps', quick ? 3 : 4);
    for (const model of models) for (const precision of listFlag('memory-precisions', 'bf16') as Cfg['precision'][]) {
      const c = { size: 224, precision, threads: all, model };
      process.stdout.write(`  peak memory ${model} ${label(c)} …`);
      const r = await measureMemory(c, { batch, steps: memSteps });
      console.log(` ablate ${fmt(r.ablateHwmMiB, 0)} MiB, PyTorch ${fmt(r.torchHwmMiB, 0)} MiB (load ${r.loadBefore} → ${r.loadAfter})`);
      results.memory.push(r);
    }
    console.log(`\nPeak resident set of a training-step process (VmHWM after ${memSteps} steps, batch ${batch}, SGD momentum 0.9 on both sides)`);
    printTable(['model', 'config', 'ablate MiB', 'PyTorch MiB', 'ratio ablate/PyTorch', 'target', 'before 1st step: ablate', 'PyTorch', 'load'], results.memory.map((r) => [
      r.model, label(r), fmt(r.ablateHwmMiB, 0), fmt(r.torchHwmMiB, 0), fmt(r.ratio, 2), r.ratio <= 1 ? 'ok ≤1.0' : 'above 1.0',
      fmt(r.ablateBaseMiB, 0), fmt(r.torchBaseMiB, 0), `${r.loadBefore} → ${r.loadAfter}`,
    ]));
  }

  if (!hasFlag('no-omp')) {
    const variants = listFlag('omp-variants', 'default,OMP_WAIT_POLICY=PASSIVE,js:OMP_WAIT_POLICY=PASSIVE,GOMP_SPINCOUNT=10000');
    if (variants[0] !== 'default') variants.unshift('default');
    console.log(`\nOpenMP waiting: ${variants.join(' | ')} (ablate only, ${all} threads; ratios are ms / default's ms)`);
    const ompSizes = listFlag('omp-sizes', quick ? '32' : '32,224').map(Number);
    const ompPrecision = flag('omp-precision', 'fp32') as Cfg['precision'];
    for (const size of ompSizes) {
      results.omp.push(...(await measureOmp({ size, precision: ompPrecision, threads: all }, { batch, rounds, steps: stepsFor(size), contend: !hasFlag('no-contend'), variants })));
    }
    const others = variants.slice(1);
    const short = (v: string) => v.replace('OMP_WAIT_POLICY=', '').replace('GOMP_SPINCOUNT=', 'SPINCOUNT=').replace('js:', 'JS-set ');
    console.log(variants.map((v) => `${short(v)} = ${v === 'default' ? 'no OpenMP variables' : v.startsWith('js:') ? `${v.slice(3)} set by JavaScript before the addon loads` : `${v} in the environment`}`).join('; '));
    printTable(['workload', 'machine', ...variants.map((v) => `${short(v)} ms`), ...others.map((v) => `${short(v)}/default`), 'load'], results.omp.map((r) => [
      r.workload, r.contended ? '+1 busy process' : 'as is', ...variants.map((v) => fmt(r.ms[v], 2)), ...others.map((v) => fmt(r.ms[v]! / r.ms.default!, 2)), `${r.loadBefore} → ${r.loadAfter}`,
    ]));
  }

  const path = saveResults('engine-step', { machine: m, loadAfter: loadavg(), libtorch: info.libtorch, torch: torch.ok ? torch.version : null, batch, rounds, ...results });
  console.log(`\nresults: ${path}`);
}

if (hasFlag('serve')) await serve();
else await main();
