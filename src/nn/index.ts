/** The functional graph API: input(), layer.apply(), model(), with shape inference in TypeScript. */
export { Layer, Node, SymbolicTensor, uniqueLayerName, type LayerArgs, type LayerCost } from './layer.js';
export { Model, model, type ModelArgs, type ParamCounts } from './model.js';
export { input, InputLayer, type InputArgs } from './layers/input.js';
export { conv2d, Conv2D, type Conv2dArgs, type ConvInitializer } from './layers/conv.js';
export { batchNorm, BatchNormalization, type BatchNormArgs } from './layers/batch-norm.js';
export {
  maxPool, avgPool, globalAveragePool, adaptiveAvgPool, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, AdaptiveAveragePooling2D,
  type Pool2dArgs, type GlobalPoolArgs, type AdaptivePoolArgs,
} from './layers/pooling.js';
export {
  relu, relu6, flatten, dense, dropout, identity, ReLU, ReLU6, Flatten, Dense, Dropout, Identity, type DenseArgs, type DropoutArgs,
} from './layers/core.js';
export { add, Add, concatenate, Concatenate } from './layers/merge.js';
export { dropPath, DropPath, type DropPathArgs } from './layers/drop-path.js';
export { zeroPadShortcut, ZeroPadShortcut, type ZeroPadShortcutArgs } from './layers/shortcut.js';
export { summarize, formatSummary, formatCount, type InputSize, type SummaryData, type SummaryRow, type SummaryTotals } from './summary.js';
export { planStateDictLoad, isCleanLoad, StateDictError, type LoadReport, type LoadStateDictOptions, type MisshapedKey } from './state-dict.js';
export { kaimingNormalFanOut_, kaimingNormal_, kaimingUniformTorchDefault_, biasUniform_, xavierUniform_, fans } from './init.js';
export { formatShape, windowOutput, type Shape, type Pair } from './shape.js';
export { layerNorm, LayerNormalization, type LayerNormArgs } from './layers/layer-norm.js';
export { gelu, silu, hardswish, hardsigmoid, GELU, SiLU, Hardswish, Hardsigmoid, type GeluArgs } from './layers/activations.js';
export { multiHeadSelfAttention, MultiHeadSelfAttention, type MultiHeadSelfAttentionArgs } from './layers/attention.js';
export { squeezeExcitation, SqueezeExcitation, type SqueezeExcitationArgs } from './layers/squeeze-excitation.js';
export {
  permute, patchTokens, classToken, positionEmbedding, tokenPool, layerScale, Permute, PatchTokens, ClassToken, PositionEmbedding, TokenPool, LayerScale,
  type PermuteArgs, type ClassTokenArgs, type PositionEmbeddingArgs, type PositionEmbeddingKind, type TokenPoolArgs, type LayerScaleArgs,
} from './layers/tokens.js';
export { matmulShare, blasThreadsFor, applyBlasThreadsFor, MATMUL_HEAVY_SHARE } from './blas-policy.js';
