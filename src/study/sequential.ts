/**
 * Sequential inference for adaptive seeds (`seeds: { min, max, until: decided }`): the study looks at its
 * comparisons after min seeds, then after each added seed up to max, and stops adding seeds to a pair once
 * it is decided. Each look k gets a share Δα_k of the study's α from the Lan–DeMets O'Brien–Fleming-type
 * spending function α(t) = 2 − 2Φ(z_{1−α/2} / √t) at information fraction t = seeds / max, and the study's
 * correction (Holm, BH or none) runs over the comparisons still undecided at that look, at level Δα_k.
 *
 * The shares are used as they are (a Bonferroni split over the looks) rather than as boundaries from the
 * looks' joint distribution: with 2–9 degrees of freedom the paired t-statistics are far from the normal
 * model those boundaries assume, and the split needs no model of how looks correlate or of which pairs
 * got seeds. By the union bound the chance of any false finding over all looks is at most ΣΔα_k = α.
 * Only rejections decide a pair (no futility stop), so every true null stays in each look's family.
 * Pure functions: the runner and the report compute the same looks from the same finished runs.
 */
import { erfc, mean, normalQuantile, sampleStd } from './stats.js';
import { type Correction, adjustPValues, tTestP } from './inference.js';

export interface AdaptiveSeeds {
  min: number;
  max: number;
}

export interface SequentialComparison {
  variant: string;
  reference: string;
}

/** A variant's final metric per seed position: a number, null (the run ended without one), undefined (not finished yet). */
export type SeedValues = ReadonlyMap<string, readonly (number | null | undefined)[]>;

export interface LookResult {
  /** 1-based. */
  look: number;
  seeds: number;
  /** The share of α this look spends. */
  alpha: number;
  /** The comparisons this look tested (indexes into the input) and what it found. */
  tested: { comparison: number; p: number; adjustedP: number; decided: boolean }[];
}

export interface ComparisonSequence {
  /** The look that decided it, when one did. */
  decidedAt?: number;
  /** Seeds at its last look (the deciding one, or the last one it took part in). */
  seeds?: number;
  /** Raw p-value at that look. */
  p?: number;
  /**
   * The smallest over its looks of the look's corrected p-value scaled to the study's α (corrected p × α / Δα_k):
   * the pair is decided exactly when this is below α.
   */
  adjustedP?: number;
}

export interface SequentialResult {
  seeds: AdaptiveSeeds;
  alpha: number;
  correction: Correction;
  /** Seeds at each planned look, and the α each spends. */
  schedule: { seeds: number; alpha: number }[];
  looks: LookResult[];
  comparisons: ComparisonSequence[];
  /** How many seeds (positions 0..n−1) each variant needs now. */
  need: Map<string, number>;
  /** True when no look is waiting for runs: every pair is decided or reached max. */
  complete: boolean;
}

/** Lan–DeMets O'Brien–Fleming-type spending: the α spent by information fraction t (α(1) = α). */
export function obrienFlemingSpending(t: number, alpha: number): number {
  if (t <= 0) return 0;
  if (t >= 1) return alpha;
  const z = normalQuantile(1 - alpha / 2);
  return erfc(z / Math.sqrt(t) / Math.SQRT2);
}

/** The looks (seeds min, min+1, …, max) and the α each spends; the shares sum to α. */
export function lookSchedule(s: AdaptiveSeeds, alpha: number): { seeds: number; alpha: number }[] {
  const out: { seeds: number; alpha: number }[] = [];
  let spent = 0;
  for (let n = s.min; n <= s.max; n++) {
    const cum = obrienFlemingSpending(n / s.max, alpha);
    out.push({ seeds: n, alpha: cum - spent });
    spent = cum;
  }
  return out;
}

/** The paired values of the first n seed positions where both sides have a number. */
function pairsUpTo(a: readonly (number | null | undefined)[], b: readonly (number | null | undefined)[], n: number): [number[], number[]] {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (typeof x === 'number' && typeof y === 'number') { xs.push(x); ys.push(y); }
  }
  return [xs, ys];
}

/** Two-sided paired t-test p-value over the pairs; 1 with fewer than two pairs (nothing to decide on). */
export function pairedP(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length < 2) return 1;
  // The t-test alone (no interval): the looks are replayed often, and the interval's quantile is the slow part.
  const d = xs.map((x, i) => x - ys[i]);
  return tTestP({ difference: mean(d), standardError: sampleStd(d) / Math.sqrt(d.length), df: d.length - 1 });
}

