// The fit loop's own step (TrainStep: batch tensors, forward with in-place ReLUs and residual adds, loss,
// backward, the optimizer step that drops the gradients) holds nothing across steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, liveTensorCount } from '../../src/tensor/index.js';
import { createModel } from '../../src/models/index.js';
import { parseTrainConfig } from '../../src/run/config.js';
import { TrainStep, createOptimizer } from '../../src/train/train-step.js';
import type { BatchU8 } from '../../src/data/index.js';

for (const precision of ['fp32', 'bf16'] as const) {
  test(`100 TrainStep steps of a ResNet (${precision}) do not grow live tensors or RSS, and leave no gradients behind`, () => {
    const config = parseTrainConfig({ model: 'resnet20-cifar', data: {}, batchSize: 8, optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 }, seed: 0 });
    const model = createModel('resnet20-cifar', { seed: 0, numClasses: 10 });
    const bf16 = precision === 'bf16';
    if (bf16) model.toMemoryFormat('channels_last');
    const params = model.parameters();
    const optimizer = createOptimizer(params, config.optimizer);
    const step = new TrainStep({
      model, params, optimizer, config, device: 'cpu', normalization: 'unit', numClasses: 10, augmentGenerator: new Generator(1),
      precision: { autocast: bf16, channelsLast: bf16, label: precision },
    });
    // Eight fixed images whose label is their brightness, so the loss can fall.
    const n = 8, size = 16;
    const images = new Uint8Array(n * size * size * 3);
    for (let i = 0; i < n; i++) images.fill(20 + 30 * i, i * size * size * 3, (i + 1) * size * size * 3);
    const batch: BatchU8 = { images, labels: Int32Array.from({ length: n }, (_, i) => i), indices: Int32Array.from({ length: n }, (_, i) => i), n, height: size, width: size };
    const run = (k: number, from: number): number[] => Array.from({ length: k }, (_, i) => {
      step.compute(batch, { epoch: 0, batch: from + i, globalStep: from + i + 1 });
      step.apply();
      // Read every step: the figures are the step's loss (and an unread figure would hold a tensor).
      return step.read()[0]!.loss;
    });
    // Warm-up: allocator pools, momentum buffers, oneDNN primitives, and (in the file's first test) V8's own
    // growth, which took 12–16 MiB over the first 100 steps after a 10-step warm-up in six fp32 runs and no leak.
    run(50, 0);
    const liveBefore = liveTensorCount();
    const rssBefore = process.memoryUsage().rss;
    const losses = run(100, 50);
    const rssGrowthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.equal(liveTensorCount(), liveBefore, 'live tensor count must be flat');
    assert.ok(rssGrowthMiB < 16, `RSS grew by ${rssGrowthMiB.toFixed(1)} MiB over 100 steps`);
    assert.ok(params.every((p) => p.grad === null), 'the optimizer step drops every gradient');
    assert.ok(losses[99]! < losses[0]!, `the net trains (loss ${losses[0]} → ${losses[99]})`);
    optimizer.dispose();
    model.dispose();
  });
}
