import { relative } from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import { Generator, tidy, keep, noGrad, manualSeed, type Tensor } from '../tensor/index.js';
import type { DataLoader, BatchU8, TrainLoader } from '../data/index.js';
import type { TrainConfig } from '../run/config.js';
import type { TrainableModel } from './model-api.js';
import type { Normalization } from '../run/plan.js';
import { evaluate } from './evaluate.js';
import { type Callback, CallbackList, type Logs, type TrainingContext, type ModelAccess, type CheckpointKind, type CheckpointInfo } from './callbacks/base.js';
import { historyRecord } from './history.js';
import type { HistoryRecord } from '../run/run-folder.js';
import type { ProgressStream } from './progress.js';
import { createSchedule, type LrSchedule } from './schedules.js';
import { checkpointPath, loadResumePoint, promoteCompleteCheckpoint, removeStaleTemps, saveTrainingCheckpoint } from './checkpoint.js';
import { RunPosition, captureState, restoreState } from './resume-state.js';
import { TrainStep, createOptimizer, type BatchAugmenter } from './train-step.js';
import type { Precision } from '../run/machine.js';
import type { HParamValue } from './tensorboard.js';
import { defaultCallbacks } from './default-callbacks.js';
import { DivergenceGuard, bestOf } from './run-state.js';
import { saveWeights } from '../models/index.js';
import type { DataParallel } from './data-parallel.js';
import type { EvalResult } from './evaluate.js';
import { invalidArg } from '../util/errors.js';
import { testFault } from './test-fault.js';
import { runFolder } from '../run/folder.js';

export type { BatchAugmenter } from './train-step.js';

/** Everything `fit` needs: model, loaders, config, precision, device, augmentation, callbacks, run folder. */
export interface FitOptions {
  model: TrainableModel;
  /** The cached DataLoader, or a streaming one (WebDatasetLoader). */
  train: TrainLoader;
  val?: DataLoader;
  numClasses: number;
  config: TrainConfig;
  precision: Precision;
  device: string;
  normalization: Normalization;
  augment?: BatchAugmenter;
  /** Folder for checkpoints, history, metrics.csv, TensorBoard events; none = nothing written. */
  runDir?: string;
  resume?: boolean;
  callbacks?: Callback[];
  /** Progress output; false for none. */
  progress?: ProgressStream | false;
  /** Aborting stops after the current step, with a checkpoint. */
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Stable hash of the config, stored in checkpoints so a resume with a different config is refused. */
  configHash?: string;
  /**
   * Data-parallel training: `train` and `val` must be this rank's shards. Gradients are averaged over the
   * ranks, metrics summed over them; rank 0 alone writes files and shows progress.
   */
  parallel?: DataParallel;
  /**
   * Steps between read-backs of the loss and accuracy (`readEvery`), or milliseconds (`readEveryMs`), whichever
   * comes first. A read waits for the device, so on a GPU it is not done every step: the step only queues work.
   * Default: every step on the CPU (a read costs nothing there); on CUDA every 50 steps or 200 ms, often enough for
   * the progress bar. Data-parallel runs read every step (the ranks decide together on each step's figures).
   */
  readEvery?: number;
  /** TensorBoard's HParams view: the run's hyperparameters (see DefaultCallbackOptions.hparams). */
  hparams?: Readonly<Record<string, HParamValue>>;
  readEveryMs?: number;
}

/** How training ended: finished (`ok`), `diverged` (NaN or exploding loss) or `stopped` (aborted). */
export type FitStatus = 'ok' | 'diverged' | 'stopped';

/** How a `fit` call ended: status, history, epochs and steps done, timing, best epoch. */
export interface FitResult {
  status: FitStatus;
  error?: string;
  history: HistoryRecord[];
  epochsDone: number;
  globalStep: number;
  trainTimeS: number;
  imagesPerS: number;
  bestEpoch?: number;
  bestValAccuracy?: number;
  resumedFrom?: { epoch: number; batch: number };
}

/**
 * Keras-style training loop. Reproducible (one seed drives init, data order and augmentation),
 * resumable at any step from the newest good checkpoint, and a NaN/Inf loss ends the run as
 * `diverged` with the metrics so far kept, rather than crashing.
 */
