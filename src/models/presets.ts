/**
 * The ResNet-typed entry points that predate the family registry (`createModel('resnet50')`); they
 * resolve through the registry, so they see the same presets and checks as model specs.
 */
import type { Generator } from '../tensor/index.js';
import { describe } from '../util/errors.js';
import { allPresetNames, familyOfPreset } from './family.js';
import { buildResolvedModel, presetSpec, resolveModelSpec } from './registry.js';
import { resnetFamily, type ResNet, type ResNetConfigInput, type ResolvedResNetConfig } from './resnet/index.js';

/** Every preset name of every family, in registration order. */
export function listPresets(): string[] {
  return allPresetNames();
}

/** The config a preset stands for (a copy). Throws, listing the valid names, for an unknown one. */
export function presetConfig(name: string): ResNetConfigInput {
  return presetSpec(name).config as ResNetConfigInput;
}

/** Options of `createModel`: classifier size, config overrides, seed, device. */
export interface CreateModelOptions {
  /** Overrides the preset's classifier size (a field of the config, here for convenience). */
  numClasses?: number;
  /** Further config fields over the preset, e.g. `{ zeroInitLastBn: true }`. */
  config?: Partial<ResNetConfigInput>;
  /** Same seed, same initial weights. Without seed or generator the global generator is used (see manualSeed). */
  seed?: number;
  generator?: Generator;
  /** 'cpu' (default), 'cuda' or 'cuda:N'. */
  device?: string;
  /** Default true; false skips weight initialisation (structure-only uses such as summaries). */
  initialize?: boolean;
}

function resnetSpec(presetOrConfig: string | ResNetConfigInput): string | Record<string, unknown> {
  if (typeof presetOrConfig === 'string') {
    const f = familyOfPreset(presetOrConfig);
    if (!f) throw new RangeError(`Unknown model preset ${describe(presetOrConfig)}; expected one of: ${listPresets().join(', ')}`);
    if (f !== (resnetFamily as unknown)) throw new RangeError(`createModel builds ResNets, but preset "${presetOrConfig}" is of family "${f.name}"; use createModelFromSpec`);
    return presetOrConfig;
  }
  if (typeof presetOrConfig !== 'object' || presetOrConfig === null || Array.isArray(presetOrConfig)) {
    throw new TypeError(`Expected a preset name or a model config object for the model but received ${describe(presetOrConfig)}`);
  }
  return { ...presetOrConfig, family: resnetFamily.name };
}

/** Resolves a preset name or a ResNet config object, plus options, into a full config. */
export function resolveModelConfig(presetOrConfig: string | ResNetConfigInput, options: CreateModelOptions = {}): ResolvedResNetConfig {
  return resolveModelSpec<ResolvedResNetConfig>(resnetSpec(presetOrConfig), { numClasses: options.numClasses, config: options.config }).config;
}

/**
 * Builds a ResNet/PlainNet from a preset (`'resnet50'`, `'plain34'`, `'preact-resnet110-cifar'`, ...) or
 * a config object (`{ depth: 50, shortcut: 'zero-pad' }`), initialised like torchvision.
 */
export function createModel(presetOrConfig: string | ResNetConfigInput, options: CreateModelOptions = {}): ResNet {
  const resolved = resolveModelSpec(resnetSpec(presetOrConfig), { numClasses: options.numClasses, config: options.config });
  // A config object keeps the name the config implies; a preset keeps its own even with overrides.
  const name = typeof presetOrConfig === 'string' ? resolved.preset : undefined;
  return buildResolvedModel(resolved, { ...options, name: name ?? resolved.name }) as ResNet;
}
