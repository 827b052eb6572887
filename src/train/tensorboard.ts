import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { maskedCrc32c } from '../util/crc32c.js';
import { invalidArg } from '../util/errors.js';
import { Callback, type Logs } from './callbacks/base.js';

/**
 * TensorBoard event files written without TensorFlow: TFRecord framing around hand-encoded
 * `tensorflow.Event` protos (tensorflow/core/util/event.proto, framework/summary.proto).
 *
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; SessionLog session_log = 6; }
 *   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
 *   SessionLog { SessionStatus status = 1; }   // START = 1
 */

export interface ScalarValue {
  tag: string;
  value: number;
}

/** A summary value for a TensorBoard plugin: an empty value whose metadata carries the plugin's own proto. */
export interface PluginValue {
  tag: string;
  plugin: string;
  content: Uint8Array;
}

export interface EventFields {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars?: readonly ScalarValue[];
  pluginValues?: readonly PluginValue[];
  /** SessionLog START: TensorBoard drops this run's events with step ≥ `step` (orphans of a crashed run). */
  sessionStart?: boolean;
}

const SESSION_STATUS_START = 1;
export const FILE_VERSION = 'brain.Event:2';

class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  /** Non-negative integers up to 2^53; steps never exceed that. */
  varint(n: number): this {
    const out: number[] = [];
    let v = n;
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
    this.push(Uint8Array.from(out));
    return this;
  }

  key(field: number, wireType: 0 | 1 | 2 | 5): this {
    return this.varint(field * 8 + wireType);
  }

  double(field: number, v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.key(field, 1).push(b);
    return this;
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.key(field, 5).push(b);
    return this;
  }

  int(field: number, v: number): this {
    return this.key(field, 0).varint(v);
  }

  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2).varint(b.length).push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }

  finish(): Uint8Array {
    return Buffer.concat(this.chunks, this.size);
  }
}

export function encodeEvent(e: EventFields): Uint8Array {
  if (!Number.isInteger(e.step) || e.step < 0) throw invalidArg('step', 'a non-negative integer', e.step);
  const w = new ProtoWriter().double(1, e.wallTime).int(2, e.step);
  if (e.fileVersion !== undefined) w.string(3, e.fileVersion);
  if ((e.scalars && e.scalars.length > 0) || (e.pluginValues && e.pluginValues.length > 0)) {
    const summary = new ProtoWriter();
    for (const { tag, value } of e.scalars ?? []) summary.bytes(1, new ProtoWriter().string(1, tag).float(2, value).finish());
    // Value.metadata (9) = SummaryMetadata { plugin_data (1) = PluginData { plugin_name (1), content (2) } }.
    for (const { tag, plugin, content } of e.pluginValues ?? []) {
      const pluginData = new ProtoWriter().string(1, plugin).bytes(2, content).finish();
      summary.bytes(1, new ProtoWriter().string(1, tag).bytes(9, new ProtoWriter().bytes(1, pluginData).finish()).finish());
    }
    w.bytes(5, summary.finish());
  }
  if (e.sessionStart) w.bytes(6, new ProtoWriter().int(1, SESSION_STATUS_START).finish());
  return w.finish();
}

/**
 * TensorBoard's HParams plugin (tensorboard/plugins/hparams/plugin_data.proto, api.proto), as PyTorch's
 * `SummaryWriter.add_hparams` writes it: a session's start (its hyperparameters) and end (its status).
 *
 *   HParamsPluginData { int32 version = 1; SessionStartInfo session_start_info = 3; SessionEndInfo session_end_info = 4; }
 *   SessionStartInfo  { map<string, google.protobuf.Value> hparams = 1; double start_time_secs = 5; }
 *   SessionEndInfo    { Status status = 1; double end_time_secs = 2; }   // SUCCESS = 1, FAILURE = 2, RUNNING = 3
 *   google.protobuf.Value { double number_value = 2; string string_value = 3; bool bool_value = 4; }
 *
 * No Experiment record: with none, TensorBoard builds the experiment from every session's hyperparameters and
 * the scalars beside it, so runs of one study (or of several) line up in one table.
 */
export const HPARAMS_PLUGIN = 'hparams';
export const HPARAMS_SESSION_START_TAG = '_hparams_/session_start_info';
export const HPARAMS_SESSION_END_TAG = '_hparams_/session_end_info';
export type HParamValue = string | number | boolean;
export const HPARAMS_STATUS = { success: 1, failure: 2, running: 3 } as const;

function protobufValue(v: HParamValue): Uint8Array {
  const w = new ProtoWriter();
  if (typeof v === 'number') w.double(2, v);
  else if (typeof v === 'boolean') w.int(4, v ? 1 : 0);
  else w.string(3, v);
  return w.finish();
}

export function encodeHParamsSessionStart(hparams: Readonly<Record<string, HParamValue>>, startTimeSecs: number): Uint8Array {
  const start = new ProtoWriter();
  for (const [k, v] of Object.entries(hparams)) start.bytes(1, new ProtoWriter().string(1, k).bytes(2, protobufValue(v)).finish());
  start.double(5, startTimeSecs);
  return new ProtoWriter().bytes(3, start.finish()).finish();
}

