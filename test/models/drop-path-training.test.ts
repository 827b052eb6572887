// Stochastic depth inside the training loop: masks come from the global generator that fit() re-seeds
// from (seed, step) before every step, so runs are reproducible and a stop + resume equals an
// uninterrupted run, without any drop-path state in the checkpoint.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDataset, parseDataSpec, prepareImages, DataLoader } from '../../src/data/index.js';
import { fit, type FitOptions, type FitResult } from '../../src/train/fit.js';
import { parseTrainConfig } from '../../src/run/config.js';
import { setNumThreads } from '../../src/tensor/index.js';
import { Callback } from '../../src/train/callbacks/base.js';
import { createModelFromSpec, type ModelSpec } from '../../src/models/index.js';

const GENERATED = { classes: 4, trainCount: 128, testCount: 64, size: 32, difficulty: 'easy' } as const;
const FP32 = { autocast: false, channelsLast: false, label: 'fp32' as const };
const SPEC = (dropPathRate: number): ModelSpec => ({ depth: 8, preact: true, widthMultiplier: 0.5, dropPathRate });

describe('drop-path in fit()', () => {
  setNumThreads(1);

  it('is reproducible, changes training, and a stop + resume equals the uninterrupted run', async () => {
    const open = async (split: string) => prepareImages(await openDataset(parseDataSpec({ source: 'generated', generated: GENERATED, split })), { height: 32, width: 32, cacheDir: null });
    const trainSet = await open('train');
    const valSet = await open('test');
    const train = new DataLoader(trainSet, { batchSize: 16, seed: 3, shuffle: true });
    const val = new DataLoader(valSet, { batchSize: 32, shuffle: false });
    // `model` names a preset only to satisfy the config schema; fit() trains the model object it is given.
    const config = parseTrainConfig({ model: 'resnet20-cifar', data: {}, epochs: 2, seed: 3, optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 } });
    const run = async (rate: number, extra: Partial<FitOptions> = {}): Promise<FitResult> => {
      const m = createModelFromSpec(SPEC(rate), { numClasses: 4, seed: 3 });
      try {
        return await fit({ model: m, train, val, numClasses: 4, precision: FP32, device: 'cpu', normalization: 'unit', progress: false, log: () => {}, config, ...extra });
      } finally {
        m.dispose();
      }
    };
    const pick = (r: FitResult) => r.history.map((h) => [h.epoch, h.loss, h.accuracy, h.val_loss, h.val_accuracy]);
    try {
      const reference = await run(0.5, { runDir: mkdtempSync(join(tmpdir(), 'ablate-droppath-')) });
      assert.equal(reference.status, 'ok');
      assert.deepEqual(pick(await run(0.5)), pick(reference), 'same seed, same masks, same metrics');
      assert.notDeepEqual(pick(await run(0)).map((r) => r[1]), pick(reference).map((r) => r[1]), 'dropping blocks changes the training loss');

      const dir = mkdtempSync(join(tmpdir(), 'ablate-droppath-'));
      const ac = new AbortController();
      class StopAt extends Callback {
        override async onBatchEnd(): Promise<void> {
          if (this.ctx.globalStep === 11) ac.abort(); // epoch 2 (8 steps per epoch), batch 3
        }
      }
      const stopped = await run(0.5, { runDir: dir, signal: ac.signal, callbacks: [new StopAt()] });
      assert.equal(stopped.status, 'stopped');
      const resumed = await run(0.5, { runDir: dir, resume: true });
      assert.deepEqual(resumed.resumedFrom, { epoch: 1, batch: 3 });
      assert.deepEqual(pick(resumed), pick(reference));
    } finally {
      await trainSet.close();
      await valSet.close();
    }
  });
});
