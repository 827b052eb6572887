/** The ResNet family (PlainNet is its `shortcut: none`): registers itself with the model registry. */
import { registerFamily, type ModelFamily } from '../family.js';
import { ResNetConfigSchema, describeResNetConfig, resolveResNetConfig, validateResNetConfig, type ResNetConfigInput, type ResolvedResNetConfig } from './config.js';
import { buildResNet, defaultName } from './build.js';
import { RESNET_PRESETS } from './presets.js';
import { RESNET_WEIGHTS } from './weights.js';

export const resnetFamily: ModelFamily<ResNetConfigInput, ResolvedResNetConfig> = {
  name: 'resnet',
  description: 'ResNet v1/v2 and PlainNet (He et al. 2016), wide (Zagoruyko & Komodakis 2016), stochastic depth (Huang et al. 2016); torchvision names',
  schema: ResNetConfigSchema,
  presets: RESNET_PRESETS,
  validate: validateResNetConfig,
  resolve: resolveResNetConfig,
  build: (config, options) => buildResNet(config, options),
  defaultName,
  describe: describeResNetConfig,
  weights: RESNET_WEIGHTS,
};

registerFamily(resnetFamily);

export * from './config.js';
export * from './build.js';
export { RESNET_PRESETS } from './presets.js';
