import { invalidArg } from '../util/errors.js';

/** A tensor shape with the batch dimension first; `null` marks a size not known until run time (Keras `None`). */
export type Shape = readonly (number | null)[];

/** Keras-style rendering: `(None, 64, 56, 56)`. */
export function formatShape(shape: Shape): string {
  return `(${shape.map((d) => (d === null ? 'None' : String(d))).join(', ')})`;
}

/** Output size of a convolution or pooling window along one spatial dimension (PyTorch's formula). */
export function windowOutput(size: number | null, kernel: number, stride: number, padding: number, dilation = 1, ceilMode = false): number | null {
  if (size === null) return null;
  const span = size + 2 * padding - dilation * (kernel - 1) - 1;
  let out = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // PyTorch drops a last ceil-mode window that would start entirely inside the right padding.
  if (ceilMode && (out - 1) * stride >= size + padding) out -= 1;
  return out;
}

export function product(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Number of elements of one sample (batch dimension excluded), or null when a size is unknown. */
export function sampleSize(shape: Shape): number | null {
  let n = 1;
  for (let i = 1; i < shape.length; i++) {
    const d = shape[i];
    if (d === null || d === undefined) return null;
    n *= d;
  }
  return n;
}

export type Pair = number | readonly [number, number];

export function toPair(v: Pair, name: string, min = 0): [number, number] {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
    throw invalidArg(name, `${min > 0 ? 'a positive' : 'a non-negative'} integer or a pair of them`, v);
  }
  return [p[0]!, p[1]!];
}
