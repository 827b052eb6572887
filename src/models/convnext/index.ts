/** The ConvNeXt family (Liu et al. 2022): registers itself with the model registry. */
import { registerFamily, type ModelFamily } from '../family.js';
import { ConvNeXtConfigSchema, describeConvNeXtConfig, resolveConvNeXtConfig, validateConvNeXtConfig, type ConvNeXtConfigInput, type ResolvedConvNeXtConfig } from './config.js';
import { buildConvNeXt, convnextDefaultName } from './build.js';
import { CONVNEXT_PRESETS } from './presets.js';
import { CONVNEXT_WEIGHTS } from './weights.js';

export const convnextFamily: ModelFamily<ConvNeXtConfigInput, ResolvedConvNeXtConfig> = {
  name: 'convnext',
  description: 'ConvNeXt (Liu et al. 2022): LayerNorm/BatchNorm, depthwise kernel size, layer scale, stochastic depth; torchvision names',
  schema: ConvNeXtConfigSchema,
  presets: CONVNEXT_PRESETS,
  validate: validateConvNeXtConfig,
  resolve: resolveConvNeXtConfig,
  build: (config, options) => buildConvNeXt(config, options),
  defaultName: convnextDefaultName,
  weights: CONVNEXT_WEIGHTS,
  describe: describeConvNeXtConfig,
};

registerFamily(convnextFamily);

export * from './config.js';
export * from './build.js';
export { CONVNEXT_PRESETS } from './presets.js';
