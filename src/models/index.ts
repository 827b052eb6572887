/**
 * Models: the family registry and model specs, the ResNet/PlainNet/ResNeXt family (pre-activation, wide,
 * stochastic depth), VGG, MobileNetV2 and DenseNet, summaries and torchvision-compatible weights.
 */
import './families.js';

export {
  resolveModelSpec, validateModelSpec, createModelFromSpec, buildResolvedModel, listFamilies, listModelPresets, presetSpec,
  modelSpecObject, describeResolvedSpec, ModelSpecSchema, DEFAULT_FAMILY,
  type ModelSpec, type ModelSpecObject, type ResolvedModelSpec, type ResolveSpecOptions, type CreateFromSpecOptions, type FamilyInfo,
} from './registry.js';
export {
  registerFamily, canonicalPreset, ModelConfigError, type ModelFamily, type FamilyBuildOptions, type FamilyWeights, type ArchWeights, type WeightFile, type Interpolation,
} from './family.js';
export {
  ResNetConfigSchema, resolveResNetConfig, validateResNetConfig, describeResNetConfig, IMAGENET_DEPTHS, CIFAR_DEPTHS, SHORTCUTS,
  type ResNetConfigInput, type ResolvedResNetConfig, type Depth, type Shortcut,
} from './resnet/config.js';
export { ResNet, buildResNet, blockPlans, type BuildOptions } from './resnet/build.js';
export { resnetFamily, RESNET_PRESETS } from './resnet/index.js';
export { vggFamily, VGG_PRESETS, VggConfigSchema, resolveVggConfig, validateVggConfig, type VggConfigInput, type ResolvedVggConfig, type Vgg } from './vgg/index.js';
export {
  mobileNetFamily, MOBILENET_PRESETS, MobileNetV2ConfigSchema, resolveMobileNetV2Config, validateMobileNetV2Config,
  type MobileNetV2ConfigInput, type ResolvedMobileNetV2Config, type MobileNetV2,
} from './mobilenet/index.js';
export {
  denseNetFamily, DENSENET_PRESETS, DenseNetConfigSchema, resolveDenseNetConfig, validateDenseNetConfig,
  type DenseNetConfigInput, type ResolvedDenseNetConfig, type DenseNet,
} from './densenet/index.js';
export { ConfiguredModel } from './configured.js';
export { createModel, listPresets, presetConfig, resolveModelConfig, type CreateModelOptions } from './presets.js';
export { printSummary, modelSummaryData, type PrintSummaryOptions } from './summary.js';
export {
  tensorToRaw, tensorSource, rawToTensor, stateDictToRaw, loadRawStateDict, saveWeights, loadWeights, type LoadWeightsOptions,
} from './weights.js';
export { StateDictError, type LoadReport, type LoadStateDictOptions, type SummaryData, type SummaryRow } from '../nn/index.js';
export { modelToOnnx, exportOnnx, needsFixedInputSize, readOnnxMetadata, OnnxExportError, ONNX_OPSET, type OnnxExportOptions } from './onnx/export.js';
export {
  torchscriptFamily, loadTorchScriptModel, TorchScriptModel, TorchScriptConfigSchema, torchScriptFileProblem, maxTorchScriptBytes,
  type ResolvedTorchScriptConfig, type TorchScriptConfigInput,
} from './torchscript/index.js';
export { convnextFamily, CONVNEXT_PRESETS, ConvNeXt, buildConvNeXt, ConvNeXtConfigSchema, type ConvNeXtConfigInput, type ResolvedConvNeXtConfig } from './convnext/index.js';
export { vitFamily, VIT_PRESETS, VisionTransformer, buildViT, ViTConfigSchema, type ViTConfigInput, type ResolvedViTConfig } from './vit/index.js';
