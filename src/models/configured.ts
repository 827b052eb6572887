/**
 * What the config-driven families share: a model that carries its resolved config (for the summary's
 * header), a validator from a strict zod schema plus a family's checks of combinations, the summary's
 * "Switches:" line, and the common batch-norm / classifier fields.
 */
import { z } from 'zod';
import { Model, type ModelArgs } from '../nn/index.js';
import { formatZodIssues, type ConfigIssue } from '../util/zod-issues.js';
import { ModelConfigError } from './family.js';

/** A compiled graph plus the resolved config it was built from; `describeConfig` is the family's description. */
export class ConfiguredModel<C extends object> extends Model {
  constructor(args: ModelArgs, readonly config: C, private readonly describeFn: (c: C) => string[]) {
    super(args);
  }
  override describeConfig(): string[] {
    return this.describeFn(this.config);
  }
}

/** Fields every CNN family has, with the same meaning and defaults as the ResNet family's. */
export const commonFields = {
  /** Classifier outputs (default 1000 for the ImageNet layout, 10 for CIFAR presets). */
  numClasses: z.number().int().min(1).optional(),
  inChannels: z.number().int().min(1).default(3),
  /** torch convention: running = (1 − m)·running + m·batch. */
  bnMomentum: z.number().gt(0).max(1).default(0.1),
  bnEps: z.number().positive().default(1e-5),
};

/**
 * A family's `validate`: every field problem (unknown keys with "did you mean") plus the combinations
 * `combinations` finds on the raw object, which also runs when fields are invalid so all issues show at once.
 */
export function configValidator(schema: z.ZodObject, combinations: (c: Record<string, unknown>) => ConfigIssue[] = () => []): (obj: unknown) => ConfigIssue[] {
  const knownKeys = (path: readonly PropertyKey[]): string[] | undefined => (path.length === 0 ? Object.keys(schema.shape) : undefined);
  return (obj) => {
    const r = schema.safeParse(obj, { reportInput: true });
    const combos = typeof obj === 'object' && obj !== null && !Array.isArray(obj) ? combinations(obj as Record<string, unknown>) : [];
    return [...(r.success ? [] : formatZodIssues(r.error.issues, knownKeys)), ...combos];
  };
}

/** The common fields resolved: 10 classes at 32×32 for the CIFAR layout, 1000 at 224×224 otherwise. */
export function resolveCommon(c: { numClasses?: number; inChannels: number; bnMomentum: number; bnEps: number; inputSize?: number }, cifar: boolean) {
  return {
    numClasses: c.numClasses ?? (cifar ? 10 : 1000),
    inChannels: c.inChannels,
    bnMomentum: c.bnMomentum,
    bnEps: c.bnEps,
    inputSize: c.inputSize ?? (cifar ? 32 : 224),
  };
}

/** Checks first (throwing every issue), then parses: the defaults-filled object a resolver completes. */
export function parseChecked<S extends z.ZodObject>(schema: S, validate: (obj: unknown) => ConfigIssue[], obj: unknown): z.output<S> {
  const issues = validate(obj);
  if (issues.length > 0) throw new ModelConfigError(issues);
  return schema.parse(obj);
}

/** The summary header's second line: every switch with its value. */
export function switchesLine(c: object, keys: readonly string[]): string {
  const r = c as Record<string, unknown>;
  return `Switches: ${keys.map((k) => `${k}=${Array.isArray(r[k]) ? (r[k] as unknown[]).join('/') : String(r[k])}`).join(' ')}`;
}
