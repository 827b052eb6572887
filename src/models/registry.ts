/**
 * Model specs: how run configs, study axes and the CLI name a model. A spec is a preset name
 * (`resnet56-cifar`) or an object of switches over an optional preset and family
 * (`{ preset: resnet34, shortcut: zero-pad, preact: true }`, `{ family: resnet, depth: 56 }`).
 * Resolution checks everything in one pass and reports every problem with its path.
 */
import { z } from 'zod';
import { Generator } from '../tensor/index.js';
import type { Model } from '../nn/index.js';
import { describe } from '../util/errors.js';
import { closest, type ConfigIssue } from '../util/zod-issues.js';
import { ModelConfigError, allPresetNames, canonicalPreset, familyNames, familyOfPreset, familyOfSpecKey, findFamily, type ModelFamily } from './family.js';
import './families.js';

/** The family a spec without `family` or `preset` belongs to. */
export const DEFAULT_FAMILY = 'resnet';

export interface ModelSpecObject {
  /** Family name (default: the preset's family, else `resnet`). */
  family?: string;
  /** Preset the switches apply over. */
  preset?: string;
  /** The family's switches, e.g. `shortcut`, `preact`, `widthMultiplier`, `dropPathRate`. */
  [field: string]: unknown;
}
export type ModelSpec = string | ModelSpecObject;

export interface ResolvedModelSpec<C extends object = object> {
  family: string;
  preset: string | undefined;
  /** The preset's name, or the family's name for the config (`preact-resnet56-cifar`). */
  name: string;
  /** The switches the spec sets over its preset, as given. */
  overrides: Record<string, unknown>;
  /** The family config the model is built from (preset ⊕ overrides ⊕ options), before defaults. */
  input: Record<string, unknown>;
  /** The full config with every default filled in (plain JSON). */
  config: C;
}

export interface ResolveSpecOptions {
  /** Classifier size (the dataset's class count); overrides the spec's `numClasses`. */
  numClasses?: number;
  /** Further fields over the spec's. */
  config?: Record<string, unknown>;
}

interface Analysis {
  issues: ConfigIssue[];
  family?: ModelFamily;
  preset?: string;
  overrides: Record<string, unknown>;
  input: Record<string, unknown>;
}

