/**
 * The files of a run folder, defined once for the training loop that writes them and the study
 * report that reads them:
 *
 *   <run>/config.json     the run's resolved configuration (written by runTraining)
 *   <run>/history.jsonl   one line per finished epoch
 *   <run>/status.json     run state, sizes, timings, environment
 *
 * Writers are strict: a record that does not match its schema is a bug and is never written; every
 * write is atomic. Readers are tolerant: a folder is often read while its run is still writing, or
 * after a kill or a full disk, so what cannot be read becomes a warning, never a crash.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic, writeJsonAtomic, overwriteInPlace, isDiskFull } from '../util/atomic.js';
import { formatZodIssues } from '../util/zod-issues.js';

export const CONFIG_FILE = 'config.json';
export const HISTORY_FILE = 'history.jsonl';
export const STATUS_FILE = 'status.json';

export const configPath = (runDir: string): string => join(runDir, CONFIG_FILE);
export const historyPath = (runDir: string): string => join(runDir, HISTORY_FILE);
export const statusPath = (runDir: string): string => join(runDir, STATUS_FILE);

function issuesOf(error: z.ZodError, limit = Infinity): string[] {
  const all = formatZodIssues(error.issues).map((i) => `${i.path || '(root)'}: ${i.message}`);
  return all.length > limit ? [...all.slice(0, limit), '…'] : all;
}

/** A JSON file's value, or why it could not be parsed; undefined when there is no such file. */
export function readJson(path: string): { ok: true; value: unknown } | { ok: false; error: string } | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return { ok: true, value: JSON.parse(readFileSync(path, 'utf8')) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

// ---------------------------------------------------------------- history.jsonl

/** A metric that went non-finite is written as null (JSON has no NaN). */
const writtenMetric = z.number().nullable();
/** Read back as a number: null (or the strings other writers use) become NaN/±Infinity. */
// z.literal, not z.enum: an enum's declaration emits '-Infinity' as a computed key that strict consumers of the .d.ts reject.
const readMetric = z.union([z.number(), z.null(), z.literal(['NaN', 'Infinity', '-Infinity'])])
  .transform((v) => (v === null ? NaN : Number(v)));

/**
 * One line per finished epoch. The study report reads these names; keep them. Unknown extra fields
 * (e.g. `top5`) are kept, so newer writers don't break older readers.
 */
export const HistoryRecordSchema = z.looseObject({
  /** 1-based. */
  epoch: z.number().int().min(1),
  loss: writtenMetric,
  accuracy: writtenMetric,
  val_loss: writtenMetric.optional(),
  val_accuracy: writtenMetric.optional(),
  val_top5: writtenMetric.optional(),
  lr: z.number().min(0),
  epoch_time_s: z.number().min(0),
  images_per_s: z.number().min(0),
  /** Share of the epoch's wall time spent waiting for the input pipeline, 0..1. */
  data_wait_fraction: z.number().min(0).max(1).optional(),
});
export type HistoryRecord = z.output<typeof HistoryRecordSchema>;

const historyRowSchema = z.looseObject({
  epoch: z.number().int().min(1),
  loss: readMetric,
  accuracy: readMetric,
  val_loss: readMetric.optional(),
  val_accuracy: readMetric.optional(),
  val_top5: readMetric.optional(),
  lr: readMetric,
  epoch_time_s: z.number().min(0),
  images_per_s: readMetric,
  data_wait_fraction: readMetric.optional(),
});
/** A history line as read: every metric a number (NaN where the run diverged). */
export type HistoryRow = z.output<typeof historyRowSchema>;

/** The record as validated JSON; NaN/±Infinity become null. Throws for a record that breaks the schema. */
export function checkHistoryRecord(record: HistoryRecord): HistoryRecord {
  const r = HistoryRecordSchema.safeParse(JSON.parse(JSON.stringify(record)), { reportInput: true });
  if (!r.success) throw new TypeError(`Invalid history record: ${issuesOf(r.error).join('; ')}`);
  return r.data;
}

/** Rewrites history.jsonl with exactly these epochs (atomic: readers see the old file or the new one). */
export function writeHistory(runDir: string, records: readonly HistoryRecord[]): void {
  writeFileAtomic(historyPath(runDir), records.map((r) => JSON.stringify(checkHistoryRecord(r)) + '\n').join(''));
}

/**
 * Every readable epoch, ordered by epoch. An unreadable line (a torn write, hand editing) is skipped
 * with a warning naming it; an epoch written twice keeps its last version.
 */
export function readHistory(runDir: string, warnings: string[] = []): HistoryRow[] {
  const path = historyPath(runDir);
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const byEpoch = new Map<number, HistoryRow>();
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const last = lines.slice(i + 1).every((l) => l.trim() === '');
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      warnings.push(last ? `${HISTORY_FILE}: last line is incomplete (run stopped mid-write?); ignored it`
        : `${HISTORY_FILE} line ${i + 1}: not valid JSON; ignored it`);
      return;
    }
    const r = historyRowSchema.safeParse(json);
    if (!r.success) {
      warnings.push(`${HISTORY_FILE} line ${i + 1}: ${issuesOf(r.error, 3).join('; ')}; ignored it`);
      return;
    }
    byEpoch.set(r.data.epoch, r.data);
  });
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}

