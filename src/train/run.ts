import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setNumThreads, getNumThreads, defaultThreads, resolveDevice, cpuSupportsBf16, engineInfo, liveTensorCount } from '../tensor/index.js';
import { DataLoader, type ImageSet } from '../data/index.js';
import { loadWeights } from '../models/index.js';
import { buildAugmentPipeline } from '../augment/index.js';
import { isDiskFull, writeJsonAtomic } from '../util/atomic.js';
import { ensureOutDir } from '../util/out-dir.js';
import { InterruptedError, throwIfInterrupted } from '../util/interrupt.js';
import type { TrainConfig } from './config.js';
import { fit, type FitResult, type Precision, type BatchAugmenter } from './fit.js';
import { readRunStatus, writeRunStatus, hostEnv, type RunStatus } from './run-state.js';
import { ablateVersion } from '../util/version.js';
import { completePlan, imageSizeOf, planHash, planModel, readRunPlan, resolveRunPlan, type RunPlan } from './plan.js';
import { openPlanDatasets, prepareSplit, type PlanDatasets } from './plan-data.js';
import { buildModel, modelLabel, type ModelSpec } from './model-spec.js';
import type { ProgressStream } from './progress.js';
import type { Callback } from './callbacks/base.js';
import { hasTrainingCheckpoint } from './checkpoint.js';
import type { LoadReport } from '../nn/index.js';

export interface RunOptions {
  runDir: string;
  /** Continue from checkpoints/last.pth when it exists (studies always do). */
  resume?: boolean;
  progress?: ProgressStream | false;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Extra callbacks (e.g. a study's live view). */
  callbacks?: Callback[];
}

export function choosePrecision(requested: TrainConfig['precision'], device: string): Precision {
  const fast = device.startsWith('cuda') || cpuSupportsBf16();
  if (requested === 'fp32' || (requested === 'auto' && !fast)) return { autocast: false, channelsLast: false, label: 'fp32' };
  return { autocast: true, channelsLast: true, label: 'bf16' };
}

/** What this machine makes of a plan: the device, what `precision: auto` becomes, and the thread count. */
export function planForMachine(plan: RunPlan): { plan: RunPlan; device: string; precision: Precision } {
  const device = resolveDevice(plan.device);
  const precision = choosePrecision(plan.precision, device);
  return { plan: { ...plan, precision: precision.label, threads: plan.threads ?? defaultThreads() }, device, precision };
}

/**
 * Trains one configuration into `runDir`: resolved config, status.json, history, metrics.csv,
 * checkpoints and final weights. Any failure is recorded in status.json before it is re-thrown.
 */
export async function runTraining(rawConfig: unknown, o: RunOptions): Promise<FitResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  // Every problem of the config, before a folder is made or an image decoded.
  const machine = planForMachine(resolveRunPlan(rawConfig));
  let plan: RunPlan = machine.plan;
  const { device, precision } = machine;
  ensureOutDir(o.runDir, 'run folder');
  setNumThreads(plan.threads!);
  const prev = readRunStatus(o.runDir);
  const resume = (o.resume ?? false) && hasTrainingCheckpoint(o.runDir);
  const startedAt = new Date().toISOString();
  const info = engineInfo();
  const baseStatus: RunStatus = {
    status: 'running',
    startedAt: resume && prev?.startedAt ? prev.startedAt : startedAt,
    epochsDone: 0,
    epochsPlanned: plan.epochs,
    params: 0,
    trainableParams: 0,
    trainTimeS: 0,
    env: {
      ablateVersion: ablateVersion(), libtorchVersion: info.libtorch, device, threads: getNumThreads(), precision: precision.label,
      ...hostEnv(),
    },
    dataset: { name: String(plan.data.source ?? 'auto'), split: '', trainCount: 0, valCount: 0 },
  } as RunStatus;
  // A resume must not touch the run's plan until it is known to be the same plan (see below).
  const previousPlan = resume ? previousPlanOf(o.runDir) : undefined;
  writeRunStatus(o.runDir, baseStatus);
  if (!previousPlan) writeJsonAtomic(join(o.runDir, 'config.json'), plan);

