// Where one training step's time goes, ablate beside PyTorch: the same ResNet step (forward + cross-entropy,
// backward, SGD) split into phases, and each phase into op categories (convolution forward/backward, batch
// norm, ReLU, residual adds, pooling, the classifier and loss, casts and copies, gradient accumulation, the
// optimizer). Both sides use libtorch's own op observer (RecordFunction: ablate's profileOps, PyTorch's
// autograd profiler), so op names match; "outside ops" is a phase's wall time minus the time spent in
// top-level ops: JavaScript or Python, crossings into the library, and scheduling.
//
// It also sets the step against the machine: achieved GFLOPS of the whole step (3× the forward FLOPs) and of
// the convolutions alone. A ceiling for the machine can be given (--peak-gflops, e.g. a bf16 3×3 conv's rate)
// to print the share of it the step reaches; `--peak-gflops measure` times bench/lib/ceiling.ts's layer after
// every profiled ablate step in this process instead, and uses the mean: on a VM whose speed moves 2–3× within
// minutes, a fixed ceiling measured at another time says little.
//
// --onednn splits the convolutions further, by oneDNN primitive (forward, backward data, backward weights, weight
// reorders) and implementation, from oneDNN's own timings (ONEDNN_VERBOSE) of one ablate step in a child process.
//
// Usage: node --import tsx bench/step-profile.ts [--model resnet34] [--size 224] [--precision bf16|fp32]
//          [--batch 16] [--threads N] [--rounds 3] [--no-torch] [--onednn] [--peak-gflops 2000|measure] [--top 12] [--out results.json]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  F, defaultThreads, getNumThreads, profileOps, setNumThreads, tidy, withAutocast, type OpTime, type Tensor,
} from '../src/tensor/index.js';
import { BENCH_DIR, LineServer, PYTHON, flag, fmt, mean, hasFlag, intFlag, loadavg, machine, printTable, saveResults, torchAvailable } from './lib/common.js';
import { trainingSetup } from './lib/training-setup.js';
import { measureCeilingGflops } from './lib/ceiling.js';

type Phase = 'forward' | 'backward' | 'optimizer';
const PHASES: Phase[] = ['forward', 'backward', 'optimizer'];
interface PhaseProfile { ms: number; ops: OpTime[] }
type StepProfile = Record<Phase, PhaseProfile>;

/** Op categories by name: ATen ops for the forward, autograd nodes for the backward. */
const CATEGORIES: [string, RegExp][] = [
  ['conv', /(^aten::(conv2d|convolution|_convolution|mkldnn_convolution|_mkldnn_convolution))|Convolution.*Backward/],
  ['batch norm', /batch_norm|BatchNorm/],
  ['relu', /relu|Relu|threshold/i],
  ['add (residual)', /^aten::add_?$|AddBackward/],
  ['pooling', /pool|Pool|MeanBackward|^aten::mean$/],
  ['classifier + loss', /linear|addmm|Addmm|cross_entropy|log_softmax|LogSoftmax|nll_loss|NllLoss|TBackward|^aten::t$|flatten|View|Reshape/],
  ['casts + copies', /^aten::(to|_to_copy|copy_|contiguous|clone|empty_like)$|ToCopy|CloneBackward/],
  ['grad accumulation', /AccumulateGrad/],
  ['optimizer ops', /^aten::(add_|mul_|addcdiv_|addcmul_|lerp_|sqrt|div)$|_foreach/],
];
const categoryOf = (name: string, phase: Phase): string =>
  phase === 'optimizer' ? 'optimizer' : CATEGORIES.find(([, re]) => re.test(name))?.[0] ?? 'other';

/** Sums profiles of several steps into one (per step: divide by `steps`). */
function addInto(acc: StepProfile | undefined, p: StepProfile): StepProfile {
  if (!acc) return p;
  for (const ph of PHASES) {
    acc[ph].ms += p[ph].ms;
    const byName = new Map(acc[ph].ops.map((o) => [o.name, o]));
    for (const o of p[ph].ops) {
      const a = byName.get(o.name);
      if (a) { a.calls += o.calls; a.selfUs += o.selfUs; a.totalUs += o.totalUs; a.topUs += o.topUs; } else acc[ph].ops.push({ ...o });
    }
  }
  return acc;
}

