/** Per-run and per-variant numbers the report shows, computed from the runs' history files. */
import type { RunRecord, RunState, StudyRecord } from '../run-files.js';
import { epochNoise, mean, sampleStd } from '../stats.js';

export interface ReportOptions {
  /** How many final epochs the "final" accuracy averages (default 3). */
  lastK?: number;
  /** How many final epochs the single-seed noise estimate looks at (default 5). */
  noiseEpochs?: number;
  /** Confidence level for intervals (default 0.95). */
  level?: number;
}

export interface RunSummary {
  run: RunRecord;
  epochs: number;
  epochsPlanned?: number;
  bestValAcc?: number;
  bestEpoch?: number;
  /** Validation accuracy of the last recorded epoch. */
  lastValAcc?: number;
  /** Mean validation accuracy of the last k epochs: the number comparisons use. */
  finalValAcc?: number;
  /** How many epochs `finalValAcc` averages (fewer than k when the run is shorter). */
  finalK: number;
  finalValLoss?: number;
  finalLoss?: number;
  /** Epoch-to-epoch noise of validation accuracy (see stats.epochNoise). */
  noise?: number;
  /** Accuracy on the held-out test split (data.testSplit), scored once after training. */
  testAcc?: number;
  trainTimeS?: number;
  imagesPerS?: number;
  params?: number;
  flops?: number;
}

function finite(x: number | undefined): number | undefined {
  return x !== undefined && Number.isFinite(x) ? x : undefined;
}

export function summariseRun(run: RunRecord, options: ReportOptions = {}): RunSummary {
  const k = options.lastK ?? 3;
  const h = run.history;
  const val = h.filter((r) => r.val_accuracy !== undefined && Number.isFinite(r.val_accuracy));
  let best: (typeof h)[number] | undefined;
  for (const r of val) if (!best || r.val_accuracy! > best.val_accuracy!) best = r;
  const tail = val.slice(-k);
  const last = h[h.length - 1];
  const st = run.status;
  const epochTimes = h.map((r) => r.epoch_time_s);
  const ips = h.map((r) => r.images_per_s).filter(Number.isFinite);
  const out: RunSummary = {
    run,
    epochs: h.length,
    finalK: tail.length,
    ...(st ? { epochsPlanned: st.epochsPlanned } : typeof run.config?.epochs === 'number' ? { epochsPlanned: run.config.epochs } : {}),
  };
  if (best) { out.bestValAcc = best.val_accuracy; out.bestEpoch = best.epoch; }
  if (val.length > 0) out.lastValAcc = val[val.length - 1].val_accuracy;
  if (tail.length > 0) out.finalValAcc = mean(tail.map((r) => r.val_accuracy!));
  if (last?.val_loss !== undefined) out.finalValLoss = last.val_loss;
  if (last) out.finalLoss = last.loss;
  const noise = epochNoise(val.map((r) => r.val_accuracy!), options.noiseEpochs ?? 5);
  if (Number.isFinite(noise)) out.noise = noise;
  const time = st && st.trainTimeS > 0 ? st.trainTimeS : epochTimes.length ? epochTimes.reduce((a, b) => a + b, 0) : undefined;
  if (time !== undefined) out.trainTimeS = time;
  const speed = finite(st?.imagesPerS) ?? (ips.length ? mean(ips) : undefined);
  if (speed !== undefined) out.imagesPerS = speed;
  if (st && st.params > 0) out.params = st.params; // 0: the run failed before its model was built
  const flops = st?.flops ?? (st?.macs !== undefined ? 2 * st.macs : undefined);
  if (flops !== undefined) out.flops = flops;
  const test = finite(st?.testAccuracy);
  if (test !== undefined) out.testAcc = test;
  return out;
}

/** mean, std and count of a per-seed quantity. */
export interface Spread {
  mean?: number;
  std?: number;
  n: number;
}

export function spread(xs: (number | undefined)[]): Spread {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (v.length === 0) return { n: 0 };
  return { mean: mean(v), ...(v.length >= 2 ? { std: sampleStd(v) } : {}), n: v.length };
}

export interface VariantSummary {
  name: string;
  axes: RunRecord['axes'];
  runs: RunSummary[];
  /** Runs that finished (`ok`) with validation numbers: the ones statistics use. */
  finished: RunSummary[];
  /** The runs the table's numbers come from: the finished ones, else (for a variant still going) whatever has epochs. */
  shown: RunSummary[];
  states: Partial<Record<RunState, number>>;
  best: Spread;
  final: Spread;
  /** Held-out test accuracy over the finished runs that have one. */
  test: Spread;
  valLoss: Spread;
  bestEpoch: Spread;
  trainTime: Spread;
  imagesPerS: Spread;
  params?: number;
  flops?: number;
}

/** The variant's overall status: the shared state, or a count like `ok 2/3, diverged 1`. */
export function variantStatus(v: VariantSummary): string {
  const entries = Object.entries(v.states) as [RunState, number][];
  if (entries.length === 1) return entries[0][0];
  const total = v.runs.length;
  return entries.sort((a, b) => b[1] - a[1]).map(([s, n], i) => (i === 0 ? `${s} ${n}/${total}` : `${s} ${n}`)).join(', ');
}

export function summariseVariants(study: StudyRecord, options: ReportOptions = {}): VariantSummary[] {
  const order: string[] = [];
  const groups = new Map<string, RunSummary[]>();
  for (const run of study.runs) {
    if (!groups.has(run.variant)) { groups.set(run.variant, []); order.push(run.variant); }
    groups.get(run.variant)!.push(summariseRun(run, options));
  }
  return order.map((name) => {
    const runs = groups.get(name)!.sort((a, b) => (a.run.seed ?? 0) - (b.run.seed ?? 0));
    const finished = runs.filter((r) => r.run.state === 'ok' && r.finalValAcc !== undefined);
    const shown = finished.length > 0 ? finished : runs.filter((r) => r.epochs > 0);
    const states: Partial<Record<RunState, number>> = {};
    for (const r of runs) states[r.run.state] = (states[r.run.state] ?? 0) + 1;
    const params = runs.find((r) => r.params !== undefined)?.params;
    const flops = runs.find((r) => r.flops !== undefined)?.flops;
    return {
      name,
      axes: runs[0].run.axes,
      runs,
      finished,
      shown,
      states,
      best: spread(shown.map((r) => r.bestValAcc)),
      final: spread(shown.map((r) => r.finalValAcc)),
      test: spread(finished.map((r) => r.testAcc)),
      valLoss: spread(shown.map((r) => r.finalValLoss)),
      bestEpoch: spread(shown.map((r) => r.bestEpoch)),
      trainTime: spread(shown.map((r) => r.trainTimeS)),
      imagesPerS: spread(shown.map((r) => r.imagesPerS)),
      ...(params !== undefined ? { params } : {}),
      ...(flops !== undefined ? { flops } : {}),
    };
  });
}
