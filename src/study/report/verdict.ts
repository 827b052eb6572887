/**
 * Plain-words verdicts for each comparison. The rule: a difference is called a finding only when
 * the measured noise says it is one — a 95% interval over seeds that excludes zero, or, with one
 * seed, a difference well beyond the runs' own epoch-to-epoch jitter (and then still flagged as
 * unconfirmed, since seed-to-seed variation was never measured).
 */
import type { Comparison } from '../spec-expand.js';
import { type DifferenceInterval, pairedInterval, welchInterval } from '../stats.js';
import { points, prettyName, unsignedPoints } from './format.js';
import type { ReportOptions, RunSummary, VariantSummary } from './summary.js';

export type VerdictKind =
  | 'better' // significant over seeds
  | 'no-difference' // interval over seeds includes zero
  | 'above-noise' // one seed, difference beyond epoch noise: suggestive only
  | 'within-noise' // one seed, difference within epoch noise
  | 'noise-unknown' // one seed and too few epochs to estimate noise
  | 'unavailable'; // a side has no finished run with validation numbers

export interface Verdict {
  variant: string;
  reference: string;
  kind: VerdictKind;
  /** variant − reference, in accuracy fraction (final = last-k mean). */
  difference?: number;
  interval?: DifferenceInterval;
  /** Single-seed threshold: 2·√(σ_variant² + σ_reference²) of the epoch-to-epoch noise. */
  noiseThreshold?: number;
  /** True only for `better` — the one kind that states a finding without reservation. */
  significant: boolean;
  text: string;
  /** Notes about runs left out (diverged, failed, still running). */
  notes: string[];
}

function leftOut(v: VariantSummary): string | undefined {
  const skipped = v.runs.filter((r) => !v.finished.includes(r));
  if (skipped.length === 0) return undefined;
  const counts = new Map<string, number>();
  for (const r of skipped) {
    const why = r.run.state === 'ok' ? 'has no validation accuracy' : r.run.state;
    counts.set(why, (counts.get(why) ?? 0) + 1);
  }
  const what = [...counts].map(([why, n]) => `${n} ${why}`).join(', ');
  return `${prettyName(v.name)}: ${skipped.length} of ${v.runs.length} runs left out (${what})`;
}

const values = (rs: RunSummary[]) => rs.map((r) => r.finalValAcc!);

/** Pair by seed when both variants finished exactly the same seeds; pairing removes the shared seed effect. */
function intervalFor(a: VariantSummary, b: VariantSummary, level: number): DifferenceInterval | undefined {
  const sa = a.finished.map((r) => r.run.seed);
  const sb = b.finished.map((r) => r.run.seed);
  const sameSeeds = sa.length === sb.length && sa.every((s, i) => s !== undefined && s === sb[i]);
  return sameSeeds ? pairedInterval(values(a.finished), values(b.finished), level) : welchInterval(values(a.finished), values(b.finished), level);
}

export function judge(c: Comparison, variants: VariantSummary[], options: ReportOptions = {}): Verdict {
  const level = options.level ?? 0.95;
  const levelPct = `${Math.round(level * 100)}%`;
  const a = variants.find((v) => v.name === c.variant);
  const b = variants.find((v) => v.name === c.reference);
  const A = prettyName(c.variant);
  const B = prettyName(c.reference);
  const base = { variant: c.variant, reference: c.reference, significant: false };
  const notes = [a, b].flatMap((v) => (v ? [leftOut(v)].filter((x): x is string => !!x) : []));

  if (!a || !b || a.finished.length === 0 || b.finished.length === 0) {
    const missing = [a ? undefined : A, b ? undefined : B].filter(Boolean);
    const empty = [a, b].filter((v): v is VariantSummary => !!v && v.finished.length === 0).map((v) => prettyName(v.name));
    const why = missing.length ? `${missing.join(' and ')} not in this study` : `${empty.join(' and ')} ${empty.length > 1 ? 'have' : 'has'} no finished run with validation accuracy`;
    return { ...base, kind: 'unavailable', notes, text: `Cannot compare ${A} with ${B}: ${why}.` };
  }

  const diff = (a.final.mean ?? NaN) - (b.final.mean ?? NaN);
  const leader = diff >= 0 ? A : B;
  const trailer = diff >= 0 ? B : A;

  if (a.finished.length >= 2 && b.finished.length >= 2) {
    const iv = intervalFor(a, b, level)!;
    const how = iv.method === 'paired' ? `paired over ${iv.n[0]} seeds` : `Welch, ${iv.n[0]} vs ${iv.n[1]} seeds`;
    const ci = `${levelPct} CI ${points(iv.low)} to ${points(iv.high)} points; ${how}`;
    if (iv.low > 0 || iv.high < 0) {
      // The sentence names the leader first, so its interval is the leader's advantage (positive).
      const lead = diff >= 0 ? ci : `${levelPct} CI ${points(-iv.high)} to ${points(-iv.low)} points; ${how}`;
      return { ...base, kind: 'better', difference: diff, interval: iv, significant: true, notes,
        text: `${leader} beats ${trailer} by ${unsignedPoints(diff)} ± ${unsignedPoints(iv.halfWidth)} points (${lead}).` };
    }
    const seeds = Math.min(iv.n[0], iv.n[1]);
    return { ...base, kind: 'no-difference', difference: diff, interval: iv, notes,
      text: `No significant difference between ${A} and ${B} with ${seeds} seeds (${A} ${points(diff)} points, ${ci}) — add seeds or epochs.` };
  }

  // One seed on at least one side: the only noise we can measure is each run's epoch-to-epoch jitter.
  const noises = [...a.finished, ...b.finished].map((r) => r.noise);
  if (noises.some((n) => n === undefined)) {
    const epochs = Math.min(...[...a.finished, ...b.finished].map((r) => r.epochs));
    return { ...base, kind: 'noise-unknown', difference: diff, notes,
      text: `${A} ${points(diff)} points over ${B}, but with one seed and only ${epochs} epoch${epochs === 1 ? '' : 's'} the noise cannot be estimated — not a finding. Add seeds (seeds: [0, 1, 2]) or epochs.` };
  }
  const rms = (rs: RunSummary[]) => Math.sqrt(rs.reduce((s, r) => s + r.noise! ** 2, 0) / rs.length);
  const threshold = 2 * Math.hypot(rms(a.finished), rms(b.finished));
  if (Math.abs(diff) <= threshold) {
    return { ...base, kind: 'within-noise', difference: diff, noiseThreshold: threshold, notes,
      text: `The difference (${A} ${points(diff)} points over ${B}) is within the epoch-to-epoch noise of these single runs (±${unsignedPoints(threshold)} points) — not a finding. Add seeds (seeds: [0, 1, 2]) or epochs.` };
  }
  return { ...base, kind: 'above-noise', difference: diff, noiseThreshold: threshold, notes,
    text: `${leader} beats ${trailer} by ${unsignedPoints(diff)} points, more than the epoch-to-epoch noise (±${unsignedPoints(threshold)} points) — but with one seed the seed-to-seed variation is unmeasured; confirm with more seeds.` };
}
