import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { Callback } from '../../src/train/callbacks/base.js';
import { readHistory } from '../../src/run/run-folder.js';
import { liveTensorCount } from '../../src/tensor/index.js';
import { createModel } from '../../src/models/index.js';
import { tmpDir } from './helpers.js';
import { historyMetrics, readJson, readTensorBoardScalars, settledLiveCount, tinyConfig } from './run-helpers.js';

const quiet = { progress: false as const, log: () => {} };

describe('fit on the generated task', () => {
  it('a small ResNet learns: training loss falls, validation accuracy rises well above chance', async () => {
    const dir = tmpDir();
    const r = await runTraining(tinyConfig({
      // 16 px keeps it fast; 1536 images is about the least that generalises within 4 epochs.
      data: { source: 'generated', generated: { classes: 4, trainCount: 1536, testCount: 256, size: 16, difficulty: 'easy' }, split: 'train', valSplit: 'test' },
      epochs: 4,
      optimizer: { name: 'adam', lr: 0.003 },
      schedule: 'cosine',
    }), { runDir: dir, ...quiet });
    assert.equal(r.status, 'ok');
    const h = r.history;
    assert.equal(h.length, 4);
    const losses = h.map((e) => e.loss!);
    for (let i = 1; i < losses.length; i++) assert.ok(losses[i]! < losses[i - 1]!, `training loss falls every epoch: ${losses.join(', ')}`);
    assert.ok(losses[3]! < 0.5 * losses[0]!, `training loss at least halves: ${losses.join(', ')}`);
    assert.ok(h[3]!.accuracy! > 0.7, `training accuracy ${h[3]!.accuracy}`);
    // Chance is 0.25 with 4 balanced classes.
    assert.ok(h[3]!.val_accuracy! >= 0.6, `final val_accuracy ${h[3]!.val_accuracy} is well above chance`);
    assert.ok(h[3]!.val_loss! < h[0]!.val_loss!, 'validation loss falls');
    const st = readJson(join(dir, 'status.json'));
    assert.equal(st.status, 'ok');
    assert.equal(st.epochsDone, 4);
    assert.equal(st.bestValAccuracy, Math.max(...h.map((e) => e.val_accuracy!)));
    assert.equal(st.dataset.trainCount, 1536);
    assert.equal(st.dataset.valCount, 256);
    assert.ok(st.imagesPerS > 0 && st.trainTimeS > 0);
    for (const e of h) {
      assert.ok(e.images_per_s > 0 && e.epoch_time_s > 0);
      assert.ok(e.data_wait_fraction! >= 0 && e.data_wait_fraction! < 1);
    }
  });
});

describe('reproducibility', () => {
  it('same seed → identical per-epoch metrics and weights; another seed → different', async () => {
    const cfg = (seed: number) => tinyConfig({ seed, augment: 'standard+cutmix', epochs: 2 });
    const a = tmpDir(), b = tmpDir(), c = tmpDir();
    await runTraining(cfg(7), { runDir: a, ...quiet });
    await runTraining(cfg(7), { runDir: b, ...quiet });
    await runTraining(cfg(8), { runDir: c, ...quiet });
    const ha = historyMetrics(a);
    assert.equal(ha.length, 2);
    assert.deepEqual(historyMetrics(b), ha);
    assert.deepEqual(readFileSync(join(b, 'model.pth')), readFileSync(join(a, 'model.pth')));
    assert.equal(readFileSync(join(b, 'metrics.csv'), 'utf8'), readFileSync(join(a, 'metrics.csv'), 'utf8'));
    const hc = historyMetrics(c);
    assert.notDeepEqual(hc.map((e) => e.loss), ha.map((e) => e.loss));
    assert.notDeepEqual(readFileSync(join(c, 'model.pth')), readFileSync(join(a, 'model.pth')));
  });
});

