import { writeFileAtomic, type AtomicWriteOptions } from '../../util/atomic.js';
import { describe, invalidArg } from '../../util/errors.js';
import { Pickler } from './pickler.js';
import { DTYPE_SIZE, isRawTensor, numel, type PthDtype, type RawTensor } from './rawTensor.js';
import { buildStoredZip, type ZipRecord } from './zipArchive.js';

/**
 * What a checkpoint may hold. A Map becomes an OrderedDict (what torch gives state dicts), a plain
 * object a dict, an array a list. Integral numbers are written as Python ints, others as floats.
 */
export type CheckpointValue =
  | RawTensor | number | bigint | string | boolean | null
  | readonly CheckpointValue[]
  | ReadonlyMap<string | number, CheckpointValue>
  | { readonly [key: string]: CheckpointValue };

const STORAGE_CLASS: Readonly<Record<PthDtype, string>> = {
  float32: 'FloatStorage', float64: 'DoubleStorage', float16: 'HalfStorage', bfloat16: 'BFloat16Storage',
  int64: 'LongStorage', int32: 'IntStorage', int16: 'ShortStorage', int8: 'CharStorage',
  uint8: 'ByteStorage', bool: 'BoolStorage',
};

/** Archive folder name inside the zip; torch.load accepts any, current PyTorch writes this one. */
const ARCHIVE = 'archive';

/** Save a state dict as a zip `.pth` that `torch.load` and `model.load_state_dict` accept. */
export async function writeStateDict(
  path: string, entries: ReadonlyMap<string, RawTensor> | ReadonlyArray<readonly [string, RawTensor]>,
): Promise<void> {
  const map = entries instanceof Map ? entries : new Map(checkEntries(entries));
  for (const [k, v] of map) {
    if (typeof k !== 'string') throw invalidArg('state dict key', 'a string', k);
    if (!isRawTensor(v)) throw invalidArg(`state dict entry ${JSON.stringify(k)}`, 'a RawTensor {dtype, shape, data}', v);
  }
  await writeCheckpoint(path, map);
}

/**
 * Save any CheckpointValue (e.g. `{ model: stateDict, optimizer: {...}, epoch: 3 }`) atomically;
 * `options.beforeReplace` runs once the new file is complete, just before it replaces `path`.
 */
export async function writeCheckpoint(path: string, value: CheckpointValue, options: AtomicWriteOptions = {}): Promise<void> {
  if (typeof path !== 'string' || path === '') throw invalidArg('path', 'a non-empty file path', path);
  // Written part by part: concatenating first would hold a second full copy of every weight in memory.
  writeFileAtomic(path, encodeCheckpointParts(value), options);
}

