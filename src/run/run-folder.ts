/**
 * The files of a run folder, defined once for the training loop that writes them and the study
 * report that reads them:
 *
 *   <run>/config.json     the run's resolved configuration (written by runTraining)
 *   <run>/history.jsonl   one line per finished epoch
 *   <run>/status.json     run state, sizes, timings, environment, and the folder's format version
 *   <run>/progress.json   the position within the current epoch
 *   <run>/rank-<r>.error.json  why rank r (not 0) of a data-parallel run failed, for its launcher
 *   and the lock, checkpoints/, model.pth, metrics.csv, tensorboard/, analysis/ and a study's
 *   request.json, claim.json, worker.log and provenance.diff (RUN_FILES below).
 *
 * Writers are strict: a record that does not match its schema is a bug and is never written; every
 * write is atomic. Readers are tolerant: a folder is often read while its run is still writing, or
 * after a kill or a full disk, so what cannot be read becomes a warning, never a crash.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_FILES, RUN_FOLDER_FORMAT, runFolder } from './folder.js';
import { z } from 'zod';
import { writeFileAtomic, writeJsonAtomic, overwriteInPlace, isDiskFull } from '../util/atomic.js';
import { formatZodIssues } from '../util/zod-issues.js';
import { isPeerLost } from '../tensor/peer-lost.js';
import { readRegularTextSync } from '../util/regular-file.js';
import { ablateVersion } from '../util/version.js';
import { ConfigError } from '../util/errors.js';

export const configPath = (runDir: string): string => runFolder(runDir).config;
export const historyPath = (runDir: string): string => runFolder(runDir).history;
export const statusPath = (runDir: string): string => runFolder(runDir).status;

function issuesOf(error: z.ZodError, limit = Infinity): string[] {
  const all = formatZodIssues(error.issues).map((i) => `${i.path || '(root)'}: ${i.message}`);
  return all.length > limit ? [...all.slice(0, limit), '…'] : all;
}

/** A JSON file's value, or why it could not be parsed; undefined when there is no such file. */
export function readJson(path: string): { ok: true; value: unknown } | { ok: false; error: string } | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return { ok: true, value: JSON.parse(readRegularTextSync(path, { what: 'run file' })) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** A run folder written by a newer ablate than this one: nothing of it is read. */
export class RunFolderFormatError extends ConfigError {
  constructor(readonly dir: string, readonly found: unknown) {
    super(`run folder ${dir} has format ${JSON.stringify(found)} in ${RUN_FILES.status}, but this ablate (${ablateVersion()}) reads run folder formats 1 to ${RUN_FOLDER_FORMAT}: ` +
      'open it with the ablate version that wrote it (or a newer one), or train the run again',
    [{ path: runFolder(dir).status, expected: `run folder format 1 to ${RUN_FOLDER_FORMAT}`, received: `format ${JSON.stringify(found)}` }]);
    this.name = 'RunFolderFormatError';
  }
}

/** Throws RunFolderFormatError when status.json names a format this ablate cannot read; a folder without one is format 1. */
export function checkRunFolderFormat(dir: string): void {
  const j = readJson(runFolder(dir).status);
  const problem = j?.ok ? formatProblem(dir, j.value) : undefined;
  if (problem) throw problem;
}

function formatProblem(dir: string, status: unknown): RunFolderFormatError | undefined {
  if (typeof status !== 'object' || status === null) return undefined;
  const found = (status as { format?: unknown }).format;
  if (found === undefined || (Number.isInteger(found) && (found as number) >= 1 && (found as number) <= RUN_FOLDER_FORMAT)) return undefined;
  return new RunFolderFormatError(dir, found);
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
  const lines = readRegularTextSync(path, { what: 'history file' }).split('\n');
  const byEpoch = new Map<number, HistoryRow>();
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const last = lines.slice(i + 1).every((l) => l.trim() === '');
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      warnings.push(last ? `${RUN_FILES.history}: last line is incomplete (run stopped mid-write?); ignored it`
        : `${RUN_FILES.history} line ${i + 1}: not valid JSON; ignored it`);
      return;
    }
    const r = historyRowSchema.safeParse(json);
    if (!r.success) {
      warnings.push(`${RUN_FILES.history} line ${i + 1}: ${issuesOf(r.error, 3).join('; ')}; ignored it`);
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
 * - `preempted`: stopped like `stopped`, because the cluster is taking the machine back (SIGUSR1, or SIGTERM;
 *   see util/interrupt.ts preemptSignals); the same command (or the requeued job) resumes it exactly.
 * - `interrupted`: its process died without stopping cleanly (a signal such as SIGKILL from the OOM
 *   killer, or it was orphaned); it resumes from its last checkpoint. Neither is a failure.
 * - `failed`: the run's own work raised an error (unreadable data, a bug); `error` says which.
 * - `diverged`: the loss became NaN/Inf or exceeded maxLoss.
 */
export const RUN_STATUSES = ['pending', 'running', 'ok', 'diverged', 'failed', 'stopped', 'preempted', 'interrupted'] as const;
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
  /** Whether reruns are bit-identical: always on the CPU, on a GPU with `deterministic: true` (absent in older runs). */
  deterministic: z.boolean().optional(),
  /** The code and settings that produced the run (src/util/provenance.ts); absent in runs from before it was recorded. */
  provenance: z.looseObject({
    git: z.union([
      z.looseObject({ root: z.string(), commit: z.string().optional(), dirty: z.boolean(), diffSha256: z.string().optional(), diffOmitted: z.string().optional() }),
      z.looseObject({ none: z.string() }),
    ]),
    lockSha256: z.string().optional(),
    ablateVersion: z.string(),
    command: z.array(z.string()),
    env: z.record(z.string(), z.string()),
  }).optional(),
});

