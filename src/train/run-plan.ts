/**
 * What a finished (or stopped) run folder says about using its model: architecture, weights, class names
 * and the preprocessing its images went through. `predict` and `export` read a run only through
 * `readRunPlan`, so a change of the run folder's format is handled in this one place.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDataset, resolveImageSize, type ResizeMode } from '../data/index.js';
import { parseTrainConfig, type TrainConfig } from './config.js';
import { readRunStatus } from './run-folder.js';
import { trainingSpec } from './run.js';
import type { Normalization } from './batch-tensor.js';

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
}

/** What `readRunPlan` returns: the run's config, model, classes, preprocessing and weights file. */
export interface RunPlan {
  dir: string;
  config: TrainConfig;
  /** Model preset name (config.model). */
  model: string;
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

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

function readConfig(dir: string): TrainConfig {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new RunFolderError(`${dir} is not a run folder: expected ${cfgPath} (written by \`ablate train\` and studies)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new RunFolderError(`${cfgPath} is not valid JSON: ${(e as Error).message}`);
  }
  return parseTrainConfig(raw);
}

/** The weights file a run name stands for; `model` falls back to checkpoints/last.pth for a stopped run. */
export function runWeightsPath(dir: string, checkpoint?: RunCheckpoint): string {
  const named = checkpoint ?? (existsSync(join(dir, 'model.pth')) ? 'model' : 'last');
  const path = named === 'model' ? join(dir, 'model.pth') : named === 'best' || named === 'last' ? join(dir, 'checkpoints', `${named}.pth`) : resolve(named);
  if (!existsSync(path)) {
    throw new RunFolderError(`no weights at ${path}: ${named === 'best' ? 'the run has not saved a best checkpoint' : named === 'model' || named === 'last' ? 'the run has not saved any weights yet' : 'no such file'}`);
  }
  return path;
}

/**
 * Reads a run folder: config.json, class names and image size from status.json (written since runs
 * record them; for older runs the training data is opened to list its classes), and the weights path.
 */
export async function readRunPlan(runDir: string, options: { checkpoint?: RunCheckpoint } = {}): Promise<RunPlan> {
  const dir = resolve(runDir);
  const config = readConfig(dir);
  const spec = trainingSpec(config);
  const recorded = readRunStatus(dir)?.dataset as { classNames?: unknown; imageSize?: unknown } | undefined;
  let classNames: string[];
  let size: { height: number; width: number };
  const namesOk = Array.isArray(recorded?.classNames) && recorded.classNames.every((n) => typeof n === 'string');
  const sizeOk = Array.isArray(recorded?.imageSize) && recorded.imageSize.length === 2;
  if (namesOk && sizeOk) {
    classNames = recorded!.classNames as string[];
    const [h, w] = recorded!.imageSize as [number, number];
    size = { height: h, width: w };
  } else {
    let ds;
    try {
      ds = await openDataset(spec);
    } catch (e) {
      throw new RunFolderError(`run ${dir} does not record its class names (an older run) and its training data could not be opened to list them: ${(e as Error).message}`);
    }
    try {
      classNames = [...ds.classNames];
      size = resolveImageSize(spec, ds);
    } finally {
      await ds.close();
    }
  }
  const numClasses = config.numClasses ?? classNames.length;
  if (classNames.length !== numClasses) classNames = Array.from({ length: numClasses }, (_, i) => classNames[i] ?? String(i));
  const normalization: Normalization = config.pretrained ? 'imagenet' : 'unit';
  return {
    dir,
    config,
    model: config.model,
    numClasses,
    classNames,
    preprocessing: {
      imageSize: [size.height, size.width],
      resize: spec.resize,
      normalization,
      mean: normalization === 'imagenet' ? IMAGENET_MEAN : [0, 0, 0],
      std: normalization === 'imagenet' ? IMAGENET_STD : [1, 1, 1],
      layout: 'NCHW',
      channels: 'RGB',
    },
    weights: runWeightsPath(dir, options.checkpoint),
  };
}
