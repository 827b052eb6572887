import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeEvent, EventFileWriter, frameRecord, hparamsMetrics, TensorBoard } from '../../src/train/tensorboard.js';
import { drive, tmpDir } from './helpers.js';
import { tinyConfig } from './run-helpers.js';
import { runTraining } from '../../src/train/run.js';
import { readHistory } from '../../src/run/run-folder.js';
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

  it('HParams: the session start (hyperparameters) in logDir itself, then final and best metrics and the end status', async () => {
    const dir = tmpDir();
    const hparams = { 'model': 'resnet20-cifar', 'optimizer.lr': 0.1, 'augment.mixup': true, 'seed': 2 };
    const logs = [
      { loss: 0.9, accuracy: 0.4, val_loss: 1.0, val_accuracy: 0.5, lr: 0.1, epoch_time_s: 3 },
      { loss: 0.7, accuracy: 0.6, val_loss: 1.2, val_accuracy: 0.375, lr: 0.05, epoch_time_s: 3 },
    ];
    await drive([new TensorBoard(dir, { hostname: 'h', now: clock(), hparams })], logs);
    const { files, events } = readEventDir(dir);
    assert.equal(files.length, 1, 'one session event file in logDir itself');
    const plugins = events.flatMap((e) => (e.plugins ?? []).map((p) => ({ ...p, step: e.step })));
    assert.deepEqual(plugins.map((p) => [p.tag, p.plugin, p.step]), [['_hparams_/session_start_info', 'hparams', 0], ['_hparams_/session_end_info', 'hparams', 2]]);
    assert.deepEqual(plugins[0]!.hparamsStart!.hparams, hparams);
    // drive() reports no outcome: a run that did not say it finished is still running (it resumes).
    assert.equal(plugins[1]!.hparamsEnd!.status, 3);
    const metrics = Object.fromEntries(events.flatMap((e) => e.scalars.map((s) => [s.tag, [e.step, s.value]])));
    assert.deepEqual(metrics, {
      'hparams/final_loss': [2, Math.fround(0.7)], 'hparams/best_loss': [2, Math.fround(0.7)],
      'hparams/final_accuracy': [2, Math.fround(0.6)], 'hparams/best_accuracy': [2, Math.fround(0.6)],
      'hparams/final_val_loss': [2, Math.fround(1.2)], 'hparams/best_val_loss': [2, 1],
      'hparams/final_val_accuracy': [2, 0.375], 'hparams/best_val_accuracy': [2, 0.5],
    });
    // Without hyperparameters no session file is written.
    const plain = tmpDir();
    await drive([new TensorBoard(plain, { hostname: 'h', now: clock() })], logs);
    assert.deepEqual(readEventDir(plain).files, []);
  });

  it('HParams on resume: a new session start at the resume epoch, the earlier end purged, best over every epoch', async () => {
    const dir = tmpDir();
    const logs = [{ val_accuracy: 0.9 }, { val_accuracy: 0.5 }, { val_accuracy: 0.6 }];
    await drive([new TensorBoard(dir, { hostname: 'h', now: clock(), hparams: { seed: 0 } })], logs.slice(0, 1), { epochs: 3 });
    const later = clock();
    for (let i = 0; i < 10_000; i++) later();
    const tb = new TensorBoard(dir, { hostname: 'h', now: later, hparams: { seed: 0 } });
    await drive([tb], logs, { initialEpoch: 1, epochs: 3, before: (list) => { list.ctx.params.pastEpochs = [{ epoch: 0, logs: logs[0]! }]; } });
    const { files, events } = readEventDir(dir);
    assert.equal(files.length, 2);
    const second = events.slice(events.findIndex((e) => e.sessionStatus === 1));
    assert.equal(second[0]!.step, 1, 'SessionLog START at the resume epoch purges the first end (step 1)');
    assert.equal(second.find((e) => e.plugins?.[0]?.hparamsStart)!.step, 1);
    const scalars = Object.fromEntries(second.flatMap((e) => e.scalars.map((s) => [s.tag, [e.step, s.value]])));
    assert.deepEqual(scalars['hparams/best_val_accuracy'], [3, Math.fround(0.9)]);
    assert.deepEqual(scalars['hparams/final_val_accuracy'], [3, Math.fround(0.6)]);
  });

  it('HParams of a real run: the plan\'s knobs by default, success at the end, best val accuracy from its history', async () => {
    const dir = tmpDir();
    const r = await runTraining(tinyConfig({ epochs: 2, tensorboard: true }), { runDir: dir, progress: false, log: () => {} });
    assert.equal(r.status, 'ok');
    const { events } = readEventDir(join(dir, 'tensorboard'));
    const plugins = events.flatMap((e) => e.plugins ?? []);
    assert.deepEqual(plugins[0]!.hparamsStart!.hparams, {
      model: 'resnet20-cifar', optimizer: 'sgd', batchSize: 32, epochs: 2, seed: 7, precision: 'fp32', deterministic: 'auto', lr: 0.05, momentum: 0.9,
      weightDecay: 0, schedule: 'constant',
    });
    assert.equal(plugins[1]!.hparamsEnd!.status, 1, 'STATUS_SUCCESS');
    const best = Math.max(...readHistory(dir).map((h) => h.val_accuracy!));
    const scalar = events.flatMap((e) => e.scalars).find((s) => s.tag === 'hparams/best_val_accuracy')!;
    assert.equal(scalar.value, Math.fround(best));
  });

  it('hparamsMetrics skips what is neither a loss nor an accuracy, and non-finite values for the best', () => {
    assert.deepEqual(hparamsMetrics([{ loss: 1, lr: 0.1, epoch_time_s: 2 }, { loss: Number.NaN, lr: 0.1 }]).map((m) => m.tag), ['hparams/final_loss', 'hparams/best_loss']);
    assert.deepEqual(hparamsMetrics([]), []);
    assert.throws(() => new TensorBoard('x', { hparams: { a: [1] as unknown as number } }), /Expected a string, number or boolean for hparams\.a but received/);
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

  it("HParams records read back by TensorBoard's own hparams plugin_data proto", { skip: tbPython.status !== 0 ? 'python3 tensorboard not installed: the HParams records are checked by test/train/tb-reader.ts only' : false }, async () => {
    const dir = tmpDir();
    await drive([new TensorBoard(dir, { hparams: { model: 'resnet20-cifar', lr: 0.1, aug: true } })], [{ val_accuracy: 0.5 }]);
    const py = `
import sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
ea = EventAccumulator(sys.argv[1]); ea.Reload()
c = ea.PluginTagToContent("hparams")
d = plugin_data_pb2.HParamsPluginData.FromString(c["_hparams_/session_start_info"])
h = d.session_start_info.hparams
print(h["model"].string_value, h["lr"].number_value, h["aug"].bool_value)
print(plugin_data_pb2.HParamsPluginData.FromString(c["_hparams_/session_end_info"]).session_end_info.status)`;
    const p = spawnSync('/usr/bin/python3', ['-c', py, dir]);
    assert.equal(p.status, 0, p.stderr.toString());
    assert.equal(p.stdout.toString().trim(), 'resnet20-cifar 0.1 True\n3');
  });
});