export const RunDatasetSchema = z.looseObject({
  name: z.string(),
  /** The commit a Hub dataset was read at (source hf). */
  revision: z.string().optional(),
  split: z.string(),
  valSplit: z.string().optional(),
  trainCount: count,
  valCount: count,
  /** Files that could not be decoded and were left out. */
  skipped: count.optional(),
  /** Images per class actually used, per split: `{ train: { cat: 120, dog: 118 }, val: {...} }`. */
  classCounts: z.record(z.string(), z.record(z.string(), count)).optional(),
  /** Class names in label order and the [height, width] images were resized to: what predict and export need (open-run.ts). */
  classNames: z.array(z.string()).optional(),
  imageSize: z.tuple([z.number().int().min(1), z.number().int().min(1)]).optional(),
});

/** What a study report needs to know about a run without opening its checkpoints. */
export const RunStatusSchema = z.looseObject({
  /** The folder's format (RUN_FOLDER_FORMAT); absent in folders written before it was recorded (format 1). */
  format: z.number().int().min(1).optional(),
  status: z.enum(RUN_STATUSES),
  error: z.string().optional(),
  /** Why a `stopped` or `interrupted` run ended early (Ctrl-C, a full disk, "the study runner (pid 1234) is gone"), in words a user can act on. */
  reason: z.string().optional(),
  /**
   * On a `failed` run: it failed because it was started with other settings than it was planned with (its
   * resume was refused); the run itself is intact, and starting it with its own settings continues it.
   */
  resumeRefused: z.boolean().optional(),
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
  /** data.testSplit: the held-out split, scored once after training with the final model. */
  testSplit: z.string().optional(),
  testCount: count.optional(),
  testAccuracy: z.number().min(0).max(1).optional(),
  testLoss: z.number().optional(),
  /** Where the starting weights came from, when not from the seed (a TorchScript file's own weights; see Model.initialWeights). */
  initialWeights: z.string().optional(),
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

/** undefined when the run has no readable status yet (or its folder has a newer format); why goes to `warnings`. */
export function readRunStatus(runDir: string, warnings: string[] = []): RunStatusFile | undefined {
  const j = readJson(statusPath(runDir));
  if (!j) return undefined;
  if (!j.ok) { warnings.push(`${RUN_FILES.status}: unreadable (${j.error})`); return undefined; }
  const format = formatProblem(runDir, j.value);
  if (format) { warnings.push(format.message); return undefined; }
  const r = runStatusReadSchema.safeParse(j.value);
  if (!r.success) { warnings.push(`${RUN_FILES.status}: ${issuesOf(r.error, 3).join('; ')}`); return undefined; }
  // The format describes the folder, not the run: checked here, stamped again by every write.
  const { format: _format, ...status } = r.data;
  return status;
}

/**
 * Validates and writes status.json atomically. On a full disk the new copy cannot be made, so the
 * existing file is overwritten in place (it needs no new blocks): a run that stops because the disk
 * is full must still be able to say so.
 */
export function writeRunStatus(runDir: string, status: RunStatus | RunStatusFile): void {
  // A folder a newer ablate wrote is left as it is: this version cannot know what its files mean.
  checkRunFolderFormat(runDir);
  const checked = checkStatus({ ...status, format: RUN_FOLDER_FORMAT });
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

// ---------------------------------------------------------------- rank-<r>.error.json

/**
 * Rank 0 alone writes status.json, so another rank of a data-parallel run that fails leaves its error
 * here, where the process that launched the ranks reads it once they have all ended (recordRankFailure).
 * Rank 0 removes these files when the run starts again, so a resumed run never shows an old error.
 */
export const rankErrorPath = (runDir: string, rank: number): string => runFolder(runDir).rankError(rank);
const RANK_ERROR_NAME = /^rank-\d+\.error\.json$/;

export const RankErrorSchema = z.object({
  rank: z.number().int().min(1),
  worldSize: z.number().int().min(2),
  error: z.string(),
  /** A full disk (ENOSPC/EDQUOT): the run stops, resumable once there is space, instead of failing. */
  diskFull: z.boolean(),
  /** The rank was killed by this signal (left by its node's launcher when several nodes share the run): `interrupted`. */
  signal: z.string().optional(),
  /** ISO 8601: when the rank caught the error. */
  at: z.string(),
});
export type RankError = z.output<typeof RankErrorSchema>;

/** Validates and writes rank-<r>.error.json atomically. */
export function writeRankError(runDir: string, record: RankError): void {
  const r = RankErrorSchema.safeParse(record, { reportInput: true });
  if (!r.success) throw new TypeError(`Invalid rank error to write: ${issuesOf(r.error).join('; ')}`);
  writeJsonAtomic(rankErrorPath(runDir, record.rank), r.data);
}

/** undefined when the rank left no readable error; why it is unreadable goes to `warnings`. */
export function readRankError(runDir: string, rank: number, warnings: string[] = []): RankError | undefined {
  const j = readJson(rankErrorPath(runDir, rank));
  if (!j) return undefined;
  const name = `rank-${rank}.error.json`;
  if (!j.ok) { warnings.push(`${name}: unreadable (${j.error})`); return undefined; }
  const r = RankErrorSchema.safeParse(j.value);
  if (!r.success) { warnings.push(`${name}: ${issuesOf(r.error, 3).join('; ')}`); return undefined; }
  return r.data;
}

/** Removes every rank's error file (a new start of the run); returns the names removed. */
export function removeRankErrors(runDir: string): string[] {
  if (!existsSync(runDir)) return [];
  const names = readdirSync(runDir).filter((n) => RANK_ERROR_NAME.test(n));
  for (const n of names) rmSync(join(runDir, n), { force: true });
  return names;
}

/** How a rank of a locally launched data-parallel run ended when it failed (launchLocalRanks' `failed`). */
export interface RankEnd {
  rank: number;
  worldSize: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When it ended (ms). */
  at: number;
  /** Ranks per node, when several nodes run it: the messages name the node too. */
  nprocPerNode?: number;
}

/** What recordRankFailure made of a failed launch. */
export interface RankFailureRecord {
  /** One line: `rank 1 of 2: <its error>`, `rank 1 of 2 was killed by SIGKILL`, `rank 0 of 2 exited with code 1`. */
  message: string;
  /** `rank r of N: <its error>` when status.json now holds another rank's error (a failure or a full disk): for a study runner. */
  error?: string;
  /** What status.json says now; undefined without a readable one. */
  status?: RunStatusKind;
  /** The record that speaks for the run is another rank's full disk (the run is `stopped`, resumable). */
  diskFull?: boolean;
}

/**
 * The one place that decides what status.json says once a rank of a data-parallel run failed; the launchers
 * (`ablate train --nproc-per-node`, a study worker: launchRunRanks in launch.ts) call it after every rank
 * ended. Rank 0 writes status.json, so when another rank failed, rank 0's record may only say how rank 0
 * was stopped for it (`stopped` by the launcher's SIGTERM, `failed` because its peer was gone, still
 * `running` after SIGKILL). The rank whose own end came first speaks for the run:
 * - rank 0's record, when rank 0 ended on its own (its own error, a full disk, the run's end): it stands;
 * - another rank's error file: `failed` with `error: "rank r of N: <message>"`, or for a full disk `stopped`
 *   (resumable) with those words as `reason`;
 * - a rank killed by a signal (`end`, which leaves no file): `interrupted` (resumable), `reason: "rank r of N was
 *   killed by SIGKILL"`.
 * An error that only says its peer was gone is a consequence, never a cause: it speaks only when nothing else
 * does. Records older than `since` (the launch, ms) are leftovers of an earlier start and ignored. Without any
 * record (a rank that exited without writing its file), status.json is left as it is.
 */
export function recordRankFailure(runDir: string, end: RankEnd, since: number): RankFailureRecord {
  const npn = end.nprocPerNode ?? end.worldSize;
  const whoIs = (rank: number) => `rank ${rank} of ${end.worldSize}${npn < end.worldSize ? ` (node ${Math.floor(rank / npn)})` : ''}`;
  const how = `${whoIs(end.rank)} ${end.signal ? `was killed by ${end.signal}` : `exited with code ${end.code}`}`;
  const current = readRunStatus(runDir);
  if (!current) return { message: how }; // nothing to complete: a study runner records its own placeholder
  interface Candidate { at: number; peerLost: boolean; diskFull?: boolean; next?: { status: RunStatusKind; error?: string; reason?: string } }
  const candidates: Candidate[] = [];
  const finished = current.finishedAt === undefined ? NaN : Date.parse(current.finishedAt);
  if (current.status !== 'running' && finished >= since) candidates.push({ at: finished, peerLost: isPeerLost(current.error) });
  for (let rank = 1; rank < end.worldSize; rank++) {
    const left = readRankError(runDir, rank);
    if (!left || !(Date.parse(left.at) >= since)) continue;
    const words = left.signal ? `${whoIs(rank)} was killed by ${left.signal}` : `${whoIs(rank)}: ${left.error}`;
    const next = left.signal ? { status: 'interrupted' as const, reason: words } : left.diskFull ? { status: 'stopped' as const, reason: words } : { status: 'failed' as const, error: words };
    candidates.push({ at: Date.parse(left.at), peerLost: !left.signal && isPeerLost(left.error), diskFull: !left.signal && left.diskFull, next });
  }
  if (end.signal) candidates.push({ at: end.at, peerLost: false, next: { status: 'interrupted', reason: how } });
  const first = candidates.sort((a, b) => Number(a.peerLost) - Number(b.peerLost) || a.at - b.at)[0];
  if (!first?.next) return { message: how, status: current.status };
  const message = first.next.error ?? first.next.reason!;
  const error = first.next.status === 'interrupted' ? undefined : message;
  try {
    writeRunStatus(runDir, { ...current, error: undefined, reason: undefined, ...first.next, finishedAt: new Date(first.at).toISOString() });
  } catch (e) {
    return { message: `${message} (${RUN_FILES.status} could not be updated: ${(e as Error).message})`, error, status: current.status };
  }
  return { message, error, status: first.next.status, ...(first.diskFull ? { diskFull: true } : {}) };
}

// ---------------------------------------------------------------- config.json

/** Writes the run's plan as config.json (atomic). */
export function writeRunConfig(runDir: string, plan: object): void {
  writeJsonAtomic(runFolder(runDir).config, plan);
}

/** The resolved thread count an earlier start of this run recorded in its config.json (read tolerantly: any version). */
export function recordedThreads(runDir: string): number | undefined {
  const t = readRunConfig(runDir)?.threads;
  return Number.isInteger(t) && (t as number) > 0 ? (t as number) : undefined;
}

/** The run's config as a plain object, or undefined (with a warning when the file exists but cannot be read). */
export function readRunConfig(runDir: string, warnings: string[] = []): Record<string, unknown> | undefined {
  const c = readJson(configPath(runDir));
  if (c?.ok && typeof c.value === 'object' && c.value !== null && !Array.isArray(c.value)) return c.value as Record<string, unknown>;
  if (c) warnings.push(`${RUN_FILES.config}: ${c.ok ? 'not a JSON object' : `unreadable (${c.error})`}`);
  return undefined;
}

// ---------------------------------------------------------------- progress.json

export const ProgressSnapshotSchema = z.looseObject({
  /** 1-based, like history.jsonl. */
  epoch: z.number().int().min(1),
  epochs: count,
  batch: count,
  batches: count,
  loss: z.number().optional(),
  accuracy: z.number().optional(),
  imagesPerS: z.number().optional(),
  /** ISO 8601. */
  updatedAt: z.string(),
});
export type ProgressSnapshot = z.output<typeof ProgressSnapshotSchema>;

/** Writes progress.json atomically (a live view may read it at any moment). */
export function writeProgress(runDir: string, snap: ProgressSnapshot): void {
  writeJsonAtomic(runFolder(runDir).progress, snap);
}

/** The run's position within its epoch, or undefined when there is none or it cannot be read (a live view shows nothing then). */
export function readProgress(runDir: string): ProgressSnapshot | undefined {
  const j = readJson(runFolder(runDir).progress);
  if (!j?.ok) return undefined;
  const r = ProgressSnapshotSchema.safeParse(j.value);
  return r.success ? r.data : undefined;
}

// ---------------------------------------------------------------- request.json

/** What a study runner asks the worker it starts in a run folder to train. */
export const RunRequestSchema = z.looseObject({
  config: z.unknown(),
  resume: z.boolean(),
  name: z.string().optional(),
  provenance: z.unknown().optional(),
  hparams: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});
export type RunRequest = z.output<typeof RunRequestSchema>;

export function writeRunRequest(runDir: string, request: RunRequest): void {
  writeJsonAtomic(runFolder(runDir).request, request);
}

/** The worker's request; throws a clear error when it is missing or does not match its schema. */
export function readRunRequest(runDir: string): RunRequest {
  const path = runFolder(runDir).request;
  const value: unknown = JSON.parse(readRegularTextSync(path, { what: 'worker request' }));
  const r = RunRequestSchema.safeParse(value);
  if (!r.success) throw new TypeError(`Invalid worker request ${path}: ${issuesOf(r.error, 3).join('; ')}`);
  return r.data;
}
