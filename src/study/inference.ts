/**
 * Tests built on stats.ts: p-values of t-intervals, multiple-comparison adjustment (Holm, Benjamini–
 * Hochberg), feasible-range clipping of intervals, McNemar's paired test, and the power of a paired
 * t-test (how small a difference a number of seeds can detect). Every function here is checked
 * against SciPy/statsmodels in test/study/inference.test.ts.
 */
import { type DifferenceInterval, erfc, incompleteBeta, logGamma, studentTCdf, studentTQuantile } from './stats.js';

/** How p-values of a study's comparisons are adjusted: family-wise (Holm), false discovery rate (BH), or not at all. */
export type Correction = 'holm' | 'bh' | 'none';
export const CORRECTIONS = ['holm', 'bh', 'none'] as const satisfies readonly Correction[];

export const CORRECTION_NAME: Record<Correction, string> = {
  holm: 'Holm (family-wise error rate)',
  bh: 'Benjamini–Hochberg (false discovery rate)',
  none: 'none',
};

/** Two-sided p-value of the t-test behind an interval (H0: difference = 0). Zero spread: 0 for a non-zero difference, else 1. */
export function tTestP(iv: Pick<DifferenceInterval, 'difference' | 'standardError' | 'df'>): number {
  if (iv.standardError === 0 || !Number.isFinite(iv.standardError)) return iv.difference === 0 ? 1 : 0;
  const t = Math.abs(iv.difference / iv.standardError);
  return Math.min(1, 2 * (1 - studentTCdf(t, iv.df)));
}

/**
 * Adjusted p-values, in the input order (statsmodels' `multipletests(p, method='holm' | 'fdr_bh')`).
 * Holm: step-down, p_(i)·(m − i + 1), made monotone upward. BH: step-up, p_(i)·m / i, made monotone downward.
 */
export function adjustPValues(ps: readonly number[], method: Correction): number[] {
  for (const [i, p] of ps.entries()) {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Expected p-values in [0, 1] but received ${p} at position ${i}`);
  }
  const m = ps.length;
  if (method === 'none' || m <= 1) return [...ps];
  const order = ps.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(m);
  if (method === 'holm') {
    let running = 0;
    order.forEach(([p, i], k) => {
      running = Math.max(running, Math.min(1, (m - k) * p));
      out[i] = running;
    });
  } else {
    let running = 1;
    for (let k = m - 1; k >= 0; k--) {
      const [p, i] = order[k];
      running = Math.min(running, Math.min(1, (p * m) / (k + 1)));
      out[i] = running;
    }
  }
  return out;
}

/** An interval clipped to a metric's feasible range; `bounded` says which ends were moved. */
export interface ClippedInterval {
  low: number;
  high: number;
  bounded: { low: boolean; high: boolean };
}

/** A difference of two metrics bounded in [lo, hi] lies in [lo − hi, hi − lo]: an interval reaching past it is cut there. */
export function clipInterval(low: number, high: number, range: [number, number]): ClippedInterval {
  const [min, max] = [range[0] - range[1], range[1] - range[0]];
  return { low: Math.max(low, min), high: Math.min(high, max), bounded: { low: low < min, high: high > max } };
}

/** P(X ≤ k) for X ~ Binomial(n, p). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  return incompleteBeta(1 - p, n - k, k + 1);
}

/** Upper tail of the χ² distribution with one degree of freedom: P(X ≥ x) = erfc(√(x/2)). */
export function chiSquare1Sf(x: number): number {
  return x <= 0 ? 1 : erfc(Math.sqrt(x / 2));
}

export interface McNemarResult {
  /** Images only the first model got right. */
  b: number;
  /** Images only the second model got right. */
  c: number;
  /** Exact two-sided binomial p-value (statsmodels `mcnemar(table, exact=True)`). */
  exactP: number;
  /** χ² statistic with continuity correction, (|b − c| − 1)² / (b + c) (statsmodels `exact=False, correction=True`). */
  chi2: number;
  chi2P: number;
}

/** McNemar's test on the discordant pairs of two classifiers scored on the same images. */
export function mcnemar(b: number, c: number): McNemarResult {
  for (const [name, v] of [['b', b], ['c', c]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`Expected a non-negative whole count for ${name} but received ${v}`);
  }
  const n = b + c;
  if (n === 0) return { b, c, exactP: 1, chi2: 0, chi2P: 1 };
  const exactP = Math.min(1, 2 * binomialCdf(Math.min(b, c), n, 0.5));
  const chi2 = (Math.abs(b - c) - 1) ** 2 / n;
  return { b, c, exactP, chi2, chi2P: chiSquare1Sf(chi2) };
}

const normalCdf = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);

/**
 * P(T ≤ t) for the non-central t with `df` degrees of freedom and non-centrality `nc`:
 * T = (Z + nc) / S with S = √(χ²_df / df), so P = E_S[Φ(t·S − nc)], integrated over S by Simpson's rule.
 */
export function nonCentralTCdf(t: number, df: number, nc: number): number {
  // log density of S: log(2) + (df/2)·log(df/2) − logΓ(df/2) + (df − 1)·log s − df·s²/2
  const c = Math.log(2) + (df / 2) * Math.log(df / 2) - logGamma(df / 2);
  const logDensity = (s: number) => c + (df - 1) * Math.log(s) - (df * s * s) / 2;
  // S has mean ≈ 1 and sd ≈ 1/√(2·df); well past 12 sd the density is below 1e-30.
  const top = 1 + 12 / Math.sqrt(2 * df) + 3;
  const steps = 4000;
  const h = top / steps;
  let sum = 0;
  for (let i = 1; i <= steps; i++) {
    const s = i * h;
    const f = Math.exp(logDensity(s)) * normalCdf(t * s - nc);
    sum += (i === steps ? 1 : i % 2 === 1 ? 4 : 2) * f;
  }
  // s = 0: the density is 0 for df > 1 and 1·√(2/π)… for df = 1 (exp(c) times Φ(−nc)).
  const f0 = df === 1 ? Math.exp(c) * normalCdf(-nc) : 0;
  return Math.min(1, Math.max(0, ((f0 + sum) * h) / 3));
}

/** Power of a two-sided paired (one-sample) t-test with n pairs, standardised effect d = Δ/σ_diff, at level alpha. */
export function pairedTPower(n: number, d: number, alpha: number): number {
  if (n < 2) return NaN;
  const df = n - 1;
  const tc = studentTQuantile(1 - alpha / 2, df);
  const nc = d * Math.sqrt(n);
  return 1 - nonCentralTCdf(tc, df, nc) + nonCentralTCdf(-tc, df, nc);
}

/** The smallest standardised effect Δ/σ_diff that n pairs detect with the given power (statsmodels TTestPower.solve_power). */
export function minDetectableEffect(n: number, alpha: number, power = 0.8): number {
  if (n < 2) return Infinity;
  let lo = 0;
  let hi = 1;
  while (pairedTPower(n, hi, alpha) < power) hi *= 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (pairedTPower(n, mid, alpha) < power) lo = mid; else hi = mid;
  }
  return (lo + hi) / 2;
}

/** How many pairs detect a standardised effect d with the given power; undefined beyond `max`. */
export function pairsNeeded(d: number, alpha: number, power = 0.8, max = 1000): number | undefined {
  if (!(d > 0)) return undefined;
  if (pairedTPower(max, d, alpha) < power) return undefined;
  // Power rises with n: bisect on the smallest n that reaches it.
  let lo = 1;
  let hi = max;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (pairedTPower(mid, d, alpha) >= power) hi = mid; else lo = mid;
  }
  return hi;
}
