/**
 * What a finished (or stopped) run folder says about using its model: architecture, weights, class names
 * and the preprocessing its images went through. `predict` and `export` read a run only through
 * `readRunInfo`, which reads the run's plan (config.json) with the plan's own reader, so a change of
 * the run folder's format is handled in one place. Older runs (before config.json was the full plan, or
 * before status.json recorded class names) still read: what they lack is taken from status.json or, last,
 * from the training data.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { openDataset, resolveImageSize, type ResizeMode } from '../data/index.js';
import { readRunStatus } from './run-folder.js';
import { runFolder } from './folder.js';
import { readRunPlan, type RunPlan } from './plan.js';
import { buildModel, modelLabel, resolveModelSpec, type ModelSpec } from './model-spec.js';
import type { Model } from '../nn/index.js';
import type { Normalization } from './plan.js';
import { IMAGENET_MEAN, IMAGENET_STD, pretrainedTransforms } from '../models/hub-weights.js';
import type { Interpolation } from '../models/family.js';

/** Which weights of a run: the final model.pth, checkpoints/best.pth, checkpoints/last.pth, or a .pth path. */
export type RunCheckpoint = 'model' | 'best' | 'last' | (string & {});

/** The preprocessing a run's model expects, as stored in exported ONNX files too. */
export interface Preprocessing {
  /** Images are resized to this [height, width] ('stretch' ignores aspect ratio, 'center-crop' keeps it). */
  imageSize: [number, number];
  resize: ResizeMode;
  /** Pixels are divided by 255 ('unit'), then for 'imagenet' also normalised with `mean` and `std`. */
  normalization: Normalization;
  mean: [number, number, number];
  std: [number, number, number];
  /** Tensor layout and channel order of the model input. */
  layout: 'NCHW';
  channels: 'RGB';
  /**
   * With pretrained weights (config `pretrained`): the evaluation preprocessing the weight set was trained
   * for, as torchvision's `weights.transforms()` applies it (resize the short side, centre-crop).
   */
  pretrained?: { weights?: string; resizeSize: number; cropSize: number; interpolation: Interpolation };
}

/** What `readRunInfo` returns: the run's plan, model, classes, preprocessing and weights file. */
export interface RunInfo {
  dir: string;
  /** The run's config.json: its resolved plan (a valid config). */
  plan: RunPlan;
  /** The model's name for logs and ONNX metadata: the preset plus the switches that differ from it. */
  model: string;
  /** The model as the plan writes it out (family, preset, every switch); see `buildRunModel`. */
  modelSpec: ModelSpec;
  numClasses: number;
  classNames: string[];
  preprocessing: Preprocessing;
  /** The weights file chosen. */
  weights: string;
}

/** A run folder that is missing, incomplete or unreadable; the message says what was expected. */
export class RunFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunFolderError';
  }
}

/** The weights file a run name stands for; `model` falls back to checkpoints/last.pth for a stopped run. */
export function runWeightsPath(dir: string, checkpoint?: RunCheckpoint): string {
  const { name: named, path } = runFolder(dir).weightsFile(checkpoint);
  if (!existsSync(path)) {
    throw new RunFolderError(`no weights at ${path}: ${named === 'best' ? 'the run has not saved a best checkpoint' : named === 'model' || named === 'last' ? 'the run has not saved any weights yet' : 'no such file'}`);
  }
  return path;
}

/**
 * Reads a run folder: its plan (config.json), class names and image size from the plan (or, for older
 * runs, status.json, or last the training data, opened to list its classes), and the weights path.
 */
export async function readRunInfo(runDir: string, options: { checkpoint?: RunCheckpoint } = {}): Promise<RunInfo> {
  const dir = resolve(runDir);
  const cfgPath = runFolder(dir).config;
  if (!existsSync(cfgPath)) throw new RunFolderError(`${dir} is not a run folder: expected ${cfgPath} (written by \`ablate train\` and studies)`);
  let plan;
  try {
    plan = readRunPlan(dir);
  } catch (e) {
    throw new RunFolderError((e as Error).message);
  }
  const recorded = readRunStatus(dir)?.dataset as { classNames?: unknown; imageSize?: unknown } | undefined;
  const recordedNames = Array.isArray(recorded?.classNames) && recorded.classNames.every((n) => typeof n === 'string') ? recorded.classNames as string[] : undefined;
  const recordedSize = Array.isArray(recorded?.imageSize) && recorded.imageSize.length === 2 ? recorded.imageSize as [number, number] : undefined;
  let classNames = plan.classNames ? [...plan.classNames] : recordedNames;
  let size = plan.data.imageSize ?? recordedSize;
  if (classNames === undefined || size === undefined) {
    const spec = plan.data;
    let ds;
    try {
      ds = await openDataset(spec);
    } catch (e) {
      throw new RunFolderError(`run ${dir} does not record its class names (an older run) and its training data could not be opened to list them: ${(e as Error).message}`);
    }
    try {
      classNames ??= [...ds.classNames];
      if (size === undefined) {
        const s = resolveImageSize(spec, ds);
        size = [s.height, s.width];
      }
    } finally {
      await ds.close();
    }
  }
  const numClasses = typeof plan.model.numClasses === 'number' ? plan.model.numClasses : classNames.length;
  if (classNames.length !== numClasses) classNames = Array.from({ length: numClasses }, (_, i) => classNames![i] ?? String(i));
  const normalization: Normalization = plan.normalization;
  const modelSpec = { ...plan.model, numClasses } as ModelSpec;
  const weights = plan.pretrained ? pretrainedTransforms(plan.pretrained, modelSpec) : undefined;
  return {
    dir,
    plan,
    model: modelLabel(plan.model),
    modelSpec,
    numClasses,
    classNames,
    preprocessing: {
      imageSize: [size[0], size[1]],
      resize: plan.data.resize,
      normalization,
      mean: normalization !== 'imagenet' ? [0, 0, 0] : weights ? [...weights.mean] as [number, number, number] : [...IMAGENET_MEAN],
      std: normalization !== 'imagenet' ? [1, 1, 1] : weights ? [...weights.std] as [number, number, number] : [...IMAGENET_STD],
      layout: 'NCHW',
      channels: 'RGB',
      ...(weights ? { pretrained: { ...(weights.id ? { weights: weights.id } : {}), resizeSize: weights.resizeSize, cropSize: weights.cropSize, interpolation: weights.interpolation } } : {}),
    },
    weights: runWeightsPath(dir, options.checkpoint),
  };
}

/** A fresh model of a run's architecture (weights not loaded yet). */
export function buildRunModel(plan: RunInfo, o: { device?: string } = {}): Model {
  return buildModel(resolveModelSpec(plan.modelSpec, plan.numClasses), { seed: 0, device: o.device });
}
