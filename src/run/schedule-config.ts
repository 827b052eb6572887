import { z } from 'zod';

/**
 * The learning-rate schedule as a config describes it (`schedule:`): part of the run's description, so it
 * lives here; the schedules themselves, which run inside the fit loop, are in train/schedules.ts.
 */

const nonNegative = z.number().min(0);
const gamma = z.number().positive().max(1);

export const ConstantScheduleSchema = z.strictObject({ name: z.literal('constant') });

export const StepScheduleSchema = z.strictObject({
  name: z.literal('step'),
  /** Epochs between decays. */
  stepSize: z.number().int().min(1),
  gamma: gamma.default(0.1),
});

export const MultiStepScheduleSchema = z.strictObject({
  name: z.literal('multistep'),
  /** 0-based epochs at which the lr is multiplied by gamma (PyTorch MultiStepLR). */
  milestones: z.array(z.number().int().min(1)).min(1).refine((m) => m.every((v, i) => i === 0 || v > m[i - 1]!), {
    message: 'expected strictly increasing epochs',
  }),
  gamma: gamma.default(0.1),
});

export const CosineScheduleSchema = z.strictObject({
  name: z.literal('cosine'),
  /** Linear warmup length in epochs (may be fractional with per-step granularity). */
  warmupEpochs: nonNegative.default(0),
  /** Warmup starts from this lr. */
  warmupStartLr: nonNegative.default(0),
  minLr: nonNegative.default(0),
  granularity: z.enum(['step', 'epoch']).default('step'),
});

export const PlateauScheduleSchema = z.strictObject({
  name: z.literal('plateau'),
  monitor: z.string().min(1).default('val_loss'),
  mode: z.enum(['min', 'max', 'auto']).default('auto'),
  factor: z.number().positive().lt(1).default(0.1),
  patience: z.number().int().min(0).default(10),
  minDelta: nonNegative.default(1e-4),
  cooldown: z.number().int().min(0).default(0),
  minLr: nonNegative.default(0),
});

const ScheduleUnion = z.discriminatedUnion('name', [
  ConstantScheduleSchema,
  StepScheduleSchema,
  MultiStepScheduleSchema,
  CosineScheduleSchema,
  PlateauScheduleSchema,
]);

/** A schedule config; a bare name ("cosine") is shorthand for `{ name: "cosine" }` with defaults. */
export const ScheduleSchema = z.preprocess((v) => (typeof v === 'string' ? { name: v } : v), ScheduleUnion);

export type ScheduleConfig = z.output<typeof ScheduleUnion>;
/** A learning-rate schedule as written: a name (`"cosine"`) or an object with its parameters. */
export type ScheduleInput = z.input<typeof ScheduleUnion> | ScheduleConfig['name'];
