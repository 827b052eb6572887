import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSplit, resolveRange } from '../../src/data/index.js';

const range = (s: string, n: number): [number, number][] => parseSplit(s).map((p) => resolveRange(p, n));

test('plain names select everything', () => {
  assert.deepEqual(parseSplit('train'), [{ name: 'train' }]);
  assert.deepEqual(range('test', 10), [[0, 10]]);
});

test('percent slices round like TFDS (Python round, half to even)', () => {
  // cats_vs_dogs has 23,262 images: 80% is 18,609.6 -> 18,610.
  assert.deepEqual(range('train[:80%]', 23262), [[0, 18610]]);
  assert.deepEqual(range('train[80%:]', 23262), [[18610, 23262]]);
  // 50% of 5 = 2.5 -> 2 (half to even), 50% of 7 = 3.5 -> 4.
  assert.deepEqual(range('train[:50%]', 5), [[0, 2]]);
  assert.deepEqual(range('train[:50%]', 7), [[0, 4]]);
  assert.deepEqual(range('train[10%:20%]', 100), [[10, 20]]);
  assert.deepEqual(range('train[-10%:]', 100), [[90, 100]]);
});

test('absolute slices clamp like Python slices', () => {
  assert.deepEqual(range('train[:1000]', 300), [[0, 300]]);
  assert.deepEqual(range('train[5:8]', 300), [[5, 8]]);
  assert.deepEqual(range('train[-3:]', 10), [[7, 10]]);
  assert.deepEqual(range('train[8:2]', 10), [[8, 8]]);
});

test('the two halves of a split partition it exactly', () => {
  for (const n of [1, 7, 99, 23262]) {
    const [[a0, a1]] = range('train[:70%]', n) as [[number, number]];
    const [[b0, b1]] = range('train[70%:]', n) as [[number, number]];
    assert.equal(a0, 0);
    assert.equal(a1, b0);
    assert.equal(b1, n);
  }
});

test('unions', () => {
  assert.deepEqual(range('train[:10%]+test', 50), [[0, 5], [0, 50]]);
});

test('bad split strings are rejected with what was expected and received', () => {
  assert.throws(() => parseSplit('train[:80]%'), /Expected 'name', 'name\[a:b\]'.* for split but received "train\[:80\]%"/);
  assert.throws(() => parseSplit('train[:150%]'), /percent bounds between -100% and 100%/);
  assert.throws(() => parseSplit(''), /Expected a split string/);
  assert.throws(() => parseSplit('train[a:b]'), TypeError);
});