function unknownPreset(name: unknown): string {
  const hint = typeof name === 'string' ? closest(name, allPresetNames()) : undefined;
  return `expected a model preset (${allPresetNames().join(', ')}), received ${describe(name)}${hint ? ` (did you mean "${hint}"?)` : ''}`;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function analyse(spec: unknown, options: ResolveSpecOptions): Analysis {
  const issues: ConfigIssue[] = [];
  let family: ModelFamily | undefined;
  let preset: string | undefined;
  let overrides: Record<string, unknown> = {};
  if (typeof spec === 'string') {
    family = familyOfPreset(spec);
    if (family) preset = canonicalPreset(spec);
    else issues.push({ path: '', message: unknownPreset(spec) });
  } else if (isPlainObject(spec)) {
    const { family: familyName, preset: presetName, ...rest } = spec;
    overrides = rest;
    if (presetName !== undefined) {
      family = typeof presetName === 'string' ? familyOfPreset(presetName) : undefined;
      if (family) preset = canonicalPreset(presetName as string);
      else issues.push({ path: 'preset', message: unknownPreset(presetName) });
    }
    if (familyName !== undefined) {
      const named = typeof familyName === 'string' ? findFamily(familyName) : undefined;
      if (!named) {
        const hint = typeof familyName === 'string' ? closest(familyName, familyNames()) : undefined;
        issues.push({ path: 'family', message: `expected a model family (${familyNames().join(', ')}), received ${describe(familyName)}${hint ? ` (did you mean "${hint}"?)` : ''}` });
      } else if (family && family !== named) {
        issues.push({ path: 'family', message: `expected "${family.name}" (the family of preset "${preset}") or no family, received ${describe(familyName)}` });
      } else family = named;
    } else if (presetName === undefined) family = familyOfSpecKey(spec) ?? findFamily(DEFAULT_FAMILY);
  } else {
    issues.push({ path: '', message: `expected a model preset name or a spec object such as { preset: resnet34, shortcut: zero-pad }, received ${describe(spec)}` });
  }
  const input: Record<string, unknown> = {
    ...(family && preset ? family.presets.get(preset) : {}),
    ...overrides,
    ...options.config,
    ...(options.numClasses !== undefined ? { numClasses: options.numClasses } : {}),
  };
  // A family is known when the spec names one or a known preset: then every switch is checked too.
  if (family && !(preset === undefined && isPlainObject(spec) && spec.preset !== undefined)) issues.push(...family.validate(input));
  return { issues, family, preset, overrides, input };
}

/** Every problem in a spec (path relative to the spec, message "expected X, received Y"); [] when valid. */
export function validateModelSpec(spec: unknown, options: ResolveSpecOptions = {}): ConfigIssue[] {
  return analyse(spec, options).issues;
}

/**
 * A spec (preset name or `{ family?, preset?, ...switches }`) → its family and full config. Throws a
 * ModelConfigError listing every problem; nothing is built.
 */
export function resolveModelSpec<C extends object = object>(spec: ModelSpec, options: ResolveSpecOptions = {}): ResolvedModelSpec<C> {
  const a = analyse(spec, options);
  if (a.issues.length > 0 || !a.family) throw new ModelConfigError(a.issues);
  const config = a.family.resolve(a.input) as C;
  return {
    family: a.family.name,
    preset: a.preset,
    name: a.preset !== undefined && Object.keys(a.overrides).length === 0 ? a.preset : a.family.defaultName(config),
    overrides: a.overrides,
    input: a.input,
    config,
  };
}

/**
 * Zod schema of a spec for embedding in larger configs (`model: ModelSpecSchema`): its issues carry
 * their paths under the field, so a run config reports `model.dropPathRate: expected ...` with the rest.
 */
export const ModelSpecSchema = z.union([z.string(), z.looseObject({})]).superRefine((spec, ctx) => {
  for (const i of validateModelSpec(spec)) {
    ctx.addIssue({ code: 'custom', path: i.path === '' ? [] : i.path.split('.'), message: i.message, params: { complete: true }, input: spec });
  }
}) as unknown as z.ZodType<ModelSpec>;

export interface CreateFromSpecOptions extends ResolveSpecOptions {
  /** Same seed, same initial weights. Without seed or generator the global generator is used (see manualSeed). */
  seed?: number;
  generator?: Generator;
  /** 'cpu' (default), 'cuda' or 'cuda:N'. */
  device?: string;
  /** Default true; false skips weight initialisation (structure-only uses such as summaries). */
  initialize?: boolean;
  /** The model's name; default the spec's (see ResolvedModelSpec.name). */
  name?: string;
}

/** Builds the model of an already resolved spec (e.g. one read back from a run's config.json). */
export function buildResolvedModel(resolved: ResolvedModelSpec, options: Omit<CreateFromSpecOptions, keyof ResolveSpecOptions> = {}): Model {
  const family = findFamily(resolved.family);
  if (!family) throw new ModelConfigError([{ path: 'family', message: `expected a model family (${familyNames().join(', ')}), received ${describe(resolved.family)}` }]);
  // The stored config is re-resolved from its input, so a hand-edited config.json is checked like any spec.
  const config = family.resolve(resolved.input);
  const generator = options.generator ?? (options.seed !== undefined ? new Generator(options.seed) : undefined);
  const model = family.build(config, { name: options.name ?? resolved.name, generator, initialize: options.initialize });
  if (options.device !== undefined && options.device !== 'cpu') {
    try {
      model.to(options.device);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  return model;
}

/** Resolves a spec and builds it, initialised as its family does (torchvision's init for ResNets). */
export function createModelFromSpec(spec: ModelSpec, options: CreateFromSpecOptions = {}): Model {
  return buildResolvedModel(resolveModelSpec(spec, options), options);
}

/**
 * A spec as an object, so switches can be set on it (a study axis `model.preact` over a base
 * `model: resnet56-cifar`): a preset name becomes `{ preset }`; an object is copied.
 */
export function modelSpecObject(spec: ModelSpec): ModelSpecObject {
  if (typeof spec === 'string') return { preset: spec };
  if (!isPlainObject(spec)) throw new ModelConfigError([{ path: '', message: `expected a model preset name or a spec object, received ${describe(spec)}` }]);
  return { ...spec };
}

/** The family's description of a resolved spec (layout and every switch), as the summary prints it. */
export function describeResolvedSpec(resolved: ResolvedModelSpec): string[] {
  const family = findFamily(resolved.family);
  if (!family) throw new ModelConfigError([{ path: 'family', message: `expected a model family (${familyNames().join(', ')}), received ${describe(resolved.family)}` }]);
  return family.describe(resolved.config);
}

export interface FamilyInfo {
  name: string;
  description: string;
  /** The config fields (switches), in schema order. */
  switches: string[];
  presets: string[];
}

/** Every registered family with its switches and presets. */
export function listFamilies(): FamilyInfo[] {
  return familyNames().map((n) => {
    const f = findFamily(n)!;
    return { name: f.name, description: f.description, switches: Object.keys(f.schema.shape), presets: [...f.presets.keys()] };
  });
}

/** Preset names, of one family or of all. */
export function listModelPresets(family?: string): string[] {
  if (family === undefined) return allPresetNames();
  const f = findFamily(family);
  if (!f) throw new ModelConfigError([{ path: 'family', message: `expected a model family (${familyNames().join(', ')}), received ${describe(family)}` }]);
  return [...f.presets.keys()];
}

/** The config a preset stands for (a copy), with its family. Throws, listing the valid names, for an unknown one. */
export function presetSpec(name: string): { family: string; config: Record<string, unknown> } {
  const f = familyOfPreset(name);
  if (!f) throw new RangeError(`Unknown model preset ${describe(name)}; expected one of: ${allPresetNames().join(', ')}`);
  return { family: f.name, config: { ...(f.presets.get(canonicalPreset(name)!) as Record<string, unknown>) } };
}
