/**
 * Where a run stands, and the two directions between that and a checkpoint: `captureState` turns the
 * live position, optimizer, schedule, callbacks and generators into a TrainingState; `restoreState`
 * puts a verified checkpoint back into them. Together they make a resumed run continue bit for bit.
 */
import { keep, type Generator, type Optimizer, type Tensor } from '../tensor/index.js';
import { loadRawStateDict, rawToTensor } from '../models/index.js';
import type { CallbackList, Logs } from './callbacks/base.js';
import type { TrainableModel } from './model-api.js';
import type { LrSchedule } from './schedules.js';
import {
  STATE_FORMAT, logsFromJson, logsToJson, optimizerStateFrom,
  type EpochAccumulators, type LoadedCheckpoint, type TrainingState,
} from './checkpoint.js';
import type { StepFigures } from './train-step.js';

export const zeroAccum = (): EpochAccumulators => ({ lossSum: 0, correct: 0, correctTop5: 0, seen: 0, waitMs: 0, stepMs: 0, epochMs: 0 });

/** The run's position, updated as it trains and saved in every checkpoint. */
export class RunPosition {
  /** 0-based epoch in progress. */
  epoch = 0;
  /** Batches of `epoch` trained so far. */
  batchInEpoch = 0;
  accum: EpochAccumulators = zeroAccum();
  trainTimeS = 0;
  totalImages = 0;
  /** Finished epochs with their logs: the history up to here. */
  epochs: Array<{ epoch: number; logs: Logs }> = [];
  // Wall-clock start of the current epoch and the loader's wait counter then; a mid-epoch checkpoint
  // stores the time and waiting so far, so a resumed epoch reports the whole epoch's figures.
  private epochStart = 0;
  private waitStart = 0;

  beginEpoch(loaderWaitMs: number): void {
    this.epochStart = performance.now() - this.accum.epochMs;
    this.waitStart = loaderWaitMs;
  }

  /** A step applied: the position and the time move on now; its loss and accuracy come with `recordFigures`. */
  recordStep(images: number, ms: number): void {
    this.accum.stepMs += ms;
    this.totalImages += images;
    this.trainTimeS += ms / 1000;
    this.batchInEpoch++;
  }

  /** A step's figures, once read back (in step order, so the sums are those of reading every step). */
  recordFigures(s: StepFigures): void {
    this.accum.lossSum += s.loss * s.images;
    this.accum.correct += s.correct;
    this.accum.correctTop5 += s.correctTop5;
    this.accum.seen += s.images;
  }

  /** Epoch time and input-pipeline wait so far, folded into the accumulators. */
  epochTiming(loaderWaitMs: number): { epochTimeS: number; waitMs: number } {
    return { epochTimeS: (performance.now() - this.epochStart) / 1000, waitMs: this.accum.waitMs + (loaderWaitMs - this.waitStart) };
  }

  finishEpoch(logs: Logs): void {
    this.epochs.push({ epoch: this.epoch, logs: { ...logs } });
    this.accum = zeroAccum();
    this.batchInEpoch = 0;
  }
}

export interface LiveTrainingParts {
  optimizer: Optimizer;
  schedule: LrSchedule;
  callbacks: CallbackList;
  augmentGenerator: Generator;
  configHash: string;
}

/** The TrainingState for a checkpoint taken now (`epochComplete`: at the end of `epoch`). */
export function captureState(pos: RunPosition, parts: LiveTrainingParts, at: { epoch: number; epochComplete: boolean; globalStep: number; loaderWaitMs: number }): TrainingState {
  const { epochTimeS, waitMs } = pos.epochTiming(at.loaderWaitMs);
  const { kind, step, hyper } = parts.optimizer.state();
  return {
    format: STATE_FORMAT,
    epoch: at.epoch,
    batchInEpoch: at.epochComplete ? 0 : pos.batchInEpoch,
    epochComplete: at.epochComplete,
    globalStep: at.globalStep,
    optimizer: { kind, step, hyper },
    schedule: parts.schedule.state(),
    callbacks: parts.callbacks.state(),
    generators: { augment: Buffer.from(parts.augmentGenerator.getState()).toString('base64') },
    accum: at.epochComplete ? zeroAccum() : { ...pos.accum, epochMs: epochTimeS * 1000, waitMs },
    trainTimeS: pos.trainTimeS,
    trainImages: pos.totalImages,
    epochs: pos.epochs.map((e) => ({ epoch: e.epoch, logs: logsToJson(e.logs) })),
    configHash: parts.configHash,
  };
}

export interface RestoredState {
  position: RunPosition;
  globalStep: number;
  /** Weight snapshots callbacks held (kept tensors; the caller disposes them). */
  held: Record<string, Map<string, Tensor>>;
}

/** Loads a verified checkpoint into the model and the live training parts; returns where to continue. */
export function restoreState(ck: LoadedCheckpoint, model: TrainableModel, parts: Omit<LiveTrainingParts, 'configHash'>): RestoredState {
  const s = ck.state;
  loadRawStateDict(model, ck.model, { strict: true });
  const optState = optimizerStateFrom(ck);
  parts.optimizer.loadState(optState);
  for (const t of optState.tensors.values()) t.dispose();
  parts.schedule.loadState(s.schedule);
  parts.callbacks.loadState(s.callbacks);
  const held: Record<string, Map<string, Tensor>> = {};
  for (const [k, m] of Object.entries(ck.held)) held[k] = new Map([...m].map(([n, r]) => [n, keep(rawToTensor(r))]));
  parts.callbacks.loadHeldWeights(held);
  const g = s.generators.augment;
  if (g) parts.augmentGenerator.setState(new Uint8Array(Buffer.from(g, 'base64')));

  const position = new RunPosition();
  position.trainTimeS = s.trainTimeS;
  position.totalImages = s.trainImages;
  position.epochs = s.epochs.map((e) => ({ epoch: e.epoch, logs: logsFromJson(e.logs) }));
  if (s.epochComplete) {
    position.epoch = s.epoch + 1;
  } else {
    position.epoch = s.epoch;
    position.batchInEpoch = s.batchInEpoch;
    position.accum = { ...zeroAccum(), ...s.accum };
  }
  return { position, globalStep: s.globalStep, held };
}
