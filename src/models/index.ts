/**
 * Models: the family registry and model specs, the ResNet/PlainNet family (pre-activation, wide,
 * stochastic depth), summaries and torchvision-compatible weights.
 */
import './families.js';

export {
  resolveModelSpec, validateModelSpec, createModelFromSpec, buildResolvedModel, listFamilies, listModelPresets, presetSpec,
  modelSpecObject, describeResolvedSpec, ModelSpecSchema, DEFAULT_FAMILY,
  type ModelSpec, type ModelSpecObject, type ResolvedModelSpec, type ResolveSpecOptions, type CreateFromSpecOptions, type FamilyInfo,
} from './registry.js';
export { registerFamily, ModelConfigError, type ModelFamily, type FamilyBuildOptions } from './family.js';
export {
  ResNetConfigSchema, resolveResNetConfig, validateResNetConfig, describeResNetConfig, IMAGENET_DEPTHS, CIFAR_DEPTHS, SHORTCUTS,
  type ResNetConfigInput, type ResolvedResNetConfig, type Depth, type Shortcut,
} from './resnet/config.js';
export { ResNet, buildResNet, blockPlans, type BuildOptions } from './resnet/build.js';
export { resnetFamily, RESNET_PRESETS } from './resnet/index.js';
export { createModel, listPresets, presetConfig, resolveModelConfig, type CreateModelOptions } from './presets.js';
export { printSummary, modelSummaryData, type PrintSummaryOptions } from './summary.js';
export {
  tensorToRaw, tensorSource, rawToTensor, stateDictToRaw, loadRawStateDict, saveWeights, loadWeights, type LoadWeightsOptions,
} from './weights.js';
export { StateDictError, type LoadReport, type LoadStateDictOptions, type SummaryData, type SummaryRow } from '../nn/index.js';
export { modelToOnnx, exportOnnx, readOnnxMetadata, OnnxExportError, ONNX_OPSET, type OnnxExportOptions } from './onnx/export.js';
export { convnextFamily, CONVNEXT_PRESETS, ConvNeXt, buildConvNeXt, ConvNeXtConfigSchema, type ConvNeXtConfigInput, type ResolvedConvNeXtConfig } from './convnext/index.js';
export { vitFamily, VIT_PRESETS, VisionTransformer, buildViT, ViTConfigSchema, type ViTConfigInput, type ResolvedViTConfig } from './vit/index.js';
