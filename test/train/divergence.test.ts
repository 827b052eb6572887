import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { Callback } from '../../src/train/callbacks/base.js';
import { loadTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { readHistory } from '../../src/run/run-folder.js';
import { full } from '../../src/tensor/index.js';
import { tmpDir } from './helpers.js';
import { CLI_MAIN, readJson, spawnTs, tinyConfig, writeConfig } from './run-helpers.js';

describe('divergence', () => {
  it('a huge learning rate ends the run as diverged, recorded in status.json, without a crash', async () => {
    const dir = tmpDir();
    const lines: string[] = [];
    const r = await runTraining(tinyConfig({ optimizer: { name: 'sgd', lr: 1e6 }, epochs: 3 }), { runDir: dir, progress: false, log: (l) => lines.push(l) });
    assert.equal(r.status, 'diverged');
    assert.match(r.error!, /loss (reached .* \(above maxLoss 10000\)|became (NaN|Infinity)) at epoch 1, batch \d+ \(step \d+\)/);
    assert.ok(lines.some((l) => l.startsWith('diverged: ')), lines.join('\n'));
    const st = readJson(join(dir, 'status.json'));
    assert.equal(st.status, 'diverged');
    assert.equal(st.error, r.error);
    assert.equal(st.epochsDone, 0);
    assert.ok(st.finishedAt);
    assert.ok(existsSync(join(dir, 'history.jsonl')));
    assert.equal(readHistory(dir).length, 0);
    assert.equal(existsSync(join(dir, 'model.pth')), false, 'a diverged run has no final weights');
  });

  it('NaN weights in epoch 2 keep epoch 1 in history, metrics.csv and the last checkpoint', async () => {
    // Poisons the classifier in the middle of the second epoch, as an exploding plain net would.
    class Poison extends Callback {
      private epoch = 0;
      override async onEpochBegin(epoch: number): Promise<void> {
        this.epoch = epoch;
      }
      override async onBatchBegin(batch: number): Promise<void> {
        if (this.epoch !== 1 || batch !== 3) return;
        const nan = full([4, 64], NaN);
        await this.ctx.model.restoreWeights(new Map([['fc.weight', nan]]));
        nan.dispose();
      }
    }
    const dir = tmpDir();
    const r = await runTraining(tinyConfig({ epochs: 3 }), { runDir: dir, progress: false, log: () => {}, callbacks: [new Poison()] });
    assert.equal(r.status, 'diverged');
    assert.match(r.error!, /^loss became NaN at epoch 2, batch 4 \(step 12\)/);
    const history = readHistory(dir);
    assert.deepEqual(history.map((h) => h.epoch), [1]);
    for (const k of ['loss', 'accuracy', 'val_loss', 'val_accuracy'] as const) assert.ok(Number.isFinite(history[0]![k]), k);
    assert.equal(readFileSync(join(dir, 'metrics.csv'), 'utf8').trimEnd().split('\n').length, 2);
    const st = readJson(join(dir, 'status.json'));
    assert.deepEqual([st.status, st.epochsDone, st.bestEpoch, st.bestValAccuracy], ['diverged', 1, 1, history[0]!.val_accuracy]);
    const ck = await loadTrainingCheckpoint(join(dir, 'checkpoints', 'last.pth'));
    assert.deepEqual([ck.state.epoch, ck.state.epochComplete], [0, true], 'the newest checkpoint is the last good epoch');
  });

  it('`ablate train` reports divergence as a result: exit code 2, the reason, no stack trace', async () => {
    const dir = tmpDir();
    const cfg = writeConfig(dir, tinyConfig({ epochs: 2 }));
    const c = spawnTs(CLI_MAIN, ['train', cfg, '--out', join(dir, 'run'), '--set', 'optimizer.lr=1e6']);
    const { code } = await c.exit;
    const err = c.stderr();
    assert.equal(code, 2, err);
    assert.match(err, /\ndiverged: 0 epoch\(s\)/);
    assert.match(err, /loss (reached|became) .* at epoch 1/);
    assert.doesNotMatch(err, /ablate: error|\n\s+at /);
    assert.equal(readJson(join(dir, 'run', 'status.json')).status, 'diverged');
  });
});
