// The fit loop reads the loss and accuracy back from the device only every `readEvery` steps (on a GPU each read
// waits for it). These run on the CPU, where the same reads are counted (hostReadCount), so they show when the loop
// reads and that reading less often changes no number; test/cuda/cuda.test.ts checks that a GPU is kept busy.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { fit } from '../../src/train/fit.js';
import { Callback } from '../../src/train/callbacks/base.js';
import { loadTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { readHistory } from '../../src/run/run-folder.js';
import { full, hostReadCount } from '../../src/tensor/index.js';
import { tmpDir } from './helpers.js';
import { historyMetrics, tinyConfig } from './run-helpers.js';

/** The host reads made during each step (onBatchBegin to onBatchEnd), per epoch, and after each epoch's last step. */
class ReadProbe extends Callback {
  readonly reads: number[][] = [];
  readonly atEpochEnd: number[] = [];
  private mark = 0;
  override async onEpochBegin(): Promise<void> {
    this.reads.push([]);
  }
  override async onBatchBegin(): Promise<void> {
    this.mark = hostReadCount('cpu');
  }
  override async onBatchEnd(): Promise<void> {
    const now = hostReadCount('cpu');
    this.reads.at(-1)!.push(now - this.mark);
    this.mark = now;
  }
  override async onEpochEnd(): Promise<void> {
    this.atEpochEnd.push(hostReadCount('cpu') - this.mark);
  }
}

/** NaN weights from the start of batch `batch` of epoch `epoch` (0-based), as an exploding net would have. */
class Poison extends Callback {
  private epoch = 0;
  constructor(private readonly at: { epoch: number; batch: number }) { super(); }
  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }
  override async onBatchBegin(batch: number): Promise<void> {
    if (this.epoch !== this.at.epoch || batch !== this.at.batch) return;
    const nan = full([4, 64], NaN);
    await this.ctx.model.restoreWeights(new Map([['fc.weight', nan]]));
    nan.dispose();
  }
}

const quiet = { progress: false as const, log: () => {} };

describe('reading the loss back every N steps', () => {
  it('on the CPU the default reads every step; readEvery 3 reads once per 3 steps, validation once, and every metric stays bit-identical', async () => {
    // No augmentation: its random draws are read from CPU tensors too (free on a GPU machine, but counted here).
    const cfg = tinyConfig({ epochs: 2 });
    const every = new ReadProbe();
    const a = tmpDir();
    assert.equal((await runTraining(cfg, { runDir: a, callbacks: [every], ...quiet })).status, 'ok');
    assert.deepEqual(every.reads, [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]]);
    // The validation pass (4 batches) reads its sums once.
    assert.deepEqual(every.atEpochEnd, [1, 1]);

    const third = new ReadProbe();
    const b = tmpDir();
    assert.equal((await runTraining(cfg, { runDir: b, callbacks: [third], readEvery: 3, ...quiet })).status, 'ok');
    // Steps 7 and 8 of each epoch are read with the epoch's figures, after its last onBatchEnd.
    assert.deepEqual(third.reads, [[0, 0, 1, 0, 0, 1, 0, 0], [0, 0, 1, 0, 0, 1, 0, 0]]);
    assert.deepEqual(third.atEpochEnd, [2, 2]);
    assert.deepEqual(historyMetrics(b), historyMetrics(a));
  });

  it('a NaN between reads is found at the next read, named at its own step, and never written to a checkpoint', async () => {
    // Reads every 5 steps; NaN from step 12 (epoch 2, batch 4); the mid-epoch checkpoint due after step 12 reads first.
    const cfg = tinyConfig({ epochs: 3, checkpoint: { everySteps: 3 } });
    const dir = tmpDir();
    const r = await runTraining(cfg, { runDir: dir, callbacks: [new Poison({ epoch: 1, batch: 3 })], readEvery: 5, ...quiet });
    assert.equal(r.status, 'diverged');
    assert.match(r.error!, /^loss became NaN at epoch 2, batch 4 \(step 12\)/);
    assert.deepEqual(readHistory(dir).map((h) => h.epoch), [1]);
    const ck = await loadTrainingCheckpoint(join(dir, 'checkpoints', 'last.pth'));
    assert.deepEqual([ck.state.epoch, ck.state.epochComplete, ck.state.globalStep], [1, false, 9], 'the newest checkpoint is the last one before the NaN');
    assert.equal(existsSync(join(dir, 'model.pth')), false);

    // Without a checkpoint in between, the next read (after step 13) finds it; step 13 is not applied.
    const plain = tmpDir();
    const p = await runTraining(tinyConfig({ epochs: 3 }), { runDir: plain, callbacks: [new Poison({ epoch: 1, batch: 3 })], readEvery: 5, ...quiet });
    assert.equal(p.status, 'diverged');
    assert.match(p.error!, /^loss became NaN at epoch 2, batch 4 \(step 12\)/);
    const last = await loadTrainingCheckpoint(join(plain, 'checkpoints', 'last.pth'));
    assert.deepEqual([last.state.epoch, last.state.epochComplete, last.state.globalStep], [0, true, 8]);
  });

  it('readEvery and readEveryMs are checked', async () => {
    const o = { train: undefined as never, model: undefined as never, numClasses: 4, config: undefined as never, precision: undefined as never, device: 'cpu', normalization: undefined as never };
    await assert.rejects(fit({ ...o, readEvery: 0 }), /^TypeError: Expected a positive integer \(steps\) or Infinity for readEvery but received number 0$/);
    await assert.rejects(fit({ ...o, readEveryMs: -5 }), /^TypeError: Expected a positive number \(milliseconds\) for readEveryMs but received number -5$/);
  });
});
