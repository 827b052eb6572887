import type { z } from 'zod';

/**
 * The one hook interface every training callback shares (Keras / tfjs-layers style).
 *
 * The fit loop owns the model; callbacks see it only through `ModelAccess`, so this layer never
 * imports the tensor engine and can be tested with plain objects.
 *
 * Log conventions (what the fit loop puts in `logs`):
 * - batch logs: `loss`, `accuracy` (running means over the epoch so far), `size` (images in the batch), `lr`.
 * - epoch logs: `loss`, `accuracy`, `top5?`, `val_loss?`, `val_accuracy?`, `val_top5?`, `lr`,
 *   `epoch_time_s?`, `images_per_s?`, `data_wait_fraction?`.
 * Epoch and batch indices passed to hooks are 0-based, like Keras.
 *
 * Resume protocol for the fit loop: build the CallbackList with `params.initialEpoch` = epochs fully done
 * and `globalStep` = steps done, call `loadState(saved)` and `loadHeldWeights(saved)` (either order),
 * then `onTrainBegin()`. Loggers use `initialEpoch` to drop rows the killed run wrote after its last
 * checkpoint. For a mid-epoch resume, still call `onEpochBegin(initialEpoch)` and continue with the
 * next batch index.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Metrics passed to callbacks, by name (`loss`, `accuracy`, `val_loss`, ...). */
export type Logs = Record<string, number | undefined>;

/** Whatever the engine uses to hold a copy of the weights (e.g. a map of cloned tensors); callbacks never look inside. */
export type WeightSnapshot = unknown;

export type CheckpointKind = 'last' | 'best';

export interface CheckpointInfo {
  /** 0-based epoch that just finished (or is running, for a mid-epoch checkpoint). */
  epoch: number;
  /** Optimizer steps done so far, over the whole run. */
  globalStep: number;
  /** Set for end-of-epoch checkpoints: the next epoch starts from batch 0. */
  epochComplete: boolean;
  monitor?: string;
  value?: number;
}

/** What the fit loop implements so callbacks can copy, restore and save the model. */
export interface ModelAccess {
  snapshotWeights(): Promise<WeightSnapshot> | WeightSnapshot;
  restoreWeights(snapshot: WeightSnapshot): Promise<void> | void;
  /**
   * Persist weights plus full training state (optimizer, schedule, `CallbackList.state()`, RNG, data position).
   * Must be atomic: a crash during the write leaves the previous checkpoint of that kind intact.
   */
  saveCheckpoint(kind: CheckpointKind, info: CheckpointInfo): Promise<void>;
}

export interface TrainParams {
  epochs: number;
  stepsPerEpoch: number;
  /** First epoch this process runs (> 0 after a resume). */
  initialEpoch: number;
  batchSize?: number;
  /**
   * On resume: the epochs finished before, with their logs, as the checkpoint recorded them (0-based
   * epoch). Loggers rebuild their files from these, so the run's files agree with the checkpoint.
   */
  pastEpochs?: ReadonlyArray<{ epoch: number; logs: Logs }>;
}

export interface TrainingContext {
  /** Any callback may set this; the fit loop stops after the current step / epoch. */
  stopTraining: boolean;
  /** Optimizer steps completed so far, including the batch whose `onBatchEnd` is running. */
  globalStep: number;
  readonly params: TrainParams;
  readonly model: ModelAccess;
}

/** Base class of training callbacks: override the async hooks you need (Keras-style `onEpochEnd`, ...). */
export class Callback {
  /**
   * Hooks run in ascending `order` (stable). Checkpointing runs last so that the 'last' checkpoint
   * written at the end of an epoch already holds every other callback's updated state.
   */
  readonly order: number = 0;
  private _ctx: TrainingContext | undefined;

  setContext(ctx: TrainingContext): void {
    this._ctx = ctx;
  }

  protected get ctx(): TrainingContext {
    if (!this._ctx) throw new Error(`${this.constructor.name} used before setContext(): run it through CallbackList`);
    return this._ctx;
  }

  async onTrainBegin(_logs?: Logs): Promise<void> {}
  async onTrainEnd(_logs?: Logs): Promise<void> {}
  async onEpochBegin(_epoch: number, _logs?: Logs): Promise<void> {}
  async onEpochEnd(_epoch: number, _logs?: Logs): Promise<void> {}
  async onBatchBegin(_batch: number, _logs?: Logs): Promise<void> {}
  async onBatchEnd(_batch: number, _logs?: Logs): Promise<void> {}

