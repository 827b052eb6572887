import { z } from 'zod';
import { invalidArg } from '../util/errors.js';
import { finiteOrNull, parseState, type JsonValue, type Logs } from './callbacks/base.js';
import { checkMonitor, checkNumber, formatMetric, resolveMode, type MonitorMode } from './callbacks/monitor.js';
import { ScheduleSchema, type CosineScheduleSchema, type PlateauScheduleSchema, type ScheduleConfig, type ScheduleInput } from '../run/schedule-config.js';

/**
 * Learning-rate schedules. The fit loop asks `lrAt(epoch, step)` before every optimizer step
 * (epoch 0-based, step = 0-based index within the epoch) and calls `onEpochEnd(epoch, logs)` after
 * validation; only ReduceLROnPlateau reacts to it. Schedules that depend on history expose `state()`.
 */
export interface LrSchedule {
  readonly name: ScheduleConfig['name'];
  lrAt(epoch: number, step: number): number;
  onEpochEnd(epoch: number, logs: Logs): void;
  state(): JsonValue;
  loadState(state: unknown): void;
}

export interface ScheduleRun {
  /** Learning rate before any schedule is applied (optimizer.lr). */
  baseLr: number;
  epochs: number;
  stepsPerEpoch: number;
}

function checkRun(run: ScheduleRun): void {
  checkNumber('baseLr', run.baseLr, { min: 0 });
  checkNumber('epochs', run.epochs, { min: 1, integer: true });
  checkNumber('stepsPerEpoch', run.stepsPerEpoch, { min: 1, integer: true });
}

function checkPosition(epoch: number, step: number): void {
  if (!Number.isInteger(epoch) || epoch < 0) throw invalidArg('epoch', 'a non-negative integer', epoch);
  if (!Number.isInteger(step) || step < 0) throw invalidArg('step', 'a non-negative integer', step);
}

abstract class StatelessSchedule {
  onEpochEnd(_epoch: number, _logs: Logs): void {}
  state(): JsonValue {
    return null;
  }
  loadState(_state: unknown): void {}
}

export class ConstantLr extends StatelessSchedule implements LrSchedule {
  readonly name = 'constant' as const;
  constructor(private readonly baseLr: number) {
    super();
  }
  lrAt(epoch: number, step: number): number {
    checkPosition(epoch, step);
    return this.baseLr;
  }
}

