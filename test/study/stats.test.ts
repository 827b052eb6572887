import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { epochNoise, incompleteBeta, mean, normalQuantile, pairedInterval, sampleStd, studentTCdf, studentTQuantile, welchInterval } from '../../src/study/stats.js';

const close = (a: number, b: number, tol: number, msg?: string) => assert.ok(Math.abs(a - b) <= tol, `${msg ?? ''} expected ${b}, got ${a}`);

describe('Student t quantiles', () => {
  // Two-sided 95% critical values from standard tables (and scipy.stats.t.ppf(0.975, df)).
  const table: [number, number][] = [
    [1, 12.706204736], [2, 4.302652730], [3, 3.182446305], [4, 2.776445105], [5, 2.570581836],
    [6, 2.446911851], [9, 2.262157163], [10, 2.228138852], [20, 2.085963447], [30, 2.042272456], [120, 1.979930405],
  ];
  for (const [df, t] of table) test(`t(0.975, ${df}) = ${t}`, () => close(studentTQuantile(0.975, df), t, 1e-7));

  test('other levels and fractional df', () => {
    close(studentTQuantile(0.995, 1), 63.656741162, 1e-6);
    close(studentTQuantile(0.995, 2), 9.924843201, 1e-7);
    close(studentTQuantile(0.95, 3), 2.353363435, 1e-8);
    // df = 1: Cauchy, quantile tan(π(p − ½)) in closed form.
    close(studentTQuantile(0.9, 1), Math.tan(Math.PI * 0.4), 1e-9);
    // df = 2 has a closed form too: t = (2p − 1) / √(2p(1 − p)).
    for (const p of [0.6, 0.8, 0.975, 0.999]) close(studentTQuantile(p, 2), (2 * p - 1) / Math.sqrt(2 * p * (1 - p)), 1e-9, `p=${p}`);
    // Fractional df (Welch) lies between its integer neighbours.
    const t25 = studentTQuantile(0.975, 2.5);
    assert.ok(t25 < 4.302652730 && t25 > 3.182446305);
    assert.equal(studentTQuantile(0.5, 7), 0);
    close(studentTQuantile(0.025, 4), -2.776445105, 1e-7);
    close(studentTQuantile(0.975, Infinity), 1.959963985, 1e-8);
    close(normalQuantile(0.975), 1.959963985, 1e-9);
  });

  test('quantile inverts the CDF', () => {
    for (const df of [1, 2, 3.7, 10, 50]) for (const p of [0.55, 0.9, 0.975, 0.9995]) close(studentTCdf(studentTQuantile(p, df), df), p, 1e-10);
  });

  test('incomplete beta at closed-form points', () => {
    close(incompleteBeta(0.3, 1, 1), 0.3, 1e-12);
    close(incompleteBeta(0.5, 2, 2), 0.5, 1e-12);
    close(incompleteBeta(0.2, 2, 1), 0.04, 1e-12);
  });

  test('bad arguments are rejected with a clear message', () => {
    assert.throws(() => studentTQuantile(1, 3), /Expected a probability in \(0, 1\) for p but received 1/);
    assert.throws(() => studentTQuantile(0.9, 0), /positive degrees of freedom/);
  });
});

describe('intervals', () => {
  test('mean and sample std', () => {
    assert.equal(mean([1, 2, 3, 6]), 3);
    close(sampleStd([1, 2, 3, 6]), Math.sqrt(14 / 3), 1e-12);
    assert.ok(Number.isNaN(sampleStd([1])));
  });

  test('Welch interval matches a hand computation', () => {
    // a: mean 2, var 1 → var/n = 1/3; b: mean 6.25, var 59/12 → var/n = 59/48.
    const iv = welchInterval([1, 2, 3], [4, 5, 7, 9])!;
    const va = 1 / 3;
    const vb = 59 / 48;
    const se = Math.sqrt(va + vb);
    const df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 3);
    close(iv.difference, -4.25, 1e-12);
    close(iv.standardError, se, 1e-12);
    close(se, 1.25, 1e-12);
    close(iv.df, df, 1e-12);
    close(iv.df, 4.366106, 1e-5);
    close(iv.halfWidth, iv.t * se, 1e-12);
    assert.ok(iv.high < 0, 'the interval excludes zero');
    assert.equal(iv.method, 'welch');
    assert.equal(welchInterval([1], [2, 3]), undefined);
  });

  test('paired interval uses per-seed differences', () => {
    const iv = pairedInterval([0.80, 0.84, 0.82], [0.70, 0.75, 0.71])!;
    // differences 0.10, 0.09, 0.11: mean 0.10, sd 0.01, se 0.01/√3, df 2, t 4.302653
    close(iv.difference, 0.10, 1e-12);
    close(iv.standardError, 0.01 / Math.sqrt(3), 1e-12);
    assert.equal(iv.df, 2);
    close(iv.halfWidth, 4.302652730 * 0.01 / Math.sqrt(3), 1e-9);
    assert.throws(() => pairedInterval([1, 2], [1]), /equal length/);
    assert.equal(pairedInterval([1], [2]), undefined);
  });

  test('pairing removes a shared seed effect that Welch cannot', () => {
    const a = [0.60, 0.80, 0.70];
    const b = [0.58, 0.78, 0.68];
    assert.ok(pairedInterval(a, b)!.low > 0);
    assert.ok(welchInterval(a, b)!.low < 0);
  });
});

describe('epoch noise', () => {
  test('a steady trend has no noise; alternating jitter does', () => {
    close(epochNoise([0.5, 0.6, 0.7, 0.8, 0.9]), 0, 1e-12);
    // Alternating ±0.05 around a trend: differences alternate 0.1 + 0.01 and −0.1 + 0.01.
    const v = [0.5, 0.61, 0.52, 0.63, 0.54, 0.65];
    const diffs = [0.11, -0.09, 0.11, -0.09, 0.11];
    close(epochNoise(v), sampleStd(diffs) / Math.SQRT2, 1e-12);
  });

  test('looks only at the last k epochs and needs three values', () => {
    close(epochNoise([0.1, 0.9, 0.1, 0.5, 0.6, 0.7], 2), 0, 1e-12);
    assert.ok(Number.isNaN(epochNoise([0.5, 0.6])));
    assert.ok(Number.isNaN(epochNoise([0.5, NaN, 0.6])));
  });
});
