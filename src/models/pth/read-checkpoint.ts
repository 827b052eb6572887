import { CheckpointError, checkpointErrorIn, hexPreview } from './checkpoint-error.js';
import { DTYPE_SIZE, type PthDtype } from './raw-tensor.js';
import { Storage, StorageTypeGlobal, tensorBudget, torchHooks, type TensorBuildOptions } from './torch-globals.js';
import { quoteShort, unpickle, typeName, type PickleValue, type UnpickleHooks } from './unpickler.js';
import { looksLikeZip, readZipDirectory, readZipEntry, type ZipEntry } from './zip-archive.js';
import { invalidArg } from '../../util/errors.js';
import { readRegularFile } from '../../util/regular-file.js';

export type CheckpointSource = string | Uint8Array;

/**
 * Load everything a `torch.save` file holds (a state dict, or a training checkpoint dict with
 * tensors, numbers and strings inside) without executing any code from it.
 */
export async function readCheckpoint(source: CheckpointSource): Promise<PickleValue> {
  if (typeof source === 'string') {
    // A regular file only: a symlink to /dev/zero or a FIFO is refused before a byte is read.
    const bytes = await readRegularFile(source, { what: 'checkpoint' });
    try {
      return parseCheckpoint(bytes);
    } catch (e) {
      throw checkpointErrorIn(source, e);
    }
  }
  if (source instanceof Uint8Array) return parseCheckpoint(source);
  throw invalidArg('source', 'a file path or a Uint8Array', source);
}

/** Synchronous core of readCheckpoint for bytes already in memory. */
export function parseCheckpoint(input: Uint8Array): PickleValue {
  // Node Buffers' slice() does not copy; a plain Uint8Array view makes every slice below a real copy.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (looksLikeZip(bytes)) return parseZipCheckpoint(bytes);
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! >= 2 && bytes[1]! <= 5) return parseLegacyCheckpoint(bytes);
  throw new CheckpointError(
    'Expected a PyTorch checkpoint (a zip archive starting with bytes 50 4b 03 04, or a legacy torch.save pickle ' +
    `starting with 80 02) but received ${bytes.length} bytes starting with ${hexPreview(bytes)}`);
}

function storagePid(pid: PickleValue, fields: number): { type: StorageTypeGlobal; key: string; numel: number; rest: PickleValue[] } {
  const kind = Array.isArray(pid) ? pid[0] : undefined;
  if (kind === 'module') {
    throw new CheckpointError('Expected a checkpoint of tensors but this file holds a whole pickled nn.Module; save model.state_dict() instead');
  }
  if (!Array.isArray(pid) || kind !== 'storage' || pid.length !== fields) {
    throw new CheckpointError(`Expected a persistent id ('storage', type, key, location, numel${fields === 6 ? ', view' : ''}) but received ${typeName(pid)}`);
  }
  const [, type, key, , numel, ...rest] = pid;
  if (!(type instanceof StorageTypeGlobal)) throw new CheckpointError(`Expected a storage type in a persistent id but received ${typeName(type)}`);
  if ((typeof key !== 'string' && typeof key !== 'number') || typeof numel !== 'number' || numel < 0) {
    throw new CheckpointError(`Expected a storage key and element count in a persistent id but received ${typeName(key)} and ${typeName(numel)}`);
  }
  return { type, key: String(key), numel, rest };
}

function parseZipCheckpoint(bytes: Uint8Array): PickleValue {
  const entries = readZipDirectory(bytes);
  const names = [...entries.keys()];
  const pkl = names.filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl')).sort((a, b) => a.length - b.length)[0];
  if (pkl === undefined) {
    const hint = names.some((n) => n.endsWith('/constants.pkl') || n.includes('/code/'))
      ? ' (this looks like a TorchScript archive from torch.jit.save; save model.state_dict() with torch.save instead)' : '';
    throw new CheckpointError(
      `Expected a zip checkpoint with a <archive>/data.pkl record but received records ${preview(names)}${hint}`);
  }
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  // Every record is read through here, so each is checked (CRC-32, sizes) exactly once.
  const verified = new Set<string>();
  const read = (entry: ZipEntry): Uint8Array => {
    const data = readZipEntry(bytes, entry);
    verified.add(entry.name);
    return data;
  };
  const byteorderEntry = entries.get(`${prefix}byteorder`);
  const byteorder = byteorderEntry ? new TextDecoder().decode(read(byteorderEntry)).trim() : 'little';
  if (byteorder !== 'little' && byteorder !== 'big') {
    throw new CheckpointError(`Expected ${prefix}byteorder to be "little" or "big" but received ${quoteShort(byteorder)}`);
  }

  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: PickleValue): PickleValue => {
    const { type, key, numel } = storagePid(pid, 5);
    const cached = storages.get(key);
    if (cached) return cached;
    const name = `${prefix}data/${key}`;
    const entry = entries.get(name);
    if (!entry) {
      throw new CheckpointError(`Expected record ${name} for storage ${quoteShort(key)} but the archive has no such record (records: ${preview(names)})`);
    }
    const dtype: PthDtype = type.dtype ?? 'uint8';
    const nbytes = numel * DTYPE_SIZE[dtype];
    // Checked before reading: the pickle and the zip directory must agree on the size, so a record can
    // never make the reader inflate more than the tensor needs.
    if (entry.size !== nbytes) {
      throw new CheckpointError(`Expected ${nbytes} bytes in ${name} (${numel} × ${dtype}) but the record declares ${entry.size}`);
    }
    const data = read(entry);
    const storage = new Storage(dtype, data.subarray(0, nbytes));
    storages.set(key, storage);
    return storage;
  };
  // The file's bytes, plus what deflated records add when inflated: all the tensor data the file can hold.
  let storageBytes = bytes.length;
  for (const e of entries.values()) storageBytes += Math.max(0, e.size - e.compressedSize);
  const hooks = torchHooks(persistentLoad, { bigEndian: byteorder === 'big', budget: tensorBudget(storageBytes) });
  const pickle = read(entries.get(pkl)!);
  const value = unpickle(pickle, hooks).value;
  // Records the object does not use (version, unreferenced storages) are checked too: a damaged one
  // means the file was changed, and its other contents cannot be trusted either.
  for (const entry of entries.values()) if (!verified.has(entry.name)) read(entry);
  return value;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** A hooks object for the plain-data pickles of the legacy header: no globals, no storages. */
