import { z } from 'zod';
import { formatZodIssues, type ConfigIssue } from '../util/zod-issues.js';
import { ScheduleSchema } from './schedule-config.js';

/**
 * The whole training configuration, as written in study files and `ablate train --config`.
 * Objects are strict so a typo ("epoch", "weight_decay") is an error instead of a silently ignored key.
 */

const posInt = z.number().int().min(1);
const nonNeg = z.number().min(0);

export const OptimizerSchema = z.strictObject({
  name: z.enum(['sgd', 'adam', 'adamw']).default('sgd'),
  lr: z.number().positive().default(0.01),
  /** SGD only. 0 as in torch.optim.SGD and Keras SGD (the seeds use plain SGD). */
  momentum: z.number().min(0).max(1).default(0),
  nesterov: z.boolean().default(false),
  /** Coupled L2 for sgd/adam, decoupled for adamw. */
  weightDecay: nonNeg.default(0),
  betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]),
  eps: z.number().positive().default(1e-8),
  /** Keras `clipnorm`: each gradient tensor clipped to this L2 norm on its own. */
  clipnorm: z.number().positive().optional(),
  /** torch `clip_grad_norm_`: all gradients scaled together so their joint L2 norm is at most this. */
  clipGlobalNorm: z.number().positive().optional(),
});

export const LossSchema = z.strictObject({
  labelSmoothing: z.number().min(0).lt(1).default(0),
});

export const EarlyStoppingConfigSchema = z.strictObject({
  monitor: z.string().min(1).default('val_loss'),
  mode: z.enum(['min', 'max', 'auto']).default('auto'),
  patience: z.number().int().min(0).default(0),
  minDelta: nonNeg.default(0),
  baseline: z.number().optional(),
  restoreBestWeights: z.boolean().default(false),
  startFromEpoch: z.number().int().min(0).default(0),
});

export const CheckpointConfigSchema = z.strictObject({
  /** Also write the 'last' checkpoint every N optimizer steps (mid-epoch resume). */
  everySteps: posInt.optional(),
  saveBest: z.boolean().default(true),
  monitor: z.string().min(1).default('val_loss'),
  mode: z.enum(['min', 'max', 'auto']).default('auto'),
});

export const DistributedConfigSchema = z.strictObject({
  /**
   * Data-parallel ranks ablate starts on this machine for the run, as `ablate train --nproc-per-node N`
   * (Gloo on CPU; one GPU each on CUDA). `batchSize` and `threads` are per rank. Under torchrun or srun
   * the environment places the ranks and this must be 1 or the launcher's ranks per node.
   */
  nprocPerNode: z.number().int().min(1).max(1024).default(1),
  /**
   * torch.nn.SyncBatchNorm: batch statistics over every rank's rows (all-reduced in forward, their
   * gradients in backward), so batch norm sees the global batch; otherwise each rank normalises its own.
   */
  syncBatchNorm: z.boolean().default(false),
});

export const TrainConfigSchema = z.strictObject({
  /**
   * A model preset name ("resnet34", "plain56-cifar"), or switches over one: `{ preset: resnet34, shortcut: zero-pad }`
   * (the model layer validates the switches; see src/run/model-spec.ts).
   */
  model: z.union([z.string().min(1), z.record(z.string(), z.unknown())], { error: 'expected a preset name or a mapping {preset: name, switch: value, …}' }),
  numClasses: z.number().int().min(2).optional(),
  /** Path to torchvision-compatible weights to start from. */
  pretrained: z.string().min(1).optional(),
  /** Owned by the data layer, which validates it. */
  data: z.record(z.string(), z.unknown()),
  valData: z.record(z.string(), z.unknown()).optional(),
  /** Owned by the augmentation layer: a preset name or a list of ops. */
  augment: z.union([z.string(), z.array(z.unknown())]).default([]),
  epochs: posInt.default(10),
  stepsPerEpoch: posInt.optional(),
  validationSteps: posInt.optional(),
  batchSize: posInt.default(32),
  optimizer: OptimizerSchema.prefault({}),
  schedule: ScheduleSchema.default({ name: 'constant' }),
  loss: LossSchema.prefault({}),
  earlyStopping: EarlyStoppingConfigSchema.optional(),
  checkpoint: CheckpointConfigSchema.prefault({}),
  precision: z.enum(['auto', 'fp32', 'bf16']).default('auto'),
  /**
   * `true`: bit-identical reruns on a GPU too (deterministic kernels only, cuDNN benchmark off; an op without a
   * deterministic kernel is an error naming it). `auto`: the fastest kernels on a GPU. On the CPU a run with the
   * same seed and thread count is bit-identical either way.
   */
  deterministic: z.union([z.literal('auto'), z.boolean()]).default('auto'),
  device: z
    .string()
    .regex(/^(cpu|cuda(:\d+)?)$/, { message: 'expected "cpu", "cuda" or "cuda:N"' })
    .default('cpu'),
  threads: posInt.optional(),
  distributed: DistributedConfigSchema.optional(),
  seed: z.number().int().min(0).default(0),
  /**
   * A batch loss above this (or NaN/Inf) ends the run as 'diverged'. Cross-entropy at chance is
   * ln(classes) (< 7 for 1000 classes), so a loss this large means the weights have blown up; with
   * BatchNorm everywhere such a net can stay finite for a long time without learning anything.
   */
  maxLoss: z.number().positive().default(1e4),
  tensorboard: z.boolean().default(false),
  /**
   * How pixels in [0, 1] are normalised before the model: `unit` (no further change) or `imagenet`
   * (torchvision's mean/std). Default: `imagenet` with pretrained weights, else `unit`.
   */
  normalization: z.enum(['unit', 'imagenet']).optional(),
  /** The classes the run was planned for (written by the run into config.json); the data must have exactly these. */
  classNames: z.array(z.string()).min(2).optional(),
  outDir: z.string().min(1).optional(),
});

/** `device` after validation. */
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

/** A training config after validation, with defaults filled in. */
export type TrainConfig = z.output<typeof TrainConfigSchema>;
/** A training config as accepted by the schema (see `TrainingConfig` for the fully typed form). */
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

const NESTED: Record<string, z.ZodObject> = {
  '': TrainConfigSchema,
  optimizer: OptimizerSchema,
  loss: LossSchema,
  earlyStopping: EarlyStoppingConfigSchema,
  checkpoint: CheckpointConfigSchema,
  distributed: DistributedConfigSchema,
};

function knownKeys(path: readonly PropertyKey[]): string[] | undefined {
  const schema = NESTED[path.map(String).join('.')];
  return schema ? Object.keys(schema.shape) : undefined;
}

/** Every problem in the config, or [] when it is valid. */
export function validateTrainConfig(obj: unknown): ConfigIssue[] {
  const r = TrainConfigSchema.safeParse(obj, { reportInput: true });
  return r.success ? [] : formatZodIssues(r.error.issues, knownKeys);
}

/** The config with defaults filled in; throws one error listing every problem. */
export function parseTrainConfig(obj: unknown): TrainConfig {
  const r = TrainConfigSchema.safeParse(obj, { reportInput: true });
  if (r.success) return r.data;
  const issues = formatZodIssues(r.error.issues, knownKeys);
  throw new TypeError(`Invalid training config:\n${issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
}
