/** The ResNet/PlainNet family: configs, presets, the builder, summaries and torchvision-compatible weights. */
export {
  ResNetConfigSchema, ModelConfigError, resolveResNetConfig, validateResNetConfig, IMAGENET_DEPTHS, CIFAR_DEPTHS, SHORTCUTS,
  type ResNetConfigInput, type ResolvedResNetConfig, type Depth, type Shortcut,
} from './config.js';
export { ResNet, buildResNet, type BuildOptions } from './resnet.js';
export { createModel, listPresets, presetConfig, resolveModelConfig, type CreateModelOptions } from './presets.js';
export { printSummary, modelSummaryData, type PrintSummaryOptions } from './summary.js';
export {
  tensorToRaw, rawToTensor, stateDictToRaw, loadRawStateDict, saveWeights, loadWeights, type LoadWeightsOptions,
} from './weights.js';
export { StateDictError, type LoadReport, type LoadStateDictOptions, type SummaryData, type SummaryRow } from '../nn/index.js';
export { modelToOnnx, exportOnnx, readOnnxMetadata, OnnxExportError, ONNX_OPSET, type OnnxExportOptions } from './onnx/export.js';
