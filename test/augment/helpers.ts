import assert from 'node:assert/strict';
import { tensor, type Tensor } from '../../src/tensor/index.js';

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5, msg = ''): void {
  assert.equal(actual.length, expected.length, `${msg} length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= tol)) assert.fail(`${msg} element ${i}: ${a} vs expected ${e} (tol ${tol})`);
  }
}

/** A deterministic pseudo-random float batch in [0, 1] (independent of the Generator under test). */
export function testImages(n: number, h: number, w: number, seed = 1): Tensor {
  let s = seed >>> 0;
  const data = new Float32Array(n * 3 * h * w);
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 32;
  }
  return tensor(data, [n, 3, h, w]);
}

export function labelsOf(values: number[]): Tensor {
  return tensor(values, [values.length], 'int64');
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
