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
]);