interface Breakdown { rows: Map<string, number>; phaseMs: Record<Phase, number>; outside: Record<Phase, number>; totalMs: number; convMs: number }
function breakdown(p: StepProfile, steps: number): Breakdown {
  const rows = new Map<string, number>();
  const phaseMs = {} as Record<Phase, number>;
  const outside = {} as Record<Phase, number>;
  let convMs = 0;
  for (const ph of PHASES) {
    let inOps = 0;
    for (const o of p[ph].ops) {
      if (o.topUs <= 0) continue;
      const ms = o.topUs / 1000 / steps;
      inOps += ms;
      const cat = `${ph === 'optimizer' ? '' : ph === 'forward' ? 'fwd ' : 'bwd '}${categoryOf(o.name, ph)}`;
      rows.set(cat, (rows.get(cat) ?? 0) + ms);
      if (cat.endsWith(' conv')) convMs += ms;
    }
    phaseMs[ph] = p[ph].ms / steps;
    outside[ph] = Math.max(0, phaseMs[ph] - inOps);
    // ablate's SGD is one native loop, not ATen ops: the optimizer phase is optimizer time whatever runs it.
    if (ph === 'optimizer') {
      rows.set('optimizer', phaseMs[ph]);
      outside[ph] = 0;
    }
  }
  return { rows, phaseMs, outside, totalMs: PHASES.reduce((s, ph) => s + phaseMs[ph], 0), convMs };
}

function topSelf(p: StepProfile, steps: number, n: number): [string, number][] {
  const self = new Map<string, number>();
  for (const ph of PHASES) for (const o of p[ph].ops) self.set(o.name, (self.get(o.name) ?? 0) + o.selfUs / 1000 / steps);
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n);
}

