import { CIFAR_DEPTHS, IMAGENET_DEPTHS, type ResNetConfigInput } from './config.js';

/**
 * Named ResNets the CLI and study files refer to. Presets are data: each is a config.
 * - `resnet{18…152}`, `plain{18…152}`: torchvision's layout; plain = `shortcut: none`.
 * - `resnet{20…110}-cifar`, `plain{20…110}-cifar`: He et al. 2016 §4.2 (option-A shortcuts).
 * - `preact-resnet…`: pre-activation (ResNet v2, He et al. 2016b) at every depth of both layouts.
 * - `wide-resnet50-2`, `wide-resnet101-2`: torchvision's `wide_resnet50_2` / `wide_resnet101_2`.
 * - `wrn28-10-cifar`: WRN-28-10 (Zagoruyko & Komodakis 2016, without their optional dropout). WRN depth
 *   6N+4 also counts the three 1×1 projection convs, so it is He et al.'s depth 26 (N = 4), pre-activation,
 *   projection shortcuts, widths 160/320/640 on a 16-channel stem.
 * - `resnext50-32x4d`, `resnext101-32x8d`, `resnext101-64x4d`: torchvision's ResNeXts (Xie et al. 2017):
 *   cardinality `groups` × `widthPerGroup` in each bottleneck's 3×3 conv.
 * - `resnext29-8x16d-cifar`: a CPU-sized ResNeXt-29 (bottleneck CIFAR layout, 9n+2 with n = 3) on the
 *   CIFAR widths 16/32/64 (Xie et al.'s CIFAR nets are 64/128/256 wide: 34M+ parameters), inner widths
 *   32/64/128 in 8 groups; `resnet29-bottleneck-cifar` is the same layout at cardinality 1 (inner 16/32/64).
 */
export const RESNET_PRESETS: ReadonlyMap<string, ResNetConfigInput> = new Map<string, ResNetConfigInput>([
  ...IMAGENET_DEPTHS.flatMap((depth): [string, ResNetConfigInput][] => [
    [`resnet${depth}`, { depth }],
    [`plain${depth}`, { depth, shortcut: 'none' }],
  ]),
  ...CIFAR_DEPTHS.flatMap((depth): [string, ResNetConfigInput][] => [
    [`resnet${depth}-cifar`, { depth }],
    [`plain${depth}-cifar`, { depth, shortcut: 'none' }],
  ]),
  ...IMAGENET_DEPTHS.map((depth): [string, ResNetConfigInput] => [`preact-resnet${depth}`, { depth, preact: true }]),
  ...CIFAR_DEPTHS.map((depth): [string, ResNetConfigInput] => [`preact-resnet${depth}-cifar`, { depth, preact: true }]),
  ['wide-resnet50-2', { depth: 50, widthMultiplier: 2 }],
  ['wide-resnet101-2', { depth: 101, widthMultiplier: 2 }],
  ['wrn28-10-cifar', { depth: 26, preact: true, widthMultiplier: 10, shortcut: 'projection' }],
  ['resnext50-32x4d', { depth: 50, groups: 32, widthPerGroup: 4 }],
  ['resnext101-32x8d', { depth: 101, groups: 32, widthPerGroup: 8 }],
  ['resnext101-64x4d', { depth: 101, groups: 64, widthPerGroup: 4 }],
  ['resnext29-8x16d-cifar', { depth: 29, block: 'bottleneck', groups: 8, widthPerGroup: 16 }],
  ['resnet29-bottleneck-cifar', { depth: 29, block: 'bottleneck' }],
]);
