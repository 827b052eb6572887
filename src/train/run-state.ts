import { arch, cpus, platform, release } from 'node:os';
import { invalidArg } from '../util/errors.js';
import { Callback, type Logs } from './callbacks/base.js';
import { formatMetric } from './callbacks/monitor.js';
import { readRunStatus, writeRunStatus, type RunEnv, type RunStatus } from '../run/run-folder.js';


/** The env fields Node can answer by itself; the fit loop adds ablateVersion, libtorchVersion, device, threads, precision. */
export function hostEnv(): Pick<RunEnv, 'node' | 'os' | 'cpu'> {
  const cpu = cpus()[0]?.model?.trim() || arch();
  return { node: process.version, os: `${platform()} ${release()} ${arch()}`, cpu: `${cpu} x${cpus().length}` };
}

export interface DivergenceInfo {
  /** 0-based epoch and batch where the loss went non-finite (or above maxLoss). */
  epoch: number;
  batch: number;
  /** 1-based number of the diverging optimizer step. */
  globalStep: number;
  loss: number;
}

export interface DivergenceGuardOptions {
  /** A finite batch loss above this also counts as divergence (the step is not applied). Default Infinity. */
  maxLoss?: number;
}

/**
 * The one place that decides whether a run diverged: a batch loss that is NaN/±Inf or above `maxLoss`,
 * or a non-finite validation loss. The fit loop asks it about each step's loss when it reads it back: before
 * the step is applied on the CPU, at the next read on a GPU (see `readFigures` in fit.ts); used as a callback
 * (Keras' TerminateOnNaN), it checks the running batch loss and stops training. It remembers the last
 * epoch whose metrics were all finite, so the run is marked 'diverged' with its last good numbers:
 * a diverging plain net is a result, not a crash.
 */
export class DivergenceGuard extends Callback {
  readonly maxLoss: number;
  diverged: DivergenceInfo | undefined;
  /** Why the run diverged, in words (set with `diverged`). */
  reason: string | undefined;
  /** Epoch logs of the last epoch that finished with a finite loss (0-based epoch). */
  lastGood: { epoch: number; logs: Logs } | undefined;
  private epoch = 0;

  constructor(opts: DivergenceGuardOptions = {}) {
    super();
    const maxLoss = opts.maxLoss ?? Infinity;
    if (typeof maxLoss !== 'number' || Number.isNaN(maxLoss)) throw invalidArg('maxLoss', 'a number', maxLoss);
    this.maxLoss = maxLoss;
  }

  /** The reason a batch with this loss ends the run, or undefined when the step may be applied. */
  checkBatchLoss(loss: number, at: { epoch: number; batch: number; globalStep: number }): string | undefined {
    if (loss <= this.maxLoss) return undefined; // false for NaN
    const what = Number.isFinite(loss) ? `loss reached ${formatMetric(loss)} (above maxLoss ${this.maxLoss})` : `loss became ${loss}`;
    this.diverged ??= { ...at, loss };
    this.reason ??= `${what} at epoch ${at.epoch + 1}, batch ${at.batch + 1} (step ${at.globalStep})`;
    return this.reason;
  }

  /** The reason a validation loss ends the run after 0-based `epoch`, or undefined. */
  checkValidationLoss(loss: number, epoch: number, globalStep: number): string | undefined {
    if (Number.isFinite(loss)) return undefined;
    this.diverged ??= { epoch, batch: -1, globalStep, loss };
    this.reason ??= `validation loss became ${loss} after epoch ${epoch + 1}`;
    return this.reason;
  }

  override async onTrainBegin(): Promise<void> {
    this.diverged = undefined;
    this.reason = undefined;
    this.epoch = this.ctx.params.initialEpoch;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number, logs: Logs = {}): Promise<void> {
    const loss = logs.loss;
    if (loss !== undefined && this.checkBatchLoss(loss, { epoch: this.epoch, batch, globalStep: this.ctx.globalStep })) {
      this.ctx.stopTraining = true;
    }
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    const loss = logs.loss;
    if (loss !== undefined && this.checkBatchLoss(loss, { epoch, batch: this.ctx.params.stepsPerEpoch - 1, globalStep: this.ctx.globalStep })) {
      this.ctx.stopTraining = true;
      return;
    }
    const val = logs.val_loss;
    if (val !== undefined && this.checkValidationLoss(val, epoch, this.ctx.globalStep)) {
      this.ctx.stopTraining = true;
      return;
    }
    this.lastGood = { epoch, logs: { ...logs } };
  }

  /** The status.json patch for a diverged run; undefined when it did not diverge. */
  statusPatch(): Pick<RunStatus, 'status' | 'error' | 'epochsDone'> | undefined {
    const d = this.diverged;
    if (!d) return undefined;
    // Every epoch before the diverging one finished with finite metrics (a validation loss fails its own epoch).
    return { status: 'diverged', error: this.reason, epochsDone: d.epoch };
  }
}

/** The epoch (1-based) with the highest val_accuracy, first one on ties; undefined without validation. */
export function bestOf(epochs: ReadonlyArray<{ epoch: number; logs: Logs }>): { bestEpoch?: number; bestValAccuracy?: number } {
  let best: { bestEpoch?: number; bestValAccuracy?: number } = {};
  for (const { epoch, logs } of epochs) {
    const va = logs.val_accuracy;
    if (typeof va === 'number' && !Number.isNaN(va) && (best.bestValAccuracy === undefined || va > best.bestValAccuracy)) best = { bestEpoch: epoch + 1, bestValAccuracy: va };
  }
  return best;
}

/**
 * Keeps status.json's epoch count and best epoch in step with the history as epochs finish, and
 * rebuilds them from the checkpoint's epochs on resume, so status.json, history.jsonl and metrics.csv
 * always agree. Does nothing for a folder without status.json (fit used without runTraining).
 */
export class RunStatusSync extends Callback {
  /**
   * After checkpointing (order 100): status.json counts an epoch only once the checkpoint holding it is
   * written, so a save that fails (a full disk) never leaves epochsDone ahead of what a resume continues from.
   */
  override readonly order = 200;
  private epochs: Array<{ epoch: number; logs: Logs }> = [];

  constructor(private readonly runDir: string) {
    super();
  }

  override async onTrainBegin(): Promise<void> {
    this.epochs = [...(this.ctx.params.pastEpochs ?? [])];
    this.sync();
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    this.epochs = [...this.epochs.filter((e) => e.epoch < epoch), { epoch, logs }];
    this.sync();
  }

  private sync(): void {
    // An unreadable status.json is left for runTraining, which rewrites it whole when the run ends.
    const current = readRunStatus(this.runDir);
    if (!current) return;
    const { bestEpoch: _b, bestValAccuracy: _v, ...rest } = current;
    writeRunStatus(this.runDir, { ...rest, epochsDone: this.epochs.length, ...bestOf(this.epochs) });
  }
}

/** True for a loss that should stop training. */
export function isDivergedLoss(loss: unknown): boolean {
  if (typeof loss !== 'number') throw invalidArg('loss', 'a number', loss);
  return !Number.isFinite(loss);
}
