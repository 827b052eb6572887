/**
 * The typed front door to training for library users: the same runTraining the CLI and studies use,
 * with the config's input type spelled out so a misspelt or mistyped field is a compile-time error.
 */
import type { DataSpecInput } from '../data/index.js';
import type { AugmentSpecInput } from '../augment/index.js';
import { runTraining as runTrainingUnchecked, type RunOptions } from './run.js';
import type { TrainConfigInput } from './config.js';
import type { ScheduleInput } from './schedules.js';
import type { FitResult } from './fit.js';

/** Model presets of the registry (`listPresets()`); a string is accepted too, and checked at run time. */
export type PresetName =
  | `${'resnet' | 'plain' | 'preact-resnet'}${18 | 34 | 50 | 101 | 152}`
  | `${'resnet' | 'plain' | 'preact-resnet'}${20 | 32 | 44 | 56 | 110}-cifar`
  | 'wide-resnet50-2' | 'wide-resnet101-2' | 'wrn28-10-cifar';

/**
 * A training configuration as written by hand (defaults are filled in by `runTraining`): the fields of
 * `ablate train` config files and of a study's `base:`. Unknown keys are rejected, both by the compiler
 * (excess property checks) and at run time.
 */
export type TrainingConfig = Omit<TrainConfigInput, 'model' | 'data' | 'valData' | 'augment' | 'schedule'> & {
  /** A preset name such as `'resnet34'`, `'plain34'`, `'resnet20-cifar'`. */
  model: PresetName | (string & {});
  /** The training data; `valSplit` names another split of the same source for validation (e.g. `'train[80%:]'`). */
  data: DataSpecInput & { valSplit?: string };
  /** Validation data from another source or path; fields not given are taken from `data`. */
  valData?: Partial<DataSpecInput>;
  /** Augmentation preset (`'standard'`, `'standard+cutmix'`, ...) or a list of ops. */
  augment?: AugmentSpecInput;
  /** Learning-rate schedule: a name (`'cosine'`) or an object (`{ name: 'step', stepSize: 30, gamma: 0.1 }`). */
  schedule?: ScheduleInput;
};

/**
 * Trains one model into `options.runDir`: resolved config.json, status.json, history.jsonl, metrics.csv,
 * checkpoints, model.pth. Resumes from the last checkpoint with `resume: true`. The run folder is then
 * what `predict`, `exportRunToOnnx` and `ablate eval --run` read.
 *
 * @example
 * ```ts
 * await runTraining({ model: 'resnet20-cifar', data: { source: 'generated', split: 'train' }, epochs: 3 }, { runDir: 'runs/try' });
 * ```
 */
export function runTraining(config: TrainingConfig, options: RunOptions): Promise<FitResult> {
  return runTrainingUnchecked(config, options);
}