/**
 * Replays the looks on the finished runs: at each look every undecided pair must have its first n seeds
 * ended on both sides (else the procedure waits there), is tested, corrected over the undecided pairs at
 * the look's α share, and decided when significant. Variants of pairs still undecided need the next look's seeds.
 */
export function sequentialLooks(comparisons: readonly SequentialComparison[], values: SeedValues, s: AdaptiveSeeds,
  o: { alpha: number; correction: Correction; variants?: readonly string[]; schedule?: { seeds: number; alpha: number }[] }): SequentialResult {
  // `schedule` replaces the spending (the simulations compare with naive looks that each test at full α).
  const schedule = o.schedule ?? lookSchedule(s, o.alpha);
  const need = new Map<string, number>();
  for (const v of o.variants ?? []) need.set(v, s.min);
  for (const c of comparisons) { need.set(c.variant, s.min); need.set(c.reference, s.min); }
  const seqs: ComparisonSequence[] = comparisons.map(() => ({}));
  const looks: LookResult[] = [];
  const undecided = new Set(comparisons.map((_, i) => i));
  const ended = (v: string, n: number) => {
    const xs = values.get(v) ?? [];
    for (let i = 0; i < n; i++) if (xs[i] === undefined) return false;
    return true;
  };
  let complete = true;
  for (const [k, look] of schedule.entries()) {
    if (undecided.size === 0) break;
    const open = [...undecided];
    if (!open.every((i) => ended(comparisons[i].variant, look.seeds) && ended(comparisons[i].reference, look.seeds))) {
      complete = false;
      break;
    }
    const ps = open.map((i) => pairedP(...pairsUpTo(values.get(comparisons[i].variant) ?? [], values.get(comparisons[i].reference) ?? [], look.seeds)));
    const adjusted = adjustPValues(ps, o.correction);
    const tested = open.map((i, j) => {
      const decided = adjusted[j] < look.alpha;
      const scaled = Math.min(1, (adjusted[j] * o.alpha) / look.alpha);
      const seq = seqs[i];
      seq.seeds = look.seeds;
      seq.p = ps[j];
      seq.adjustedP = Math.min(seq.adjustedP ?? 1, scaled);
      if (decided) { seq.decidedAt = k + 1; undecided.delete(i); }
      return { comparison: i, p: ps[j], adjustedP: scaled, decided };
    });
    looks.push({ look: k + 1, seeds: look.seeds, alpha: look.alpha, tested });
    const next = schedule[k + 1];
    if (!next) break;
    for (const i of undecided) {
      for (const v of [comparisons[i].variant, comparisons[i].reference]) need.set(v, Math.max(need.get(v) ?? 0, next.seeds));
    }
  }
  return { seeds: { ...s }, alpha: o.alpha, correction: o.correction, schedule, looks, comparisons: seqs, need, complete };
}

/** The runs an adaptive study can ever take: at least every variant × min seeds, at most × max. */
export function runRange(variants: number, s: AdaptiveSeeds): { min: number; max: number } {
  return { min: variants * s.min, max: variants * s.max };
}

/** `seeds: { min: 3, max: 10, until: decided }` as the study file writes it (checked by spec.ts). */
export const ADAPTIVE_SEEDS_EXPECTED = '{ min: 3, max: 10, until: decided } — whole numbers with 2 ≤ min < max (a paired test needs two seeds), and until: decided';

/** The adaptive-seeds mapping, or a message saying what is wrong with it. */
export function parseAdaptiveSeeds(raw: Record<string, unknown>): AdaptiveSeeds | string {
  const extra = Object.keys(raw).filter((k) => !['min', 'max', 'until'].includes(k));
  if (extra.length) return `only the keys min, max, until (received ${extra.map((k) => JSON.stringify(k)).join(', ')})`;
  const { min, max, until } = raw;
  if (until !== 'decided') return `until: decided (received until: ${JSON.stringify(until)})`;
  if (!Number.isInteger(min) || (min as number) < 2) return `a whole min of at least 2 seeds: a paired test needs two (received min: ${JSON.stringify(min)})`;
  if (!Number.isInteger(max) || (max as number) <= (min as number)) return `a whole max above min (received min: ${JSON.stringify(min)}, max: ${JSON.stringify(max)})`;
  return { min: min as number, max: max as number };
}