export function encodeHParamsSessionEnd(status: keyof typeof HPARAMS_STATUS, endTimeSecs: number): Uint8Array {
  const end = new ProtoWriter().int(1, HPARAMS_STATUS[status]).double(2, endTimeSecs).finish();
  return new ProtoWriter().bytes(4, end).finish();
}

/** TFRecord: uint64 length, masked CRC32C of those 8 bytes, data, masked CRC32C of data (all little-endian). */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = Buffer.alloc(8 + 4 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out, 0, 8), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

export interface EventFileWriterOptions {
  hostname?: string;
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
}

/**
 * One `events.out.tfevents.<unix>.<host>` file. Each event goes to the OS in one write, so a crash
 * can at worst leave one torn final record, which TensorBoard's reader treats as end of file.
 */
export class EventFileWriter {
  readonly path: string;
  private fd: number | undefined;
  private readonly now: () => number;

  constructor(dir: string, opts: EventFileWriterOptions = {}) {
    if (typeof dir !== 'string' || dir.length === 0) throw invalidArg('dir', 'a directory path', dir);
    this.now = opts.now ?? Date.now;
    mkdirSync(dir, { recursive: true });
    const base = `events.out.tfevents.${Math.floor(this.now() / 1000)}.${opts.hostname ?? hostname()}`;
    // A resumed run can start within the same second; a suffix keeps both files, sorted after the first.
    let path = join(dir, base);
    for (let i = 1; existsSync(path); i++) path = join(dir, `${base}.${i}`);
    this.path = path;
    this.fd = openSync(path, 'wx');
    this.write({ wallTime: this.now() / 1000, step: 0, fileVersion: FILE_VERSION });
  }

  private write(e: EventFields): void {
    if (this.fd === undefined) throw new Error(`EventFileWriter for ${this.path} is closed`);
    const rec = frameRecord(encodeEvent(e));
    let off = 0;
    while (off < rec.length) off += writeSync(this.fd, rec, off, rec.length - off);
  }

  addScalars(scalars: readonly ScalarValue[], step: number, wallTime = this.now() / 1000): void {
    for (const s of scalars) {
      if (typeof s.tag !== 'string' || s.tag.length === 0) throw invalidArg('tag', 'a non-empty string', s.tag);
      if (typeof s.value !== 'number') throw invalidArg(`value of ${s.tag}`, 'a number', s.value);
    }
    this.write({ wallTime, step, scalars });
  }

  addScalar(tag: string, value: number, step: number, wallTime?: number): void {
    this.addScalars([{ tag, value }], step, wallTime);
  }

  addPluginValues(values: readonly PluginValue[], step: number, wallTime = this.now() / 1000): void {
    this.write({ wallTime, step, pluginValues: values });
  }

  addSessionStart(step: number): void {
    this.write({ wallTime: this.now() / 1000, step, sessionStart: true });
  }

