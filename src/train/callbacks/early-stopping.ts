import { z } from 'zod';
import { Callback, finiteOrNull, parseState, type JsonValue, type Logs, type WeightSnapshot } from './base.js';
import { checkMonitor, checkNumber, resolveMode, type MonitorMode } from './monitor.js';

/** Options of the EarlyStopping callback (the Keras arguments). */
export interface EarlyStoppingOptions {
  /** Default "val_loss". */
  monitor?: string;
  /** Default "auto": direction inferred from the metric name. */
  mode?: MonitorMode;
  /** Epochs without improvement before stopping. Default 0. */
  patience?: number;
  /** Improvements smaller than this (absolute) do not count. Default 0. */
  minDelta?: number;
  /** Training stops unless the monitored value beats this within `patience` epochs. */
  baseline?: number;
  /** Restore the best epoch's weights when training ends (whether or not it stopped early). Default false. */
  restoreBestWeights?: boolean;
  /** Epochs to ignore before monitoring starts. Default 0. */
  startFromEpoch?: number;
  /** Receives "Epoch N: early stopping" style messages and warnings; warnings go to console.warn when unset. */
  log?: (line: string) => void;
}

const StateSchema = z.object({
  wait: z.number().int().min(0),
  stoppedEpoch: z.number().int().min(0),
  best: z.number().nullable(),
  bestEpoch: z.number().int().min(0),
  hasBestWeights: z.boolean(),
});

/** Keras `EarlyStopping`, same arithmetic (keras/src/callbacks/early_stopping.py, Keras 3). */
export class EarlyStopping extends Callback {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly patience: number;
  readonly minDelta: number;
  readonly baseline: number | undefined;
  readonly restoreBestWeights: boolean;
  readonly startFromEpoch: number;
  private readonly log: ((line: string) => void) | undefined;

  wait = 0;
  /** 0 means "did not stop early" (Keras convention; epoch 0 can never trigger a stop). */
  stoppedEpoch = 0;
  best: number;
  bestEpoch = 0;
  private bestWeights: WeightSnapshot | undefined;
  private hasBestWeights = false;
  private resumed = false;
  private warnedMissing = false;

  constructor(opts: EarlyStoppingOptions = {}) {
    super();
    this.monitor = checkMonitor(opts.monitor ?? 'val_loss');
    this.mode = resolveMode(this.monitor, opts.mode ?? 'auto');
    this.patience = checkNumber('patience', opts.patience ?? 0, { min: 0, integer: true });
    this.minDelta = Math.abs(checkNumber('minDelta', opts.minDelta ?? 0));
    this.baseline = opts.baseline === undefined ? undefined : checkNumber('baseline', opts.baseline);
    this.restoreBestWeights = opts.restoreBestWeights ?? false;
    this.startFromEpoch = checkNumber('startFromEpoch', opts.startFromEpoch ?? 0, { min: 0, integer: true });
    this.log = opts.log;
    this.best = this.initialBest();
  }

  private initialBest(): number {
    return this.mode === 'min' ? Infinity : -Infinity;
  }

  /** Keras subtracts a signed min_delta: `current - minDelta` must beat the reference. */
  isImprovement(current: number, reference: number): boolean {
    return this.mode === 'min' ? current + this.minDelta < reference : current - this.minDelta > reference;
  }

  override async onTrainBegin(): Promise<void> {
    // A fresh fit() reuses the instance from scratch; a resumed one keeps what loadState() brought back.
    if (this.resumed) return;
    this.wait = 0;
    this.stoppedEpoch = 0;
    this.best = this.initialBest();
    this.bestEpoch = 0;
    this.bestWeights = undefined;
    this.hasBestWeights = false;
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    const current = logs[this.monitor];
    if (current === undefined) {
      if (!this.warnedMissing) {
        this.warnedMissing = true;
        (this.log ?? console.warn)(
          `Early stopping conditioned on metric "${this.monitor}" which is not available. Available metrics are: ${Object.keys(logs).join(',')}`,
        );
      }
      return;
    }
    if (epoch < this.startFromEpoch) return;

    if (this.restoreBestWeights && !this.hasBestWeights) {
      // Until something improves, the current weights are the best we have.
      await this.takeSnapshot();
      this.bestEpoch = epoch;
    }

    this.wait += 1;
    if (this.isImprovement(current, this.best)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.restoreBestWeights) await this.takeSnapshot();
      // Only restart the wait when we beat both the previous best and the baseline.
      if (this.baseline === undefined || this.isImprovement(current, this.baseline)) this.wait = 0;
      return;
    }

    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      this.ctx.stopTraining = true;
    }
  }

  override async onTrainEnd(): Promise<void> {
    this.resumed = false;
    if (this.stoppedEpoch > 0) this.log?.(`Epoch ${this.stoppedEpoch + 1}: early stopping`);
    if (!this.restoreBestWeights || !this.hasBestWeights) return;
    if (this.bestWeights === undefined) {
      (this.log ?? console.warn)(
        `EarlyStopping: best weights (epoch ${this.bestEpoch + 1}) were not restored after resume; keeping the last weights`,
      );
      return;
    }
    this.log?.(`Restoring model weights from the end of the best epoch: ${this.bestEpoch + 1}.`);
    await this.ctx.model.restoreWeights(this.bestWeights);
  }

  private async takeSnapshot(): Promise<void> {
    this.bestWeights = await this.ctx.model.snapshotWeights();
    this.hasBestWeights = true;
  }

  override state(): JsonValue {
    return {
      wait: this.wait,
      stoppedEpoch: this.stoppedEpoch,
      best: finiteOrNull(this.best),
      bestEpoch: this.bestEpoch,
      hasBestWeights: this.hasBestWeights,
    };
  }

  override loadState(state: unknown): void {
    const s = parseState('EarlyStopping', StateSchema, state);
    this.wait = s.wait;
    this.stoppedEpoch = s.stoppedEpoch;
    this.best = s.best ?? this.initialBest();
    this.bestEpoch = s.bestEpoch;
    this.hasBestWeights = s.hasBestWeights;
    this.resumed = true;
  }

  override heldWeights(): WeightSnapshot | undefined {
    return this.bestWeights;
  }

  override loadHeldWeights(snapshot: WeightSnapshot): void {
    this.bestWeights = snapshot;
    this.hasBestWeights = true;
  }
}
