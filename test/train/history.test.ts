import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { HistoryLogger } from '../../src/train/history.js';
import { historyPath, readHistory, writeHistory, type HistoryRecord } from '../../src/run/run-folder.js';
import { drive, tmpDir } from './helpers.js';

const rec = (epoch: number, extra: Partial<HistoryRecord> = {}): HistoryRecord => ({
  epoch,
  loss: 1 / epoch,
  accuracy: 0.1 * epoch,
  lr: 0.1,
  epoch_time_s: 12.5,
  images_per_s: 80,
  ...extra,
});

describe('history.jsonl', () => {
  it('writes one JSON line per epoch with the agreed field names', () => {
    const dir = tmpDir();
    writeHistory(dir, [rec(1, { val_loss: 0.9, val_accuracy: 0.2, val_top5: 0.6, data_wait_fraction: 0.05 }), rec(2)]);
    const lines = readFileSync(historyPath(dir), 'utf8').split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[2], '');
    assert.deepEqual(JSON.parse(lines[0]!), {
      epoch: 1, loss: 1, accuracy: 0.1, lr: 0.1, epoch_time_s: 12.5, images_per_s: 80,
      val_loss: 0.9, val_accuracy: 0.2, val_top5: 0.6, data_wait_fraction: 0.05,
    });
    assert.deepEqual(readHistory(dir).map((r) => r.epoch), [1, 2]);
  });

  it('stores non-finite metrics as null (read back as NaN) and refuses to write malformed records', () => {
    const dir = tmpDir();
    writeHistory(dir, [rec(1, { val_loss: Infinity })]);
    assert.match(readFileSync(historyPath(dir), 'utf8'), /"val_loss":null/);
    assert.ok(Number.isNaN(readHistory(dir)[0]!.val_loss));
    assert.throws(() => writeHistory(dir, [rec(0)]), /Invalid history record: epoch: expected number >= 1, received number 0/);
    assert.throws(() => writeHistory(dir, [{ ...rec(1), lr: 'x' } as never]), /Invalid history record: lr: expected number, received "x"/);
    assert.equal(readHistory(dir).length, 1, 'a refused write leaves the file as it was');
  });

  it('reads tolerantly: a torn or damaged line is skipped with a warning naming it', () => {
    const dir = tmpDir();
    writeFileSync(historyPath(dir), JSON.stringify(rec(1)) + '\n{"epoch":2,"loss":0.');
    const warnings: string[] = [];
    assert.deepEqual(readHistory(dir, warnings).map((r) => r.epoch), [1]);
    assert.deepEqual(warnings, ['history.jsonl: last line is incomplete (run stopped mid-write?); ignored it']);
    writeFileSync(historyPath(dir), 'garbage\n' + JSON.stringify(rec(2)) + '\n');
    const w2: string[] = [];
    assert.deepEqual(readHistory(dir, w2).map((r) => r.epoch), [2]);
    assert.deepEqual(w2, ['history.jsonl line 1: not valid JSON; ignored it']);
    assert.deepEqual(readHistory(tmpDir()), []);
  });

  it('HistoryLogger writes 1-based epochs from logs and honours resume', async () => {
    const dir = tmpDir();
    const logs = [1, 2, 3, 4].map((e) => ({ loss: 1 / e, accuracy: e / 10, val_loss: 2 / e, val_accuracy: e / 20, lr: 0.1, epoch_time_s: 10, images_per_s: 99, size: 3 }));
    await drive([new HistoryLogger(dir)], logs.slice(0, 3));
    await drive([new HistoryLogger(dir)], logs, { initialEpoch: 2 }); // checkpoint after epoch 2 (1-based)
    const h = readHistory(dir);
    assert.deepEqual(h.map((r) => r.epoch), [1, 2, 3, 4]);
    assert.deepEqual(h[3], { epoch: 4, loss: 0.25, accuracy: 0.4, lr: 0.1, epoch_time_s: 10, images_per_s: 99, val_loss: 0.5, val_accuracy: 0.2 });
    await drive([new HistoryLogger(dir)], logs.slice(0, 1)); // a fresh run starts a fresh file
    assert.equal(readHistory(dir).length, 1);
  });
});
