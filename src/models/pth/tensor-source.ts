import { crc32 } from 'node:zlib';
import { DTYPE_SIZE, isPthDtype, isRawTensor, numel, type PthDtype, type RawTensor } from './raw-tensor.js';

/**
 * A tensor whose bytes are read while a checkpoint is written instead of being copied into JavaScript first:
 * `read` hands its contiguous little-endian bytes to `sink` in order, in parts, each valid only during the call.
 * Writers read a source more than once (digest and CRC-32, then the file), so its bytes must not change while it
 * is being written.
 */
export interface TensorSource {
  readonly dtype: PthDtype;
  readonly shape: readonly number[];
  /** numel(shape) × DTYPE_SIZE[dtype]. */
  readonly byteLength: number;
  read(sink: (bytes: Uint8Array) => void): void;
}

/** A tensor a checkpoint writer accepts: its bytes in memory (RawTensor), or read on demand (TensorSource). */
export type TensorBytes = RawTensor | TensorSource;

export function isTensorSource(value: unknown): value is TensorSource {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Partial<TensorSource>;
  return isPthDtype(t.dtype) && Array.isArray(t.shape) && typeof t.byteLength === 'number' && typeof t.read === 'function';
}

export function isTensorBytes(value: unknown): value is TensorBytes {
  return isRawTensor(value) || isTensorSource(value);
}

export function tensorByteLength(t: TensorBytes): number {
  return isTensorSource(t) ? t.byteLength : t.data.length;
}

/** The size a tensor's bytes must have: numel(shape) × its element size. */
export function expectedByteLength(t: TensorBytes): number {
  return numel(t.shape) * DTYPE_SIZE[t.dtype];
}

/** A record's data: bytes in memory, or a tensor source to read them from. */
export type RecordData = Uint8Array | TensorSource;

export function recordSize(d: RecordData): number {
  return d instanceof Uint8Array ? d.length : d.byteLength;
}

// CRC-32 of each source's bytes, from its last full read: the zip writer needs it before it writes the data, and
// a checkpoint's digest pass has just read every byte, so the writer reads each tensor once more, not twice.
const knownCrc = new WeakMap<TensorSource, number>();

/**
 * Hands the data to `sink`: bytes in memory as one part; a source's parts as it reads them, which must add up to
 * exactly its byteLength. For a source, the CRC-32 is computed on the way and returned (and remembered for
 * recordCrc32); undefined for bytes in memory.
 */
export function readRecordData(d: RecordData, sink: (bytes: Uint8Array) => void): number | undefined {
  if (d instanceof Uint8Array) {
    sink(d);
    return undefined;
  }
  let crc = 0;
  let n = 0;
  d.read((bytes) => {
    crc = crc32(bytes, crc);
    n += bytes.length;
    sink(bytes);
  });
  if (n !== d.byteLength) {
    throw new RangeError(`A ${d.dtype} tensor of shape [${d.shape.join(', ')}] declares ${d.byteLength} bytes but its source delivered ${n}`);
  }
  crc >>>= 0;
  knownCrc.set(d, crc);
  return crc;
}

/** CRC-32 of the data: for a source, from its last full read when there was one, else read now. */
export function recordCrc32(d: RecordData): number {
  if (d instanceof Uint8Array) return crc32(d) >>> 0;
  return knownCrc.get(d) ?? readRecordData(d, () => {})!;
}

/** A tensor's bytes as `sink` parts (see readRecordData): the digest and the writer read them the same way. */
export function readTensorBytes(t: TensorBytes, sink: (bytes: Uint8Array) => void): void {
  readRecordData(isTensorSource(t) ? t : t.data, sink);
}
