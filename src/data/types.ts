/** A batch of decoded images ready to become a tensor: uint8 RGB, row-major NHWC. */
export interface BatchU8 {
  images: Uint8Array;
  labels: Int32Array;
  /** Dataset indices of the batch's images, for debugging and for checking a resumed run. */
  indices: Int32Array;
  n: number;
  height: number;
  width: number;
}

/** One item as stored by its source: encoded file bytes, or pixels already decoded (CIFAR, generated). */
export type DatasetItem =
  | { kind: 'encoded'; bytes: Uint8Array }
  | { kind: 'raw'; pixels: Uint8Array; height: number; width: number };

/** One of SOURCE_NAMES. */
export type SourceName = 'image-folder' | 'cats_vs_dogs' | 'tfds' | 'stanford_dogs' | 'cifar10' | 'cifar100' | 'generated' | 'hf' | 'webdataset';

/**
 * Everything the loader needs from a source. Indices are 0..length-1 in the source's canonical,
 * machine-independent order; split slices are taken in that order.
 */
export interface Dataset {
  readonly source: SourceName;
  /** Short human description (path, split) for logs. */
  readonly description: string;
  readonly length: number;
  readonly classNames: readonly string[];
  label(i: number): number;
  labels(): Int32Array;
  /** Stable name of item i (relative path, `shard#record`), used in bad-file lists. */
  itemName(i: number): string;
  read(i: number): Promise<DatasetItem>;
  /**
   * Changes whenever any item may have changed (file list, sizes, mtimes, split, filter):
   * the decoded-image cache is keyed by it.
   */
  readonly fingerprint: string;
  /** Items dropped before indexing (e.g. by the JFIF filter or a failed TFRecord CRC). */
  readonly excluded: readonly BadFile[];
  /** The exact version read, where the source has versions (a Hub dataset's commit): the run records it. */
  readonly revision?: string;
  close(): Promise<void>;
}

export type BadFileReason =
  | 'empty' // zero bytes
  | 'not-an-image' // no decoder recognises the bytes
  | 'undecodable' // recognised but broken (truncated, corrupt)
  | 'not-jfif' // removed by the `jfifOnly` filter, as TFDS does for cats_vs_dogs
  | 'corrupt-record' // TFRecord framing or CRC failure
  | 'missing' // listed by the split file but absent
  | 'unreadable'; // I/O error while reading the bytes

export interface BadFile {
  /** Index in the dataset the file was dropped from (-1 when dropped before indexing). */
  index: number;
  name: string;
  reason: BadFileReason;
  detail: string;
}

/** Per-kind counts of images that decoded only after conversion to 8-bit sRGB RGB. */
export interface ConversionCounts {
  grayscale: number;
  cmyk: number;
  alpha: number;
  highBitDepth: number;
  /** Decodable, but the content's format does not match the file extension (e.g. PNG named .jpg). */
  misnamed: number;
}

export function emptyConversionCounts(): ConversionCounts {
  return { grayscale: 0, cmyk: 0, alpha: 0, highBitDepth: 0, misnamed: 0 };
}