/** The bytes of a zip-format checkpoint, for callers that store or send it themselves. */
export function encodeCheckpoint(value: CheckpointValue): Uint8Array {
  const buf = Buffer.concat(encodeCheckpointParts(value));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function checkEntries(entries: unknown): Array<[string, RawTensor]> {
  if (!Array.isArray(entries)) throw invalidArg('entries', 'a Map or an array of [key, tensor] pairs', entries);
  return entries.map((e, i) => {
    if (!Array.isArray(e) || e.length !== 2) throw invalidArg(`entries[${i}]`, 'a [key, tensor] pair', e);
    return e as [string, RawTensor];
  });
}

function encodeCheckpointParts(value: CheckpointValue): Uint8Array[] {
  const p = new Pickler();
  const storages: Array<{ key: string; data: Uint8Array }> = [];
  const storageKeys = new Map<Uint8Array, { key: string; dtype: PthDtype }>();
  const open = new Set<object>();

  const tensor = (t: RawTensor, where: string): void => {
    checkTensor(t, where);
    // The same bytes object twice (tied weights) becomes one storage, as torch itself saves it.
    let key = storageKeys.get(t.data)?.dtype === t.dtype ? storageKeys.get(t.data)!.key : undefined;
    if (key === undefined) {
      key = String(storages.length);
      storages.push({ key, data: t.data });
      if (!storageKeys.has(t.data)) storageKeys.set(t.data, { key, dtype: t.dtype });
    }
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.mark();
    p.mark();
    p.str('storage');
    p.global('torch', STORAGE_CLASS[t.dtype]);
    p.str(key);
    p.str('cpu');
    p.int(t.data.length / DTYPE_SIZE[t.dtype]);
    p.tuple();
    p.binpersid();
    p.int(0);
    p.intTuple(t.shape);
    p.intTuple(contiguousStrides(t.shape));
    p.bool(false);
    p.global('collections', 'OrderedDict');
    p.emptyTuple();
    p.reduce();
    p.tuple();
    p.reduce();
  };

  const items = (pairs: Iterable<readonly [string | number, CheckpointValue]>, where: string): void => {
    let n = 0;
    for (const [k, v] of pairs) {
      if (n % 1000 === 0) { if (n > 0) p.setitems(); p.mark(); }
      if (typeof k === 'string') p.str(k);
      else if (typeof k === 'number' && Number.isSafeInteger(k)) p.int(k);
      else throw invalidArg(`a key in ${where}`, 'a string or an integer', k);
      emit(v, `${where}[${JSON.stringify(k)}]`);
      n++;
    }
    if (n > 0) p.setitems();
  };

  const emit = (v: CheckpointValue, where: string): void => {
    if (v === null) return p.none();
    switch (typeof v) {
      case 'boolean': return p.bool(v);
      case 'string': return p.str(v);
      case 'bigint': return p.int(v);
      case 'number': return Number.isSafeInteger(v) && !Object.is(v, -0) ? p.int(v) : p.float(v);
      case 'object': break;
      default: throw invalidArg(where, 'a tensor, number, string, boolean, null, array, Map or plain object', v);
    }
    if (isRawTensor(v)) return tensor(v, where);
    if (open.has(v)) throw invalidArg(where, 'an acyclic value', 'a value that contains itself');
    if (ArrayBuffer.isView(v)) throw invalidArg(where, 'a RawTensor {dtype, shape, data} (raw typed arrays are ambiguous)', v);
    open.add(v);
    if (Array.isArray(v)) {
      p.emptyList();
      if (v.length > 0) {
        for (let i = 0; i < v.length; i += 1000) {
          p.mark();
          for (let j = i; j < Math.min(v.length, i + 1000); j++) emit(v[j] as CheckpointValue, `${where}[${j}]`);
          p.appends();
        }
      }
    } else if (v instanceof Map) {
      p.global('collections', 'OrderedDict');
      p.emptyTuple();
      p.reduce();
      items(v as ReadonlyMap<string | number, CheckpointValue>, where);
    } else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      p.emptyDict();
      items(Object.entries(v as { [key: string]: CheckpointValue }), where);
    } else {
      throw invalidArg(where, 'a tensor, number, string, boolean, null, array, Map or plain object', v);
    }
    open.delete(v);
  };

  emit(value, 'checkpoint');
  const records: ZipRecord[] = [
    { name: `${ARCHIVE}/data.pkl`, data: p.finish() },
    { name: `${ARCHIVE}/byteorder`, data: new TextEncoder().encode('little') },
    ...storages.map((s) => ({ name: `${ARCHIVE}/data/${s.key}`, data: s.data })),
    { name: `${ARCHIVE}/version`, data: new TextEncoder().encode('3\n') },
  ];
  return buildStoredZip(records);
}

function checkTensor(t: RawTensor, where: string): void {
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalidArg(`${where}.shape`, 'non-negative integers', t.shape);
  }
  const expected = numel(t.shape) * DTYPE_SIZE[t.dtype];
  if (t.data.length !== expected) {
    throw new TypeError(
      `Expected ${expected} bytes (${numel(t.shape)} × ${t.dtype}) for ${where}.data with shape [${t.shape}] but received ${describe(t.data)}`);
  }
}

function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}
