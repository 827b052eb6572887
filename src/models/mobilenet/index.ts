/** The MobileNetV2 family (Sandler et al. 2018); registers itself. */
import { registerFamily, type ModelFamily } from '../family.js';
import {
  MobileNetV2ConfigSchema, describeMobileNetV2Config, mobileNetV2Name, resolveMobileNetV2Config, validateMobileNetV2Config,
  type MobileNetV2ConfigInput, type ResolvedMobileNetV2Config,
} from './config.js';
import { buildMobileNetV2 } from './build.js';

/**
 * - `mobilenet-v2` (torchvision's `mobilenet_v2`, α = 1); `mobilenet-v2-w0.5`, `mobilenet-v2-w0.75`, `mobilenet-v2-w1.4`: the
 *   paper's other widths (no torchvision weights).
 * - `mobilenet-v2-cifar` (2.2M parameters) and `mobilenet-v2-small-cifar` (α = 0.5, minutes per epoch on a CPU).
 */
export const MOBILENET_PRESETS: ReadonlyMap<string, MobileNetV2ConfigInput> = new Map<string, MobileNetV2ConfigInput>([
  ['mobilenet-v2', {}],
  ['mobilenet-v2-w0.5', { widthMultiplier: 0.5 }],
  ['mobilenet-v2-w0.75', { widthMultiplier: 0.75 }],
  ['mobilenet-v2-w1.4', { widthMultiplier: 1.4 }],
  ['mobilenet-v2-cifar', { layout: 'cifar' }],
  ['mobilenet-v2-small-cifar', { layout: 'cifar', widthMultiplier: 0.5 }],
]);

export const mobileNetFamily: ModelFamily<MobileNetV2ConfigInput, ResolvedMobileNetV2Config> = {
  name: 'mobilenet',
  description: 'MobileNetV2 (Sandler et al. 2018): inverted residuals, linear bottlenecks, width multiplier; torchvision names',
  schema: MobileNetV2ConfigSchema,
  presets: MOBILENET_PRESETS,
  validate: validateMobileNetV2Config,
  resolve: resolveMobileNetV2Config,
  build: (config, options) => buildMobileNetV2(config, options),
  defaultName: mobileNetV2Name,
  describe: describeMobileNetV2Config,
  weights: {
    archs: {
      // torchvision/models/mobilenetv2.py (0.14): V2 is the new recipe, evaluated at resize 232.
      mobilenet_v2: {
        enumName: 'MobileNet_V2_Weights', best: 'IMAGENET1K_V2',
        tags: { IMAGENET1K_V1: { file: 'mobilenet_v2-b0353104.pth' }, IMAGENET1K_V2: { file: 'mobilenet_v2-7ebf99e0.pth', resizeSize: 232 } },
      },
    },
    // Shapes only: strides, the skip and the bottleneck activation hold no weights, so the CIFAR layout and
    // those ablations fine-tune from the same tensors.
    archOf: (c) => (c.widthMultiplier === 1 && c.expandRatio === 6 && c.inChannels === 3 ? 'mobilenet_v2' : undefined),
  },
};

registerFamily(mobileNetFamily);

export * from './config.js';
export * from './build.js';
