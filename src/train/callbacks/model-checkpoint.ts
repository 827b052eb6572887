import { z } from 'zod';
import { Callback, finiteOrNull, parseState, type JsonValue, type Logs } from './base.js';
import { checkMonitor, checkNumber, formatMetric, resolveMode, type MonitorMode } from './monitor.js';

/** Options of the ModelCheckpoint callback. */
export interface ModelCheckpointOptions {
  /** Metric that defines "best". Default "val_loss" (Keras). */
  monitor?: string;
  mode?: MonitorMode;
  /** Save a 'best' checkpoint whenever the monitored value improves. Default true. */
  saveBest?: boolean;
  /** Save a 'last' checkpoint at the end of every epoch. Default true. */
  saveLast?: boolean;
  /** Also save 'last' every N optimizer steps (mid-epoch), so a kill loses at most N steps. */
  everySteps?: number;
  /** A 'best' is only saved once the monitored value beats this. */
  initialValueThreshold?: number;
  log?: (line: string) => void;
}

const StateSchema = z.object({ best: z.number().nullable(), bestEpoch: z.number().int().min(-1) });

/**
 * Decides when checkpoints are written; the fit loop's `ModelAccess.saveCheckpoint` does the writing.
 * "Improved" is Keras' ModelCheckpoint rule: strictly better than the best so far, no min delta.
 */
export class ModelCheckpoint extends Callback {
  // Runs after every other callback so the end-of-epoch 'last' checkpoint captures their updated state.
  override readonly order = 100;
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly saveBest: boolean;
  readonly saveLast: boolean;
  readonly everySteps: number | undefined;
  private readonly initialBest: number;
  private readonly log: ((line: string) => void) | undefined;

  best: number;
  /** -1 until a best checkpoint has been saved. */
  bestEpoch = -1;
  private epoch = 0;
  private resumed = false;
  private warnedMissing = false;

  constructor(opts: ModelCheckpointOptions = {}) {
    super();
    this.monitor = checkMonitor(opts.monitor ?? 'val_loss');
    this.mode = resolveMode(this.monitor, opts.mode ?? 'auto');
    this.saveBest = opts.saveBest ?? true;
    this.saveLast = opts.saveLast ?? true;
    this.everySteps = opts.everySteps === undefined ? undefined : checkNumber('everySteps', opts.everySteps, { min: 1, integer: true });
    this.initialBest =
      opts.initialValueThreshold === undefined
        ? this.mode === 'min' ? Infinity : -Infinity
        : checkNumber('initialValueThreshold', opts.initialValueThreshold);
    this.log = opts.log;
    this.best = this.initialBest;
  }

  isImprovement(current: number): boolean {
    return this.mode === 'min' ? current < this.best : current > this.best;
  }

  override async onTrainBegin(): Promise<void> {
    this.epoch = this.ctx.params.initialEpoch;
    if (this.resumed) return;
    this.best = this.initialBest;
    this.bestEpoch = -1;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number): Promise<void> {
    if (this.everySteps === undefined || this.ctx.globalStep % this.everySteps !== 0) return;
    // The end-of-epoch checkpoint follows immediately; don't write the same state twice.
    if (this.saveLast && batch === this.ctx.params.stepsPerEpoch - 1) return;
    await this.ctx.model.saveCheckpoint('last', { epoch: this.epoch, globalStep: this.ctx.globalStep, epochComplete: false });
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    const current = logs[this.monitor];
    const globalStep = this.ctx.globalStep;
    if (this.saveBest) {
      if (current === undefined) {
        if (!this.warnedMissing) {
          this.warnedMissing = true;
          (this.log ?? console.warn)(`Can save best model only with "${this.monitor}" available, skipping.`);
        }
      } else if (this.isImprovement(current)) {
        const previous = this.best;
        this.best = current;
        this.bestEpoch = epoch;
        this.log?.(`Epoch ${epoch + 1}: ${this.monitor} improved from ${formatMetric(previous)} to ${formatMetric(current)}, saving best checkpoint`);
        await this.ctx.model.saveCheckpoint('best', { epoch, globalStep, epochComplete: true, monitor: this.monitor, value: current });
      }
    }
    if (this.saveLast) {
      await this.ctx.model.saveCheckpoint('last', { epoch, globalStep, epochComplete: true, monitor: this.monitor, value: current });
    }
  }

  override async onTrainEnd(): Promise<void> {
    this.resumed = false;
  }

  override state(): JsonValue {
    return { best: finiteOrNull(this.best), bestEpoch: this.bestEpoch };
  }

  override loadState(state: unknown): void {
    const s = parseState('ModelCheckpoint', StateSchema, state);
    this.best = s.best ?? this.initialBest;
    this.bestEpoch = s.bestEpoch;
    this.resumed = true;
  }
}
