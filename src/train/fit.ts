import { join, relative } from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import {
  F, Generator, SGD, Adam, AdamW, tidy, keep, noGrad, withAutocast, clipGradNorm, clipGradNormPerParam, manualSeed,
  type Optimizer, type Tensor,
} from '../tensor/index.js';
import type { DataLoader, BatchU8 } from '../data/index.js';
import type { TrainConfig } from './config.js';
import type { TrainableModel } from './model-api.js';
import { imagesToTensor, labelsToTensor, normalize, type Normalization } from './batch-tensor.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { Callback, CallbackList, type Logs, type TrainingContext, type ModelAccess, type CheckpointKind, type CheckpointInfo } from './callbacks/base.js';
import { EarlyStopping } from './callbacks/early-stopping.js';
import { ModelCheckpoint } from './callbacks/model-checkpoint.js';
import { HistoryLogger, historyRecord, readHistory, type HistoryRecord } from './history.js';
import { CSVLogger } from './csv-logger.js';
import { TensorBoard } from './tensorboard.js';
import { ProgressCallback, type ProgressStream } from './progress.js';
import { createSchedule, type LrSchedule } from './schedules.js';
import {
  checkpointPath, saveTrainingCheckpoint, loadTrainingCheckpoint, optimizerStateFrom, removeStaleCheckpointTemps,
  type TrainingState, type EpochAccumulators,
} from './checkpoint.js';
import { loadRawStateDict, rawToTensor, saveWeights } from '../models/index.js';
import { formatMetric } from './callbacks/monitor.js';

/** A batch-level augmentation (standard ops, CutMix, MixUp) as the fit loop drives it. */
export interface BatchAugmenter {
  apply(images: Tensor, labels: Tensor, generator: Generator, o: { epoch: number; totalEpochs: number; training: boolean }): { images: Tensor; targets: Tensor; info?: unknown };
}

/** The numeric precision training runs in: bf16 autocast with channels-last, or fp32. */
export interface Precision {
  autocast: boolean;
  channelsLast: boolean;
  label: 'fp32' | 'bf16';
}

/** Everything `fit` needs: model, loaders, config, precision, device, augmentation, callbacks, run folder. */
export interface FitOptions {
  model: TrainableModel;
  train: DataLoader;
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

function createOptimizer(params: Tensor[], o: TrainConfig['optimizer']): Optimizer {
  switch (o.name) {
    case 'sgd': return new SGD(params, { lr: o.lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay });
    case 'adam': return new Adam(params, { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay });
    case 'adamw': return new AdamW(params, { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay });
  }
}

const zeroAccum = (): EpochAccumulators => ({ lossSum: 0, correct: 0, correctTop5: 0, seen: 0, waitMs: 0, stepMs: 0, epochMs: 0 });

/**
 * The global generator (dropout, and any op not given a Generator) is re-seeded before every step from
 * (seed, step): a run resumed at step k draws exactly what the uninterrupted run drew, without having to
 * save libtorch's global state.
 */
function stepSeed(seed: number, globalStep: number): number {
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(globalStep + 1, 0x85ebca6b)) >>> 0;
}

/**
 * Keras-style training loop. Reproducible (one seed drives init, data order and augmentation),
 * resumable at any step from `checkpoints/last.pth`, and a NaN/Inf loss ends the run as `diverged`
 * with the metrics so far kept, rather than crashing.
 */