  flush(): void {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Options of the TensorBoard callback. */
export interface TensorBoardOptions {
  /** Batch-level scalars every N optimizer steps, in addition to the per-epoch ones. Default 'epoch' (none). */
  updateFreq?: 'epoch' | number;
  hostname?: string;
  now?: () => number;
  /**
   * Hyperparameters for TensorBoard's HParams view (a study's axes and the seed): written as the session's start
   * in an event file in `logDir` itself, with the final and best epoch metrics (`hparams/final_val_accuracy`,
   * `hparams/best_val_accuracy`, ...) and the session's end status when training ends. None: no HParams records.
   */
  hparams?: Readonly<Record<string, HParamValue>>;
}

/** The epoch metrics of the HParams view: each final value, and the best of the accuracies (max) and losses (min). */
export function hparamsMetrics(epochs: readonly Logs[]): ScalarValue[] {
  const out: ScalarValue[] = [];
  const last = epochs[epochs.length - 1] ?? {};
  for (const [key, value] of Object.entries(last)) {
    const better = /accuracy|top5/.test(key) ? Math.max : /loss/.test(key) ? Math.min : undefined;
    if (typeof value !== 'number' || !better) continue;
    out.push({ tag: `hparams/final_${key}`, value });
    const all = epochs.map((l) => l[key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (all.length > 0) out.push({ tag: `hparams/best_${key}`, value: better(...all) });
  }
  return out;
}

/**
 * Keras-style layout: `<logDir>/train` and `<logDir>/validation`, tags `epoch_loss`, `epoch_accuracy`,
 * `epoch_learning_rate`, step = 0-based epoch. Batch scalars go to `<logDir>/train_batch` (not `train`
 * as in Keras) because a resume's SessionLog START purges by step across a whole run directory, and
 * batch steps and epoch steps live on different scales.
 */
export class TensorBoard extends Callback {
  readonly logDir: string;
  readonly updateFreq: 'epoch' | number;
  private readonly writerOpts: EventFileWriterOptions;
  private writers = new Map<string, EventFileWriter>();
  private resumeStep = new Map<string, number>();
  private readonly hparams: Readonly<Record<string, HParamValue>> | undefined;
  /** Every finished epoch's logs (those of earlier starts first), for the HParams metrics. */
  private epochLogs: Logs[] = [];

  constructor(logDir: string, opts: TensorBoardOptions = {}) {
    super();
    if (typeof logDir !== 'string' || logDir.length === 0) throw invalidArg('logDir', 'a directory path', logDir);
    const f = opts.updateFreq ?? 'epoch';
    if (f !== 'epoch' && !(Number.isInteger(f) && f >= 1)) throw invalidArg('updateFreq', '"epoch" or a positive integer', f);
    this.logDir = logDir;
    this.updateFreq = f;
    this.writerOpts = {
      ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
      ...(opts.now !== undefined ? { now: opts.now } : {}),
    };
    if (opts.hparams !== undefined) {
      for (const [k, v] of Object.entries(opts.hparams)) {
        if (!['string', 'number', 'boolean'].includes(typeof v)) throw invalidArg(`hparams.${k}`, 'a string, number or boolean', v);
      }
      this.hparams = opts.hparams;
    }
  }

  /** `session` is the HParams session's own events, in `logDir` itself (the folder TensorBoard calls the session's run). */
  private writer(run: 'train' | 'validation' | 'train_batch' | 'session'): EventFileWriter {
    let w = this.writers.get(run);
    if (!w) {
      w = new EventFileWriter(run === 'session' ? this.logDir : join(this.logDir, run), this.writerOpts);
      const start = this.resumeStep.get(run);
      if (start !== undefined) w.addSessionStart(start);
      this.writers.set(run, w);
    }
    return w;
  }

  override async onTrainBegin(): Promise<void> {
    this.closeAll();
    this.resumeStep.clear();
    const { initialEpoch } = this.ctx.params;
    if (initialEpoch > 0) {
      this.resumeStep.set('train', initialEpoch);
      this.resumeStep.set('validation', initialEpoch);
      this.resumeStep.set('train_batch', this.ctx.globalStep + 1);
      // The metrics an earlier start wrote at its end (step = its epochs done) are purged; this start's replace them.
      this.resumeStep.set('session', initialEpoch);
    }
    this.writer('train');
    this.epochLogs = (this.ctx.params.pastEpochs ?? []).map((p) => p.logs);
    if (this.hparams) {
      const w = this.writer('session');
      w.addPluginValues([{ tag: HPARAMS_SESSION_START_TAG, plugin: HPARAMS_PLUGIN, content: encodeHParamsSessionStart(this.hparams, Date.now() / 1000) }], initialEpoch);
      w.flush();
    }
  }

  override async onBatchEnd(_batch: number, logs: Logs = {}): Promise<void> {
    if (this.updateFreq === 'epoch' || this.ctx.globalStep % this.updateFreq !== 0) return;
    const { train } = toScalars(logs, 'batch_');
    if (train.length > 0) this.writer('train_batch').addScalars(train, this.ctx.globalStep);
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    const { train, validation } = toScalars(logs, 'epoch_');
    if (train.length > 0) this.writer('train').addScalars(train, epoch);
    if (validation.length > 0) this.writer('validation').addScalars(validation, epoch);
    this.epochLogs.push(logs);
    for (const w of this.writers.values()) w.flush();
  }

  override async onTrainEnd(logs: Logs = {}): Promise<void> {
    if (this.hparams) {
      const w = this.writer('session');
      const metrics = hparamsMetrics(this.epochLogs);
      const step = this.epochLogs.length;
      if (metrics.length > 0) w.addScalars(metrics, step);
      // A finished run succeeded, a diverged one failed; a stopped one is still running (the same command resumes it).
      const status = logs.ended_ok ? 'success' : logs.ended_diverged ? 'failure' : 'running';
      w.addPluginValues([{ tag: HPARAMS_SESSION_END_TAG, plugin: HPARAMS_PLUGIN, content: encodeHParamsSessionEnd(status, Date.now() / 1000) }], step);
    }
    this.closeAll();
  }

  private closeAll(): void {
    for (const w of this.writers.values()) w.close();
    this.writers.clear();
  }
}

function toScalars(logs: Logs, prefix: 'epoch_' | 'batch_'): { train: ScalarValue[]; validation: ScalarValue[] } {
  const train: ScalarValue[] = [];
  const validation: ScalarValue[] = [];
  for (const [key, value] of Object.entries(logs)) {
    if (typeof value !== 'number' || key === 'size' || key === 'batch') continue;
    if (key.startsWith('val_')) validation.push({ tag: prefix + key.slice(4), value });
    else if (key === 'lr' || key === 'learning_rate') train.push({ tag: prefix + 'learning_rate', value });
    else train.push({ tag: prefix + key, value });
  }
  return { train, validation };
}
