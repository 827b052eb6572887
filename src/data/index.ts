// Public surface of the data layer: sources -> Dataset -> (decode + cache) ImageSet -> DataLoader -> BatchU8.
export type { BatchU8, BadFile, BadFileReason, ConversionCounts, Dataset, DatasetItem, SourceName } from './types.js';
export type { DataSource } from './dataset-base.js';
export { SubsetDataset, ConcatDataset } from './dataset-base.js';
export { parseSplit, resolveRange, type SplitPart } from './split.js';
export { permutation, hashOrder, mulberry32, seedFrom } from './random.js';
export { openImageFolder, hasJfifHeader, IMAGE_EXT, type ImageFolderOptions } from './image-folder.js';
export { openTfds } from './tfds.js';
export { decodeExample, encodeExample, type ExampleFeatures, type FeatureValue } from './tf-example.js';
export { scanTfRecords, frameTfRecord } from './tfrecord.js';
export { openStanfordDogs } from './stanford-dogs.js';
export { readMat, matStrings, matNumbers, type MatValue } from './matlab.js';
export { openCifar, type CifarKind } from './cifar.js';
export { openGenerated, renderGenerated, generatedClassNames, DEFAULT_GENERATED, MAX_GENERATED_CLASSES, SHAPES, TEXTURES, type GeneratedOptions, type Difficulty } from './generated.js';
export { decodeItem, decodeItems, BadImageError, RESIZE_KERNEL, DEFAULT_MAX_IMAGE_BYTES, maxImageBytes, readImageFile, type ResizeMode, type DecodeTarget, type Decoded } from './decode.js';
export { jpegDecoder } from './fast-jpeg.js';
export { prepareImages, defaultCacheDir, ImageSet, SplitChangedError, CACHE_VERSION, type PrepareOptions } from './image-cache.js';
export { DataLoader, type TrainLoader, type LoaderOptions, type EpochOptions, type LoaderStats } from './loader.js';
export {
  DataSpecSchema,
  GeneratedSpecSchema,
  SOURCE_NAMES,
  parseDataSpec,
  detectSource,
  openSource,
  openDataset,
  prepareDataset,
  resolveDataPath,
  sourceSplitNames,
  type OpenOptions,
  resolveImageSize,
  type DataSpec,
  type DataSpecInput,
} from './spec.js';
export {
  knownDatasets, findDataset, ensureDataset, isDownloadable, datasetDir, datasetPath, totalSize, cachedState, DOWNLOADABLE,
  type CatalogueEntry, type DownloadableSource, type EnsureOptions, type CachedFileState,
} from './catalogue.js';
export * from './fetch/index.js';
export { splitRole, isSplitFolderName, resolveSplitName, heldOutSplit, type SplitRole } from './layouts.js';
export { parseHfArg, dataArgFields } from './hf/arg.js';
export { openHf, type HfOpenOptions } from './hf/source.js';
export { resolveRevision, ensureHubFiles, listHubCache, hfHubCache, hfEndpoint, hfOffline, repoFolder, HubError, type HubRevision, type HubFile, type CachedHubDataset } from './hf/hub.js';
export { openWebDataset, expandShardPattern, assignShards, webDatasetStream, webDatasetSplitOf, shardSampleCounts, isWebDatasetPath, type StreamOptions, type StreamedSample } from './webdataset.js';
export { WebDatasetLoader, type StreamLoaderOptions, type StreamPosition } from './stream-loader.js';
export { writeWebDataset, imageExt, type ShardWriteOptions } from './shard-writer.js';