describe('run folder outputs', () => {
  it('metrics.csv has the Keras columns and TensorBoard event files hold the same numbers', async () => {
    const dir = tmpDir();
    await runTraining(tinyConfig({ epochs: 2, tensorboard: true }), { runDir: dir, ...quiet });
    const history = readHistory(dir);
    const lines = readFileSync(join(dir, 'metrics.csv'), 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], 'epoch,accuracy,loss,val_accuracy,val_loss,lr');
    assert.equal(lines.length, 3);
    lines.slice(1).forEach((line, i) => {
      const h = history[i]!;
      assert.equal(line, [i, h.accuracy, h.loss, h.val_accuracy, h.val_loss, h.lr].map(String).join(','));
    });

    const eventFile = (run: string) => {
      const files = readdirSync(join(dir, 'tensorboard', run)).filter((f) => f.startsWith('events.out.tfevents.'));
      assert.equal(files.length, 1, `one event file in tensorboard/${run}`);
      return readTensorBoardScalars(join(dir, 'tensorboard', run, files[0]!));
    };
    const train = eventFile('train');
    const validation = eventFile('validation');
    const f32 = (x: number) => Math.fround(x);
    assert.deepEqual(train.get('epoch_loss'), history.map((h, i) => [i, f32(h.loss!)]));
    assert.deepEqual(train.get('epoch_accuracy'), history.map((h, i) => [i, f32(h.accuracy!)]));
    assert.deepEqual(train.get('epoch_learning_rate'), history.map((h, i) => [i, f32(h.lr)]));
    assert.deepEqual(validation.get('epoch_loss'), history.map((h, i) => [i, f32(h.val_loss!)]));
    assert.deepEqual(validation.get('epoch_accuracy'), history.map((h, i) => [i, f32(h.val_accuracy!)]));

    for (const f of ['config.json', 'status.json', 'history.jsonl', 'model.pth', 'checkpoints/last.pth', 'checkpoints/best.pth']) {
      assert.ok(existsSync(join(dir, f)), f);
    }

    // Training again into the folder without resuming starts over: no checkpoint of the earlier run survives
    // (a later --resume would otherwise continue the old run next to the new history).
    class SeesFolder extends Callback {
      seen: boolean[] = [];
      override async onTrainBegin(): Promise<void> {
        this.seen = ['checkpoints/last.pth', 'checkpoints/previous.pth', 'checkpoints/best.pth', 'model.pth'].map((f) => existsSync(join(dir, f)));
      }
    }
    const probe = new SeesFolder();
    const logged: string[] = [];
    await runTraining(tinyConfig({ epochs: 1, seed: 3 }), { runDir: dir, progress: false, log: (l) => logged.push(l), callbacks: [probe] });
    assert.deepEqual(probe.seen, [false, false, false, false]);
    assert.ok(logged.some((l) => /^starting from scratch in .*: removed checkpoints\/last\.pth, checkpoints\/previous\.pth, checkpoints\/best\.pth, model\.pth of an earlier run$/.test(l)), logged.join('\n'));
    assert.equal(readHistory(dir).length, 1);
  });
});

describe('memory', () => {
  it('over 128 steps (augmentation, validation, checkpoints, best-weight snapshots) the live tensor count does not grow', async () => {
    class Census extends Callback {
      // After EarlyStopping's snapshot and ModelCheckpoint, so every epoch end sees the same set of owners.
      override readonly order = 150;
      raw: number[] = [];
      settled: number[] = [];
      override async onEpochEnd(): Promise<void> {
        this.raw.push(liveTensorCount());
        this.settled.push(await settledLiveCount());
      }
    }
    // BatchNorm keeps one shared constant tensor from its first use on.
    createModel('resnet20-cifar', { numClasses: 4, seed: 0 }).dispose();
    const census = new Census();
    const before = await settledLiveCount();
    const r = await runTraining(tinyConfig({
      batchSize: 8, // 32 steps per epoch
      epochs: 4,
      augment: 'standard+cutmix',
      earlyStopping: { monitor: 'val_loss', patience: 10, restoreBestWeights: true },
      checkpoint: { everySteps: 16 },
    }), { runDir: tmpDir(), ...quiet, callbacks: [census] });
    assert.equal(r.status, 'ok');
    assert.equal(r.globalStep, 128);
    assert.equal(census.settled.length, 4);
    assert.deepEqual(census.settled, census.settled.map(() => census.settled[0]), `live tensors at epoch ends: ${census.settled}`);
    // Every handle an epoch creates is disposed explicitly, none is left for the garbage collector: a
    // collector that does not see native memory would let such handles pile up (a collection that happens
    // to run mid-epoch can only hide a leak here, never invent one).
    for (let i = 1; i < 4; i++) {
      assert.ok(census.raw[i]! <= census.settled[i - 1]!, `epoch ${i + 1} left ${census.raw[i]! - census.settled[i - 1]!} tensors to the garbage collector`);
    }
    assert.equal(await settledLiveCount(), before, 'everything fit() and runTraining() created is released');
  });
});
