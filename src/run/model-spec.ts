/**
 * The `model:` field of a run: a preset name (`resnet56-cifar`) or an object of switches over a preset
 * (`{ preset: resnet56-cifar, shortcut: none }`) or over a family (`{ depth: 56, preact: true }`).
 * The models layer's family registry resolves and builds it; this module adapts it to the run plan:
 * problems under `model.*`, the spec written out in full for config.json, and a label for logs.
 */
import {
  ModelConfigError, buildResolvedModel, listFamilies, resolveModelSpec as resolveRegistry,
  type ModelSpec, type ResolvedModelSpec as RegistrySpec,
} from '../models/index.js';
import type { Model } from '../nn/index.js';
import type { ConfigIssue } from '../util/zod-issues.js';

export type { ModelSpec };

/** A resolved spec; every family's config has a classifier size. */
export type ResolvedModelSpec = RegistrySpec<{ numClasses: number }>;

/** Thrown for a bad model spec; `issues` are relative to the spec (`shortcut`, `preset`, ``). */
export class ModelSpecError extends TypeError {
  constructor(readonly issues: ConfigIssue[]) {
    super(`Invalid model:\n${issues.map((i) => `  model${i.path ? '.' + i.path : ''}: ${i.message}`).join('\n')}`);
    this.name = 'ModelSpecError';
  }
}

/** A preset name or `{ family?, preset?, ...switches }` → family and fully resolved config. */
export function resolveModelSpec(spec: ModelSpec, numClasses?: number): ResolvedModelSpec {
  try {
    return resolveRegistry<{ numClasses: number }>(spec, numClasses !== undefined ? { numClasses } : {});
  } catch (e) {
    if (e instanceof ModelConfigError) throw new ModelSpecError(e.issues);
    throw e;
  }
}

/** The spec written out in full (family, preset, every switch): what config.json records; resolving it again gives the same model. */
export function modelSpecOf(r: ResolvedModelSpec): { family: string; preset?: string } & Record<string, unknown> {
  const switches = listFamilies().find((f) => f.name === r.family)?.switches ?? [];
  const resolved = r.config as Record<string, unknown>;
  const fields: Record<string, unknown> = {};
  for (const key of switches) if (resolved[key] !== undefined) fields[key] = resolved[key];
  return { family: r.family, ...(r.preset ? { preset: r.preset } : {}), ...fields };
}

/** A short name for logs: the preset plus the switches that differ from it, or the family's name for the config. */
export function modelLabel(spec: ModelSpec): string {
  if (typeof spec === 'string') return spec;
  let r: RegistrySpec;
  try {
    r = resolveRegistry(spec);
  } catch {
    return String(spec.preset ?? spec.family ?? 'model'); // an invalid spec never reaches a log
  }
  if (!r.preset) return r.name;
  const base = resolveRegistry(r.preset).config as Record<string, unknown>;
  const own = r.config as Record<string, unknown>;
  const changed = Object.keys(spec).filter((k) => !['family', 'preset', 'numClasses', 'inputSize'].includes(k) && JSON.stringify(base[k]) !== JSON.stringify(own[k]));
  return changed.length ? `${r.preset} (${changed.map((k) => `${k}: ${String(own[k])}`).join(', ')})` : r.preset;
}

export interface BuildModelOptions {
  seed?: number;
  device?: string;
  initialize?: boolean;
}

/** Builds the model a resolved spec describes (same structure and initial weights as its preset would give). */
export function buildModel(r: ResolvedModelSpec, o: BuildModelOptions = {}): Model {
  return buildResolvedModel(r, { seed: o.seed, device: o.device, initialize: o.initialize });
}
