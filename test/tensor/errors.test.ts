import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, zeros, randn, F, resolveDevice, cudaAvailable, engineInfo, SGD } from '../../src/tensor/index.js';

test('mismatched shapes give an error naming the op and the shapes', () => {
  assert.throws(() => F.conv2d(randn([1, 4, 8, 8]), randn([8, 3, 3, 3])), /conv2d: input has 4 channels but the weight \[8, 3, 3, 3\] expects 3/);
  assert.throws(() => randn([2, 3]).matmul(randn([4, 5])), /matmul: .*\(inputs: float32\[2,3\], float32\[4,5\]\)/);
  assert.throws(() => randn([2, 3]).add(randn([4])), /add: .*size of tensor a \(3\) must match .*\(inputs: float32\[2,3\], float32\[4\]\)/);
  assert.throws(() => F.linear(randn([2, 5]), randn([3, 4])), /linear: input's last dimension is 5 but the weight \[3, 4\] expects 4/);
  assert.throws(() => randn([6]).reshape([4]), /reshape: shape '\[4\]' is invalid for input of size 6/);
});

test('wrong dtypes are reported', () => {
  assert.throws(() => F.crossEntropy(randn([2, 3]), tensor([0, 1], [2], 'int32')), /class-index targets must be int64 but received int32/);
  assert.throws(() => F.crossEntropy(randn([2, 3]), randn([2, 4])), /soft targets must have the logits' shape \[2, 3\] but received \[2, 4\]/);
  assert.throws(() => zeros([2], { dtype: 'complex64' as never }), /Expected one of float32, .* for dtype but received "complex64"/);
  assert.throws(() => randn([2]).matmul(tensor([1, 2], [2], 'int64')), /matmul: .*(dtype|same|Long|Float)/i);
});

test('disposed tensors fail cleanly', () => {
  const t = randn([3]);
  t.dispose();
  assert.throws(() => t.add(1), /Tensor was disposed/);
  assert.throws(() => t.shape, /Tensor was disposed/);
  assert.equal(t.isDisposed, true);
  const u = randn([3]);
  const v = randn([3]);
  v.dispose();
  assert.throws(() => u.add(v), /Tensor was disposed/);
});

test('out-of-range indices give errors, not crashes', () => {
  const x = randn([4, 3]);
  assert.throws(() => x.indexSelect(0, tensor([7], [1], 'int64')), /index_select: index out of range/);
  assert.throws(() => x.select(0, 9), /select: .*index 9 out of range/);
  assert.throws(() => x.gather(1, tensor([[5]], undefined, 'int64')), /gather: .*(index|out of bounds)/i);
  assert.throws(() => x.size(5), /dimension out of range/);
  assert.throws(() => F.crossEntropy(randn([2, 3]), tensor([0, 9], [2], 'int64')), /cross_entropy: .*(Target 9 is out of bounds|out of bounds)/);
  assert.throws(() => x.narrow(0, 3, 5), /narrow: /);
});

test('bad arguments are validated in TypeScript', () => {
  assert.throws(() => tensor([1, 2, 3], [2, 2]), /shape \[2, 2\] needs 4 elements but the data has 3/);
  assert.throws(() => zeros([-1]), /Expected an array of non-negative integers for shape but received array of length 1 \[-1\]/);
  assert.throws(() => new SGD([], { lr: 0.1 }), /Expected a non-empty array of tensors for params/);
  assert.throws(() => new SGD([randn([1])], { lr: -1 }), /Expected a finite number ≥ 0 for lr but received number -1/);
  assert.throws(() => F.maxPool2d(randn([3, 3]), { kernelSize: 2 }), /maxPool2d: expected a 4-D input \(N, C, H, W\) but received shape \[3, 3\]/);
});

test('cuda requests fail with a remedy when this libtorch has no CUDA, or no GPU is visible', { skip: cudaAvailable() && 'CUDA present' }, () => {
  // A CUDA libtorch without a GPU (pip's torch on a laptop, trixie's libtorch-cuda in compat.sh's CUDA root) is told
  // there is no GPU, not to rebuild.
  if (engineInfo().cudaBuilt) assert.throws(() => resolveDevice('cuda'), /device "cuda" requested but no CUDA device is visible \(libtorch has CUDA, but the driver reports 0 GPUs\)/);
  else assert.throws(() => resolveDevice('cuda'), /no CUDA support .*LIBTORCH/);
  assert.throws(() => resolveDevice('gpu'), /Expected "cpu", "cuda" or "cuda:N" for device but received "gpu"/);
  assert.throws(() => zeros([2], { device: 'cuda' }), /zeros: /);
});

test('the process survives a burst of native errors', () => {
  for (let i = 0; i < 200; i++) assert.throws(() => randn([2, 2]).matmul(randn([3, 3])));
  assert.equal(randn([2, 2]).matmul(randn([2, 2])).shape.length, 2);
});
