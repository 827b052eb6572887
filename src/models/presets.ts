import { Generator } from '../tensor/index.js';
import { describe } from '../util/errors.js';
import { CIFAR_DEPTHS, IMAGENET_DEPTHS, resolveResNetConfig, type ResNetConfigInput, type ResolvedResNetConfig } from './config.js';
import { buildResNet, type ResNet } from './resnet.js';

/** Named models the CLI and study files refer to. Presets are data: each is a config. */
const PRESETS = new Map<string, ResNetConfigInput>([
  ...IMAGENET_DEPTHS.flatMap((depth): [string, ResNetConfigInput][] => [
    [`resnet${depth}`, { depth }],
    [`plain${depth}`, { depth, shortcut: 'none' }],
  ]),
  ...CIFAR_DEPTHS.flatMap((depth): [string, ResNetConfigInput][] => [
    [`resnet${depth}-cifar`, { depth }],
    [`plain${depth}-cifar`, { depth, shortcut: 'none' }],
  ]),
]);

/** The names of every model preset (`resnet18` … `plain110-cifar`). */
export function listPresets(): string[] {
  return [...PRESETS.keys()];
}

/** The config a preset stands for (a copy). Throws, listing the valid names, for an unknown one. */
export function presetConfig(name: string): ResNetConfigInput {
  const c = PRESETS.get(name);
  if (c === undefined) {
    throw new RangeError(`Unknown model preset ${describe(name)}; expected one of: ${listPresets().join(', ')}`);
  }
  return { ...c };
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

/** Resolves a preset name or a config object, plus options, into a full config. */
export function resolveModelConfig(presetOrConfig: string | ResNetConfigInput, options: CreateModelOptions = {}): ResolvedResNetConfig {
  const base = typeof presetOrConfig === 'string' ? presetConfig(presetOrConfig) : presetOrConfig;
  if (typeof base !== 'object' || base === null || Array.isArray(base)) {
    throw new TypeError(`Expected a preset name or a model config object for the model but received ${describe(base)}`);
  }
  const merged = { ...base, ...options.config, ...(options.numClasses !== undefined ? { numClasses: options.numClasses } : {}) };
  return resolveResNetConfig(merged);
}

/**
 * Builds a ResNet/PlainNet from a preset (`'resnet50'`, `'plain34'`, `'resnet56-cifar'`, ...) or a
 * config object (`{ depth: 50, shortcut: 'zero-pad' }`), initialised like torchvision.
 */
export function createModel(presetOrConfig: string | ResNetConfigInput, options: CreateModelOptions = {}): ResNet {
  const cfg = resolveModelConfig(presetOrConfig, options);
  const name = typeof presetOrConfig === 'string' ? presetOrConfig : undefined;
  const generator = options.generator ?? (options.seed !== undefined ? new Generator(options.seed) : undefined);
  const model = buildResNet(cfg, { name, generator, initialize: options.initialize });
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
