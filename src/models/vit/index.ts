/** The Vision Transformer family (Dosovitskiy et al. 2021): registers itself with the model registry. */
import { registerFamily, type ModelFamily } from '../family.js';
import { ViTConfigSchema, describeViTConfig, resolveViTConfig, validateViTConfig, type ViTConfigInput, type ResolvedViTConfig } from './config.js';
import { buildViT, vitDefaultName } from './build.js';
import { VIT_PRESETS } from './presets.js';
import { VIT_WEIGHTS } from './weights.js';

export const vitFamily: ModelFamily<ViTConfigInput, ResolvedViTConfig> = {
  name: 'vit',
  description: 'Vision Transformer (Dosovitskiy et al. 2021): patch size, depth, heads, class-token or average pooling, learned/sin-cos/no position embedding, stochastic depth; torchvision names',
  schema: ViTConfigSchema,
  presets: VIT_PRESETS,
  validate: validateViTConfig,
  resolve: resolveViTConfig,
  build: (config, options) => buildViT(config, options),
  defaultName: vitDefaultName,
  weights: VIT_WEIGHTS,
  describe: describeViTConfig,
};

registerFamily(vitFamily);

export * from './config.js';
export { VisionTransformer, buildViT, vitDefaultName, blockDropRates as vitBlockDropRates } from './build.js';
export { VIT_PRESETS } from './presets.js';
