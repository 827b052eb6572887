import { native, type BinaryOp, type Handle } from './native.js';
import { track } from './scope.js';
import { invalidArg } from '../util/errors.js';

/** Element types of tensors (torch names without the `torch.` prefix). */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type MemoryFormat = 'contiguous' | 'channels_last';
export type TypedArrayOf<D extends DType> = D extends 'float64'
  ? Float64Array
  : D extends 'int64'
    ? BigInt64Array
    : D extends 'int32'
      ? Int32Array
      : D extends 'int16'
        ? Int16Array
        : D extends 'int8'
          ? Int8Array
          : D extends 'uint8' | 'bool'
            ? Uint8Array
            : Float32Array;
export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export const DTYPES: readonly DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];
const FLOAT_DTYPES = new Set<DType>(['float32', 'float64', 'float16', 'bfloat16']);
export const isFloatingDType = (d: DType): boolean => FLOAT_DTYPES.has(d);

export type Scalar = number | boolean;
type TensorOrScalar = Tensor | number;

/**
 * A handle to a libtorch tensor. Every op returns a new Tensor that the caller owns: release it with
 * `dispose()` or create it inside `tidy()`. Metadata (shape, dtype, device) is read once, lazily.
 */
export class Tensor {
  #h: Handle | null;
  #shape: number[] | undefined;
  #dtype: DType | undefined;
  #device: string | undefined;

  /** @internal Wraps a native handle; use the factory functions instead. */
  constructor(handle: Handle) {
    this.#h = handle;
    track(this);
  }

