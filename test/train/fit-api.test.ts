import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { input, conv2d, batchNorm, relu, dropout, globalAveragePool, flatten, dense, model, type Model } from '../../src/nn/index.js';
import { openDataset, parseDataSpec, prepareImages, DataLoader } from '../../src/data/index.js';
import { fit, type FitOptions } from '../../src/train/fit.js';
import { parseTrainConfig } from '../../src/run/config.js';
import { setNumThreads } from '../../src/tensor/index.js';
import { Callback } from '../../src/train/callbacks/base.js';
import { tmpDir } from './helpers.js';
import { settledLiveCount, TINY_GENERATED } from './run-helpers.js';

/** A few-layer CNN built with the graph API (no preset): fit() takes any TrainableModel. */
function tinyCnn(seed: number): Model {
  const x = input({ shape: [3, null, null] });
  let y = relu().apply(batchNorm({ name: 'bn1' }).apply(conv2d({ name: 'conv1', filters: 8, kernelSize: 3, strides: 2, padding: 1, useBias: false }).apply(x)));
  y = relu().apply(batchNorm({ name: 'bn2' }).apply(conv2d({ name: 'conv2', filters: 16, kernelSize: 3, strides: 2, padding: 1, useBias: false }).apply(y)));
  y = dropout({ rate: 0.3 }).apply(flatten().apply(globalAveragePool().apply(y)));
  return model({ inputs: x, outputs: dense({ name: 'fc', units: 4 }).apply(y), name: 'tiny', seed, defaultInputSize: 32 });
}

async function loaders(seed: number): Promise<{ train: DataLoader; val: DataLoader; close: () => Promise<void> }> {
  const open = async (split: string) => prepareImages(await openDataset(parseDataSpec({ source: 'generated', generated: TINY_GENERATED, split })), { height: 32, width: 32, cacheDir: null });
  const train = await open('train');
  const val = await open('test');
  return {
    train: new DataLoader(train, { batchSize: 16, seed, shuffle: true }),
    val: new DataLoader(val, { batchSize: 16, shuffle: false }),
    close: async () => {
      await train.close();
      await val.close();
    },
  };
}

const FP32 = { autocast: false, channelsLast: false, label: 'fp32' as const };

describe('fit() as a library call', () => {
  setNumThreads(1);

  it('trains a graph-API model without a run folder: history in memory, stepsPerEpoch honoured, nothing left behind', async () => {
    tinyCnn(0).dispose(); // BatchNorm keeps one shared constant tensor from its first use on
    const before = await settledLiveCount();
    const data = await loaders(1);
    const run = async () => {
      const m = tinyCnn(1);
      const base: FitOptions = {
        model: m, train: data.train, val: data.val, numClasses: 4, precision: FP32, device: 'cpu', normalization: 'unit', progress: false, log: () => {},
        config: parseTrainConfig({ model: 'tiny', data: {}, epochs: 3, stepsPerEpoch: 5, validationSteps: 2, seed: 1, optimizer: { name: 'adam', lr: 0.01 } }),
      };
      try {
        return await fit(base);
      } finally {
        m.dispose();
      }
    };
    const a = await run();
    assert.equal(a.status, 'ok');
    assert.equal(a.globalStep, 15);
    assert.deepEqual(a.history.map((h) => h.epoch), [1, 2, 3]);
    for (const h of a.history) {
      assert.ok(Number.isFinite(h.loss) && Number.isFinite(h.val_loss), JSON.stringify(h));
      // validationSteps 2 × batch 16: accuracy is a multiple of 1/32.
      assert.equal(Number.isInteger(h.val_accuracy! * 32), true, String(h.val_accuracy));
    }
    // Dropout draws from the global generator, which fit() re-seeds per step: still reproducible.
    const b = await run();
    assert.deepEqual(b.history.map((h) => [h.loss, h.accuracy, h.val_loss, h.val_accuracy]), a.history.map((h) => [h.loss, h.accuracy, h.val_loss, h.val_accuracy]));
    await data.close();
    assert.equal(await settledLiveCount(), before);
  });

  it('stop (AbortSignal) and resume in-process equals an uninterrupted run, dropout included', async () => {
    const data = await loaders(2);
    const config = parseTrainConfig({ model: 'tiny', data: {}, epochs: 2, seed: 2, optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 } });
    const run = async (runDir: string, extra: Partial<FitOptions>) => {
      const m = tinyCnn(2);
      try {
        return await fit({ model: m, train: data.train, val: data.val, numClasses: 4, precision: FP32, device: 'cpu', normalization: 'unit', progress: false, log: () => {}, config, runDir, ...extra });
      } finally {
        m.dispose();
      }
    };
    const reference = await run(tmpDir(), {});
    const dir = tmpDir();
    const ac = new AbortController();
    class StopAt extends Callback {
      override async onBatchEnd(): Promise<void> {
        if (this.ctx.globalStep === 21) ac.abort(); // epoch 2 (16 steps per epoch), batch 5
      }
    }
    const stopped = await run(dir, { signal: ac.signal, callbacks: [new StopAt()] });
    assert.equal(stopped.status, 'stopped');
    assert.equal(stopped.globalStep, 21);
    const resumed = await run(dir, { resume: true });
    assert.deepEqual(resumed.resumedFrom, { epoch: 1, batch: 5 });
    assert.equal(resumed.status, 'ok');
    const pick = (r: typeof reference) => r.history.map((h) => [h.epoch, h.loss, h.accuracy, h.val_loss, h.val_accuracy]);
    assert.deepEqual(pick(resumed), pick(reference));
    await data.close();
  });
});
