/** The VGG family (Simonyan & Zisserman 2015), with and without batch norm; registers itself. */
import { registerFamily, type ArchWeights, type ModelFamily } from '../family.js';
import { VGG_DEPTHS, VggConfigSchema, describeVggConfig, resolveVggConfig, validateVggConfig, vggName, type ResolvedVggConfig, type VggConfigInput } from './config.js';
import { buildVgg } from './build.js';

/**
 * - `vgg11 … vgg19`, `vgg11-bn … vgg19-bn`: torchvision's (`vgg16_bn` is an alias of `vgg16-bn`).
 * - `vgg11-cifar … vgg19-bn-cifar`: the CIFAR VGG (linear head on the 1×1 features, 10 classes, 32×32);
 *   `vgg11-small-cifar`, `vgg11-bn-small-cifar`: the same at ¼ width (16…128 channels), minutes per epoch on a CPU.
 */
export const VGG_PRESETS: ReadonlyMap<string, VggConfigInput> = new Map<string, VggConfigInput>([
  ...VGG_DEPTHS.flatMap((depth): [string, VggConfigInput][] => [[`vgg${depth}`, { depth }], [`vgg${depth}-bn`, { depth, batchNorm: true }]]),
  ...VGG_DEPTHS.flatMap((depth): [string, VggConfigInput][] => [
    [`vgg${depth}-cifar`, { depth, head: 'linear' }],
    [`vgg${depth}-bn-cifar`, { depth, batchNorm: true, head: 'linear' }],
  ]),
  ['vgg11-small-cifar', { depth: 11, head: 'linear', widthMultiplier: 0.25 }],
  ['vgg11-bn-small-cifar', { depth: 11, batchNorm: true, head: 'linear', widthMultiplier: 0.25 }],
]);

/** torchvision's VGG weights (torchvision/models/vgg.py, 0.14), all evaluated at resize 256 / crop 224. */
const FILES: Record<string, string> = {
  vgg11: 'vgg11-8a719046.pth', vgg11_bn: 'vgg11_bn-6002323d.pth', vgg13: 'vgg13-19584684.pth', vgg13_bn: 'vgg13_bn-abd245e5.pth',
  vgg16: 'vgg16-397923af.pth', vgg16_bn: 'vgg16_bn-6c64b313.pth', vgg19: 'vgg19-dcbb9e9d.pth', vgg19_bn: 'vgg19_bn-c79401a0.pth',
};
const archs: Record<string, ArchWeights> = Object.fromEntries(Object.entries(FILES).map(([arch, file]) => [
  arch, { enumName: `${arch.toUpperCase()}_Weights`, best: 'IMAGENET1K_V1', tags: { IMAGENET1K_V1: { file } } },
]));

export const vggFamily: ModelFamily<VggConfigInput, ResolvedVggConfig> = {
  name: 'vgg',
  description: 'VGG 11/13/16/19 (Simonyan & Zisserman 2015), with or without batch norm (Ioffe & Szegedy 2015); torchvision names',
  schema: VggConfigSchema,
  presets: VGG_PRESETS,
  validate: validateVggConfig,
  resolve: resolveVggConfig,
  build: (config, options) => buildVgg(config, options),
  defaultName: vggName,
  describe: describeVggConfig,
  weights: {
    archs,
    // torchvision's shapes: its head at 4096 hidden units, full width, RGB.
    archOf: (c) => (c.head === 'fc3' && c.hiddenUnits === 4096 && c.widthMultiplier === 1 && c.inChannels === 3 ? `vgg${c.depth}${c.batchNorm ? '_bn' : ''}` : undefined),
  },
};

registerFamily(vggFamily);

export * from './config.js';
export * from './build.js';
