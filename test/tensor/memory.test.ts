import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, randn, zeros, ones, F, SGD, tidy, keep, liveTensorCount, Generator, clipGradNormPerParam, disposeAll } from '../../src/tensor/index.js';

test('tidy disposes intermediates and keeps returned tensors', () => {
  const before = liveTensorCount();
  const kept = tidy(() => {
    const a = tensor([1, 2, 3]);
    const b = a.mul(2);
    const c = b.add(1);
    return { c, nested: [c.sum()] };
  });
  assert.equal(liveTensorCount(), before + 2);
  assert.deepEqual(kept.c.toArray(), [3, 5, 7]);
  disposeAll(kept);
  assert.equal(liveTensorCount(), before);
});

test('tidy cleans up when fn throws, and keep() exempts tensors', () => {
  const before = liveTensorCount();
  assert.throws(() => tidy(() => {
    tensor([1]).add(1);
    throw new Error('boom');
  }), /boom/);
  assert.equal(liveTensorCount(), before);
  let k: ReturnType<typeof tensor> | undefined;
  tidy(() => {
    k = keep(tensor([5]));
    tensor([6]);
  });
  assert.equal(liveTensorCount(), before + 1);
  k!.dispose();
  k!.dispose(); // idempotent
  assert.equal(liveTensorCount(), before);
});

test('100 training steps of a small conv net do not grow live tensors or RSS', () => {
  const g = new Generator(0);
  const params = [randn([16, 3, 3, 3], { generator: g }).mul(0.2), ones([16]), zeros([16]), randn([32, 16, 3, 3], { generator: g }).mul(0.1), ones([32]), zeros([32]), randn([10, 32], { generator: g }).mul(0.1), zeros([10])];
  for (const p of params) p.requiresGrad_();
  const stats = [zeros([16]), ones([16]), zeros([32]), ones([32])];
  const [w1, g1, b1, w2, g2, b2, fw, fb] = params as [any, any, any, any, any, any, any, any];
  const opt = new SGD(params, { lr: 0.05, momentum: 0.9 });
  const x = randn([8, 3, 32, 32], { generator: g });
  const y = tensor([0, 1, 2, 3, 4, 5, 6, 7], [8], 'int64');
  const step = () => {
    const loss = tidy(() => {
      let h = F.conv2d(x, w1, null, { padding: 1 });
      h = F.batchNorm(h, stats[0]!, stats[1]!, g1, b1, { training: true }).relu();
      h = F.maxPool2d(h, { kernelSize: 2 });
      h = F.conv2d(h, w2, null, { padding: 1, stride: 2 });
      h = F.batchNorm(h, stats[2]!, stats[3]!, g2, b2, { training: true }).relu();
      const logits = F.linear(F.adaptiveAvgPool2d(h, 1).flatten(1), fw, fb);
      const l = F.crossEntropy(logits, y);
      l.backward();
      return l.item();
    });
    clipGradNormPerParam(params, 1);
    opt.step();
    opt.zeroGrad();
    return loss;
  };
  for (let i = 0; i < 20; i++) step(); // warm-up: allocator pools, momentum buffers
  const liveBefore = liveTensorCount();
  const rssBefore = process.memoryUsage().rss;
  let first = 0, last = 0;
  for (let i = 0; i < 100; i++) {
    const l = step();
    if (i === 0) first = l;
    last = l;
  }
  const liveAfter = liveTensorCount();
  const rssGrowthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.equal(liveAfter, liveBefore, 'live tensor count must be flat');
  assert.ok(rssGrowthMiB < 16, `RSS grew by ${rssGrowthMiB.toFixed(1)} MiB over 100 steps`);
  assert.ok(last < first, `the net actually trains (loss ${first} → ${last})`);
});