/** oneDNN's own time per primitive kind and implementation in one step: [kind, implementation, ms, calls]. */
function onednnBreakdown(args: string[]): [string, string, number, number][] {
  // 1.13's oneDNN reads DNNL_VERBOSE, 2.x's ONEDNN_VERBOSE; the marker separates the warm-up step from the measured one.
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'step-profile.ts'), '--onednn-child', ...args],
    { encoding: 'utf8', env: { ...process.env, DNNL_VERBOSE: '1', ONEDNN_VERBOSE: '1' }, maxBuffer: 256 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`the oneDNN child failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  const lines = r.stdout.split('\n');
  const sums = new Map<string, [string, string, number, number]>();
  for (const line of lines.slice(lines.indexOf('ONEDNN-STEP') + 1)) {
    const f = line.split(',');
    if (f[0] !== 'onednn_verbose' && f[0] !== 'dnnl_verbose') continue;
    if (f[1] !== 'exec') continue;
    const kind = f[3] === 'reorder' ? 'reorder' : `${f[3]} ${f[5]}`;
    const key = `${kind}|${f[4]}`;
    const row = sums.get(key) ?? [kind, f[4]!, 0, 0];
    row[2] += Number(f[f.length - 1]);
    row[3]++;
    sums.set(key, row);
  }
  return [...sums.values()].sort((a, b) => b[2] - a[2]);
}

async function main(): Promise<void> {
  const model = flag('model', 'resnet34');
  const size = intFlag('size', 224);
  const precision = flag('precision', 'bf16');
  if (precision !== 'bf16' && precision !== 'fp32') throw new TypeError(`Expected bf16 or fp32 for --precision but received ${JSON.stringify(precision)}`);
  const bf16 = precision === 'bf16';
  const batch = intFlag('batch', 16);
  const rounds = intFlag('rounds', 3);
  const top = intFlag('top', 12);
  const threads = intFlag('threads', defaultThreads());
  const peakFlag = hasFlag('peak-gflops') ? flag('peak-gflops', '0') : undefined;
  const ceilingSamples: number[] | undefined = peakFlag === 'measure' ? [] : undefined;
  if (peakFlag !== undefined && !ceilingSamples && !(Number(peakFlag) > 0)) throw new TypeError(`Expected a number of GFLOPS or "measure" for --peak-gflops but received ${JSON.stringify(peakFlag)}`);
  setNumThreads(threads);

  const { model: net, opt, x, y } = trainingSetup(model, { size, batch, bf16 });
  const fwdFlops = net.flops([3, size, size]).flops;
  // Convolutions are most of a ResNet's FLOPs; counted from the summary rows so the conv rate uses conv FLOPs only.
  const convFlops = net.summaryData([3, size, size]).rows.filter((r) => r.type === 'Conv2D').reduce((s, r) => s + r.flops, 0);

  const ablateStep = (): StepProfile => {
    let loss: Tensor | undefined;
    const phase = (fn: () => void): PhaseProfile => {
      const t0 = performance.now();
      const { ops } = profileOps(fn);
      return { ms: performance.now() - t0, ops };
    };
    const out = {} as StepProfile;
    tidy(() => {
      out.forward = phase(() => {
        const logits = bf16 ? withAutocast({ device: 'cpu', dtype: 'bfloat16' }, () => net.forward(x)) : net.forward(x);
        loss = F.crossEntropy(logits.float(), y);
      });
      out.backward = phase(() => loss!.backward());
      loss!.item();
    });
    out.optimizer = phase(() => opt.step({ zeroGrad: true }));
    return out;
  };

  if (hasFlag('onednn-child')) {
    ablateStep();
    process.stdout.write('ONEDNN-STEP\n');
    ablateStep();
    return;
  }

  const m = machine();
  console.log(`step-profile: ${model} ${size}² ${precision}, batch ${batch}, ${threads} thread(s), ${rounds} interleaved rounds; ${m.cores} cores, loadavg ${m.loadavg}`);
  const torch = hasFlag('no-torch') ? { ok: false as const, reason: '--no-torch' } : await torchAvailable();
  const server = torch.ok ? new LineServer('pytorch profile', PYTHON, [join(BENCH_DIR, 'torch_step_server.py'), String(size), precision, String(threads), String(batch), model]) : undefined;
  if (server) await server.read();
  if (!torch.ok) console.log(`(PyTorch comparison skipped: ${torch.reason})`);

  let ours: StepProfile | undefined;
  let theirs: StepProfile | undefined;
  const loadBefore = loadavg();
  try {
    ablateStep(); // warm-up: oneDNN primitives, the allocator, momentum buffers
    if (ceilingSamples) measureCeilingGflops({ reps: 2, rounds: 1 });
    if (server) await server.request('profile 1');
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['ablate', 'pytorch'] : ['pytorch', 'ablate'];
      for (const side of order) {
        if (side === 'ablate') {
          ours = addInto(ours, ablateStep());
          ceilingSamples?.push(measureCeilingGflops({ reps: 10, rounds: 1, warmup: 0 }));
        }
        else if (server) {
          const res = await server.request<{ phases: Record<Phase, { ms: number; ops: [string, number, number, number, number][] }> }>('profile 1');
          const p = {} as StepProfile;
          for (const ph of PHASES) p[ph] = { ms: res.phases[ph].ms, ops: res.phases[ph].ops.map(([name, calls, selfUs, totalUs, topUs]) => ({ name, calls, selfUs, totalUs, topUs })) };
          theirs = addInto(theirs, p);
        }
      }
    }
  } finally {
    await server?.close();
  }
  const loadAfter = loadavg();

  const a = breakdown(ours!, rounds);
  const t = theirs ? breakdown(theirs, rounds) : undefined;
  const cats = [...new Set([...a.rows.keys(), ...(t ? t.rows.keys() : [])])].sort((p, q) => (a.rows.get(q) ?? 0) - (a.rows.get(p) ?? 0));
  const pct = (v: number, total: number) => `${fmt((100 * v) / total, 0)}%`;
  console.log(`\nms per step (inclusive time of top-level ops, by category; profiled, so a little slower than unprofiled steps)`);
  const rows: (string | number)[][] = cats.map((c) => [c, fmt(a.rows.get(c) ?? 0, 1), pct(a.rows.get(c) ?? 0, a.totalMs), ...(t ? [fmt(t.rows.get(c) ?? 0, 1), pct(t.rows.get(c) ?? 0, t.totalMs)] : [])]);
  for (const ph of PHASES) rows.push([`${ph}: outside ops`, fmt(a.outside[ph], 1), pct(a.outside[ph], a.totalMs), ...(t ? [fmt(t.outside[ph], 1), pct(t.outside[ph], t.totalMs)] : [])]);
  rows.push(['step (wall)', fmt(a.totalMs, 1), '100%', ...(t ? [fmt(t.totalMs, 1), '100%'] : [])]);
  printTable(['category', 'ablate ms', 'share', ...(t ? ['PyTorch ms', 'share'] : [])], rows);

  console.log(`\nphases, ms per step`);
  printTable(['phase', 'ablate', 'PyTorch', 'ablate/PyTorch time'], PHASES.map((ph) => [ph, fmt(a.phaseMs[ph], 1), t ? fmt(t.phaseMs[ph], 1) : '—', t ? fmt(a.phaseMs[ph] / t.phaseMs[ph], 2) : '—']));

  console.log(`\nops by self time (ms per step)`);
  const ts = t ? new Map(topSelf(theirs!, rounds, 1000)) : undefined;
  printTable(['op', 'ablate', 'PyTorch'], topSelf(ours!, rounds, top).map(([n, ms]) => [n, fmt(ms, 1), ts ? fmt(ts.get(n) ?? 0, 1) : '—']));

  const gflops = (flops: number, ms: number) => (flops * batch) / (ms * 1e6);
  const stepG = gflops(3 * fwdFlops, a.totalMs);
  const convG = gflops(3 * convFlops, a.convMs);
  console.log(`\nwork: ${fmt((3 * fwdFlops) / 1e9, 2)} GFLOP per image per training step (3× forward), ${fmt((3 * convFlops) / 1e9, 2)} in convolutions`);
  console.log(`achieved: ablate ${fmt(stepG, 0)} GFLOPS over the whole step, ${fmt(convG, 0)} GFLOPS inside convolutions${t ? `; PyTorch ${fmt(gflops(3 * fwdFlops, t.totalMs), 0)} and ${fmt(gflops(3 * convFlops, t.convMs), 0)}` : ''}`);
  const peak = ceilingSamples ? mean(ceilingSamples) : peakFlag !== undefined ? Number(peakFlag) : undefined;
  if (ceilingSamples) console.log(`ceiling layer (bench/lib/ceiling.ts) timed after each profiled ablate step: ${ceilingSamples.map((g) => fmt(g, 0)).join(', ')} GFLOPS`);
  if (peak) console.log(`against a ${fmt(peak, 0)} GFLOPS ceiling: the step reaches ${fmt((100 * stepG) / peak, 0)}%, convolutions ${fmt((100 * convG) / peak, 0)}% (ceiling ≈ ${fmt((peak * 1e9) / (3 * fwdFlops), 0)} img/s)`);
  let onednn: [string, string, number, number][] | undefined;
  if (hasFlag('onednn')) {
    onednn = onednnBreakdown(['--model', model, '--size', String(size), '--precision', precision, '--batch', String(batch), '--threads', String(threads)]);
    const total = onednn.reduce((s, r) => s + r[2], 0);
    console.log(`\noneDNN primitives in one ablate step (oneDNN's own timing, ms; one process, not interleaved)`);
    printTable(['primitive', 'implementation', 'ms', 'calls', 'share'], onednn.map(([kind, impl, ms, calls]) => [kind, impl, fmt(ms, 1), calls, `${fmt((100 * ms) / total, 0)}%`]));
  }
  console.log(`load ${loadBefore} → ${loadAfter}; ablate ${getNumThreads()} thread(s)`);
  const path = saveResults('step-profile', { machine: m, model, size, precision, batch, threads, rounds, loadBefore, loadAfter, ablate: { ...a, rows: Object.fromEntries(a.rows) }, pytorch: t && { ...t, rows: Object.fromEntries(t.rows) }, fwdFlops, convFlops, ablateOps: ours, pytorchOps: theirs, onednn,
    ablateStepGflops: stepG, ablateConvGflops: convG, peakGflops: peak, ceilingSamples });
  console.log(`\nresults: ${path}`);
  net.dispose();
  opt.dispose();
}

await main();