export async function fit(o: FitOptions): Promise<FitResult> {
  const reads = readSchedule(o);
  const { model, config, precision } = o;
  const dp = o.parallel;
  // Rank 0 writes the run folder and speaks for a data-parallel run; the ranks take the same decisions.
  const main = !dp || dp.isMain;
  const log = main ? o.log ?? ((l: string) => process.stderr.write(l + '\n')) : () => {};
  // Converting the weights' layout replaces the tensors, so it comes before the optimizer takes them.
  if (precision.channelsLast) model.toMemoryFormat('channels_last');
  const params = model.parameters();
  dp?.attach(model, { syncBatchNorm: config.distributed?.syncBatchNorm });
  const optimizer = createOptimizer(params, config.optimizer);
  const stepsPerEpoch = Math.min(config.stepsPerEpoch ?? Infinity, o.train.batchesPerEpoch);
  if (stepsPerEpoch < 1) throw new Error(`the training split has ${o.train.length} images: too few for one batch of ${o.train.batchSize}`);
  if (config.stepsPerEpoch !== undefined && config.stepsPerEpoch > o.train.batchesPerEpoch) {
    log(`note: stepsPerEpoch ${config.stepsPerEpoch} is more than one pass over the data (${o.train.batchesPerEpoch} batches); using ${o.train.batchesPerEpoch}`);
  }
  const schedule: LrSchedule = createSchedule(config.schedule, { baseLr: config.optimizer.lr, epochs: config.epochs, stepsPerEpoch }, log);
  // Each rank augments its shard with its own stream; rank 0's is the single-process stream.
  const augmentGenerator = new Generator(config.seed * 1000 + 17 + (dp?.rank ?? 0) * 7919);
  manualSeed(config.seed);
  const step = new TrainStep({ model, params, optimizer, config, precision, device: o.device, normalization: o.normalization, numClasses: o.numClasses, augment: o.augment, augmentGenerator, parallel: dp });
  const guard = new DivergenceGuard({ maxLoss: config.maxLoss });
  const fault = testFault(dp?.rank ?? 0);

  let pos = new RunPosition();
  const weights = new HeldWeights(model);
  // Only a last.pth this process wrote or verified may become previous.pth (see saveTrainingCheckpoint).
  let lastIsGood = false;
  // Why the run diverged, once a read has found it.
  let divergence: string | undefined;
  let lastRead = performance.now();
  /**
   * Reads the pending steps' figures into the epoch, in step order, up to the first diverged one. On the CPU the
   * loop reads each step before applying it, so a diverged step never changes the weights. On a GPU the steps
   * between two reads are applied before their losses are known: a NaN is found at the next read (the reason
   * still names the step where it happened), the run stops there, and as every checkpoint first reads, nothing
   * written after the diverged step exists: checkpoints/last.pth stays the last good one.
   */
  const readFigures = (): string | undefined => {
    lastRead = performance.now();
    for (const f of step.read()) {
      if (divergence !== undefined) break;
      divergence = guard.checkBatchLoss(f.loss, f);
      if (divergence === undefined) pos.recordFigures(f);
    }
    return divergence;
  };
  const access: ModelAccess = {
    snapshotWeights: () => weights.snapshot(),
    restoreWeights: (snap) => weights.restore(snap),
    saveCheckpoint: async (kind: CheckpointKind, info: CheckpointInfo) => {
      if (!o.runDir) return;
      // The epoch figures a checkpoint holds must cover every step it includes, and diverged weights are never saved.
      if (readFigures() !== undefined) return;
      if (kind === 'best') return main ? saveWeights(model, checkpointPath(o.runDir, 'best')) : undefined;
      if (!main) {
        dp!.saveRankState(o.runDir, { globalStep: ctx.globalStep, generators: { augment: Buffer.from(augmentGenerator.getState()).toString('base64') }, ...loaderPosition(info) });
        return;
      }
      const state = captureState(pos, { optimizer, schedule, callbacks: cbs, augmentGenerator, configHash: o.configHash ?? '' },
        { epoch: info.epoch, epochComplete: info.epochComplete, globalStep: ctx.globalStep, loaderWaitMs: o.train.stats().waitMs });
      Object.assign(state, loaderPosition(info));
      const held = cbs.heldWeights() as Record<string, Map<string, Tensor>>;
      await saveTrainingCheckpoint(o.runDir, model.stateDict(), optimizer.state(), held, state, { keepPrevious: lastIsGood });
      lastIsGood = true;
    },
  };
  // A streaming loader's streams, where the checkpoint leaves them (at an epoch's end: the next epoch's start).
  const loaderPosition = (info: CheckpointInfo): { loader?: unknown } =>
    o.train.position ? { loader: info.epochComplete ? o.train.position(info.epoch + 1, 0) : o.train.position(info.epoch, pos.batchInEpoch) } : {};
  const ctx: TrainingContext = { stopTraining: false, globalStep: 0, params: { epochs: config.epochs, stepsPerEpoch, initialEpoch: 0, batchSize: config.batchSize }, model: access };
  const cbs = new CallbackList([
    ...(main ? o.callbacks ?? [] : []),
    ...defaultCallbacks({ config, runDir: o.runDir, hasValidation: o.val !== undefined, progress: o.progress, log, writes: main, hparams: o.hparams }),
  ], ctx);

  // ---- start fresh, or continue from the newest checkpoint that passes every check ----
  let resumedFrom: FitResult['resumedFrom'];
  if (o.runDir && main) {
    // Before the temps of dead writers are cleared: one may be a complete checkpoint that never got its name.
    // (Data-parallel ranks: runTraining does it on rank 0 before the ranks meet, so all resume from one file.)
    if (o.resume && !dp) await promoteCompleteCheckpoint(o.runDir, log);
    removeStaleTemps(o.runDir);
    if (!o.resume) clearEarlierRun(o.runDir, log);
  }
  const point = o.resume && o.runDir ? await loadResumePoint(o.runDir, log) : undefined;
  if (point) {
    const ck = point.checkpoint;
    if (o.configHash && ck.state.configHash && ck.state.configHash !== o.configHash) {
      throw new Error(`cannot resume ${o.runDir}: its checkpoint was made with a different configuration (delete the folder or use another --out)`);
    }
    const restored = restoreState(ck, model, { optimizer, schedule, callbacks: cbs, augmentGenerator });
    let loaderRecord = ck.state.loader;
    if (!main) {
      // The checkpoint holds rank 0's augmentation stream (and loader position); this rank's own were saved beside it.
      const own = dp!.loadRankState(o.runDir!, restored.globalStep);
      if (own?.generators.augment) augmentGenerator.setState(new Uint8Array(Buffer.from(own.generators.augment, 'base64')));
      loaderRecord = own?.loader;
    }
    pos = restored.position;
    // A streaming loader continues from where its streams stood; a checkpoint that says otherwise is refused.
    if (o.train.checkPosition && loaderRecord !== undefined) o.train.checkPosition(loaderRecord, pos.epoch, pos.batchInEpoch);
    weights.adopt(restored.held);
    ctx.globalStep = restored.globalStep;
    ctx.params.pastEpochs = pos.epochs;
    lastIsGood = point.lastIsGood;
    resumedFrom = { epoch: pos.epoch, batch: pos.batchInEpoch };
    log(`resuming ${o.runDir} at epoch ${pos.epoch + 1}, batch ${pos.batchInEpoch} (step ${ctx.globalStep})`);
  }
  ctx.params.initialEpoch = pos.epoch;

  let status: FitStatus = 'ok';
  let error: string | undefined;
  const stopForDivergence = (reason: string) => {
    status = 'diverged';
    error = reason;
    log(`diverged: ${reason}; the run stops here, keeping its ${pos.epoch} finished epoch(s) and their checkpoints`);
  };
  await cbs.onTrainBegin();
  try {
    outer: for (; pos.epoch < config.epochs; pos.epoch++) {
      await cbs.onEpochBegin(pos.epoch);
      model.train();
      pos.beginEpoch(o.train.stats().waitMs);
      const startBatch = Math.min(pos.batchInEpoch, stepsPerEpoch);
      const batches = startBatch < stepsPerEpoch ? o.train.epoch(pos.epoch, { startBatch, reuseBuffers: true }) : emptyBatches();
      for await (const batch of batches) {
        const b = pos.batchInEpoch;
        if (b >= stepsPerEpoch) break;
        const lr = schedule.lrAt(pos.epoch, b);
        optimizer.lr = lr;
        await cbs.onBatchBegin(b, { size: batch.n, lr });
        const t0 = performance.now();
        // Ctrl-C reaches data-parallel ranks at different steps: they agree, inside the step's collective,
        // to stop after the first step that any of them had seen it before.
        const out = step.compute(batch, { epoch: pos.epoch, batch: b, globalStep: ctx.globalStep }, o.signal?.aborted === true);
        if (step.pending >= reads.steps || performance.now() - lastRead >= reads.ms) {
          const diverged = readFigures();
          if (diverged) {
            step.discard();
            stopForDivergence(diverged);
            break outer;
          }
        }
        step.apply();
        pos.recordStep(out.images, performance.now() - t0);
        ctx.globalStep++;
        // Between reads (GPU) the running means are those of the steps read so far.
        const a = pos.accum;
        await cbs.onBatchEnd(b, { loss: a.seen > 0 ? a.lossSum / a.seen : undefined, accuracy: a.seen > 0 ? a.correct / a.seen : undefined, size: out.images, lr });
        // A checkpoint's read (checkpoint.everySteps) can find a diverged step.
        if (divergence !== undefined) {
          stopForDivergence(divergence);
          break outer;
        }
        fault?.(ctx.globalStep);
        // With in-memory data every await above settles as a microtask, so without this the event loop
        // never turns during an epoch: no Ctrl-C (signal handlers), timers or worker messages.
        await new Promise<void>((r) => setImmediate(r));
        // A single process stops right after the step during which the stop was asked for.
        if (dp ? out.stopRequested : o.signal?.aborted) {
          await access.saveCheckpoint('last', { epoch: pos.epoch, globalStep: ctx.globalStep, epochComplete: false });
          if (divergence !== undefined) {
            stopForDivergence(divergence);
            break outer;
          }
          status = 'stopped';
          log(`stopped at epoch ${pos.epoch + 1}, batch ${pos.batchInEpoch}; a checkpoint was saved — run the same command with --resume (studies resume by themselves) to continue`);
          break outer;
        }
      }
      if (readFigures() !== undefined) {
        stopForDivergence(divergence!);
        break;
      }
      const logs = await epochLogs();
      const diverged = logs.val_loss === undefined ? undefined : guard.checkValidationLoss(logs.val_loss, pos.epoch, ctx.globalStep);
      if (diverged) {
        stopForDivergence(diverged);
        break;
      }
      schedule.onEpochEnd(pos.epoch, logs);
      // Recorded before the callbacks run, so the end-of-epoch checkpoint carries this epoch in its history.
      pos.finishEpoch(logs);
      await cbs.onEpochEnd(pos.epoch, logs);
      if (ctx.stopTraining) {
        pos.epoch++;
        break;
      }
    }
    // How the run ended, for loggers that record it (TensorBoard's HParams session status).
    await cbs.onTrainEnd({ [`ended_${status}`]: 1 });
    // model.pth is the result of a finished run; a stopped run continues from checkpoints/last.pth.
    if (o.runDir && status === 'ok' && main) await saveWeights(model, runFolder(o.runDir).weights);
  } finally {
    step.dispose();
    optimizer.dispose();
    weights.dispose();
  }

  const history = pos.epochs.map((e) => historyRecord(e.epoch, e.logs));
  return {
    status, error, history, epochsDone: history.length, globalStep: ctx.globalStep, trainTimeS: pos.trainTimeS,
    imagesPerS: pos.trainTimeS > 0 ? pos.totalImages / pos.trainTimeS : 0, ...bestOf(pos.epochs), resumedFrom,
  };

  /** The finished epoch's training metrics, plus validation when there is a validation split. */
  async function epochLogs(): Promise<Logs> {
    const { epochTimeS, waitMs } = pos.epochTiming(o.train.stats().waitMs);
    const a = pos.accum;
    const logs: Logs = {
      loss: a.lossSum / a.seen,
      accuracy: a.correct / a.seen,
      top5: o.numClasses > 5 ? a.correctTop5 / a.seen : undefined,
      lr: optimizer.lr,
      epoch_time_s: epochTimeS,
      images_per_s: a.seen / Math.max(1e-9, epochTimeS),
      data_wait_fraction: Math.min(1, waitMs / 1000 / Math.max(1e-9, epochTimeS)),
    };
    if (!o.val) return logs;
    const evalOptions = {
      numClasses: o.numClasses, precision, device: o.device, normalization: o.normalization,
      // Keras computes val_loss with the compiled loss, label smoothing included.
      maxBatches: config.validationSteps, labelSmoothing: config.loss.labelSmoothing,
    };
    const val = dp ? await evaluateSharded(dp, model, o.val, evalOptions) : await evaluate(model, o.val, evalOptions);
    logs.val_loss = val.loss;
    logs.val_accuracy = val.accuracy;
    if (o.numClasses > 5) logs.val_top5 = val.top5;
    return logs;
  }
}

