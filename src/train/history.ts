import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic.js';
import { formatZodIssues } from '../util/zod-issues.js';
import { invalidArg } from '../util/errors.js';
import { Callback, type Logs } from './callbacks/base.js';

export const HISTORY_FILE = 'history.jsonl';

/** A metric that went non-finite is stored as null (JSON has no NaN). */
const metric = z.number().nullable();

/**
 * One line of `<runDir>/history.jsonl` per finished epoch. The study report reads these names;
 * keep them. Unknown extra fields are kept, so newer writers don't break older readers.
 */
export const HistoryRecordSchema = z.looseObject({
  /** 1-based. */
  epoch: z.number().int().min(1),
  loss: metric,
  accuracy: metric,
  val_loss: metric.optional(),
  val_accuracy: metric.optional(),
  val_top5: metric.optional(),
  lr: z.number().min(0),
  epoch_time_s: z.number().min(0),
  images_per_s: z.number().min(0),
  /** Share of the epoch's wall time spent waiting for the input pipeline, 0..1. */
  data_wait_fraction: z.number().min(0).max(1).optional(),
});

export type HistoryRecord = z.output<typeof HistoryRecordSchema>;

export function historyPath(runDir: string): string {
  return join(runDir, HISTORY_FILE);
}

/** The record as a line; NaN/±Infinity become null via JSON.stringify. */
function toLine(record: HistoryRecord): string {
  const r = HistoryRecordSchema.safeParse(JSON.parse(JSON.stringify(record)), { reportInput: true });
  if (!r.success) {
    const issues = formatZodIssues(r.error.issues).map((i) => `${i.path || '(root)'}: ${i.message}`);
    throw new TypeError(`Invalid history record: ${issues.join('; ')}`);
  }
  return JSON.stringify(r.data) + '\n';
}

function endsWithNewline(path: string): boolean {
  const size = statSync(path).size;
  if (size === 0) return true;
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}

/**
 * Append one finished epoch. One write of a whole line, then fsync; if a previous crash left a torn
 * last line, the file is repaired first so the new record never glues onto it.
 */
export function appendHistory(runDir: string, record: HistoryRecord): void {
  const line = toLine(record);
  const path = historyPath(runDir);
  if (existsSync(path) && !endsWithNewline(path)) truncateHistory(runDir, Infinity);
  appendFileSync(path, line);
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * All records, in file order. A torn or invalid *last* line (a kill mid-write) is skipped; an invalid
 * line in the middle means the file was damaged some other way, which is an error.
 */
export function readHistory(runDir: string): HistoryRecord[] {
  const path = historyPath(runDir);
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const complete = lines.slice(0, -1); // text after the last '\n' was never finished
  const records: HistoryRecord[] = [];
  complete.forEach((line, i) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const r = HistoryRecordSchema.safeParse(parsed);
    if (r.success) {
      records.push(r.data);
    } else if (i < complete.length - 1) {
      throw new Error(`${path}:${i + 1}: not a valid history record (${r.error?.issues[0]?.message ?? 'invalid JSON'})`);
    }
  });
  return records;
}

/** Keep only epochs 1..epochsDone (what the resumed checkpoint has seen), dropping torn lines; atomic. */
export function truncateHistory(runDir: string, epochsDone: number): void {
  const path = historyPath(runDir);
  if (!existsSync(path)) return;
  const keep = readHistory(runDir).filter((r) => r.epoch <= epochsDone);
  writeFileAtomic(path, keep.map((r) => JSON.stringify(r) + '\n').join(''));
}

/** The history line for 0-based `epoch` from its epoch logs (see callbacks/base.ts for the keys). */
export function historyRecord(epoch: number, logs: Logs): HistoryRecord {
  const record: HistoryRecord = {
    epoch: epoch + 1,
    loss: logs['loss'] ?? null,
    accuracy: logs['accuracy'] ?? null,
    lr: logs['lr'] ?? 0,
    epoch_time_s: logs['epoch_time_s'] ?? 0,
    images_per_s: logs['images_per_s'] ?? 0,
  };
  for (const key of ['val_loss', 'val_accuracy', 'val_top5', 'top5', 'data_wait_fraction'] as const) {
    if (logs[key] !== undefined) record[key] = logs[key];
  }
  return record;
}

/** Writes history.jsonl from epoch logs (see callbacks/base.ts for the log keys). */
export class HistoryLogger extends Callback {
  readonly runDir: string;

  constructor(runDir: string) {
    super();
    if (typeof runDir !== 'string' || runDir.length === 0) throw invalidArg('runDir', 'a directory path', runDir);
    this.runDir = runDir;
  }

  override async onTrainBegin(): Promise<void> {
    const { initialEpoch } = this.ctx.params;
    if (initialEpoch > 0) truncateHistory(this.runDir, initialEpoch);
    else writeFileAtomic(historyPath(this.runDir), '');
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    appendHistory(this.runDir, historyRecord(epoch, logs));
  }
}
