import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, zeros, ones, full, arange, cat, stack, where, oneHot, DTYPES, type DType } from '../../src/tensor/index.js';
import { assertClose } from './helpers.js';

test('round-trips typed arrays for every dtype', () => {
  const src = [0, 1, 2, 3, 4, 5];
  for (const dt of DTYPES) {
    const t = tensor(src, [2, 3], dt as DType);
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(t.dtype, dt);
    const back = t.toArray();
    assert.deepEqual(back, dt === 'bool' ? src.map((v) => (v ? 1 : 0)) : src, `dtype ${dt}`);
    t.dispose();
  }
});

test('typed array inputs keep their dtype and data', () => {
  const f = tensor(new Float32Array([1.5, -2.25]), [2]);
  assert.equal(f.dtype, 'float32');
  assert.deepEqual(Array.from(f.toTypedArray() as Float32Array), [1.5, -2.25]);
  const i = tensor(new BigInt64Array([5n, -7n]));
  assert.equal(i.dtype, 'int64');
  assert.deepEqual(Array.from(i.toTypedArray() as BigInt64Array), [5n, -7n]);
  const u = tensor(new Uint8Array([0, 255]), [1, 2]);
  assert.equal(u.dtype, 'uint8');
  assert.deepEqual(u.toArray(), [0, 255]);
});

test('nested arrays infer the shape', () => {
  const t = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(t.shape, [2, 3]);
  assert.deepEqual(t.sum().toArray(), [21]);
});

test('bfloat16 keeps ~3 significant digits', () => {
  const t = tensor([1, Math.PI, -1000.5], [3], 'bfloat16');
  assert.equal(t.dtype, 'bfloat16');
  assertClose(t.toArray(), [1, Math.PI, -1000.5], 1e-2);
  assert.equal(t.toBytes().length, 6, 'bf16 is 2 bytes per element');
});

test('factories', () => {
  assert.deepEqual(zeros([2, 2]).toArray(), [0, 0, 0, 0]);
  assert.deepEqual(ones([3], { dtype: 'int64' }).toArray(), [1, 1, 1]);
  assert.deepEqual(full([2], 7).toArray(), [7, 7]);
  assert.deepEqual(arange(5).toArray(), [0, 1, 2, 3, 4]);
  assert.equal(arange(5).dtype, 'int64');
  assert.deepEqual(cat([tensor([1, 2]), tensor([3])]).toArray(), [1, 2, 3]);
  assert.deepEqual(stack([tensor([1, 2]), tensor([3, 4])], 1).shape, [2, 2]);
  assert.deepEqual(where(tensor([1, 0, 1], [3], 'bool'), tensor([1, 2, 3]), 0).toArray(), [1, 0, 3]);
  assert.deepEqual(oneHot(tensor([2, 0], [2], 'int64'), 3).toArray(), [0, 0, 1, 1, 0, 0]);
});

test('shape ops, slicing, indexing and gather', () => {
  const t = arange(24, undefined, 1, { dtype: 'float32' }).reshape([2, 3, 4]);
  assert.deepEqual(t.permute([2, 0, 1]).shape, [4, 2, 3]);
  assert.deepEqual(t.slice(2, 1, 3).shape, [2, 3, 2]);
  assert.deepEqual(t.slice(2, -1).flatten().toArray(), [3, 7, 11, 15, 19, 23]);
  assert.deepEqual(t.select(0, 1).select(0, 2).toArray(), [20, 21, 22, 23]);
  assert.deepEqual(t.flatten(1).shape, [2, 12]);
  const idx = tensor([2, 0], [2], 'int64');
  assert.deepEqual(t.select(0, 0).indexSelect(0, idx).select(1, 0).toArray(), [8, 0]);
  const g = tensor([[1, 2], [3, 4]]).gather(1, tensor([[1], [0]], undefined, 'int64'));
  assert.deepEqual(g.toArray(), [2, 3]);
  assert.deepEqual(tensor([1, 2, 3]).flip([0]).toArray(), [3, 2, 1]);
  assert.equal(t.transpose(0, 2).isContiguous(), false);
  assert.equal(t.transpose(0, 2).contiguous().isContiguous(), true);
});

test('element-wise and reductions match JS arithmetic', () => {
  const a = tensor([1, -2, 3, -4], [2, 2]);
  const b = tensor([0.5, 2, -1, 4], [2, 2]);
  assertClose(a.add(b).toArray(), [1.5, 0, 2, 0]);
  assertClose(a.sub(b, 2).toArray(), [0, -6, 5, -12]);
  assertClose(a.mul(b).toArray(), [0.5, -4, -3, -16]);
  assertClose(a.div(2).toArray(), [0.5, -1, 1.5, -2]);
  assertClose(a.abs().sqrt().toArray(), [1, Math.SQRT2, Math.sqrt(3), 2]);
  assertClose(a.relu().toArray(), [1, 0, 3, 0]);
  assertClose(a.clamp(-1, 2).toArray(), [1, -1, 2, -1]);
  assertClose(a.sum(1).toArray(), [-1, -1]);
  assertClose(a.mean().toArray(), [-0.5]);
  assertClose(a.max(0).toArray(), [3, -2]);
  assert.deepEqual(a.argmax(1).toArray(), [0, 0]);
  assertClose(a.var().toArray(), [((1.5 ** 2) + (1.5 ** 2) + (3.5 ** 2) + (3.5 ** 2)) / 3]);
  assertClose(a.matmul(b).toArray(), [1 * 0.5 + -2 * -1, 1 * 2 + -2 * 4, 3 * 0.5 + -4 * -1, 3 * 2 + -4 * 4]);
  assertClose(tensor([1, 2, 3]).softmax(0).toArray(), [1, Math.E, Math.E ** 2].map((v) => v / (1 + Math.E + Math.E ** 2)));
  assert.deepEqual(a.gt(0).toArray(), [1, 0, 1, 0]);
  assert.equal(a.gt(0).dtype, 'bool');
});