/** PyTorch StepLR: lr = base · gamma^⌊epoch / stepSize⌋. */
export class StepLr extends StatelessSchedule implements LrSchedule {
  readonly name = 'step' as const;
  constructor(private readonly baseLr: number, private readonly stepSize: number, private readonly gamma: number) {
    super();
  }
  lrAt(epoch: number, step: number): number {
    checkPosition(epoch, step);
    return this.baseLr * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** PyTorch MultiStepLR: one factor of gamma for every milestone ≤ epoch. */
export class MultiStepLr extends StatelessSchedule implements LrSchedule {
  readonly name = 'multistep' as const;
  constructor(private readonly baseLr: number, private readonly milestones: readonly number[], private readonly gamma: number) {
    super();
  }
  lrAt(epoch: number, step: number): number {
    checkPosition(epoch, step);
    return this.baseLr * this.gamma ** this.milestones.filter((m) => m <= epoch).length;
  }
}

/**
 * Linear warmup then half-cosine decay to minLr over the rest of the run. With per-step granularity
 * the unit t is the global step; with per-epoch granularity it is the epoch and the lr is constant
 * within an epoch. Warmup reaches the base lr on its last unit (t = W−1), so no step runs at lr 0.
 */
export class CosineLr extends StatelessSchedule implements LrSchedule {
  readonly name = 'cosine' as const;
  private readonly total: number;
  private readonly warmup: number;

  constructor(private readonly run: ScheduleRun, private readonly cfg: z.output<typeof CosineScheduleSchema>) {
    super();
    const perStep = cfg.granularity === 'step';
    this.total = perStep ? run.epochs * run.stepsPerEpoch : run.epochs;
    this.warmup = Math.round(perStep ? cfg.warmupEpochs * run.stepsPerEpoch : cfg.warmupEpochs);
    if (this.warmup >= this.total) {
      throw invalidArg('schedule.warmupEpochs', `fewer warmup units than the run's ${this.total}`, cfg.warmupEpochs);
    }
  }

  lrAt(epoch: number, step: number): number {
    checkPosition(epoch, step);
    const t = this.cfg.granularity === 'step' ? epoch * this.run.stepsPerEpoch + step : epoch;
    const { baseLr } = this.run;
    if (t < this.warmup) return this.cfg.warmupStartLr + ((baseLr - this.cfg.warmupStartLr) * (t + 1)) / this.warmup;
    const progress = Math.min(1, (t - this.warmup) / (this.total - this.warmup));
    return this.cfg.minLr + (baseLr - this.cfg.minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  }
}

const PlateauStateSchema = z.object({
  lr: z.number().min(0),
  best: z.number().nullable(),
  wait: z.number().int().min(0),
  cooldownCounter: z.number().int().min(0),
});

/**
 * Keras ReduceLROnPlateau (keras/src/callbacks/reduce_lr_on_plateau.py): absolute minDelta, the wait
 * counter is reset while cooling down, and the lr drops once `wait ≥ patience`, never below minLr.
 */
export class ReduceLrOnPlateau implements LrSchedule {
  readonly name = 'plateau' as const;
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  private readonly cfg: z.output<typeof PlateauScheduleSchema>;
  lr: number;
  best: number;
  wait = 0;
  cooldownCounter = 0;
  private readonly log: ((line: string) => void) | undefined;

  constructor(baseLr: number, cfg: z.output<typeof PlateauScheduleSchema>, log?: (line: string) => void) {
    this.monitor = checkMonitor(cfg.monitor);
    this.mode = resolveMode(this.monitor, cfg.mode as MonitorMode);
    this.cfg = cfg;
    this.lr = baseLr;
    this.best = this.mode === 'min' ? Infinity : -Infinity;
    this.log = log;
  }

  lrAt(epoch: number, step: number): number {
    checkPosition(epoch, step);
    return this.lr;
  }

  private isBetter(current: number): boolean {
    return this.mode === 'min' ? current < this.best - this.cfg.minDelta : current > this.best + this.cfg.minDelta;
  }

  onEpochEnd(epoch: number, logs: Logs): void {
    const current = logs[this.monitor];
    if (current === undefined) {
      (this.log ?? console.warn)(
        `ReduceLROnPlateau conditioned on metric "${this.monitor}" which is not available. Available metrics are: ${Object.keys(logs).join(',')}`,
      );
      return;
    }
    const inCooldown = this.cooldownCounter > 0;
    if (inCooldown) {
      this.cooldownCounter -= 1;
      this.wait = 0;
    }
    if (this.isBetter(current)) {
      this.best = current;
      this.wait = 0;
    } else if (!(this.cooldownCounter > 0)) {
      this.wait += 1;
      // Keras compares against min_lr rounded to float32, so an lr stored as float32 can still reach it.
      if (this.wait >= this.cfg.patience && this.lr > Math.fround(this.cfg.minLr)) {
        const newLr = Math.max(this.lr * this.cfg.factor, this.cfg.minLr);
        this.log?.(`Epoch ${epoch + 1}: ReduceLROnPlateau reducing learning rate to ${formatMetric(newLr)}.`);
        this.lr = newLr;
        this.cooldownCounter = this.cfg.cooldown;
        this.wait = 0;
      }
    }
  }

  state(): JsonValue {
    return { lr: this.lr, best: finiteOrNull(this.best), wait: this.wait, cooldownCounter: this.cooldownCounter };
  }

  loadState(state: unknown): void {
    const s = parseState('ReduceLROnPlateau', PlateauStateSchema, state);
    this.lr = s.lr;
    this.best = s.best ?? (this.mode === 'min' ? Infinity : -Infinity);
    this.wait = s.wait;
    this.cooldownCounter = s.cooldownCounter;
  }
}

/** Build a schedule from config (validated here, so a raw object from a file works too). */
export function createSchedule(config: ScheduleInput | ScheduleConfig, run: ScheduleRun, log?: (line: string) => void): LrSchedule {
  checkRun(run);
  const r = ScheduleSchema.safeParse(config);
  if (!r.success) {
    const first = r.error.issues[0]!;
    const where = first.path.length > 0 ? `schedule.${first.path.join('.')}` : 'schedule';
    throw new TypeError(`Invalid ${where}: ${first.message}`);
  }
  const cfg = r.data;
  switch (cfg.name) {
    case 'constant':
      return new ConstantLr(run.baseLr);
    case 'step':
      return new StepLr(run.baseLr, cfg.stepSize, cfg.gamma);
    case 'multistep':
      return new MultiStepLr(run.baseLr, cfg.milestones, cfg.gamma);
    case 'cosine':
      return new CosineLr(run, cfg);
    case 'plateau':
      return new ReduceLrOnPlateau(run.baseLr, cfg, log);
  }
}