const plainHooks: UnpickleHooks = {
  resolveGlobal: () => undefined,
  call: () => { throw new CheckpointError('Expected plain data in the legacy header'); },
  persistentLoad: () => { throw new CheckpointError('Expected plain data in the legacy header but found a persistent id'); },
  build: () => { throw new CheckpointError('Expected plain data in the legacy header'); },
};

/**
 * Pre-1.6 `torch.save`: pickles of magic number, protocol version, sys_info, the object, and the
 * sorted storage keys, then each storage as an int64 element count plus raw bytes. Storages come
 * after the object, so the object is parsed twice: once to learn its storages and where it ends,
 * once more with the storage bytes in hand (the pickle itself is tiny next to the data).
 */
function parseLegacyCheckpoint(bytes: Uint8Array): PickleValue {
  let magic: PickleValue;
  let pos: number;
  try {
    ({ value: magic, end: pos } = unpickle(bytes, plainHooks, 0));
  } catch (err) {
    throw new CheckpointError(`Expected a legacy torch.save file starting with its magic number but reading it failed: ${(err as Error).message}`);
  }
  if (magic !== LEGACY_MAGIC) {
    throw new CheckpointError(`Expected the torch.save magic number 0x${LEGACY_MAGIC.toString(16)} but received ${typeName(magic)} (not a PyTorch checkpoint)`);
  }
  const proto = unpickle(bytes, plainHooks, pos);
  if (proto.value !== LEGACY_PROTOCOL) {
    throw new CheckpointError(`Expected legacy protocol version ${LEGACY_PROTOCOL} but received ${typeName(proto.value)}`);
  }
  const sysInfo = unpickle(bytes, plainHooks, proto.end);
  const littleEndian = sysInfo.value instanceof Map ? sysInfo.value.get('little_endian') !== false : true;
  const objectStart = sysInfo.end;

  const declared = new Map<string, { dtype: PthDtype; numel: number }>();
  const dryLoad = (pid: PickleValue): PickleValue => {
    const { type, key, numel } = storagePid(pid, 6);
    const dtype = type.dtype ?? 'uint8';
    if (!declared.has(key)) declared.set(key, { dtype, numel });
    return new Storage(dtype, new Uint8Array(0));
  };
  const dry = unpickle(bytes, torchHooks(dryLoad, { bigEndian: false, dryRun: true }), objectStart);
  const keyList = unpickle(bytes, plainHooks, dry.end);
  if (!Array.isArray(keyList.value) || !keyList.value.every((k) => typeof k === 'string' || typeof k === 'number')) {
    throw new CheckpointError(`Expected the list of storage keys after the object but received ${typeName(keyList.value)}`);
  }

  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const roots = new Map<string, Storage>();
  let p = keyList.end;
  for (const k of keyList.value as (string | number)[]) {
    const key = String(k);
    const info = declared.get(key);
    if (!info) throw new CheckpointError(`Expected storage ${quoteShort(key)} from the key list to be used by the object, but it is not`);
    if (p + 8 > bytes.length) {
      throw new CheckpointError(`Truncated legacy checkpoint: expected the size of storage ${quoteShort(key)} at offset ${p} but the file has ${bytes.length} bytes`);
    }
    const count = Number(dv.getBigInt64(p, true));
    const nbytes = count * DTYPE_SIZE[info.dtype];
    p += 8;
    if (count < 0 || p + nbytes > bytes.length) {
      throw new CheckpointError(`Truncated legacy checkpoint: expected ${nbytes} bytes of storage ${quoteShort(key)} at offset ${p} but only ${bytes.length - p} remain`);
    }
    roots.set(key, new Storage(info.dtype, bytes.subarray(p, p + nbytes)));
    p += nbytes;
  }

  const load = (pid: PickleValue): PickleValue => {
    const { key, rest } = storagePid(pid, 6);
    const root = roots.get(key);
    if (!root) throw new CheckpointError(`Expected storage ${quoteShort(key)} in the legacy storage list but it is missing`);
    const view = rest[0];
    if (view === null || view === undefined) return root;
    // Old torch could save views into a root storage: (view_key, offset, size) in elements.
    const [, offset, size] = Array.isArray(view) ? view : [];
    if (typeof offset !== 'number' || typeof size !== 'number') throw new CheckpointError(`Expected a storage view (key, offset, size) but received ${typeName(view)}`);
    const es = DTYPE_SIZE[root.dtype];
    if ((offset + size) * es > root.bytes.length) throw new CheckpointError(`Expected storage view ${offset}+${size} inside storage ${quoteShort(key)}`);
    return new Storage(root.dtype, root.bytes.subarray(offset * es, (offset + size) * es));
  };
  const options: TensorBuildOptions = { bigEndian: !littleEndian, budget: tensorBudget(bytes.length) };
  return unpickle(bytes, torchHooks(load, options), objectStart).value;
}

function preview(names: string[]): string {
  const shown = names.slice(0, 6).map(quoteShort).join(', ');
  return names.length <= 6 ? `[${shown}]` : `[${shown}, … ${names.length - 6} more]`;
}
