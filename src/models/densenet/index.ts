/** The DenseNet family (Huang et al. 2017): DenseNet, -B, -C and -BC; registers itself. */
import { registerFamily, type ArchWeights, type ModelFamily } from '../family.js';
import {
  DENSENET_IMAGENET_DEPTHS, DenseNetConfigSchema, denseNetName, describeDenseNetConfig, resolveDenseNetConfig, validateDenseNetConfig,
  type DenseNetConfigInput, type ResolvedDenseNetConfig,
} from './config.js';
import { buildDenseNet } from './build.js';

/**
 * - `densenet121`, `densenet161`, `densenet169`, `densenet201`: torchvision's (DenseNet-BC, ImageNet).
 * - `densenet-bc100-k12-cifar` (0.8M parameters) and `densenet40-k12-cifar` (1.0M): Huang et al.'s CIFAR
 *   nets (Table 2); `densenet-bc40-k12-cifar` (0.18M): a CPU-sized DenseNet-BC.
 */
export const DENSENET_PRESETS: ReadonlyMap<string, DenseNetConfigInput> = new Map<string, DenseNetConfigInput>([
  ...DENSENET_IMAGENET_DEPTHS.map((depth): [string, DenseNetConfigInput] => [`densenet${depth}`, { depth }]),
  ['densenet-bc100-k12-cifar', { layout: 'cifar', depth: 100, growthRate: 12 }],
  ['densenet40-k12-cifar', { layout: 'cifar', depth: 40, growthRate: 12, bottleneck: false, compression: 1 }],
  ['densenet-bc40-k12-cifar', { layout: 'cifar', depth: 40, growthRate: 12 }],
]);

/** torchvision/models/densenet.py (0.14): resize 256 / crop 224. */
const FILES: Record<number, string> = { 121: 'densenet121-a639ec97.pth', 161: 'densenet161-8d451a50.pth', 169: 'densenet169-b2777c0a.pth', 201: 'densenet201-c1103571.pth' };
const archs: Record<string, ArchWeights> = Object.fromEntries(Object.entries(FILES).map(([d, file]) => [
  `densenet${d}`, { enumName: `DenseNet${d}_Weights`, best: 'IMAGENET1K_V1', tags: { IMAGENET1K_V1: { file } } },
]));

/**
 * torchvision's published files predate its module names: `denselayer1.norm.1.weight` is today's
 * `denselayer1.norm1.weight` (torchvision's `_load_state_dict` renames them the same way).
 */
const OLD_KEY = /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$/;

export const denseNetFamily: ModelFamily<DenseNetConfigInput, ResolvedDenseNetConfig> = {
  name: 'densenet',
  description: 'DenseNet / -B / -C / -BC (Huang et al. 2017): growth rate, compression, bottleneck layers; torchvision names',
  schema: DenseNetConfigSchema,
  presets: DENSENET_PRESETS,
  validate: validateDenseNetConfig,
  resolve: resolveDenseNetConfig,
  build: (config, options) => buildDenseNet(config, options),
  defaultName: denseNetName,
  describe: describeDenseNetConfig,
  weights: {
    archs,
    archOf: (c) => (c.layout === 'imagenet' && denseNetName(c) === `densenet${c.depth}` && c.bnSize === 4 && c.inChannels === 3
      && c.initFeatures === (c.depth === 161 ? 96 : 64) ? `densenet${c.depth}` : undefined),
    renameKey: (key) => key.replace(OLD_KEY, '$1$2'),
  },
};

registerFamily(denseNetFamily);

export * from './config.js';
export * from './build.js';
