import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, zeros, ones, randn, F, Generator, withAutocast, cpuSupportsBf16, noGrad } from '../../src/tensor/index.js';
import { assertClose } from './helpers.js';

function naiveConv(x: number[], [n, c, h, w]: number[], wt: number[], [o, , kh, kw]: number[], stride: number, pad: number): number[] {
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
  const out: number[] = [];
  for (let b = 0; b < n; b++) for (let oc = 0; oc < o; oc++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let s = 0;
    for (let ic = 0; ic < c; ic++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const y = i * stride - pad + u, z = j * stride - pad + v;
      if (y < 0 || z < 0 || y >= h || z >= w) continue;
      s += x[((b * c + ic) * h + y) * w + z]! * wt[((oc * c + ic) * kh + u) * kw + v]!;
    }
    out.push(s);
  }
  return out;
}

test('conv2d matches a naive convolution (stride 2, padding 1)', () => {
  const g = new Generator(1);
  const x = randn([2, 3, 7, 7], { generator: g });
  const w = randn([4, 3, 3, 3], { generator: g });
  const y = F.conv2d(x, w, null, { stride: 2, padding: 1 });
  assert.deepEqual(y.shape, [2, 4, 4, 4]);
  assertClose(y.toArray(), naiveConv(x.toArray(), x.shape, w.toArray(), w.shape, 2, 1), 1e-4);
});

test('conv2d in channels-last gives the same result', () => {
  const g = new Generator(2);
  const x = randn([2, 8, 9, 9], { generator: g });
  const w = randn([16, 8, 3, 3], { generator: g });
  const ref = F.conv2d(x, w, null, { padding: 1 }).toArray();
  const y = F.conv2d(x.contiguous('channels_last'), w.contiguous('channels_last'), null, { padding: 1 });
  assert.ok(y.isContiguous('channels_last'));
  assertClose(y.toArray(), ref, 1e-4);
});

test('batch norm: train normalises with batch stats and updates running stats; eval uses them', () => {
  const x = tensor([1, 2, 3, 4, 10, 20, 30, 40], [4, 2, 1, 1]).permute([0, 1, 2, 3]);
  const xs = tensor([1, 10, 2, 20, 3, 30, 4, 40], [4, 2, 1, 1]);
  void x;
  const rm = zeros([2]);
  const rv = ones([2]);
  const y = F.batchNorm(xs, rm, rv, null, null, { training: true, momentum: 0.1, eps: 0 });
  const mean0 = 2.5, var0 = 1.25; // biased variance for normalisation
  assertClose(y.select(1, 0).flatten().toArray(), [1, 2, 3, 4].map((v) => (v - mean0) / Math.sqrt(var0)), 1e-5);
  // running var uses the unbiased estimate, as PyTorch does
  assertClose(rm.toArray(), [0.1 * 2.5, 0.1 * 25]);
  assertClose(rv.toArray(), [0.9 + 0.1 * (5 / 3), 0.9 + 0.1 * (500 / 3)], 1e-5);
  const e = F.batchNorm(xs, rm, rv, tensor([2, 2]), tensor([1, 1]), { training: false, eps: 0 });
  assertClose(e.select(1, 0).flatten().toArray(), [1, 2, 3, 4].map((v) => ((v - 0.25) / Math.sqrt(0.9 + 0.1 * (5 / 3))) * 2 + 1), 1e-5);
});

test('pooling', () => {
  const x = tensor(Array.from({ length: 16 }, (_, i) => i), [1, 1, 4, 4]);
  assert.deepEqual(F.maxPool2d(x, { kernelSize: 2 }).toArray(), [5, 7, 13, 15]);
  assert.deepEqual(F.avgPool2d(x, { kernelSize: 2 }).toArray(), [2.5, 4.5, 10.5, 12.5]);
  assert.deepEqual(F.adaptiveAvgPool2d(x, 1).toArray(), [7.5]);
  assert.deepEqual(F.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }).shape, [1, 1, 2, 2]);
});

test('cross-entropy: class indices, soft targets and label smoothing follow the formulas', () => {
  const logits = tensor([[2, 1, 0], [0, 0, 3]]);
  const logp = logits.logSoftmax(1).toArray();
  const hard = F.crossEntropy(logits, tensor([0, 2], [2], 'int64')).item();
  assertClose([hard], [-(logp[0]! + logp[5]!) / 2]);
  const soft = tensor([[0.7, 0.3, 0], [0, 0.5, 0.5]]);
  const s = F.crossEntropy(logits, soft).item();
  assertClose([s], [-(0.7 * logp[0]! + 0.3 * logp[1]! + 0.5 * logp[4]! + 0.5 * logp[5]!) / 2]);
  const eps = 0.1;
  const smooth = F.crossEntropy(logits, tensor([0, 2], [2], 'int64'), { labelSmoothing: eps }).item();
  const target = (row: number, cls: number) => (1 - eps) * (cls === (row === 0 ? 0 : 2) ? 1 : 0) + eps / 3;
  let ref = 0;
  for (let r = 0; r < 2; r++) for (let c = 0; c < 3; c++) ref -= target(r, c) * logp[r * 3 + c]!;
  assertClose([smooth], [ref / 2]);
  const none = F.crossEntropy(logits, tensor([0, 2], [2], 'int64'), { reduction: 'none' });
  assert.deepEqual(none.shape, [2]);
});

test('linear, dropout, interpolate', () => {
  const y = F.linear(tensor([[1, 2]]), tensor([[1, 0], [0, 1], [1, 1]]), tensor([0, 0, 1]));
  assert.deepEqual(y.toArray(), [1, 2, 4]);
  const d = F.dropout(ones([1000]), 0.5, false);
  assert.deepEqual(d.sum().toArray(), [1000]);
  const up = F.interpolate(ones([1, 3, 4, 4]), { size: [8, 6] });
  assert.deepEqual(up.shape, [1, 3, 8, 6]);
  assertClose(up.mean().toArray(), [1]);
});

test('bf16 autocast runs conv in bfloat16 and leaves weights fp32', { skip: !cpuSupportsBf16() && 'CPU has no bf16' }, () => {
  const g = new Generator(3);
  const x = randn([2, 4, 8, 8], { generator: g });
  const w = randn([8, 4, 3, 3], { generator: g });
  const ref = F.conv2d(x, w, null, { padding: 1 });
  const y = withAutocast({ device: 'cpu', dtype: 'bfloat16' }, () => F.conv2d(x, w, null, { padding: 1 }));
  assert.equal(y.dtype, 'bfloat16');
  assert.equal(w.dtype, 'float32');
  const err = y.float().sub(ref).abs().max().item() / ref.abs().max().item();
  assert.ok(err < 0.05, `bf16 relative error ${err}`);
  const after = noGrad(() => F.conv2d(x, w, null, { padding: 1 }));
  assert.equal(after.dtype, 'float32', 'autocast is switched off again after the region');
});
