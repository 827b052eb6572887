/**
 * ablate: ablation studies of deep image classifiers (ResNet vs PlainNet, augmentation) in TypeScript,
 * with every FLOP in libtorch. This module is the public API of the `ablate` package:
 *
 * - models: {@link createModel}, presets ({@link listPresets}), {@link printSummary}, weights I/O
 *   ({@link saveWeights}, {@link loadWeights}) and ONNX export ({@link exportOnnx});
 * - data and augmentation: {@link openDataset}, {@link prepareDataset}, {@link DataLoader}, {@link buildAugmentPipeline};
 * - training and inference: {@link runTraining}, {@link fit}, {@link evaluate}, {@link predict}, {@link exportRunToOnnx};
 * - studies: {@link runStudy}, {@link writeStudyReport}.
 *
 * Lower layers have their own entry points: `ablate/tensor` (tensors, autograd, optimizers), `ablate/nn`
 * (the functional graph API), `ablate/models`, `ablate/data`, `ablate/augment`.
 *
 * @packageDocumentation
 */

// Engine essentials (the full tensor API is `ablate/tensor`).
export {
  Tensor, Generator, tensor, zeros, ones, randn, tidy, keep, noGrad, manualSeed, liveTensorCount, setNumThreads, getNumThreads,
  engineInfo, cudaAvailable, init, type DType, type EngineInfo,
} from './tensor/index.js';

// Model families, presets and summaries.
export {
  createModel, listPresets, presetConfig, resolveModelConfig, buildResNet, ResNet, ModelConfigError, validateResNetConfig,
  printSummary, modelSummaryData, IMAGENET_DEPTHS, CIFAR_DEPTHS, SHORTCUTS,
  type CreateModelOptions, type ResNetConfigInput, type ResolvedResNetConfig, type Depth, type Shortcut, type PrintSummaryOptions,
  type SummaryData, type SummaryRow,
} from './models/index.js';
export { Model, type ParamCounts } from './nn/index.js';

// Weights: PyTorch-compatible .pth files and ONNX.
export {
  saveWeights, loadWeights, StateDictError, modelToOnnx, exportOnnx, readOnnxMetadata, OnnxExportError, ONNX_OPSET,
  type LoadWeightsOptions, type LoadReport, type OnnxExportOptions,
} from './models/index.js';
export { readStateDict, writeStateDict, CheckpointError, type RawTensor } from './models/pth/index.js';
export { FileReadError } from './util/regular-file.js';

// Datasets.
export {
  openDataset, prepareDataset, parseDataSpec, DataLoader, ImageSet, SOURCE_NAMES, generatedClassNames, BadImageError,
  type DataSpecInput, type DataSpec, type Dataset, type BatchU8, type LoaderOptions, type SourceName,
} from './data/index.js';

// Augmentation.
export {
  buildAugmentPipeline, parseAugmentSpec, AUGMENT_PRESETS, AugmentSpecError, renderAugmentPreview,
  type AugmentSpecInput, type AugmentPipeline, type PreviewBatch, type PreviewOptions, type PreviewResult,
} from './augment/index.js';

// Training, evaluation, prediction and export of runs.
export { runTraining, type TrainingConfig, type PresetName } from './train/api.js';
export type { RunOptions } from './train/run.js';
export { fit, type FitOptions, type FitResult, type FitStatus, type BatchAugmenter } from './train/fit.js';
export type { Precision } from './run/machine.js';
export { evaluate, type EvalOptions, type EvalResult } from './train/evaluate.js';
export { classificationReport, type ClassificationReport, type ClassMetrics } from './train/error-analysis.js';
export { parseTrainConfig, validateTrainConfig, type TrainConfig, type TrainConfigInput } from './run/config.js';
export type { ScheduleInput } from './run/schedule-config.js';
export {
  Callback, EarlyStopping, ModelCheckpoint, CSVLogger, TensorBoard,
  type Logs, type EarlyStoppingOptions, type ModelCheckpointOptions, type CSVLoggerOptions, type TensorBoardOptions,
} from './train/callbacks/index.js';
export { predict, Predictor, labelledAccuracy, type PredictInput, type Prediction, type ClassScore, type PredictOptions, type PredictorOptions } from './train/predict.js';
export { readRunInfo, RunFolderError, type RunInfo, type RunCheckpoint, type Preprocessing } from './run/open-run.js';
export { readRunPlan, type RunPlan } from './run/plan.js';
export { exportRunToOnnx, ONNX_METADATA_KEYS, type ExportRunOptions, type ExportedRun } from './train/export-run.js';

// Studies.
export { runStudy, planStudy, type StudyRunOptions, type StudyRunResult } from './study/runner.js';
export { loadStudySpec, parseStudySpec, StudySpecError, type StudySpec } from './study/spec.js';
export { writeStudyReport, studyStatus, type WriteReportOptions, type WrittenReport } from './study/report/index.js';

export { ablateVersion as version } from './util/version.js';