// ---------------------------------------------------------------- status.json

/**
 * - `stopped`: the run stopped itself at a step boundary with a checkpoint (Ctrl-C, its study runner
 *   vanished, a full disk); `reason` says why. The same command resumes it.
 * - `interrupted`: its process died without stopping cleanly (a signal such as SIGKILL from the OOM
 *   killer, or it was orphaned); it resumes from its last checkpoint. Neither is a failure.
 * - `failed`: the run's own work raised an error (unreadable data, a bug); `error` says which.
 * - `diverged`: the loss became NaN/Inf or exceeded maxLoss.
 */
export const RUN_STATUSES = ['pending', 'running', 'ok', 'diverged', 'failed', 'stopped', 'interrupted'] as const;
export type RunStatusKind = (typeof RUN_STATUSES)[number];

const count = z.number().int().min(0);

export const RunEnvSchema = z.looseObject({
  ablateVersion: z.string(),
  libtorchVersion: z.string(),
  /** e.g. "cpu", "cuda:0 (NVIDIA H100)". */
  device: z.string(),
  /** Per process: each rank of a data-parallel run has this many. */
  threads: z.number().int().min(1),
  precision: z.string(),
  /** Ranks that trained the run together (data parallel); 1 (or absent, before it was recorded) for one process. */
  worldSize: z.number().int().min(1).optional(),
  /** The collective backend of a data-parallel run: 'nccl' on CUDA, 'gloo' on the CPU (absent for one process). */
  distBackend: z.enum(['gloo', 'nccl']).optional(),
  node: z.string(),
  os: z.string(),
  cpu: z.string(),
});

export const RunDatasetSchema = z.looseObject({
  name: z.string(),
  split: z.string(),
  valSplit: z.string().optional(),
  trainCount: count,
  valCount: count,
  /** Files that could not be decoded and were left out. */
  skipped: count.optional(),
  /** Images per class actually used, per split: `{ train: { cat: 120, dog: 118 }, val: {...} }`. */
  classCounts: z.record(z.string(), z.record(z.string(), count)).optional(),
  /** Class names in label order and the [height, width] images were resized to: what predict and export need (run-plan.ts). */
  classNames: z.array(z.string()).optional(),
  imageSize: z.tuple([z.number().int().min(1), z.number().int().min(1)]).optional(),
});

