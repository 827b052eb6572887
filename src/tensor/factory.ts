import { native, type Handle } from './native.js';
import { Tensor, wrap, DTYPES, type DType, type AnyTypedArray } from './tensor.js';
import type { Generator } from './random.js';
import { invalidArg } from '../util/errors.js';

export interface CreateOptions {
  dtype?: DType;
  device?: string;
}
export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

type NestedNumbers = number | boolean | NestedNumbers[];

function inferShape(data: NestedNumbers): number[] {
  const shape: number[] = [];
  let cur: NestedNumbers = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as NestedNumbers;
  }
  return shape;
}

function flattenNested(data: NestedNumbers, out: number[]): void {
  if (Array.isArray(data)) for (const x of data) flattenNested(x, out);
  else out.push(typeof data === 'boolean' ? Number(data) : data);
}

function defaultDType(data: AnyTypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

function typedFor(dtype: DType, values: ArrayLike<number>): AnyTypedArray {
  switch (dtype) {
    case 'float64': return Float64Array.from(values);
    case 'int64': return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case 'int32': return Int32Array.from(values);
    case 'int16': return Int16Array.from(values);
    case 'int8': return Int8Array.from(values);
    case 'uint8': return Uint8Array.from(values);
    case 'bool': return Uint8Array.from(values, (v) => (v ? 1 : 0));
    default: return Float32Array.from(values);
  }
}

function checkDims(shape: number[], name = 'shape'): number[] {
  if (!Array.isArray(shape) || shape.some((s) => !Number.isInteger(s) || s < 0)) throw invalidArg(name, 'an array of non-negative integers', shape);
  return shape;
}
function checkDType(dtype: DType | undefined): DType {
  const d = dtype ?? 'float32';
  if (!DTYPES.includes(d)) throw invalidArg('dtype', `one of ${DTYPES.join(', ')}`, dtype);
  return d;
}

/**
 * Creates a tensor by copying JS data: a typed array (with a shape), a flat number array (with a shape),
 * or nested arrays (shape inferred). bfloat16/float16 are converted from float32 values.
 */
export function tensor(data: AnyTypedArray | NestedNumbers[] | number, shape?: number[], dtype?: DType): Tensor {
  let values: AnyTypedArray;
  let dt: DType;
  let shp: number[];
  if (ArrayBuffer.isView(data)) {
    dt = dtype ?? defaultDType(data as AnyTypedArray);
    shp = shape ?? [(data as AnyTypedArray).length];
    const native_ = dt === 'bfloat16' || dt === 'float16' ? 'float32' : dt;
    values = native_ === defaultDType(data as AnyTypedArray) || (native_ === 'bool' && data instanceof Uint8Array)
      ? (data as AnyTypedArray)
      : typedFor(native_, data instanceof BigInt64Array ? Array.from(data, Number) : (data as ArrayLike<number>));
  } else if (typeof data === 'number' || Array.isArray(data)) {
    dt = checkDType(dtype);
    shp = shape ?? (typeof data === 'number' ? [] : inferShape(data));
    const flat: number[] = [];
    flattenNested(data as NestedNumbers, flat);
    values = typedFor(dt === 'bfloat16' || dt === 'float16' ? 'float32' : dt, flat);
  } else {
    throw invalidArg('data', 'a typed array, a (nested) array of numbers or a number', data);
  }
  checkDims(shp);
  const n = shp.reduce((a, b) => a * b, 1);
  if (n !== values.length) {
    throw new RangeError(`tensor(): shape [${shp.join(', ')}] needs ${n} elements but the data has ${values.length}`);
  }
  if (dt === 'bfloat16' || dt === 'float16') {
    const f = wrap(native.from_buffer(values, shp, 'float32') as Handle);
    try {
      return f.to(dt);
    } finally {
      f.dispose();
    }
  }
  return wrap(native.from_buffer(values, shp, dt) as Handle);
}

/** A tensor of zeros. */
export function zeros(shape: number[], o: CreateOptions = {}): Tensor {
  return wrap(native.zeros(checkDims(shape), checkDType(o.dtype), o.device ?? null));
}
/** A tensor of ones. */
export function ones(shape: number[], o: CreateOptions = {}): Tensor {
  return wrap(native.ones(checkDims(shape), checkDType(o.dtype), o.device ?? null));
}
export function full(shape: number[], value: number, o: CreateOptions = {}): Tensor {
  return wrap(native.full(checkDims(shape), value, checkDType(o.dtype), o.device ?? null));
}
export function empty(shape: number[], o: CreateOptions = {}): Tensor {
  return wrap(native.empty(checkDims(shape), checkDType(o.dtype), o.device ?? null));
}
export function zerosLike(t: Tensor): Tensor {
  return wrap(native.zeros_like(t.handle));
}
export function onesLike(t: Tensor): Tensor {
  return wrap(native.ones_like(t.handle));
}
export function arange(start: number, end?: number, step = 1, o: CreateOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  return wrap(native.arange(s, e, step, o.dtype ?? (Number.isInteger(s) && Number.isInteger(e) && Number.isInteger(step) ? 'int64' : 'float32'), o.device ?? null));
}
export function rand(shape: number[], o: RandomOptions = {}): Tensor {
  return wrap(native.rand(checkDims(shape), checkDType(o.dtype), o.device ?? null, o.generator?.native ?? null));
}
/** A tensor of standard normal samples (from `generator`, or the global one). */
export function randn(shape: number[], o: RandomOptions = {}): Tensor {
  return wrap(native.randn(checkDims(shape), checkDType(o.dtype), o.device ?? null, o.generator?.native ?? null));
}
/** Integers uniformly in [low, high), int64. */
export function randint(low: number, high: number, shape: number[], o: RandomOptions = {}): Tensor {
  if (!(high > low)) throw new RangeError(`randint(): high (${high}) must be greater than low (${low})`);
  return wrap(native.randint(low, high, checkDims(shape), o.device ?? null, o.generator?.native ?? null));
}
export function randperm(n: number, o: RandomOptions = {}): Tensor {
  if (!Number.isInteger(n) || n < 0) throw invalidArg('n', 'a non-negative integer', n);
  return wrap(native.randperm(n, o.device ?? null, o.generator?.native ?? null));
}
export function bernoulli(probs: Tensor, generator?: Generator): Tensor {
  return wrap(native.bernoulli(probs.handle, generator?.native ?? null));
}
/** In-place initialisers (no autograd). */
export function normal_(t: Tensor, mean: number, std: number, generator?: Generator): Tensor {
  native.normal_(t.handle, mean, std, generator?.native ?? null);
  return t;
}
export function uniform_(t: Tensor, low: number, high: number, generator?: Generator): Tensor {
  native.uniform_(t.handle, low, high, generator?.native ?? null);
  return t;
}

function nonEmptyList(ts: Tensor[], name: string): Handle[] {
  if (!Array.isArray(ts) || ts.length === 0) throw invalidArg(name, 'a non-empty array of tensors', ts);
  return ts.map((t, i) => {
    if (!(t instanceof Tensor)) throw invalidArg(`${name}[${i}]`, 'a Tensor', t);
    return t.handle;
  });
}
export function cat(ts: Tensor[], dim = 0): Tensor {
  return wrap(native.cat(nonEmptyList(ts, 'tensors'), dim));
}
export function stack(ts: Tensor[], dim = 0): Tensor {
  return wrap(native.stack(nonEmptyList(ts, 'tensors'), dim));
}
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  return wrap(native.where(cond.handle, typeof a === 'number' ? a : a.handle, typeof b === 'number' ? b : b.handle));
}
export function oneHot(indices: Tensor, numClasses: number): Tensor {
  return wrap(native.one_hot(indices.handle, numClasses));
}

/**
 * Copies a typed array of the dtype's own element type (uint8 pixels, int64 labels, float32 values) to `device`
 * without the host waiting for the GPU: via pinned host memory and a non-blocking copy on the device's copy stream,
 * which the compute stream waits for on the GPU. So batch k+1's copy overlaps step k. On CPU: a plain copy.
 */
export function uploadTensor(data: AnyTypedArray, shape: number[], dtype: 'uint8' | 'int64' | 'float32' | 'int32', device: string): Tensor {
  const expected = dtype === 'int64' ? BigInt64Array : dtype === 'float32' ? Float32Array : dtype === 'int32' ? Int32Array : Uint8Array;
  if (!(data instanceof expected)) throw invalidArg('data', `a ${expected.name} for dtype ${dtype}`, data);
  checkDims(shape);
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new RangeError(`uploadTensor(): shape [${shape.join(', ')}] needs ${n} elements but the data has ${data.length}`);
  return wrap(native.to_device_async(data, shape, dtype, device) as Handle);
}
