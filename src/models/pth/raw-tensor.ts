/**
 * Tensors as a checkpoint file holds them, independent of the engine: a dtype, a shape and
 * contiguous row-major little-endian bytes. The engine converts from/to this at its boundary.
 */
export type PthDtype =
  | 'float32' | 'float64' | 'float16' | 'bfloat16'
  | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** A tensor as stored in a checkpoint: dtype, shape and little-endian bytes, independent of the engine. */
export interface RawTensor {
  dtype: PthDtype;
  shape: number[];
  /** Contiguous row-major little-endian bytes; length = numel(shape) * DTYPE_SIZE[dtype]. */
  data: Uint8Array;
}

export const DTYPE_SIZE: Readonly<Record<PthDtype, number>> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2,
  int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

export const PTH_DTYPES = Object.keys(DTYPE_SIZE) as PthDtype[];

export function isPthDtype(value: unknown): value is PthDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_SIZE, value);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isRawTensor(value: unknown): value is RawTensor {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Map) return false;
  const t = value as Partial<RawTensor>;
  return isPthDtype(t.dtype) && Array.isArray(t.shape) && t.data instanceof Uint8Array;
}
