import { CheckpointError } from './checkpoint-error.js';

/**
 * Copy a strided view of a storage into fresh contiguous row-major bytes. The result always owns
 * its ArrayBuffer at offset 0, so callers may view it as any typed array and mutate it without
 * touching other tensors that shared the storage.
 */
export function materialize(
  storage: Uint8Array, elementSize: number, offset: number, size: readonly number[], stride: readonly number[],
): Uint8Array {
  if (size.length !== stride.length) {
    throw new CheckpointError(`Expected as many strides as dimensions but received size [${size}] and stride [${stride}]`);
  }
  let count = 1;
  let last = offset;
  for (let d = 0; d < size.length; d++) {
    const n = size[d]!;
    const s = stride[d]!;
    if (!Number.isSafeInteger(n) || n < 0 || !Number.isSafeInteger(s) || s < 0) {
      throw new CheckpointError(`Expected non-negative integer sizes and strides but received size [${size}] and stride [${stride}]`);
    }
    count *= n;
    if (n > 0) last += (n - 1) * s;
  }
  if (count === 0) return new Uint8Array(0);
  // Expanded views (stride 0) may be far larger than their storage; refuse absurd ones up front.
  if (!Number.isSafeInteger(last) || count * elementSize > 2 ** 32) {
    throw new CheckpointError(`Expected a tensor of at most 4 GiB but received size [${size}] of ${elementSize}-byte elements`);
  }
  const storageElems = Math.floor(storage.length / elementSize);
  if (!Number.isSafeInteger(offset) || offset < 0 || last >= storageElems) {
    throw new CheckpointError(
      `Expected a tensor view inside its storage of ${storageElems} elements but received offset ${offset}, ` +
      `size [${size}], stride [${stride}] (reaching element ${last})`);
  }

  // Split the dims into an outer part walked by index and the longest contiguous suffix (one memcpy each).
  let inner = 1;
  let k = size.length;
  while (k > 0 && (size[k - 1] === 1 || stride[k - 1] === inner)) {
    inner *= size[k - 1]!;
    k--;
  }
  if (k === 0) return storage.slice(offset * elementSize, (offset + count) * elementSize);

  const out = new Uint8Array(count * elementSize);
  const outer = count / inner;
  const idx = new Array<number>(k).fill(0);
  let src = offset;
  if (inner * elementSize >= 64) {
    const len = inner * elementSize;
    for (let o = 0; o < outer; o++) {
      out.set(storage.subarray(src * elementSize, src * elementSize + len), o * len);
      src = advance(idx, size, stride, k, src);
    }
    return out;
  }
  // Small inner runs (transposes, channels-last): copy element-wise through typed views.
  const words = elementSize === 8 ? 2 : 1;
  const unit = elementSize === 8 ? 4 : elementSize;
  const s = aligned(storage, unit);
  const from = typedView(s, unit);
  const to = typedView(out, unit);
  const run = inner * words;
  let w = 0;
  for (let o = 0; o < outer; o++) {
    const base = src * words;
    for (let j = 0; j < run; j++) to[w++] = from[base + j]!;
    src = advance(idx, size, stride, k, src);
  }
  return out;
}

function advance(idx: number[], size: readonly number[], stride: readonly number[], k: number, src: number): number {
  for (let d = k - 1; d >= 0; d--) {
    idx[d]!++;
    src += stride[d]!;
    if (idx[d]! < size[d]!) return src;
    src -= idx[d]! * stride[d]!;
    idx[d] = 0;
  }
  return src;
}

function aligned(bytes: Uint8Array, unit: number): Uint8Array {
  return bytes.byteOffset % unit === 0 ? bytes : bytes.slice();
}

function typedView(bytes: Uint8Array, unit: number): Uint8Array | Uint16Array | Uint32Array {
  const n = Math.floor(bytes.byteLength / unit);
  if (unit === 1) return bytes;
  if (unit === 2) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, n);
}

/** Reverse the byte order of every element in place (for checkpoints written on big-endian machines). */
export function swapBytes(bytes: Uint8Array, elementSize: number): void {
  if (elementSize === 1) return;
  for (let i = 0; i + elementSize <= bytes.length; i += elementSize) {
    for (let a = i, b = i + elementSize - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}
