import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { appendHistory, historyPath, HistoryLogger, readHistory, truncateHistory, type HistoryRecord } from '../../src/train/history.js';
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
  it('appends one JSON line per epoch with the agreed field names', () => {
    const dir = tmpDir();
    appendHistory(dir, rec(1, { val_loss: 0.9, val_accuracy: 0.2, val_top5: 0.6, data_wait_fraction: 0.05 }));
    appendHistory(dir, rec(2));
    const lines = readFileSync(historyPath(dir), 'utf8').split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[2], '');
    assert.deepEqual(JSON.parse(lines[0]!), {
      epoch: 1, loss: 1, accuracy: 0.1, lr: 0.1, epoch_time_s: 12.5, images_per_s: 80,
      val_loss: 0.9, val_accuracy: 0.2, val_top5: 0.6, data_wait_fraction: 0.05,
    });
    assert.deepEqual(readHistory(dir).map((r) => r.epoch), [1, 2]);
  });

  it('stores non-finite metrics as null and rejects malformed records', () => {
    const dir = tmpDir();
    appendHistory(dir, rec(1, { val_loss: Infinity }));
    assert.equal(readHistory(dir)[0]!.val_loss, null);
    assert.throws(() => appendHistory(dir, rec(0)), /Invalid history record: epoch: expected number >= 1, received number 0/);
    assert.throws(() => appendHistory(dir, { ...rec(1), lr: 'x' } as never), /Invalid history record: lr: expected number, received "x"/);
  });

  it('skips a torn trailing line but rejects damage in the middle', () => {
    const dir = tmpDir();
    appendHistory(dir, rec(1));
    appendFileSync(historyPath(dir), '{"epoch":2,"loss":0.');
    assert.deepEqual(readHistory(dir).map((r) => r.epoch), [1]);
    appendHistory(dir, rec(2)); // repairs the torn line before appending
    assert.deepEqual(readHistory(dir).map((r) => r.epoch), [1, 2]);
    writeFileSync(historyPath(dir), 'garbage\n' + JSON.stringify(rec(2)) + '\n');
    assert.throws(() => readHistory(dir), /history\.jsonl:1: not a valid history record/);
  });

  it('truncates to the resumed epoch atomically', () => {
    const dir = tmpDir();
    for (let e = 1; e <= 4; e++) appendHistory(dir, rec(e));
    truncateHistory(dir, 2);
    assert.deepEqual(readHistory(dir).map((r) => r.epoch), [1, 2]);
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
