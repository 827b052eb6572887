import type { ConvNeXtConfigInput } from './config.js';

/**
 * Named ConvNeXts. torchvision's four (convnext_tiny … convnext_large: same layout, parameter counts and
 * stochastic-depth rates), and a CIFAR-sized one that trains in minutes on a CPU:
 * - `convnext-nano-cifar`: 2×2 stem (32² → 16²), blocks 2/2/2/2, widths 32/64/128/256, 10 classes.
 */
export const CONVNEXT_PRESETS: ReadonlyMap<string, ConvNeXtConfigInput> = new Map<string, ConvNeXtConfigInput>([
  ['convnext-tiny', { depths: [3, 3, 9, 3], widths: [96, 192, 384, 768], dropPathRate: 0.1 }],
  ['convnext-small', { depths: [3, 3, 27, 3], widths: [96, 192, 384, 768], dropPathRate: 0.4 }],
  ['convnext-base', { depths: [3, 3, 27, 3], widths: [128, 256, 512, 1024], dropPathRate: 0.5 }],
  ['convnext-large', { depths: [3, 3, 27, 3], widths: [192, 384, 768, 1536], dropPathRate: 0.5 }],
  ['convnext-nano-cifar', { depths: [2, 2, 2, 2], widths: [32, 64, 128, 256], stemPatch: 2, numClasses: 10, inputSize: 32 }],
]);
