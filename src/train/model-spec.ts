/**
 * The `model:` field of a run: a preset name (`resnet56-cifar`) or an object of switches over a preset
 * (`{ preset: resnet56-cifar, shortcut: none }`) or over nothing (`{ depth: 56, shortcut: none }`).
 *
 * `resolveModelSpec` is the one place that turns such a spec into a model family and a resolved config.
 * It stands in for the models layer's family registry: when `resolveModelSpec` lands in
 * src/models/registry.ts, this function's body becomes a call to it and nothing else changes.
 */
import { describe } from '../util/errors.js';
import { closest, type ConfigIssue } from '../util/zod-issues.js';
import {
  ModelConfigError, ResNetConfigSchema, createModel, listPresets, presetConfig, resolveModelConfig,
  type ResNet, type ResolvedResNetConfig,
} from '../models/index.js';

export type ModelSpec = string | { family?: string; preset?: string; [field: string]: unknown };

export interface ResolvedModelSpec {
  family: 'resnet';
  /** The preset the spec started from, if any (names the model in logs and summaries). */
  preset?: string;
  config: ResolvedResNetConfig;
}

/** Thrown for a bad model spec; `issues` are relative to the spec (`shortcut`, `preset`, ``). */
export class ModelSpecError extends TypeError {
  constructor(readonly issues: ConfigIssue[]) {
    super(`Invalid model:\n${issues.map((i) => `  model${i.path ? '.' + i.path : ''}: ${i.message}`).join('\n')}`);
    this.name = 'ModelSpecError';
  }
}

const FAMILIES = ['resnet'];

/** A preset name or `{ family?, preset?, ...switches }` → family and fully resolved config. */
export function resolveModelSpec(spec: ModelSpec, numClasses?: number): ResolvedModelSpec {
  const isObject = typeof spec === 'object' && spec !== null && !Array.isArray(spec);
  if (typeof spec !== 'string' && !isObject) {
    throw new ModelSpecError([{ path: '', message: `expected a preset name or {preset: name, switch: value, …}, received ${describe(spec)}` }]);
  }
  const { family, preset, ...switches } = typeof spec === 'string' ? { preset: spec } : spec;
  const issues: ConfigIssue[] = [];
  if (family !== undefined && !FAMILIES.includes(family as string)) {
    issues.push({ path: 'family', message: `expected one of ${FAMILIES.join(', ')}, received ${describe(family)}` });
  }
  let base = {};
  if (preset !== undefined) {
    try {
      if (typeof preset !== 'string') throw new Error();
      base = presetConfig(preset);
    } catch {
      const guess = closest(String(preset), listPresets());
      issues.push({
        path: typeof spec === 'string' ? '' : 'preset',
        message: `expected a model preset (${guess ? `did you mean "${guess}"? ` : ''}one of ${listPresets().join(', ')}), received ${describe(preset)}`,
      });
    }
  }
  try {
    const config = resolveModelConfig({ ...base, ...switches } as never, numClasses !== undefined ? { numClasses } : {});
    if (issues.length) throw new ModelSpecError(issues);
    return { family: 'resnet', ...(typeof preset === 'string' && issues.length === 0 ? { preset } : {}), config };
  } catch (e) {
    if (e instanceof ModelSpecError) throw e;
    // Without a valid preset the switches alone lack a depth; that is the preset's problem, said once.
    const own = e instanceof ModelConfigError ? e.issues.filter((i) => !(issues.length && i.path === 'depth' && !('depth' in switches))) : [{ path: '', message: (e as Error).message }];
    throw new ModelSpecError([...issues, ...own]);
  }
}

/** The spec written out in full: what config.json records, and resolving it again gives the same model. */
export function modelSpecOf(r: ResolvedModelSpec): { family: string; preset?: string } & Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const resolved = r.config as unknown as Record<string, unknown>;
  for (const key of Object.keys(ResNetConfigSchema.shape)) if (resolved[key] !== undefined) fields[key] = resolved[key];
  return { family: r.family, ...(r.preset ? { preset: r.preset } : {}), ...fields };
}

/** A short name for logs: the preset, plus the switches that differ from it. */
export function modelLabel(spec: ModelSpec): string {
  if (typeof spec === 'string') return spec;
  const { family: _f, preset: given, ...switches } = spec;
  // Without a preset, name the model by the preset of its depth (`{depth: 56}` is resnet56-cifar).
  const preset = given ?? [`resnet${String(switches.depth)}`, `resnet${String(switches.depth)}-cifar`].find((p) => listPresets().includes(p));
  if (!preset) return `resnet (depth ${String(switches.depth)})`;
  let base: Record<string, unknown> = {};
  try {
    base = resolveModelConfig(String(preset)) as unknown as Record<string, unknown>;
  } catch { /* an invalid preset never reaches a log */ }
  const changed = Object.entries(switches).filter(([k, v]) => k !== 'numClasses' && k !== 'inputSize' && JSON.stringify(base[k]) !== JSON.stringify(v));
  return changed.length ? `${String(preset)} (${changed.map(([k, v]) => `${k}: ${String(v)}`).join(', ')})` : String(preset);
}

export interface BuildModelOptions {
  seed?: number;
  device?: string;
  initialize?: boolean;
}

/** Builds the model a resolved spec describes (same structure and initial weights as its preset would give). */
export function buildModel(r: ResolvedModelSpec, o: BuildModelOptions = {}): ResNet {
  const { family: _f, preset, ...config } = modelSpecOf(r);
  return createModel(preset ?? (config as never), { config: config as never, seed: o.seed, device: o.device, initialize: o.initialize });
}
