import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeEvent, EventFileWriter, frameRecord, TensorBoard } from '../../src/train/tensorboard.js';
import { drive, tmpDir } from './helpers.js';
import { decodeEvent, readEventDir, readRecords } from './tb-reader.js';

const clock = () => {
  let t = 1_700_000_000_000;
  return () => (t += 250);
};

describe('TensorBoard event files', () => {
  it('frames records with masked CRC32C of length and data', () => {
    const rec = Buffer.from(frameRecord(Buffer.from('hello')));
    assert.equal(rec.length, 8 + 4 + 5 + 4);
    assert.deepEqual(readRecords(rec).map((b) => b.toString()), ['hello']);
    const bad = Buffer.from(rec);
    bad[13] ^= 1;
    assert.throws(() => readRecords(bad), /data CRC/);
  });

  it('encodes Event protos field by field', () => {
    const ev = decodeEvent(Buffer.from(encodeEvent({ wallTime: 1.5, step: 300, scalars: [{ tag: 'a', value: 0.25 }, { tag: 'b', value: -2 }] })));
    assert.deepEqual(ev, { wallTime: 1.5, step: 300, scalars: [{ tag: 'a', value: 0.25 }, { tag: 'b', value: -2 }] });
    assert.equal(decodeEvent(Buffer.from(encodeEvent({ wallTime: 0, step: 2 ** 40 }))).step, 2 ** 40);
    assert.throws(() => encodeEvent({ wallTime: 0, step: -1 }), /Expected a non-negative integer for step but received number -1/);
  });

  it('writes events.out.tfevents.<unix>.<host> starting with brain.Event:2', () => {
    const dir = tmpDir();
    const now = clock();
    const w = new EventFileWriter(dir, { hostname: 'box', now });
    w.addScalar('x', 0.5, 3);
    w.close();
    const { files, events } = readEventDir(dir);
    assert.deepEqual(files, ['events.out.tfevents.1700000000.box']);
    assert.equal(events[0]!.fileVersion, 'brain.Event:2');
    assert.equal(events[0]!.step, 0);
    assert.deepEqual(events[1]!.scalars, [{ tag: 'x', value: 0.5 }]);
    assert.equal(events[1]!.step, 3);
    assert.equal(events[1]!.wallTime, 1_700_000_000.75); // third tick of the fake clock
    // a second writer in the same second does not clobber the first file
    const w2 = new EventFileWriter(dir, { hostname: 'box', now: () => 1_700_000_000_900 });
    w2.close();
    assert.deepEqual(readEventDir(dir).files, ['events.out.tfevents.1700000000.box', 'events.out.tfevents.1700000000.box.1']);
    assert.throws(() => w.addScalar('x', 1, 1), /is closed/);
  });

  it('callback: Keras layout train/ and validation/, epoch_* tags, step = epoch', async () => {
    const dir = tmpDir();
    const tb = new TensorBoard(dir, { hostname: 'h', now: clock() });
    await drive([tb], [
      { loss: 0.9, accuracy: 0.4, val_loss: 1.0, val_accuracy: 0.3, lr: 0.1 },
      { loss: 0.7, accuracy: 0.6, val_loss: 0.8, val_accuracy: 0.5, lr: 0.05 },
    ]);
    const train = readEventDir(join(dir, 'train')).events.filter((e) => e.scalars.length > 0);
    const val = readEventDir(join(dir, 'validation')).events.filter((e) => e.scalars.length > 0);
    assert.deepEqual(train.map((e) => e.step), [0, 1]);
    assert.deepEqual(train[1]!.scalars, [
      { tag: 'epoch_loss', value: Math.fround(0.7) },
      { tag: 'epoch_accuracy', value: Math.fround(0.6) },
      { tag: 'epoch_learning_rate', value: Math.fround(0.05) },
    ]);
    assert.deepEqual(val[0]!.scalars, [{ tag: 'epoch_loss', value: 1 }, { tag: 'epoch_accuracy', value: Math.fround(0.3) }]);
  });

  it('callback: batch scalars every N steps in train_batch/, SessionLog START on resume', async () => {
    const dir = tmpDir();
    const logs = [{ loss: 1 }, { loss: 0.5 }, { loss: 0.4 }];
    await drive([new TensorBoard(dir, { updateFreq: 3, hostname: 'h', now: clock() })], logs, { stepsPerEpoch: 4, epochs: 2 });
    let batch = readEventDir(join(dir, 'train_batch')).events.filter((e) => e.scalars.length > 0);
    assert.deepEqual(batch.map((e) => e.step), [3, 6]);
    assert.deepEqual(batch[0]!.scalars.map((s) => s.tag), ['batch_loss', 'batch_accuracy']);

    // Resume at epoch 1, as if epoch 1 had been logged but not checkpointed.
    const later = clock();
    for (let i = 0; i < 100; i++) later();
    await drive([new TensorBoard(dir, { updateFreq: 3, hostname: 'h', now: later })], logs, { stepsPerEpoch: 4, initialEpoch: 1, epochs: 3 });
    const train = readEventDir(join(dir, 'train'));
    assert.equal(train.files.length, 2);
    const start = train.events.find((e) => e.sessionStatus !== undefined)!;
    assert.deepEqual([start.sessionStatus, start.step], [1, 1]);
    batch = readEventDir(join(dir, 'train_batch')).events.filter((e) => e.sessionStatus === 1);
    assert.equal(batch[0]!.step, 5); // global step 4 done at the resume point
  });

  it('rejects bad options', () => {
    assert.throws(() => new TensorBoard(''), /Expected a directory path for logDir but received ""/);
    assert.throws(() => new TensorBoard('x', { updateFreq: 0 }), /Expected "epoch" or a positive integer for updateFreq but received number 0/);
  });

  // An independent decoder: protoc --decode with the relevant subset of TensorFlow's .proto files.
  const protoc = spawnSync('protoc', ['--version']);
  it('decodes with protoc against event.proto/summary.proto', { skip: protoc.status !== 0 ? 'protoc not installed (apt-get install protobuf-compiler)' : false }, () => {
    const dir = tmpDir();
    writeFileSync(
      join(dir, 'event.proto'),
      `syntax = "proto3";
package tensorflow;
message SummaryValue { string tag = 1; float simple_value = 2; }
message Summary { repeated SummaryValue value = 1; }
message SessionLog { enum SessionStatus { STATUS_UNSPECIFIED = 0; START = 1; STOP = 2; CHECKPOINT = 3; } SessionStatus status = 1; }
message Event { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; Summary summary = 5; SessionLog session_log = 6; } }
`,
    );
    const w = new EventFileWriter(join(dir, 'run'), { hostname: 'h', now: () => 1_700_000_000_000 });
    w.addScalars([{ tag: 'epoch_loss', value: 0.5 }, { tag: 'epoch_accuracy', value: 0.75 }], 7);
    w.addSessionStart(3);
    w.close();
    const records = readRecords(readFileSync(w.path));
    const text = records.map((r) => {
      const p = spawnSync('protoc', [`-I${dir}`, '--decode=tensorflow.Event', join(dir, 'event.proto')], { input: r });
      assert.equal(p.status, 0, p.stderr.toString());
      return p.stdout.toString();
    });
    assert.match(text[0]!, /wall_time: 1700000000\n/);
    assert.match(text[0]!, /file_version: "brain.Event:2"/);
    assert.match(text[1]!, /step: 7\n/);
    assert.match(text[1]!, /tag: "epoch_loss"\s+simple_value: 0.5/);
    assert.match(text[1]!, /tag: "epoch_accuracy"\s+simple_value: 0.75/);
    assert.match(text[2]!, /session_log \{\s+status: START\s+\}/);
  });

  const tbPython = spawnSync('/usr/bin/python3', ['-c', 'import tensorboard'], { stdio: 'ignore' });
  it('reads back with TensorBoard EventAccumulator', { skip: tbPython.status !== 0 ? 'python3 tensorboard not installed' : false }, async () => {
    const dir = tmpDir();
    await drive([new TensorBoard(dir)], [{ loss: 0.9, val_loss: 1 }, { loss: 0.7, val_loss: 0.8 }]);
    const py = `
import sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1]); ea.Reload()
print(",".join("%d:%.4f" % (e.step, e.value) for e in ea.Scalars("epoch_loss")))`;
    const p = spawnSync('/usr/bin/python3', ['-c', py, join(dir, 'train')]);
    assert.equal(p.status, 0, p.stderr.toString());
    assert.equal(p.stdout.toString().trim(), '0:0.9000,1:0.7000');
  });
});
