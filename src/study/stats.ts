/** Small-sample statistics for comparing variants: means, Student-t quantiles, Welch and paired intervals. */

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1 in the denominator); NaN for fewer than two values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

// Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for the positive arguments used here.
const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];

export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let a = LANCZOS[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the incomplete beta (modified Lentz), as in Numerical Recipes' betacf. */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const TINY = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d; h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(a, b, x)) / a
    : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom (df may be fractional, as Welch's is). */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t; e.g. studentTQuantile(0.975, 2) = 4.3027. */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`Expected a probability in (0, 1) for p but received ${p}`);
  if (!(df > 0)) throw new RangeError(`Expected positive degrees of freedom for df but received ${df}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  if (!Number.isFinite(df)) return normalQuantile(p);
  // I_x(df/2, 1/2) rises monotonically in x = df / (df + t²); bisect on x for the two-sided tail 2(1 − p).
  const target = 2 * (1 - p);
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-300; i++) {
    const mid = (lo + hi) / 2;
    if (incompleteBeta(mid, df / 2, 0.5) < target) lo = mid; else hi = mid;
  }
  const x = (lo + hi) / 2;
  return Math.sqrt((df * (1 - x)) / x);
}

/** Standard normal quantile (Acklam's rational approximation refined by one Newton step). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const q = Math.min(p, 1 - p);
  let x: number;
  if (q < 0.02425) {
    const r = Math.sqrt(-2 * Math.log(q));
    x = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1);
  } else {
    const r = q - 0.5;
    const s = r * r;
    x = ((((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r) / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1);
  }
  if (p > 0.5) x = -x;
  // One Newton step on erfc brings the error to ~1e-15.
  const e = 0.5 * erfc(-x / Math.SQRT2) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** Complementary error function, 1 − erf(x). */
export function erfc(x: number): number {
  // 1 - erf via the incomplete gamma relation: erfc(x) = Q(1/2, x²) for x ≥ 0.
  if (x < 0) return 2 - erfc(-x);
  const z = x * x;
  if (z < 1.5) {
    // Series for P(1/2, z).
    let sum = 1 / 0.5;
    let term = 1 / 0.5;
    for (let n = 1; n < 200; n++) {
      term *= z / (0.5 + n);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - sum * Math.exp(-z + 0.5 * Math.log(z) - logGamma(0.5));
  }
  // Continued fraction for Q(1/2, z).
  let b = z + 0.5;
  let c = 1e300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 200; i++) {
    const an = -i * (i - 0.5);
    b += 2;
    d = an * d + b; if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c; if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return Math.exp(-z + 0.5 * Math.log(z) - logGamma(0.5)) * h;
}

/** A confidence interval for a difference of means (variant − reference). */
export interface DifferenceInterval {
  method: 'welch' | 'paired';
  difference: number;
  standardError: number;
  df: number;
  /** The t quantile used; halfWidth = t · standardError. */
  t: number;
  halfWidth: number;
  low: number;
  high: number;
  level: number;
  n: [number, number];
}

function interval(method: DifferenceInterval['method'], difference: number, se: number, df: number, level: number, n: [number, number]): DifferenceInterval {
  const t = studentTQuantile(1 - (1 - level) / 2, df);
  const halfWidth = t * se;
  return { method, difference, standardError: se, df, t, halfWidth, low: difference - halfWidth, high: difference + halfWidth, level, n };
}

/**
 * Welch's t-interval for mean(a) − mean(b), not assuming equal variances; needs two values on each
 * side. When both samples have zero spread the interval collapses to the point difference.
 */
export function welchInterval(a: readonly number[], b: readonly number[], level = 0.95): DifferenceInterval | undefined {
  if (a.length < 2 || b.length < 2) return undefined;
  const va = sampleStd(a) ** 2 / a.length;
  const vb = sampleStd(b) ** 2 / b.length;
  const se = Math.sqrt(va + vb);
  const df = se === 0 ? a.length + b.length - 2 : (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  return interval('welch', mean(a) - mean(b), se, df, level, [a.length, b.length]);
}

/** Paired t-interval over per-seed differences a[i] − b[i] (same seeds, same order); needs two pairs. */
export function pairedInterval(a: readonly number[], b: readonly number[], level = 0.95): DifferenceInterval | undefined {
  if (a.length !== b.length) throw new RangeError(`Expected paired samples of equal length but received ${a.length} and ${b.length}`);
  if (a.length < 2) return undefined;
  const d = a.map((x, i) => x - b[i]);
  return interval('paired', mean(d), sampleStd(d) / Math.sqrt(d.length), d.length - 1, level, [a.length, b.length]);
}

/**
 * A run's own epoch-to-epoch noise: the spread of successive differences over the last `k` epochs,
 * divided by √2. Differencing removes a steady trend (a run still improving), so what remains is
 * the jitter a single epoch's number carries. Needs three values; NaN otherwise.
 */
export function epochNoise(values: readonly number[], k = 5): number {
  const v = values.filter(Number.isFinite).slice(-(k + 1));
  if (v.length < 3) return NaN;
  const diffs = v.slice(1).map((x, i) => x - v[i]);
  return sampleStd(diffs) / Math.SQRT2;
}