  /** @internal */
  get handle(): Handle {
    if (this.#h === null) throw new Error(`Tensor was disposed${this.#shape ? ` (shape [${this.#shape.join(', ')}])` : ''}: it cannot be used any more`);
    return this.#h;
  }

  /** @internal The tensor's data was replaced in place (setData): shape, dtype and device are read again. */
  forgetMeta(): void {
    this.#shape = undefined;
    this.#dtype = undefined;
    this.#device = undefined;
  }

  #meta(): void {
    const [shape, dtype, device] = native.meta(this.handle) as [number[], DType, string, boolean];
    this.#shape = shape;
    this.#dtype = dtype;
    this.#device = device;
  }
  get shape(): number[] {
    if (this.#shape === undefined) this.#meta();
    return this.#shape!.slice();
  }
  get dtype(): DType {
    if (this.#dtype === undefined) this.#meta();
    return this.#dtype!;
  }
  get device(): string {
    if (this.#device === undefined) this.#meta();
    return this.#device!;
  }
  get ndim(): number {
    if (this.#shape === undefined) this.#meta();
    return this.#shape!.length;
  }
  get numel(): number {
    if (this.#shape === undefined) this.#meta();
    return this.#shape!.reduce((a, b) => a * b, 1);
  }
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`size(${dim}): dimension out of range for a ${s.length}-d tensor of shape [${s.join(', ')}]`);
    return s[d]!;
  }
  get isDisposed(): boolean {
    return this.#h === null || !native.is_live(this.#h);
  }

  dispose(): void {
    if (this.#h !== null) {
      native.dispose(this.#h);
      this.#h = null;
    }
  }

  toString(): string {
    return this.#h === null ? 'Tensor(disposed)' : `Tensor(${this.dtype}[${this.shape.join(', ')}]${this.device === 'cpu' ? '' : ' @' + this.device})`;
  }

  // ---------- autograd ----------
  get requiresGrad(): boolean {
    return native.requires_grad(this.handle) as boolean;
  }
  requiresGrad_(flag = true): this {
    native.set_requires_grad(this.handle, flag);
    return this;
  }
  /** The accumulated gradient as a new handle (caller owns it), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle) as Handle | null;
    return g === null ? null : new Tensor(g);
  }
  set grad(g: Tensor | null) {
    native.set_grad(this.handle, g === null ? null : g.handle);
  }
  backward(gradient?: Tensor, retainGraph?: boolean): void {
    native.backward(this.handle, gradient?.handle ?? null, retainGraph ?? null);
  }
  detach(): Tensor {
    return wrap(native.detach(this.handle));
  }
  clone(): Tensor {
    return wrap(native.clone(this.handle));
  }

  // ---------- read-back ----------
  // Every read-back goes through native.to_buffer or native.item; each one is counted (see hostReadCount).
  /** Copies the data to JS. bfloat16/float16 come back as Float32Array. */
  toTypedArray(): AnyTypedArray {
    const d = this.dtype;
    if (d === 'bfloat16' || d === 'float16') {
      const f = this.to('float32');
      try {
        return f.toTypedArray();
      } finally {
        f.dispose();
      }
    }
    countHostRead(this.device);
    const buf = native.to_buffer(this.handle) as ArrayBuffer;
    switch (d) {
      case 'float32': return new Float32Array(buf);
      case 'float64': return new Float64Array(buf);
      case 'int64': return new BigInt64Array(buf);
      case 'int32': return new Int32Array(buf);
      case 'int16': return new Int16Array(buf);
      case 'int8': return new Int8Array(buf);
      default: return new Uint8Array(buf);
    }
  }
  /** Raw little-endian bytes of the contiguous data (bfloat16 stays 2 bytes per element). */
  toBytes(): Uint8Array {
    countHostRead(this.device);
    return new Uint8Array(native.to_buffer(this.handle) as ArrayBuffer);
  }
  /**
   * The bytes toBytes() returns, streamed: part by part they are copied from the tensor's own memory into `chunk`
   * and handed to `sink` (a view of `chunk`, valid until `sink` returns), so JavaScript never holds a copy of the
   * whole tensor. A tensor on a GPU, or not contiguous, is first copied to one contiguous CPU tensor, freed before
   * this returns. Returns the number of bytes streamed.
   */
  readBytes(chunk: Uint8Array, sink: (bytes: Uint8Array) => void): number {
    if (!(chunk instanceof Uint8Array) || chunk.length === 0) throw invalidArg('chunk', 'a non-empty Uint8Array', chunk);
    countHostRead(this.device);
    const host = native.host_contiguous(this.handle) as Handle;
    try {
      let offset = 0;
      for (;;) {
        const n = native.copy_bytes(host, offset, chunk) as number;
        if (n === 0) return offset;
        sink(chunk.subarray(0, n));
        offset += n;
      }
    } finally {
      native.dispose(host);
    }
  }
  /** Flat array of JS numbers (int64 converted with Number()). */
  toArray(): number[] {
    const a = this.toTypedArray();
    return a instanceof BigInt64Array ? Array.from(a, Number) : Array.from(a as ArrayLike<number>);
  }
  item(): number {
    countHostRead(this.device);
    return native.item(this.handle) as number;
  }

  // ---------- conversion ----------
  to(target: DType | { dtype?: DType; device?: string; memoryFormat?: MemoryFormat }): Tensor {
    const o = typeof target === 'string' ? { dtype: target } : target;
    let cur: Tensor = this;
    const steps: Tensor[] = [];
    if (o.device !== undefined && o.device !== this.device) {
      cur = wrap(native.to_device(cur.handle, o.device));
      steps.push(cur);
    }
    if (o.dtype !== undefined && o.dtype !== cur.dtype) {
      if (!DTYPES.includes(o.dtype)) throw invalidArg('dtype', `one of ${DTYPES.join(', ')}`, o.dtype);
      cur = wrap(native.to_dtype(cur.handle, o.dtype));
      steps.push(cur);
    }
    if (o.memoryFormat !== undefined) {
      cur = wrap(native.contiguous(cur.handle, o.memoryFormat));
      steps.push(cur);
    }
    if (steps.length === 0) return this.clone();
    for (const s of steps.slice(0, -1)) s.dispose();
    return cur;
  }
  float(): Tensor {
    return this.to('float32');
  }
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    return wrap(native.contiguous(this.handle, memoryFormat));
  }
  isContiguous(memoryFormat: MemoryFormat = 'contiguous'): boolean {
    return native.is_contiguous(this.handle, memoryFormat) as boolean;
  }
  strides(): number[] {
    return native.strides(this.handle) as number[];
  }

  // ---------- element-wise ----------
  add(other: TensorOrScalar, alpha?: number): Tensor { return binary('add', this, other, alpha); }
  sub(other: TensorOrScalar, alpha?: number): Tensor { return binary('sub', this, other, alpha); }
  mul(other: TensorOrScalar): Tensor { return binary('mul', this, other); }
  div(other: TensorOrScalar): Tensor { return binary('div', this, other); }
  pow(other: TensorOrScalar): Tensor { return binary('pow', this, other); }
  maximum(other: TensorOrScalar): Tensor { return binary('maximum', this, other); }
  minimum(other: TensorOrScalar): Tensor { return binary('minimum', this, other); }
  remainder(other: TensorOrScalar): Tensor { return binary('remainder', this, other); }
  eq(other: TensorOrScalar): Tensor { return binary('eq', this, other); }
  ne(other: TensorOrScalar): Tensor { return binary('ne', this, other); }
  lt(other: TensorOrScalar): Tensor { return binary('lt', this, other); }
  le(other: TensorOrScalar): Tensor { return binary('le', this, other); }
  gt(other: TensorOrScalar): Tensor { return binary('gt', this, other); }
  ge(other: TensorOrScalar): Tensor { return binary('ge', this, other); }
  logicalAnd(other: Tensor): Tensor { return wrap(native.logical_and(this.handle, other.handle)); }
  logicalOr(other: Tensor): Tensor { return wrap(native.logical_or(this.handle, other.handle)); }
  logicalNot(): Tensor { return wrap(native.logical_not(this.handle)); }
  clamp(min?: number | null, max?: number | null): Tensor { return wrap(native.clamp(this.handle, min ?? null, max ?? null)); }
  lerp(end: Tensor, weight: TensorOrScalar): Tensor {
    return wrap(native.lerp(this.handle, end.handle, typeof weight === 'number' ? weight : weight.handle));
  }
  neg(): Tensor { return wrap(native.neg(this.handle)); }
  exp(): Tensor { return wrap(native.exp(this.handle)); }
  log(): Tensor { return wrap(native.log(this.handle)); }
  sqrt(): Tensor { return wrap(native.sqrt(this.handle)); }
  rsqrt(): Tensor { return wrap(native.rsqrt(this.handle)); }
  abs(): Tensor { return wrap(native.abs(this.handle)); }
  relu(): Tensor { return wrap(native.relu(this.handle)); }
  sigmoid(): Tensor { return wrap(native.sigmoid(this.handle)); }
  tanh(): Tensor { return wrap(native.tanh(this.handle)); }
  floor(): Tensor { return wrap(native.floor(this.handle)); }
  ceil(): Tensor { return wrap(native.ceil(this.handle)); }
  round(): Tensor { return wrap(native.round(this.handle)); }
  sign(): Tensor { return wrap(native.sign(this.handle)); }
  reciprocal(): Tensor { return wrap(native.reciprocal(this.handle)); }
  isfinite(): Tensor { return wrap(native.isfinite(this.handle)); }
  isnan(): Tensor { return wrap(native.isnan(this.handle)); }
  sin(): Tensor { return wrap(native.sin(this.handle)); }
  cos(): Tensor { return wrap(native.cos(this.handle)); }

  // ---------- reductions ----------
  sum(dim?: number | number[], keepdim = false): Tensor { return wrap(native.sum(this.handle, dims(dim), keepdim)); }
  mean(dim?: number | number[], keepdim = false): Tensor { return wrap(native.mean(this.handle, dims(dim), keepdim)); }
  /** Maximum over all elements, or over `dim` (values only; see argmax for indices). */
  max(dim?: number | number[], keepdim = false): Tensor {
    return dim === undefined ? wrap(native.max_all(this.handle)) : wrap(native.amax(this.handle, dims(dim), keepdim));
  }
  min(dim?: number | number[], keepdim = false): Tensor {
    return dim === undefined ? wrap(native.min_all(this.handle)) : wrap(native.amin(this.handle, dims(dim), keepdim));
  }
  argmax(dim: number, keepdim = false): Tensor { return wrap(native.argmax(this.handle, dim, keepdim)); }
  argmin(dim: number, keepdim = false): Tensor { return wrap(native.argmin(this.handle, dim, keepdim)); }
  var(dim?: number | number[], unbiased = true, keepdim = false): Tensor { return wrap(native.var(this.handle, dims(dim), unbiased, keepdim)); }
  std(dim?: number | number[], unbiased = true, keepdim = false): Tensor { return wrap(native.std_(this.handle, dims(dim), unbiased, keepdim)); }
  norm(p = 2, dim?: number | number[], keepdim = false): Tensor { return wrap(native.norm(this.handle, p, dims(dim), keepdim)); }
  logsumexp(dim: number | number[], keepdim = false): Tensor { return wrap(native.logsumexp(this.handle, dims(dim), keepdim)); }
  topk(k: number, dim = -1): [Tensor, Tensor] {
    const [v, i] = native.topk(this.handle, k, dim) as [Handle, Handle];
    return [wrap(v), wrap(i)];
  }
  all(): Tensor { return wrap(native.all(this.handle)); }
  any(): Tensor { return wrap(native.any(this.handle)); }
  cumsum(dim: number): Tensor { return wrap(native.cumsum(this.handle, dim)); }

  matmul(other: Tensor): Tensor { return wrap(native.matmul(this.handle, other.handle)); }

  // ---------- shape ----------
  reshape(shape: number[]): Tensor { return wrap(native.reshape(this.handle, checkShape(shape))); }
  view(shape: number[]): Tensor { return wrap(native.view(this.handle, checkShape(shape))); }
  permute(order: number[]): Tensor { return wrap(native.permute(this.handle, order)); }
  transpose(dim0: number, dim1: number): Tensor { return wrap(native.transpose(this.handle, dim0, dim1)); }
  flatten(startDim = 0, endDim = -1): Tensor { return wrap(native.flatten(this.handle, startDim, endDim)); }
  unsqueeze(dim: number): Tensor { return wrap(native.unsqueeze(this.handle, dim)); }
  squeeze(dim?: number): Tensor { return wrap(native.squeeze(this.handle, dim ?? null)); }
  expand(shape: number[]): Tensor { return wrap(native.expand(this.handle, shape)); }
  repeat(times: number[]): Tensor { return wrap(native.repeat(this.handle, times)); }
  /** Python-style slice along one dimension: start/end may be negative or omitted. */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return wrap(native.slice(this.handle, dim, start ?? null, end ?? null, step));
  }
  narrow(dim: number, start: number, length: number): Tensor { return wrap(native.narrow(this.handle, dim, start, length)); }
  select(dim: number, index: number): Tensor { return wrap(native.select(this.handle, dim, index)); }
  indexSelect(dim: number, index: Tensor): Tensor { return wrap(native.index_select(this.handle, dim, index.handle)); }
  gather(dim: number, index: Tensor): Tensor { return wrap(native.gather(this.handle, dim, index.handle)); }
  scatter(dim: number, index: Tensor, src: TensorOrScalar): Tensor {
    return wrap(native.scatter(this.handle, dim, index.handle, typeof src === 'number' ? src : src.handle));
  }
  maskedFill(mask: Tensor, value: number): Tensor { return wrap(native.masked_fill(this.handle, mask.handle, value)); }
  flip(dims: number[]): Tensor { return wrap(native.flip(this.handle, dims)); }
  roll(shifts: number[], dims: number[]): Tensor { return wrap(native.roll(this.handle, shifts, dims)); }
  softmax(dim: number): Tensor { return wrap(native.softmax(this.handle, dim)); }
  logSoftmax(dim: number): Tensor { return wrap(native.log_softmax(this.handle, dim)); }

  // ---------- in-place (no autograd; for optimizers, initialisers and weight loading) ----------
  copy_(src: Tensor): this { native.copy_(this.handle, src.handle); return this; }
  fill_(value: number): this { native.fill_(this.handle, value); return this; }
  zero_(): this { native.zero_(this.handle); return this; }
  add_(other: TensorOrScalar, alpha?: number): this {
    native.add_(this.handle, typeof other === 'number' ? other : other.handle, alpha ?? null);
    return this;
  }
  mul_(other: TensorOrScalar): this { native.mul_(this.handle, typeof other === 'number' ? other : other.handle); return this; }
}

const hostReads = new Map<string, number>();
function countHostRead(device: string): void {
  hostReads.set(device, (hostReads.get(device) ?? 0) + 1);
}

/**
 * How many times tensor data has been read back into JS (`item`, `toTypedArray`, `toArray`, `toBytes`) in this
 * process, from tensors on `device` ("cpu", "cuda:1", or "cuda" for every GPU), or from any device. On a GPU each
 * read waits for all the work queued before it, so tests use the count to prove a loop reads (synchronises) only
 * where it means to; on the CPU the same count shows the same reads, at no cost.
 */
export function hostReadCount(device?: string): number {
  let n = 0;
  for (const [d, c] of hostReads) if (device === undefined || d === device || (device === 'cuda' && d.startsWith('cuda:'))) n += c;
  return n;
}

/** @internal */
export function wrap(h: Handle): Tensor {
  return new Tensor(h);
}

function binary(op: BinaryOp, a: Tensor, b: TensorOrScalar, alpha?: number): Tensor {
  if (typeof b === 'number') return wrap(native[op](a.handle, b, alpha ?? null));
  if (!(b instanceof Tensor)) throw invalidArg(`${op} operand`, 'a Tensor or a number', b);
  return wrap(native[op](a.handle, b.handle, alpha ?? null));
}

function dims(d: number | number[] | undefined): number[] {
  return d === undefined ? [] : typeof d === 'number' ? [d] : d;
}

function checkShape(shape: number[]): number[] {
  if (!Array.isArray(shape) || shape.some((s) => !Number.isInteger(s) || s < -1)) {
    throw invalidArg('shape', 'an array of non-negative integers (or -1 once)', shape);
  }
  return shape;
}
