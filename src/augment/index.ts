// Batch augmentation: TF-style colour ops, crops, CutMix/MixUp, the `augment:` spec, and previews.
export { AugmentSpecSchema, AugmentSpecError, AUGMENT_PRESETS, parseAugmentSpec } from './spec.js';
export type { AugmentOp, MixOp, Size, AugmentSpecInput } from './spec.js';
export { buildAugmentPipeline } from './pipeline.js';
export type { AugmentPipeline, AugmentContext, AugmentInfo, AugmentResult, BuildOptions } from './pipeline.js';
export { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, clipValues } from './color.js';
export { centerCrop, cropAt, flipWhere, padBatch, resizeBatch, resizedCrops, sampleResizedCropBox } from './geometry.js';
export type { Box, PaddingMode } from './geometry.js';
export { mixBatch, oneHotTargets, sampleCutmixBox } from './mix.js';
export type { MixKind, MixRecord, MixSettings } from './mix.js';
export { UniformStream, sampleBeta, sampleGamma } from './scalar-random.js';
export { renderAugmentPreview, batchToTensors, mixedLabelCaption } from './preview.js';
export type { PreviewBatch, PreviewOptions, PreviewResult } from './preview.js';