/** When the fit loop reads the steps' figures back: every `steps` steps or `ms` milliseconds, whichever comes first. */
function readSchedule(o: FitOptions): { steps: number; ms: number } {
  const { readEvery, readEveryMs } = o;
  if (readEvery !== undefined && !(typeof readEvery === 'number' && readEvery >= 1 && (Number.isInteger(readEvery) || readEvery === Infinity))) {
    throw invalidArg('readEvery', 'a positive integer (steps) or Infinity', readEvery);
  }
  if (readEveryMs !== undefined && !(typeof readEveryMs === 'number' && readEveryMs > 0)) throw invalidArg('readEveryMs', 'a positive number (milliseconds)', readEveryMs);
  if (o.parallel) return { steps: 1, ms: Infinity };
  const gpu = o.device.startsWith('cuda');
  return { steps: readEvery ?? (gpu ? 50 : 1), ms: readEveryMs ?? (gpu ? 200 : Infinity) };
}

/** A fresh start must never pick up an earlier run's state next to this run's new history. */
function clearEarlierRun(runDir: string, log: (line: string) => void): void {
  const stale = [checkpointPath(runDir, 'last'), checkpointPath(runDir, 'previous'), checkpointPath(runDir, 'best'), runFolder(runDir).weights]
    .filter((p) => existsSync(p));
  for (const p of stale) rmSync(p);
  if (stale.length > 0) log(`starting from scratch in ${runDir}: removed ${stale.map((p) => relative(runDir, p)).join(', ')} of an earlier run`);
}

