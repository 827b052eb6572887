import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/tensor/index.js';
import { UniformStream, sampleBeta, sampleGamma } from '../../src/augment/index.js';

/** Kolmogorov–Smirnov distance between a sample and the uniform distribution on [0, 1]. */
function ksUniform(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  let d = 0;
  s.forEach((x, i) => {
    d = Math.max(d, (i + 1) / s.length - x, x - i / s.length);
  });
  return d;
}

const draw = (n: number, f: (rng: UniformStream) => number, seed = 7): number[] => {
  const rng = new UniformStream(new Generator(seed));
  return Array.from({ length: n }, () => f(rng));
};

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: number[]): number => {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
};

// 1% critical value of the one-sample KS statistic for n = 2000.
const N = 2000;
const KS_CRITICAL = 1.628 / Math.sqrt(N);

test('Beta(1, 1) is uniform on [0, 1] (KS test, fixed seed)', () => {
  const xs = draw(N, (rng) => sampleBeta(rng, 1, 1));
  assert.ok(xs.every((x) => x >= 0 && x <= 1));
  const d = ksUniform(xs);
  assert.ok(d < KS_CRITICAL, `KS distance ${d} >= ${KS_CRITICAL}`);
});

test('the KS test has power: Beta(2, 2) is rejected as uniform', () => {
  const d = ksUniform(draw(N, (rng) => sampleBeta(rng, 2, 2)));
  assert.ok(d > KS_CRITICAL, `KS distance ${d} should exceed ${KS_CRITICAL}`);
});

test('Beta(0.2, 0.2) has mean 1/2 and variance αβ/((α+β)²(α+β+1))', () => {
  const xs = draw(N, (rng) => sampleBeta(rng, 0.2, 0.2));
  assert.ok(Math.abs(mean(xs) - 0.5) < 0.03, `mean ${mean(xs)}`);
  const expected = 0.04 / (0.16 * 1.4);
  assert.ok(Math.abs(variance(xs) - expected) < 0.02, `variance ${variance(xs)} vs ${expected}`);
});

test('Gamma(k) has mean k and variance k, above and below shape 1', () => {
  for (const k of [0.5, 3.5]) {
    const xs = draw(N, (rng) => sampleGamma(rng, k), 11);
    assert.ok(xs.every((x) => x >= 0));
    assert.ok(Math.abs(mean(xs) - k) < 0.1 * Math.max(1, k), `Gamma(${k}) mean ${mean(xs)}`);
    assert.ok(Math.abs(variance(xs) - k) < 0.2 * Math.max(1, k), `Gamma(${k}) variance ${variance(xs)}`);
  }
});

test('the same generator state gives the same draws', () => {
  assert.deepEqual(draw(50, (rng) => sampleBeta(rng, 1, 1), 3), draw(50, (rng) => sampleBeta(rng, 1, 1), 3));
  assert.notDeepEqual(draw(50, (rng) => rng.next(), 3), draw(50, (rng) => rng.next(), 4));
});

test('bad shapes are rejected with the value', () => {
  const rng = new UniformStream(new Generator(0));
  assert.throws(() => sampleGamma(rng, 0), /shape must be a positive finite number but received 0/);
  assert.throws(() => sampleGamma(rng, Number.NaN), /received NaN/);
});
