import type { ViTConfigInput } from './config.js';

/**
 * Named Vision Transformers: torchvision's five (vit_b_16 … vit_h_14, same layouts and parameter counts) and a
 * CIFAR-sized one that trains in minutes on a CPU:
 * - `vit-tiny-cifar`: 4×4 patches of a 32² image (64 tokens + class token), 6 blocks, width 128, 4 heads, MLP 256,
 *   10 classes (about the size of the small ViTs trained from scratch on CIFAR-10, e.g. Lee et al. 2021).
 */
export const VIT_PRESETS: ReadonlyMap<string, ViTConfigInput> = new Map<string, ViTConfigInput>([
  ['vit-b-16', { patchSize: 16, depth: 12, heads: 12, width: 768, mlpDim: 3072 }],
  ['vit-b-32', { patchSize: 32, depth: 12, heads: 12, width: 768, mlpDim: 3072 }],
  ['vit-l-16', { patchSize: 16, depth: 24, heads: 16, width: 1024, mlpDim: 4096 }],
  ['vit-l-32', { patchSize: 32, depth: 24, heads: 16, width: 1024, mlpDim: 4096 }],
  ['vit-h-14', { patchSize: 14, depth: 32, heads: 16, width: 1280, mlpDim: 5120 }],
  ['vit-tiny-cifar', { patchSize: 4, depth: 6, heads: 4, width: 128, mlpDim: 256, numClasses: 10, inputSize: 32 }],
]);
