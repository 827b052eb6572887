/**
 * Plain-words verdicts for each comparison. The rule: a difference is called a finding only when
 * the measured noise says it is one — a 95% interval over seeds that excludes zero, or, with one
 * seed, a difference well beyond the runs' own epoch-to-epoch jitter (and then still flagged as
 * unconfirmed, since seed-to-seed variation was never measured).
 */
import type { Comparison } from '../spec-expand.js';
import { type DifferenceInterval, pairedInterval, welchInterval } from '../stats.js';
import { type ClippedInterval, type Correction, adjustPValues, clipInterval, tTestP } from '../inference.js';
import type { Expectation } from '../spec.js';
import type { SequentialResult } from '../sequential.js';
import { points, prettyName, unsignedPoints } from './format.js';
import { type ReportOptions, type RunSummary, type VariantSummary, spread } from './summary.js';

export type VerdictKind =
  | 'better' // significant over seeds, after the study's multiple-comparison correction
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
  /** Two-sided t-test p-value (with two or more seeds on each side). */
  pValue?: number;
  /** The p-value adjusted for the study's comparisons (see Family); the verdict uses this one. */
  adjustedP?: number;
  /** Which ends of `interval` were cut to the feasible range [−100, +100] points, and where the t-interval reached. */
  bounded?: ClippedInterval['bounded'] & { rawLow: number; rawHigh: number };
  /** The study file's claim about this pair, checked. */
  expectation?: ExpectationCheck;
  /** Adaptive seeds: the look that decided the pair (if one did) and the seeds its numbers use. */
  sequential?: { decidedAt?: number; seeds: number };
}

/** How a study's comparisons were corrected for their number. */
export interface Family {
  correction: Correction;
  /** Comparisons with a p-value (two or more seeds on each side): the family the correction runs over. */
  size: number;
  alpha: number;
  /** Adaptive seeds: α was spent over up to this many looks (from min to max seeds). */
  looks?: number;
}

export type ExpectationOutcome = 'replicated' | 'contradicted' | 'inconclusive';

