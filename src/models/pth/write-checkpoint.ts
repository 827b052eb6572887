import { writeFileAtomic, type AtomicWriteOptions, type StreamedContent } from '../../util/atomic.js';
import { describe, invalidArg } from '../../util/errors.js';
import { Pickler } from './pickler.js';
import { DTYPE_SIZE, numel, type PthDtype, type RawTensor } from './raw-tensor.js';
import { expectedByteLength, isTensorBytes, isTensorSource, readRecordData, recordCrc32, recordSize, tensorByteLength, type RecordData, type TensorBytes, type TensorSource } from './tensor-source.js';
import { storedZipLayout } from './zip-archive.js';

/**
 * What a checkpoint may hold. A Map becomes an OrderedDict (what torch gives state dicts), a plain
 * object a dict, an array a list. Integral numbers are written as Python ints, others as floats.
 * A TensorSource is written like a RawTensor with the same bytes, read from it while the file is written.
 */
export type CheckpointValue =
  | RawTensor | TensorSource | number | bigint | string | boolean | null
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
  path: string, entries: ReadonlyMap<string, TensorBytes> | ReadonlyArray<readonly [string, TensorBytes]>,
): Promise<void> {
  const map = entries instanceof Map ? entries : new Map(checkEntries(entries));
  for (const [k, v] of map) {
    if (typeof k !== 'string') throw invalidArg('state dict key', 'a string', k);
    if (!isTensorBytes(v)) throw invalidArg(`state dict entry ${JSON.stringify(k)}`, 'a RawTensor {dtype, shape, data}', v);
  }
  await writeCheckpoint(path, map);
}

/**
 * Save any CheckpointValue (e.g. `{ model: stateDict, optimizer: {...}, epoch: 3 }`) atomically;
 * `options.beforeReplace` runs once the new file is complete, just before it replaces `path`.
 */
export async function writeCheckpoint(path: string, value: CheckpointValue, options: AtomicWriteOptions = {}): Promise<void> {
  if (typeof path !== 'string' || path === '') throw invalidArg('path', 'a non-empty file path', path);
  writeFileAtomic(path, checkpointContent(value, `the checkpoint ${path}`), options);
}

/** The bytes of a zip-format checkpoint, for callers that store or send it themselves. */
export function encodeCheckpoint(value: CheckpointValue): Uint8Array {
  const content = checkpointContent(value, 'a checkpoint in memory');
  const out = new Uint8Array(content.size);
  let at = 0;
  content.write((part) => {
    out.set(part, at);
    at += part.length;
  });
  return out;
}

/**
 * The archive, produced record by record as it is written, each tensor source read in parts straight into the
 * output: no copy of the checkpoint, or of any whole tensor, is assembled on the way. `what` names the output
 * in the error for a source that changed while it was read.
 */
function checkpointContent(value: CheckpointValue, what: string): StreamedContent {
  const records = checkpointRecords(value);
  // The local headers carry each record's CRC-32, so it is known before the data is written (a source's from
  // an earlier full read, e.g. a digest pass over it; otherwise it is read once for it here).
  const crcs = records.map((r) => recordCrc32(r.data));
  const layout = storedZipLayout(records.map((r, i) => ({ name: r.name, size: recordSize(r.data), crc32: crcs[i]! })));
  return {
    size: layout.size,
    write: (out) => {
      records.forEach((r, i) => {
        out(layout.localHeaders[i]!);
        const crc = readRecordData(r.data, out);
        // The header is already written: a source whose bytes changed since its CRC was taken would make a file
        // that every reader refuses, so the write fails instead (and a previous file stays).
        if (crc !== undefined && crc !== crcs[i]) {
          throw new Error(`the bytes of ${r.name} changed while ${what} was being written (CRC-32 0x${crcs[i]!.toString(16)} before, 0x${crc.toString(16)} now)`);
        }
      });
      for (const part of layout.tail) out(part);
    },
  };
}

function checkEntries(entries: unknown): Array<[string, RawTensor]> {
  if (!Array.isArray(entries)) throw invalidArg('entries', 'a Map or an array of [key, tensor] pairs', entries);
  return entries.map((e, i) => {
    if (!Array.isArray(e) || e.length !== 2) throw invalidArg(`entries[${i}]`, 'a [key, tensor] pair', e);
    return e as [string, RawTensor];
  });
}

/** The archive's records in order, tensor data still as given (bytes in memory, or a source to read). */
function checkpointRecords(value: CheckpointValue): Array<{ name: string; data: RecordData }> {
  const p = new Pickler();
  const storages: Array<{ key: string; data: RecordData }> = [];
  const storageKeys = new Map<object, { key: string; dtype: PthDtype }>();
  const open = new Set<object>();

  const tensor = (t: TensorBytes, where: string): void => {
    checkTensor(t, where);
    // The same bytes object (or source) twice (tied weights) becomes one storage, as torch itself saves it.
    const id: object = isTensorSource(t) ? t : t.data;
    let key = storageKeys.get(id)?.dtype === t.dtype ? storageKeys.get(id)!.key : undefined;
    if (key === undefined) {
      key = String(storages.length);
      storages.push({ key, data: isTensorSource(t) ? t : t.data });
      if (!storageKeys.has(id)) storageKeys.set(id, { key, dtype: t.dtype });
    }
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.mark();
    p.mark();
    p.str('storage');
    p.global('torch', STORAGE_CLASS[t.dtype]);
    p.str(key);
    p.str('cpu');
    p.int(tensorByteLength(t) / DTYPE_SIZE[t.dtype]);
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
    if (isTensorBytes(v)) return tensor(v, where);
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
  return [
    { name: `${ARCHIVE}/data.pkl`, data: p.finish() },
    { name: `${ARCHIVE}/byteorder`, data: new TextEncoder().encode('little') },
    ...storages.map((s) => ({ name: `${ARCHIVE}/data/${s.key}`, data: s.data })),
    { name: `${ARCHIVE}/version`, data: new TextEncoder().encode('3\n') },
  ];
}

function checkTensor(t: TensorBytes, where: string): void {
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalidArg(`${where}.shape`, 'non-negative integers', t.shape);
  }
  const expected = expectedByteLength(t);
  if (isTensorSource(t)) {
    if (t.byteLength !== expected) {
      throw new TypeError(`Expected ${expected} bytes (${numel(t.shape)} × ${t.dtype}) for ${where}.byteLength with shape [${t.shape}] but received ${describe(t.byteLength)}`);
    }
    return;
  }
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