  /** JSON state a resumed run needs to behave exactly like an uninterrupted one; undefined = stateless. */
  state(): JsonValue | undefined {
    return undefined;
  }

  loadState(_state: unknown): void {}

  /** Weight snapshots the callback holds (they cannot go in JSON); the fit loop stores them beside the checkpoint. */
  heldWeights(): WeightSnapshot | undefined {
    return undefined;
  }

  loadHeldWeights(_snapshot: WeightSnapshot): void {}
}

/** Fans every hook out to its callbacks and gathers their state under stable keys. */
export class CallbackList {
  readonly callbacks: readonly Callback[];
  readonly ctx: TrainingContext;

  constructor(callbacks: readonly Callback[], ctx: TrainingContext) {
    callbacks.forEach((cb, i) => {
      if (!(cb instanceof Callback)) throw new TypeError(`Expected a Callback instance at callbacks[${i}] but received ${typeof cb}`);
    });
    this.callbacks = callbacks
      .map((cb, i) => ({ cb, i }))
      .sort((a, b) => a.cb.order - b.cb.order || a.i - b.i)
      .map(({ cb }) => cb);
    this.ctx = ctx;
    for (const cb of this.callbacks) cb.setContext(ctx);
  }

  async onTrainBegin(logs?: Logs): Promise<void> {
    for (const cb of this.callbacks) await cb.onTrainBegin(logs);
  }
  async onTrainEnd(logs?: Logs): Promise<void> {
    for (const cb of this.callbacks) await cb.onTrainEnd(logs);
  }
  async onEpochBegin(epoch: number, logs?: Logs): Promise<void> {
    for (const cb of this.callbacks) await cb.onEpochBegin(epoch, logs);
  }
  async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    for (const cb of this.callbacks) await cb.onEpochEnd(epoch, logs);
  }
  async onBatchBegin(batch: number, logs?: Logs): Promise<void> {
    for (const cb of this.callbacks) await cb.onBatchBegin(batch, logs);
  }
  async onBatchEnd(batch: number, logs?: Logs): Promise<void> {
    for (const cb of this.callbacks) await cb.onBatchEnd(batch, logs);
  }

  /** Keys are the class name, suffixed with `#n` for the n-th (n ≥ 2) callback of the same class, in the caller's order. */
  private keyed(): Array<[string, Callback]> {
    const seen = new Map<string, number>();
    const out: Array<[string, Callback]> = [];
    for (const cb of this.callbacks) {
      const name = cb.constructor.name;
      const n = (seen.get(name) ?? 0) + 1;
      seen.set(name, n);
      out.push([n === 1 ? name : `${name}#${n}`, cb]);
    }
    return out;
  }

  state(): Record<string, JsonValue> {
    const out: Record<string, JsonValue> = {};
    for (const [key, cb] of this.keyed()) {
      const s = cb.state();
      if (s !== undefined) out[key] = s;
    }
    return out;
  }

  /** Callbacks without saved state (e.g. added on resume) start fresh. */
  loadState(state: unknown): void {
    if (typeof state !== 'object' || state === null || Array.isArray(state)) {
      throw new TypeError(`Expected an object of callback states but received ${state === null ? 'null' : Array.isArray(state) ? 'an array' : typeof state}`);
    }
    const rec = state as Record<string, unknown>;
    for (const [key, cb] of this.keyed()) {
      if (key in rec) cb.loadState(rec[key]);
    }
  }

  heldWeights(): Record<string, WeightSnapshot> {
    const out: Record<string, WeightSnapshot> = {};
    for (const [key, cb] of this.keyed()) {
      const w = cb.heldWeights();
      if (w !== undefined) out[key] = w;
    }
    return out;
  }

  loadHeldWeights(snapshots: Record<string, WeightSnapshot>): void {
    for (const [key, cb] of this.keyed()) {
      if (key in snapshots) cb.loadHeldWeights(snapshots[key]);
    }
  }
}

/** JSON has no ±Infinity/NaN; "no best value yet" is stored as null. */
export function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** Validate a saved callback state with a clear message instead of resuming with garbage. */
export function parseState<T>(owner: string, schema: z.ZodType<T>, state: unknown): T {
  const r = schema.safeParse(state);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new TypeError(`Invalid saved ${owner} state at "${first.path.join('.')}": ${first.message}`);
  }
  return r.data;
}
