/**
 * The typed front door to training for library users: the same runTraining the CLI and studies use,
 * with the config's input type spelled out so a misspelt or mistyped field is a compile-time error.
 */
import type { DataSpecInput } from '../data/index.js';
import type { AugmentSpecInput } from '../augment/index.js';
import { runTraining as runTrainingUnchecked, type RunOptions } from './run.js';
import type { TrainConfigInput } from '../run/config.js';
import type { ScheduleInput } from '../run/schedule-config.js';
import type { FitResult } from './fit.js';

/**
 * Model presets of the registry (`listPresets()`), every bundled family's; a string is accepted too (torchvision's
 * spellings such as `vgg16_bn`, a family registered at run time), and checked at run time.
 */
export type PresetName =
  | `${'resnet' | 'plain' | 'preact-resnet'}${18 | 34 | 50 | 101 | 152}`
  | `${'resnet' | 'plain' | 'preact-resnet'}${20 | 32 | 44 | 56 | 110}-cifar`
  | 'wide-resnet50-2' | 'wide-resnet101-2' | 'wrn28-10-cifar'
  | 'resnext50-32x4d' | 'resnext101-32x8d' | 'resnext101-64x4d' | 'resnext29-8x16d-cifar' | 'resnet29-bottleneck-cifar'
  | `vgg${11 | 13 | 16 | 19}${'' | '-bn'}${'' | '-cifar'}` | 'vgg11-small-cifar' | 'vgg11-bn-small-cifar'
  | 'mobilenet-v2' | 'mobilenet-v2-w0.5' | 'mobilenet-v2-w0.75' | 'mobilenet-v2-w1.4' | 'mobilenet-v2-cifar' | 'mobilenet-v2-small-cifar'
  | `densenet${121 | 161 | 169 | 201}` | 'densenet-bc100-k12-cifar' | 'densenet40-k12-cifar' | 'densenet-bc40-k12-cifar'
  | `convnext-${'tiny' | 'small' | 'base' | 'large'}` | 'convnext-nano-cifar'
  | `vit-${'b-16' | 'b-32' | 'l-16' | 'l-32' | 'h-14'}` | 'vit-tiny-cifar';

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