/**
 * Weight copies callbacks ask for (EarlyStopping's best weights), and those restored from a checkpoint.
 * One reusable copy: EarlyStopping keeps a single best snapshot, so re-snapshotting overwrites it in
 * place instead of allocating (and leaking) a full model copy per improvement.
 */
class HeldWeights {
  private store: Map<string, Tensor> | undefined;
  private restored: Array<Map<string, Tensor>> = [];

  constructor(private readonly model: TrainableModel) {}

  snapshot(): Map<string, Tensor> {
    const sd = this.model.stateDict();
    if (this.store === undefined) {
      this.store = new Map([...sd].map(([k, t]) => [k, keep(noGrad(() => tidy(() => t.detach().clone())))]));
    } else {
      const store = this.store;
      noGrad(() => { for (const [k, t] of sd) store.get(k)?.copy_(t); });
    }
    return this.store;
  }

  restore(snap: unknown): void {
    const m = snap as Map<string, Tensor>;
    noGrad(() => {
      for (const [k, t] of this.model.stateDict()) {
        const s = m.get(k);
        if (s) t.copy_(s);
      }
    });
  }

  /** Snapshots loaded from a checkpoint; the first becomes the reusable copy. */
  adopt(held: Record<string, Map<string, Tensor>>): void {
    this.restored = Object.values(held);
    this.store = this.restored[0];
  }

  dispose(): void {
    const all = new Set([...this.restored, ...(this.store ? [this.store] : [])]);
    for (const m of all) for (const t of m.values()) t.dispose();
  }
}

async function* emptyBatches(): AsyncGenerator<BatchU8> {}

/** Validation over every rank's shard, summed: the same figures as one process evaluating the whole split. */
async function evaluateSharded(dp: DataParallel, model: TrainableModel, loader: DataLoader, o: Parameters<typeof evaluate>[2]): Promise<EvalResult> {
  // Every rank evaluates with rank 0's BN statistics: the ones its checkpoint and model.pth hold.
  dp.syncBuffers(model);
  const mine = loader.length > 0 ? await evaluate(model, loader, o) : { loss: 0, accuracy: 0, top5: 0, n: 0 };
  const [lossSum, correct, correct5, n] = dp.sum([mine.loss * mine.n, Math.round(mine.accuracy * mine.n), Math.round((mine.top5 ?? 0) * mine.n), mine.n]) as [number, number, number, number];
  if (n === 0) throw new Error('evaluation split is empty');
  const res: EvalResult = { loss: lossSum / n, accuracy: correct / n, n };
  if (o.numClasses > 5) res.top5 = correct5 / n;
  return res;
}