/** What a study report needs to know about a run without opening its checkpoints. */
export const RunStatusSchema = z.looseObject({
  status: z.enum(RUN_STATUSES),
  error: z.string().optional(),
  /** Why a `stopped` or `interrupted` run ended early (Ctrl-C, a full disk, "the study runner (pid 1234) is gone"), in words a user can act on. */
  reason: z.string().optional(),
  /** ISO 8601. */
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  epochsDone: count,
  epochsPlanned: count,
  /** 1-based, like history.jsonl. */
  bestEpoch: z.number().int().min(1).optional(),
  bestValAccuracy: z.number().optional(),
  params: count,
  trainableParams: count,
  nonTrainableParams: count.optional(),
  macs: z.number().min(0).optional(),
  flops: z.number().min(0).optional(),
  trainTimeS: z.number().min(0),
  imagesPerS: z.number().min(0).optional(),
  env: RunEnvSchema,
  dataset: RunDatasetSchema,
});
export type RunStatus = z.output<typeof RunStatusSchema>;
export type RunEnv = z.output<typeof RunEnvSchema>;

const runStatusReadSchema = RunStatusSchema.extend({
  bestEpoch: z.number().int().optional(),
  bestValAccuracy: readMetric.optional(),
  imagesPerS: readMetric.optional(),
  env: RunEnvSchema.partial(),
  dataset: RunDatasetSchema.partial(),
});
/** status.json as read: the environment and dataset blocks may be incomplete (older or foreign writers). */
export type RunStatusFile = z.output<typeof runStatusReadSchema>;

function checkStatus(status: unknown): RunStatus {
  const r = RunStatusSchema.safeParse(status, { reportInput: true });
  if (!r.success) throw new TypeError(`Invalid run status to write:\n${issuesOf(r.error).map((l) => `  ${l}`).join('\n')}`);
  return r.data;
}

/** undefined when the run has no readable status yet; why it is unreadable goes to `warnings`. */
export function readRunStatus(runDir: string, warnings: string[] = []): RunStatusFile | undefined {
  const j = readJson(statusPath(runDir));
  if (!j) return undefined;
  if (!j.ok) { warnings.push(`${STATUS_FILE}: unreadable (${j.error})`); return undefined; }
  const r = runStatusReadSchema.safeParse(j.value);
  if (!r.success) { warnings.push(`${STATUS_FILE}: ${issuesOf(r.error, 3).join('; ')}`); return undefined; }
  return r.data;
}

/**
 * Validates and writes status.json atomically. On a full disk the new copy cannot be made, so the
 * existing file is overwritten in place (it needs no new blocks): a run that stops because the disk
 * is full must still be able to say so.
 */
export function writeRunStatus(runDir: string, status: RunStatus | RunStatusFile): void {
  const checked = checkStatus(status);
  try {
    writeJsonAtomic(statusPath(runDir), checked);
  } catch (e) {
    if (!isDiskFull(e) || !existsSync(statusPath(runDir))) throw e;
    overwriteInPlace(statusPath(runDir), JSON.stringify(checked) + '\n');
  }
}

/** Read, merge, validate, write. The run must already have a readable status. */
export function updateRunStatus(runDir: string, patch: Partial<RunStatus> | ((s: RunStatusFile) => RunStatus | RunStatusFile)): RunStatus {
  const warnings: string[] = [];
  const current = readRunStatus(runDir, warnings);
  if (!current) throw new Error(`Cannot update ${statusPath(runDir)}: ${warnings[0] ?? 'the run has no status file yet'}`);
  const next = checkStatus(typeof patch === 'function' ? patch(current) : { ...current, ...patch });
  writeRunStatus(runDir, next);
  return next;
}

// ---------------------------------------------------------------- config.json

/** The run's config as a plain object, or undefined (with a warning when the file exists but cannot be read). */
export function readRunConfig(runDir: string, warnings: string[] = []): Record<string, unknown> | undefined {
  const c = readJson(configPath(runDir));
  if (c?.ok && typeof c.value === 'object' && c.value !== null && !Array.isArray(c.value)) return c.value as Record<string, unknown>;
  if (c) warnings.push(`${CONFIG_FILE}: ${c.ok ? 'not a JSON object' : `unreadable (${c.error})`}`);
  return undefined;
}