export interface ExpectationCheck {
  claim: Expectation;
  outcome: ExpectationOutcome;
  /** The measured difference and interval in the claim's orientation (positive = as claimed), in accuracy fraction. */
  difference?: number;
  low?: number;
  high?: number;
  text: string;
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

/** Accuracy lies in [0, 1], so a difference of two accuracies lies in [−1, 1]. */
const ACCURACY_RANGE: [number, number] = [0, 1];

/** `p = 0.012`, `p < 0.001`. */
export function formatP(p: number): string {
  if (p < 0.001) return '< 0.001';
  return `= ${p < 0.01 ? p.toFixed(4) : p.toFixed(3)}`;
}

interface Measured {
  c: Comparison;
  base: Verdict;
  a?: VariantSummary;
  b?: VariantSummary;
  interval?: DifferenceInterval;
}

/** A variant cut to the given seeds: an adaptive pair is judged on the seeds of its last look, not seeds added for other pairs. */
function onSeeds(v: VariantSummary | undefined, seeds: ReadonlySet<number> | undefined): VariantSummary | undefined {
  if (!v || !seeds) return v;
  const finished = v.finished.filter((r) => r.run.seed !== undefined && seeds.has(r.run.seed));
  return { ...v, finished, final: spread(finished.map((r) => r.finalValAcc)) };
}

function measure(c: Comparison, variants: VariantSummary[], level: number, seeds?: ReadonlySet<number>): Measured {
  const a = onSeeds(variants.find((v) => v.name === c.variant), seeds);
  const b = onSeeds(variants.find((v) => v.name === c.reference), seeds);
  const notes = [a, b].flatMap((v) => (v ? [leftOut(v)].filter((x): x is string => !!x) : []));
  const base: Verdict = { variant: c.variant, reference: c.reference, kind: 'unavailable', significant: false, text: '', notes };
  if (!a || !b || a.finished.length < 2 || b.finished.length < 2) return { c, base, a, b };
  const raw = intervalFor(a, b, level)!;
  const clipped = clipInterval(raw.low, raw.high, ACCURACY_RANGE);
  const interval = { ...raw, low: clipped.low, high: clipped.high };
  const bounded = clipped.bounded.low || clipped.bounded.high ? { bounded: { ...clipped.bounded, rawLow: raw.low, rawHigh: raw.high } } : {};
  return { c, a, b, interval, base: { ...base, interval, difference: raw.difference, pValue: tTestP(raw), ...bounded } };
}

/**
 * Verdicts for all of a study's comparisons. Those with two or more seeds on each side form the
 * family whose p-values the correction adjusts; a difference is `better` only when its adjusted
 * p-value is below α = 1 − level.
 */
export function judgeAll(comparisons: Comparison[], variants: VariantSummary[], options: ReportOptions = {},
  settings: { correction?: Correction; expect?: Expectation[]; sequential?: SequentialResult; seeds?: readonly number[] } = {}): { verdicts: Verdict[]; family: Family } {
  const level = options.level ?? 0.95;
  const correction = settings.correction ?? 'holm';
  const seq = settings.sequential;
  // Adaptive seeds: each pair on the seeds of its last look, its p-value adjusted over comparisons and looks.
  const seedsOf = (i: number) => {
    const n = seq?.comparisons[i]?.seeds;
    return n !== undefined && settings.seeds ? new Set(settings.seeds.slice(0, n)) : undefined;
  };
  const measured = comparisons.map((c, i) => measure(c, variants, level, seedsOf(i)));
  const tested = measured.filter((m) => m.base.pValue !== undefined);
  if (seq) {
    measured.forEach((m, i) => {
      const s = seq.comparisons[i];
      if (s?.seeds === undefined) return;
      m.base.sequential = { seeds: s.seeds, ...(s.decidedAt !== undefined ? { decidedAt: s.decidedAt } : {}) };
      if (m.base.pValue !== undefined) m.base.adjustedP = s.adjustedP;
    });
    // A pair never looked at (its min seeds are not all in) has no sequential p-value: it cannot be decided yet.
    for (const m of tested) m.base.adjustedP ??= 1;
  } else {
    const adjusted = adjustPValues(tested.map((m) => m.base.pValue!), correction);
    tested.forEach((m, i) => { m.base.adjustedP = adjusted[i]; });
  }
  // Rounded so that 1 − 0.95 reads 0.05, not 0.050000000000000044, in summary.json.
  const family: Family = { correction, size: tested.length, alpha: Number((1 - level).toFixed(12)), ...(seq ? { looks: seq.schedule.length } : {}) };
  const verdicts = measured.map((m) => {
    const v = phrase(m, options, family);
    const claim = settings.expect?.find((e) => (e.variant === v.variant && e.reference === v.reference) || (e.variant === v.reference && e.reference === v.variant));
    return claim ? { ...v, expectation: checkExpectation(claim, v) } : v;
  });
  return { verdicts, family };
}

function pText(v: Verdict, family: Family): string {
  const raw = `p ${formatP(v.pValue!)}`;
  if (family.looks !== undefined) {
    const name = family.correction === 'holm' ? 'Holm-' : family.correction === 'bh' ? 'BH-' : '';
    const when = v.sequential?.decidedAt !== undefined ? `decided at look ${v.sequential.decidedAt} of ${family.looks}` : `undecided after ${family.looks} looks`;
    return `${raw}, sequential ${name}adjusted p ${formatP(v.adjustedP!)} over ${family.size} comparison${family.size === 1 ? '' : 's'} and the looks (${when})`;
  }
  if (family.correction === 'none' || family.size <= 1) return raw;
  const name = family.correction === 'holm' ? 'Holm' : 'BH';
  return `${raw}, ${name}-adjusted p ${formatP(v.adjustedP!)} over ${family.size} comparisons`;
}

/** When an interval end was cut to the feasible range, a sentence saying so (in the comparison's own orientation, variant − reference). */
function boundText(v: Verdict, A: string, B: string): string {
  if (!v.bounded) return '';
  const ends = [
    ...(v.bounded.low ? [`its lower end to ${points(v.interval!.low)} points (the t-interval reached ${points(v.bounded.rawLow)})`] : []),
    ...(v.bounded.high ? [`its upper end to ${points(v.interval!.high)} points (the t-interval reached ${points(v.bounded.rawHigh)})`] : []),
  ];
  return ` The interval for ${A} − ${B} was cut to what accuracy allows, ${ends.join(' and ')}: two accuracies cannot differ by more than 100 points, and an interval this wide means the seeds disagree too much to size the effect.`;
}

function phrase(m: Measured, options: ReportOptions, family: Family): Verdict {
  const { c, a, b, base } = m;
  const level = options.level ?? 0.95;
  const levelPct = `${Math.round(level * 100)}%`;
  const A = prettyName(c.variant);
  const B = prettyName(c.reference);

  if (!a || !b || a.finished.length === 0 || b.finished.length === 0) {
    const missing = [a ? undefined : A, b ? undefined : B].filter(Boolean);
    const empty = [a, b].filter((v): v is VariantSummary => !!v && v.finished.length === 0).map((v) => prettyName(v.name));
    const why = missing.length ? `${missing.join(' and ')} not in this study` : `${empty.join(' and ')} ${empty.length > 1 ? 'have' : 'has'} no finished run with validation accuracy`;
    return { ...base, kind: 'unavailable', text: `Cannot compare ${A} with ${B}: ${why}.` };
  }

  const diff = (a.final.mean ?? NaN) - (b.final.mean ?? NaN);
  const leader = diff >= 0 ? A : B;
  const trailer = diff >= 0 ? B : A;

  if (m.interval) {
    const iv = m.interval;
    const how = iv.method === 'paired' ? `paired over ${iv.n[0]} seeds` : `Welch, ${iv.n[0]} vs ${iv.n[1]} seeds`;
    const p = pText(base, family);
    const ci = `${levelPct} CI ${points(iv.low)} to ${points(iv.high)} points; ${how}; ${p}`;
    const size = base.bounded ? unsignedPoints(diff) : `${unsignedPoints(diff)} ± ${unsignedPoints(iv.halfWidth)}`;
    if (base.adjustedP! < family.alpha) {
      // The sentence names the leader first, so its interval is the leader's advantage (positive).
      const lead = diff >= 0 ? ci : `${levelPct} CI ${points(-iv.high)} to ${points(-iv.low)} points; ${how}; ${p}`;
      return { ...base, kind: 'better', significant: true,
        text: `${leader} beats ${trailer} by ${size} points (${lead}).${boundText(base, A, B)}` };
    }
    const seeds = Math.min(iv.n[0], iv.n[1]);
    const corrected = base.pValue! < family.alpha && family.correction !== 'none' && family.size > 1;
    const why = family.looks !== undefined
      ? `with ${seeds} seeds${base.pValue! < family.alpha ? ', once α is spent over the looks of adaptive seeding, though alone it would be' : ''}`
      : corrected
      ? `after ${family.correction === 'holm' ? 'Holm' : 'Benjamini–Hochberg'} correction for ${family.size} comparisons, though alone it would be`
      : `with ${seeds} seeds`;
    return { ...base, kind: 'no-difference',
      text: `No significant difference between ${A} and ${B} ${why} (${A} ${points(diff)} points, ${ci}) — add seeds or epochs.${boundText(base, A, B)}` };
  }

  // One seed on at least one side: the only noise we can measure is each run's epoch-to-epoch jitter.
  const noises = [...a.finished, ...b.finished].map((r) => r.noise);
  if (noises.some((n) => n === undefined)) {
    const epochs = Math.min(...[...a.finished, ...b.finished].map((r) => r.epochs));
    return { ...base, kind: 'noise-unknown', difference: diff,
      text: `${A} ${points(diff)} points over ${B}, but with one seed and only ${epochs} epoch${epochs === 1 ? '' : 's'} the noise cannot be estimated — not a finding. Add seeds (seeds: [0, 1, 2]) or epochs.` };
  }
  const rms = (rs: RunSummary[]) => Math.sqrt(rs.reduce((s, r) => s + r.noise! ** 2, 0) / rs.length);
  const threshold = 2 * Math.hypot(rms(a.finished), rms(b.finished));
  if (Math.abs(diff) <= threshold) {
    return { ...base, kind: 'within-noise', difference: diff, noiseThreshold: threshold,
      text: `The difference (${A} ${points(diff)} points over ${B}) is within the epoch-to-epoch noise of these single runs (±${unsignedPoints(threshold)} points) — not a finding. Add seeds (seeds: [0, 1, 2]) or epochs.` };
  }
  return { ...base, kind: 'above-noise', difference: diff, noiseThreshold: threshold,
    text: `${leader} beats ${trailer} by ${unsignedPoints(diff)} points, more than the epoch-to-epoch noise (±${unsignedPoints(threshold)} points) — but with one seed the seed-to-seed variation is unmeasured; confirm with more seeds.` };
}

/**
 * A claim is replicated when the corrected verdict is significant in the claimed direction (and, with
 * `by`, the interval reaches the claimed size); contradicted when it is significant the other way, or
 * the whole interval lies below the claimed size; otherwise inconclusive.
 */
export function checkExpectation(claim: Expectation, v: Verdict): ExpectationCheck {
  const sign = (claim.variant === v.variant ? 1 : -1) * (claim.direction === 'greater' ? 1 : -1);
  const by = claim.by !== undefined ? claim.by / 100 : undefined;
  const byText = claim.by !== undefined ? ` by at least ${claim.by} points` : '';
  const src = claim.source ? ` (${claim.source})` : '';
  if (!v.interval || v.difference === undefined) {
    return { claim, outcome: 'inconclusive', ...(v.difference !== undefined ? { difference: sign * v.difference } : {}),
      text: `Expected ${claim.text}${byText}${src}: inconclusive — checking a claim needs two or more finished seeds on each side.` };
  }
  const d = sign * v.difference;
  const [low, high] = sign > 0 ? [v.interval.low, v.interval.high] : [-v.interval.high, -v.interval.low];
  const measured = `measured ${points(d)} points in the claimed direction, ${Math.round(v.interval.level * 100)}% CI ${points(low)} to ${points(high)}`;
  const out = { claim, difference: d, low, high };
  if (v.significant && d < 0) return { ...out, outcome: 'contradicted', text: `Expected ${claim.text}${byText}${src}: contradicted — the opposite difference is significant (${measured}).` };
  if (by !== undefined && high < by) return { ...out, outcome: 'contradicted', text: `Expected ${claim.text}${byText}${src}: contradicted — the whole interval lies below the claimed ${claim.by} points (${measured}).` };
  if (v.significant && d > 0) return { ...out, outcome: 'replicated', text: `Expected ${claim.text}${byText}${src}: replicated (${measured}${by !== undefined ? `; the interval reaches the claimed ${claim.by} points` : ''}).` };
  return { ...out, outcome: 'inconclusive', text: `Expected ${claim.text}${byText}${src}: inconclusive — the difference is not significant after correction (${measured}); add seeds.` };
}
