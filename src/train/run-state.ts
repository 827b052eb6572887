import { existsSync, readFileSync } from 'node:fs';
import { arch, cpus, platform, release } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../util/atomic.js';
import { formatZodIssues } from '../util/zod-issues.js';
import { invalidArg } from '../util/errors.js';
import { Callback, type Logs } from './callbacks/base.js';

export const STATUS_FILE = 'status.json';

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
  threads: z.number().int().min(1),
  precision: z.string(),
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
});

/** `<runDir>/status.json`: what a study report needs to know about a run without opening its checkpoints. */
export const RunStatusSchema = z.looseObject({
  status: z.enum(RUN_STATUSES),
  error: z.string().optional(),
  /** Why a `stopped` or `interrupted` run ended early (e.g. "the study runner (pid 1234) is gone"). */
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

export function statusPath(runDir: string): string {
  return join(runDir, STATUS_FILE);
}

function check(status: unknown, where: string): RunStatus {
  const r = RunStatusSchema.safeParse(status, { reportInput: true });
  if (!r.success) {
    const lines = formatZodIssues(r.error.issues).map((i) => `  ${i.path || '(root)'}: ${i.message}`);
    throw new TypeError(`Invalid run status ${where}:\n${lines.join('\n')}`);
  }
  return r.data;
}

/** undefined when the run has no status yet; throws with the offending fields when the file is malformed. */
export function readRunStatus(runDir: string): RunStatus | undefined {
  const path = statusPath(runDir);
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  return check(parsed, `in ${path}`);
}

export function writeRunStatus(runDir: string, status: RunStatus): void {
  writeJsonAtomic(statusPath(runDir), check(status, 'to write'));
}

/** Read, merge, validate, write atomically. The run must already have a status. */
export function updateRunStatus(runDir: string, patch: Partial<RunStatus> | ((s: RunStatus) => RunStatus)): RunStatus {
  const current = readRunStatus(runDir);
  if (!current) throw new Error(`Cannot update ${statusPath(runDir)}: the run has no status file yet`);
  const next = typeof patch === 'function' ? patch(current) : { ...current, ...patch };
  writeRunStatus(runDir, next);
  return next;
}

/** The env fields Node can answer by itself; the fit loop adds ablateVersion, libtorchVersion, device, threads, precision. */
export function hostEnv(): Pick<RunEnv, 'node' | 'os' | 'cpu'> {
  const cpu = cpus()[0]?.model?.trim() || arch();
  return { node: process.version, os: `${platform()} ${release()} ${arch()}`, cpu: `${cpu} x${cpus().length}` };
}

export interface DivergenceInfo {
  /** 0-based epoch and batch where the loss went non-finite. */
  epoch: number;
  batch: number;
  globalStep: number;
  loss: number;
}

/**
 * Stops training on the first non-finite batch loss (Keras TerminateOnNaN) and remembers the last
 * epoch whose metrics were all finite, so the run can be marked 'diverged' with its last good numbers.
 * A diverging plain net is a result, not a crash.
 */
export class DivergenceGuard extends Callback {
  diverged: DivergenceInfo | undefined;
  /** Epoch logs of the last epoch that finished with a finite loss (0-based epoch). */
  lastGood: { epoch: number; logs: Logs } | undefined;
  private epoch = 0;

  override async onTrainBegin(): Promise<void> {
    this.diverged = undefined;
    this.epoch = this.ctx.params.initialEpoch;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number, logs: Logs = {}): Promise<void> {
    const loss = logs['loss'];
    if (loss !== undefined && !Number.isFinite(loss)) {
      this.diverged = { epoch: this.epoch, batch, globalStep: this.ctx.globalStep, loss };
      this.ctx.stopTraining = true;
    }
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    const loss = logs['loss'];
    if (loss !== undefined && !Number.isFinite(loss)) {
      this.diverged ??= { epoch, batch: this.ctx.params.stepsPerEpoch - 1, globalStep: this.ctx.globalStep, loss };
      this.ctx.stopTraining = true;
      return;
    }
    this.lastGood = { epoch, logs: { ...logs } };
  }

  /** The status.json patch for a diverged run; undefined when it did not diverge. */
  statusPatch(): Pick<RunStatus, 'status' | 'error' | 'epochsDone'> | undefined {
    const d = this.diverged;
    if (!d) return undefined;
    return {
      status: 'diverged',
      error: `loss became ${d.loss} at epoch ${d.epoch + 1}, batch ${d.batch + 1} (step ${d.globalStep})`,
      // Every epoch before the diverging one finished with finite metrics.
      epochsDone: d.epoch,
    };
  }
}

/** True for a loss that should stop training. */
export function isDivergedLoss(loss: unknown): boolean {
  if (typeof loss !== 'number') throw invalidArg('loss', 'a number', loss);
  return !Number.isFinite(loss);
}
