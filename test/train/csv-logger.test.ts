import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CSVLogger, readCsvLog } from '../../src/train/csv-logger.js';
import { drive, tmpDir } from './helpers.js';

const epochs = [
  { loss: 0.9, accuracy: 0.4, val_loss: 1.1, val_accuracy: 0.3, lr: 0.1, epoch_time_s: 3 },
  { loss: 0.7, accuracy: 0.6, val_loss: 0.8, val_accuracy: 0.5, lr: 0.1 },
  { loss: 0.5, accuracy: 0.8, val_loss: 0.6, val_accuracy: 0.7, lr: 0.01 },
  { loss: 0.4, accuracy: 0.85, val_loss: 0.55, val_accuracy: 0.75, lr: 0.01 },
];

describe('CSVLogger', () => {
  it('writes Keras columns with 0-based epochs', async () => {
    const path = join(tmpDir(), 'log.csv');
    await drive([new CSVLogger(path)], epochs.slice(0, 2));
    assert.equal(
      readFileSync(path, 'utf8'),
      'epoch,accuracy,loss,val_accuracy,val_loss,lr\n0,0.4,0.9,0.3,1.1,0.1\n1,0.6,0.7,0.5,0.8,0.1\n',
    );
  });

  it('missing values are NA, non-finite ones nan/inf; custom columns and separator', async () => {
    const path = join(tmpDir(), 'log.csv');
    await drive([new CSVLogger(path, { columns: ['loss', 'top5', 'val_loss'], separator: ';' })], [{ loss: NaN, val_loss: Infinity }]);
    assert.equal(readFileSync(path, 'utf8'), 'epoch;loss;top5;val_loss\n0;nan;NA;inf\n');
  });

  it('a fresh run overwrites an old file', async () => {
    const path = join(tmpDir(), 'log.csv');
    writeFileSync(path, 'old junk\n');
    await drive([new CSVLogger(path)], epochs.slice(0, 1));
    assert.equal(readCsvLog(path).rows.length, 1);
  });

  it('on resume drops rows after the checkpoint and a torn last row, then appends', async () => {
    const dir = tmpDir();
    const path = join(dir, 'log.csv');
    await drive([new CSVLogger(path)], epochs.slice(0, 3)); // epochs 0..2 logged
    appendFileSync(path, '3,0.85,0.'); // a row torn by a kill (cannot happen with atomic writes, but be lenient)
    // the last checkpoint was after epoch 1 → resume at epoch 2
    await drive([new CSVLogger(path)], epochs, { initialEpoch: 2 });
    const log = readCsvLog(path);
    assert.deepEqual(log.rows.map((r) => r[0]), ['0', '1', '2', '3']);
    assert.deepEqual(log.rows[3], ['3', '0.85', '0.4', '0.75', '0.55', '0.01']);
    assert.deepEqual(readdirSync(dir), ['log.csv'], 'no temp files left behind');
  });

  it('keeps the existing header on resume even if the columns changed', async () => {
    const path = join(tmpDir(), 'log.csv');
    await drive([new CSVLogger(path, { columns: ['loss'] })], epochs.slice(0, 2));
    await drive([new CSVLogger(path)], epochs.slice(0, 3), { initialEpoch: 2 });
    assert.equal(readFileSync(path, 'utf8'), 'epoch,loss\n0,0.9\n1,0.7\n2,0.5\n');
  });

  it('validates arguments', () => {
    assert.throws(() => new CSVLogger(''), /Expected a file path for path but received ""/);
    assert.throws(() => new CSVLogger('x.csv', { columns: ['a', ''] }), /Expected an array of metric names for columns/);
  });
});