export async function fit(o: FitOptions): Promise<FitResult> {
  const { model, config, precision } = o;
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  // Converting the weights' layout replaces the tensors, so it comes before the optimizer takes them.
  if (precision.channelsLast) model.toMemoryFormat('channels_last');
  const params = model.parameters();
  const optimizer = createOptimizer(params, config.optimizer);
  const stepsPerEpoch = Math.min(config.stepsPerEpoch ?? Infinity, o.train.batchesPerEpoch);
  if (stepsPerEpoch < 1) throw new Error(`the training split has ${o.train.length} images: too few for one batch of ${o.train.batchSize}`);
  if (config.stepsPerEpoch !== undefined && config.stepsPerEpoch > o.train.batchesPerEpoch) {
    log(`note: stepsPerEpoch ${config.stepsPerEpoch} is more than one pass over the data (${o.train.batchesPerEpoch} batches); using ${o.train.batchesPerEpoch}`);
  }
  const schedule: LrSchedule = createSchedule(config.schedule, { baseLr: config.optimizer.lr, epochs: config.epochs, stepsPerEpoch }, log);
  const augGen = new Generator(config.seed * 1000 + 17);
  manualSeed(config.seed);

  // ---- position in the run (updated as it goes; saved in every checkpoint) ----
  let epoch = 0;
  let batchInEpoch = 0;
  let accum = zeroAccum();
  let trainTimeS = 0;
  let totalImages = 0;
  // Wall-clock start of the current epoch and the loader's wait counter then; a mid-epoch checkpoint
  // stores the time and waiting so far, so a resumed epoch reports the whole epoch's figures.
  let epochStart = 0;
  let waitStart = 0;
  let held: Record<string, Map<string, Tensor>> = {};
  let snapshotStore: Map<string, Tensor> | undefined;

  const access: ModelAccess = {
    // One reusable copy: EarlyStopping keeps a single best snapshot, so re-snapshotting overwrites it in place
    // instead of allocating (and leaking) a full model copy per improvement.
    snapshotWeights: () => {
      const sd = model.stateDict();
      if (snapshotStore === undefined) {
        snapshotStore = new Map([...sd].map(([k, t]) => [k, keep(noGrad(() => tidy(() => t.detach().clone())))]));
      } else {
        const store = snapshotStore;
        noGrad(() => { for (const [k, t] of sd) store.get(k)?.copy_(t); });
      }
      return snapshotStore;
    },
    restoreWeights: (snap) => {
      const m = snap as Map<string, Tensor>;
      noGrad(() => {
        for (const [k, t] of model.stateDict()) {
          const s = m.get(k);
          if (s) t.copy_(s);
        }
      });
    },
    saveCheckpoint: async (kind: CheckpointKind, info: CheckpointInfo) => {
      if (!o.runDir) return;
      if (kind === 'best') {
        await saveWeights(model, checkpointPath(o.runDir, 'best'));
        return;
      }
      const state: TrainingState = {
        epoch: info.epoch,
        batchInEpoch: info.epochComplete ? 0 : batchInEpoch,
        epochComplete: info.epochComplete,
        globalStep: ctx.globalStep,
        optimizer: (({ kind: k, step, hyper }) => ({ kind: k, step, hyper }))(optimizer.state()),
        schedule: schedule.state(),
        callbacks: cbs.state(),
        generators: { augment: Buffer.from(augGen.getState()).toString('base64') },
        accum: info.epochComplete
          ? zeroAccum()
          : { ...accum, epochMs: performance.now() - epochStart, waitMs: accum.waitMs + (o.train.stats().waitMs - waitStart) },
        trainTimeS,
        trainImages: totalImages,
        configHash: o.configHash ?? '',
      };
      const heldNow = cbs.heldWeights() as Record<string, Map<string, Tensor>>;
      await saveTrainingCheckpoint(checkpointPath(o.runDir, 'last'), model.stateDict(), optimizer.state(), heldNow, state);
    },
  };

  const ctx: TrainingContext = { stopTraining: false, globalStep: 0, params: { epochs: config.epochs, stepsPerEpoch, initialEpoch: 0, batchSize: config.batchSize }, model: access };
  const callbacks: Callback[] = [...(o.callbacks ?? [])];
  if (o.runDir) {
    callbacks.push(new HistoryLogger(o.runDir), new CSVLogger(join(o.runDir, 'metrics.csv')));
    if (config.tensorboard) callbacks.push(new TensorBoard(join(o.runDir, 'tensorboard')));
  }
  if (config.earlyStopping) callbacks.push(new EarlyStopping({ ...config.earlyStopping, log }));
  if (o.runDir) {
    const monitor = o.val ? config.checkpoint.monitor : 'loss';
    callbacks.push(new ModelCheckpoint({ monitor, mode: config.checkpoint.mode, saveBest: config.checkpoint.saveBest, everySteps: config.checkpoint.everySteps, log }));
  }
  if (o.progress !== false) callbacks.push(new ProgressCallback({ stream: o.progress ?? process.stderr }));
  const cbs = new CallbackList(callbacks, ctx);

  // ---- resume ----
  let startBatch = 0;
  let resumedFrom: FitResult['resumedFrom'];
  const lastPath = o.runDir ? checkpointPath(o.runDir, 'last') : undefined;
  if (o.runDir) removeStaleCheckpointTemps(o.runDir);
  if (o.runDir && !o.resume) {
    // A later resume must never pick up an earlier run's state next to this run's fresh history.
    const stale = [checkpointPath(o.runDir, 'last'), checkpointPath(o.runDir, 'best'), join(o.runDir, 'model.pth')].filter((p) => existsSync(p));
    for (const p of stale) rmSync(p);
    if (stale.length > 0) log(`starting from scratch in ${o.runDir}: removed ${stale.map((p) => relative(o.runDir!, p)).join(', ')} of an earlier run`);
  }
  if (o.resume && lastPath && existsSync(lastPath)) {
    const ck = await loadTrainingCheckpoint(lastPath);
    if (o.configHash && ck.state.configHash && ck.state.configHash !== o.configHash) {
      throw new Error(`cannot resume ${o.runDir}: its checkpoint was made with a different configuration (delete the folder or use another --out)`);
    }
    loadRawStateDict(model, ck.model, { strict: true });
    const optState = optimizerStateFrom(ck);
    optimizer.loadState(optState);
    for (const t of optState.tensors.values()) t.dispose();
    schedule.loadState(ck.state.schedule);
    cbs.loadState(ck.state.callbacks);
    held = {};
    for (const [k, m] of Object.entries(ck.held)) held[k] = new Map([...m].map(([n, r]) => [n, keep(rawToTensor(r))]));
    cbs.loadHeldWeights(held);
    snapshotStore = Object.values(held)[0];
    const g = ck.state.generators.augment;
    if (g) augGen.setState(new Uint8Array(Buffer.from(g, 'base64')));
    ctx.globalStep = ck.state.globalStep;
    trainTimeS = ck.state.trainTimeS;
    totalImages = ck.state.trainImages ?? 0;
    if (ck.state.epochComplete) {
      epoch = ck.state.epoch + 1;
    } else {
      epoch = ck.state.epoch;
      startBatch = ck.state.batchInEpoch;
      batchInEpoch = startBatch;
      accum = { ...zeroAccum(), ...ck.state.accum };
    }
    resumedFrom = { epoch, batch: startBatch };
    log(`resuming ${o.runDir} at epoch ${epoch + 1}, batch ${startBatch} (step ${ctx.globalStep})`);
  }
  ctx.params.initialEpoch = epoch;

  const runForward = (x: Tensor): Tensor =>
    precision.autocast ? withAutocast({ device: o.device.startsWith('cuda') ? 'cuda' : 'cpu', dtype: 'bfloat16' }, () => model.forward(x)) : model.forward(x);

  let status: FitStatus = 'ok';
  let error: string | undefined;
  let lastVal: EvalResult | undefined;
  // Without a run folder the history lives only here (with one, history.jsonl also holds epochs before a resume).
  const epochRecords: HistoryRecord[] = [];
  await cbs.onTrainBegin();
  try {
    outer: for (; epoch < config.epochs; epoch++) {
      await cbs.onEpochBegin(epoch);
      model.train();
      epochStart = performance.now() - accum.epochMs;
      waitStart = o.train.stats().waitMs;
      let b = startBatch;
      const stepTotal = stepsPerEpoch;
      if (b >= stepTotal) b = stepTotal;
      for await (const batch of (b < stepTotal ? o.train.epoch(epoch, { startBatch: b }) : emptyBatches())) {
        if (b >= stepTotal) break;
        const lr = schedule.lrAt(epoch, b);
        optimizer.lr = lr;
        await cbs.onBatchBegin(b, { size: batch.n, lr });
        const t0 = performance.now();
        const step = trainStep(batch, epoch);
        accum.stepMs += performance.now() - t0;
        if (!(step.loss <= config.maxLoss)) {
          status = 'diverged';
          const what = Number.isFinite(step.loss) ? `loss reached ${formatMetric(step.loss)} (above maxLoss ${config.maxLoss})` : `loss became ${step.loss}`;
          error = `${what} at epoch ${epoch + 1}, batch ${b + 1} (step ${ctx.globalStep + 1})`;
          log(`diverged: ${error}; the run stops here, keeping its ${epoch} finished epoch(s) and their checkpoints`);
          break outer;
        }
        accum.lossSum += step.loss * batch.n;
        accum.correct += step.correct;
        accum.correctTop5 += step.correctTop5;
        accum.seen += batch.n;
        totalImages += batch.n;
        b++;
        batchInEpoch = b;
        ctx.globalStep++;
        trainTimeS += (performance.now() - t0) / 1000;
        await cbs.onBatchEnd(b - 1, { loss: accum.lossSum / accum.seen, accuracy: accum.correct / accum.seen, size: batch.n, lr });
        // With in-memory data every await above settles as a microtask, so without this the event loop
        // never turns during an epoch: no Ctrl-C (signal handlers), timers or worker messages.
        await new Promise<void>((r) => setImmediate(r));
        if (o.signal?.aborted) {
          status = 'stopped';
          await access.saveCheckpoint('last', { epoch, globalStep: ctx.globalStep, epochComplete: false });
          log(`stopped at epoch ${epoch + 1}, batch ${b}; a checkpoint was saved — run the same command with --resume (studies resume by themselves) to continue`);
          break outer;
        }
      }
      startBatch = 0;
      const epochTime = (performance.now() - epochStart) / 1000;
      accum.waitMs += o.train.stats().waitMs - waitStart;
      const logs: Logs = {
        loss: accum.lossSum / accum.seen,
        accuracy: accum.correct / accum.seen,
        top5: o.numClasses > 5 ? accum.correctTop5 / accum.seen : undefined,
        lr: optimizer.lr,
        epoch_time_s: epochTime,
        images_per_s: accum.seen / Math.max(1e-9, epochTime),
        data_wait_fraction: Math.min(1, accum.waitMs / 1000 / Math.max(1e-9, epochTime)),
      };
      if (o.val) {
        lastVal = await evaluate(model, o.val, {
          numClasses: o.numClasses, precision, device: o.device, normalization: o.normalization,
          // Keras computes val_loss with the compiled loss, label smoothing included.
          maxBatches: config.validationSteps, labelSmoothing: config.loss.labelSmoothing,
        });
        logs.val_loss = lastVal.loss;
        logs.val_accuracy = lastVal.accuracy;
        if (o.numClasses > 5) logs.val_top5 = lastVal.top5;
        if (!Number.isFinite(lastVal.loss)) {
          status = 'diverged';
          error = `validation loss became ${lastVal.loss} after epoch ${epoch + 1}`;
          log(`diverged: ${error}; the run stops here, keeping its ${epoch} finished epoch(s) and their checkpoints`);
          break;
        }
      }
      schedule.onEpochEnd(epoch, logs);
      accum = zeroAccum();
      batchInEpoch = 0;
      await cbs.onEpochEnd(epoch, logs);
      epochRecords.push(historyRecord(epoch, logs));
      if (ctx.stopTraining) {
        epoch++;
        break;
      }
    }
    await cbs.onTrainEnd();
    // model.pth is the result of a finished run; a stopped run continues from checkpoints/last.pth.
    if (o.runDir && status === 'ok') await saveWeights(model, join(o.runDir, 'model.pth'));
  } finally {
    optimizer.dispose();
    for (const m of [...Object.values(held), snapshotStore]) for (const t of m?.values() ?? []) t.dispose();
  }

  const history = o.runDir ? readHistory(o.runDir) : epochRecords;
  let bestEpoch: number | undefined;
  let bestValAccuracy: number | undefined;
  for (const h of history) {
    const va = h.val_accuracy;
    if (typeof va === 'number' && (bestValAccuracy === undefined || va > bestValAccuracy)) {
      bestValAccuracy = va;
      bestEpoch = h.epoch;
    }
  }
  return {
    status, error, history, epochsDone: history.length, globalStep: ctx.globalStep, trainTimeS,
    imagesPerS: trainTimeS > 0 ? totalImages / trainTimeS : 0, bestEpoch, bestValAccuracy, resumedFrom,
  };

  function trainStep(batch: BatchU8, ep: number): { loss: number; correct: number; correctTop5: number } {
    manualSeed(stepSeed(config.seed, ctx.globalStep));
    const out = tidy(() => {
      let x = imagesToTensor(batch, { channelsLast: precision.channelsLast, device: o.device });
      const y = labelsToTensor(batch, o.device);
      let target: Tensor = y;
      if (o.augment) {
        const a = o.augment.apply(x, y, augGen, { epoch: ep, totalEpochs: config.epochs, training: true });
        x = a.images;
        target = a.targets;
      }
      const xn = normalize(x, o.normalization);
      const logits = runForward(xn).float();
      const loss = F.crossEntropy(logits, target, { labelSmoothing: config.loss.labelSmoothing });
      loss.backward();
      // Accuracy against the dominant label, as Keras' categorical accuracy does for mixed targets.
      const truth = target === y ? y : target.argmax(1);
      const correct = logits.argmax(1).eq(truth).sum().item();
      let correctTop5 = 0;
      if (o.numClasses > 5) correctTop5 = logits.topk(5, 1)[1].eq(truth.unsqueeze(1)).sum().item();
      return { loss: loss.item(), correct, correctTop5 };
    });
    if (out.loss <= config.maxLoss) {
      if (config.optimizer.clipnorm !== undefined) clipGradNormPerParam(params, config.optimizer.clipnorm);
      if (config.optimizer.clipGlobalNorm !== undefined) clipGradNorm(params, config.optimizer.clipGlobalNorm);
      optimizer.step();
    }
    optimizer.zeroGrad();
    return out;
  }
}

async function* emptyBatches(): AsyncGenerator<BatchU8> {}