  let datasets: PlanDatasets | undefined;
  let train: ImageSet | undefined;
  let val: ImageSet | undefined;
  let status: RunStatus = baseStatus;
  try {
    datasets = await openPlanDatasets(plan);
    throwIfInterrupted(o.signal, 'opening the data');
    // The run's config.json is its plan, completed with what the data decided (class names, sizes).
    plan = completePlan(plan, { train: datasets.train, val: datasets.val });
    if (previousPlan && planHash(previousPlan) !== planHash(plan)) {
      const changed = changedFields(previousPlan, plan);
      throw new ResumeMismatchError(`cannot resume ${o.runDir}: it was planned with other settings (${changed.join(', ')} differ); ` +
        `run it with its own config (ablate train --resume --out ${o.runDir}), or use another --out for the new settings`);
    }
    writeJsonAtomic(join(o.runDir, 'config.json'), plan);
    train = await prepareSplit(plan.data, datasets.train, { log, what: 'training', signal: o.signal });
    if (plan.valData && datasets.val) val = await prepareSplit(plan.valData, datasets.val, { log, what: 'validation', signal: o.signal });
    const resolvedModel = planModel(plan);
    const numClasses = resolvedModel.config.numClasses;
    const model = buildModel(resolvedModel, { seed: plan.seed, device });
    try {
      if (plan.pretrained && !resume) {
        if (!existsSync(plan.pretrained)) throw new Error(`pretrained weights not found: expected a PyTorch .pth file at ${plan.pretrained}`);
        const report = await loadWeights(model, plan.pretrained, { strict: false }).catch((e: Error) => {
          throw new Error(`pretrained weights ${plan.pretrained}: ${e.message}`); // which file, when a study has many
        });
        const skipped = [...report.mismatched.map((m) => m.key), ...report.missing];
        if (report.loaded.length === 0) throw new Error(`pretrained weights ${plan.pretrained} share no tensor with ${modelLabel(plan.model as ModelSpec)}: ${describeNoMatch(report)}`);
        log(`pretrained weights from ${plan.pretrained}: loaded ${report.loaded.length} tensors` +
          (skipped.length ? `, kept the fresh initialisation for ${skipped.length} (${skipped.slice(0, 4).join(', ')}${skipped.length > 4 ? ', …' : ''})` : ''));
      }
      const counts = model.countParams();
      const size = imageSizeOf(plan.data, datasets.train);
      const cost = model.flops([size.height, size.width]);
      status = {
        ...status,
        params: counts.total,
        trainableParams: counts.trainable,
        nonTrainableParams: counts.nonTrainable,
        macs: cost.macs,
        flops: cost.flops,
        dataset: {
          name: datasets.train.source,
          split: plan.data.split,
          valSplit: plan.valData?.split,
          trainCount: train.length,
          valCount: val?.length ?? 0,
          skipped: train.badFiles.length + (val?.badFiles.length ?? 0),
          classes: plan.classNames?.length ?? numClasses,
        },
      } as RunStatus;
      writeRunStatus(o.runDir, status);
      const augment = buildAugment(plan, numClasses, size);
      const trainLoader = new DataLoader(train, { batchSize: plan.batchSize, seed: plan.seed, shuffle: true, dropLast: false });
      const valLoader = val ? new DataLoader(val, { batchSize: plan.batchSize, shuffle: false }) : undefined;
      const result = await fit({
        model, train: trainLoader, val: valLoader, numClasses, config: plan as TrainConfig, precision, device, normalization: plan.normalization, augment,
        runDir: o.runDir, resume, callbacks: o.callbacks, progress: o.progress, signal: o.signal, log, configHash: planHash(plan),
      });
      const last = result.history[result.history.length - 1];
      status = {
        ...status,
        status: result.status,
        error: result.error,
        finishedAt: new Date().toISOString(),
        epochsDone: result.epochsDone,
        bestEpoch: result.bestEpoch,
        bestValAccuracy: result.bestValAccuracy,
        trainTimeS: result.trainTimeS,
        imagesPerS: result.imagesPerS,
        dataWaitFraction: last?.data_wait_fraction ?? undefined,
        liveTensors: liveTensorCount(),
      } as RunStatus;
      writeRunStatus(o.runDir, status);
      return result;
    } finally {
      model.dispose();
    }
  } catch (e) {
    // A refused resume leaves the run as it was. A full disk stops the run (its last good checkpoint is
    // intact; the same command continues it once there is space), and so does Ctrl-C before training;
    // anything else is a failure of the run itself.
    if (e instanceof ResumeMismatchError) {
      if (prev) writeRunStatus(o.runDir, prev);
    } else {
      const ended = isDiskFull(e) || e instanceof InterruptedError ? { status: 'stopped', reason: (e as Error).message } : { status: 'failed', error: (e as Error).message };
      writeRunStatus(o.runDir, { ...status, ...ended, finishedAt: new Date().toISOString() } as RunStatus);
    }
    throw e;
  } finally {
    await train?.close();
    await val?.close();
    await datasets?.close();
  }
}

/** Resuming with other settings than the run was planned with. */
class ResumeMismatchError extends Error {}

/** The plan a resumed run was made with; undefined for runs of older versions without a readable one. */
function previousPlanOf(runDir: string): RunPlan | undefined {
  try {
    return readRunPlan(runDir);
  } catch {
    return undefined;
  }
}

/** Top-level plan fields that differ (for the refusal message). */
function changedFields(a: RunPlan, b: RunPlan): string[] {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ignore = new Set(['threads', 'device', 'tensorboard', 'outDir']);
  return [...new Set([...Object.keys(ra), ...Object.keys(rb)])].filter((k) => !ignore.has(k) && JSON.stringify(ra[k]) !== JSON.stringify(rb[k]));
}

function buildAugment(plan: RunPlan, numClasses: number, size: { height: number; width: number }): BatchAugmenter | undefined {
  if (plan.augment.length === 0) return undefined;
  return buildAugmentPipeline(plan.augment, { numClasses, imageSize: [size.height, size.width] });
}

/** Why no tensor of a checkpoint fits the model: only the kinds of mismatch there are, each with examples. */
function describeNoMatch(report: LoadReport): string {
  const few = (keys: string[]) => `${keys.slice(0, 4).join(', ')}${keys.length > 4 ? `, … ${keys.length - 4} more` : ''}`;
  const parts: string[] = [];
  if (report.mismatched.length) {
    const shown = report.mismatched.slice(0, 4).map((m) => `${m.key} is [${m.received.join(', ')}] in the file but [${m.expected.join(', ')}] in the model`);
    parts.push(`mis-shaped keys (${report.mismatched.length}): ${shown.join('; ')}${report.mismatched.length > 4 ? '; …' : ''}`);
  }
  if (report.unexpected.length) parts.push(`keys the model does not have (${report.unexpected.length}): ${few(report.unexpected)}`);
  if (report.missing.length) parts.push(`model keys missing from the file (${report.missing.length}): ${few(report.missing)}`);
  return parts.join('; ') || 'the file holds no tensors';
}
