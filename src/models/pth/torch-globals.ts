import { CheckpointError } from './checkpoint-error.js';
import { DTYPE_SIZE, numel, type PthDtype, type RawTensor } from './raw-tensor.js';
import { materialize, swapBytes } from './strided.js';
import { formatBytes } from '../../util/regular-file.js';
import { PickleOpaque, PyGlobal, typeName, type PickleValue, type UnpickleHooks } from './unpickler.js';

/**
 * The only Python names a checkpoint may mention, and what each one builds. This is the whole
 * attack surface of loading: nothing outside these tables is ever constructed.
 */

/** Legacy typed storage classes (what torch.save still writes in persistent ids) → dtype. */
export const STORAGE_DTYPES: Readonly<Record<string, PthDtype>> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8',
  ByteStorage: 'uint8', BoolStorage: 'bool',
};

/** torch dtype globals (`torch.float32`, and the aliases Python may spell) → dtype. */
const DTYPE_GLOBALS: Readonly<Record<string, PthDtype>> = {
  float32: 'float32', float: 'float32', float64: 'float64', double: 'float64',
  float16: 'float16', half: 'float16', bfloat16: 'bfloat16',
  int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int16: 'int16', short: 'int16',
  int8: 'int8', uint8: 'uint8', bool: 'bool',
};

const REBUILDERS = new Set([
  'torch._utils._rebuild_tensor', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state',
  'torch._tensor._rebuild_from_type_v2',
]);

const OTHER_GLOBALS = new Set([
  'collections.OrderedDict', 'torch.Size', 'builtins.set', 'builtins.frozenset', '_codecs.encode',
  'torch.storage.UntypedStorage', 'torch.storage.TypedStorage', 'torch.UntypedStorage',
  'torch.Tensor', 'torch.nn.parameter.Parameter',
]);

/** A storage: the raw bytes one or more tensors view. `dtype` is uint8 for untyped storages. */
export class Storage extends PickleOpaque {
  constructor(readonly dtype: PthDtype, readonly bytes: Uint8Array) { super(); }
}

export class DtypeGlobal extends PyGlobal {
  constructor(module: string, name: string, readonly dtype: PthDtype) { super(module, name); }
}

export class StorageTypeGlobal extends PyGlobal {
  /** null for untyped storages, whose element type comes from the tensor (rebuild_v3). */
  constructor(module: string, name: string, readonly dtype: PthDtype | null) { super(module, name); }
}

export function resolveTorchGlobal(module: string, name: string): PyGlobal | undefined {
  const qual = `${module}.${name}`;
  if (module === 'torch' && Object.hasOwn(STORAGE_DTYPES, name)) return new StorageTypeGlobal(module, name, STORAGE_DTYPES[name]!);
  if (module === 'torch' && Object.hasOwn(DTYPE_GLOBALS, name)) return new DtypeGlobal(module, name, DTYPE_GLOBALS[name]!);
  if (qual === 'torch.storage.UntypedStorage' || qual === 'torch.UntypedStorage') return new StorageTypeGlobal(module, name, null);
  if (REBUILDERS.has(qual) || OTHER_GLOBALS.has(qual)) return new PyGlobal(module, name);
  return undefined;
}

export interface TensorBuildOptions {
  /** True when the file was written on a big-endian machine. */
  bigEndian: boolean;
  /** Parse only: tensors come back with empty data (used to find where a legacy pickle ends). */
  dryRun?: boolean;
  /**
   * Bytes the rebuilt tensors may still take, shared by all tensors of one file (see tensorBudget). Views are
   * copied into contiguous tensors, so a stride-0 view, or one storage rebuilt many times, could otherwise
   * turn a file of a few hundred bytes into gigabytes.
   */
  budget?: TensorBudget;
}

export interface TensorBudget {
  left: number;
  /** The storage bytes the file holds, for the message. */
  readonly storageBytes: number;
}

/** Beyond twice the storage a file holds, expansion is allowed only this much (tied weights use each storage twice). */
export const EXPANSION_ALLOWANCE_BYTES = 64 << 20;

/** The budget for a file holding `storageBytes` of tensor data: twice that, plus EXPANSION_ALLOWANCE_BYTES. */
export function tensorBudget(storageBytes: number): TensorBudget {
  return { left: 2 * storageBytes + EXPANSION_ALLOWANCE_BYTES, storageBytes };
}

/** Attributes a pickle attached to a dict through BUILD (torch's `_metadata` on state dicts). */
const attributes = new WeakMap<object, Map<PickleValue, PickleValue>>();

/** The Python attributes (e.g. `_metadata`) that the checkpoint set on a dict, if any. */
export function pickleAttributes(value: object): ReadonlyMap<PickleValue, PickleValue> | undefined {
  return attributes.get(value);
}

export function torchHooks(
  persistentLoad: (pid: PickleValue) => PickleValue, options: TensorBuildOptions,
): UnpickleHooks {
  return {
    resolveGlobal: resolveTorchGlobal,
    persistentLoad,
    call: (fn, args) => callGlobal(fn, args, options),
    build(target, state) {
      // torch's own weights-only loader allows BUILD on OrderedDict (its _metadata) and tensors.
      if (target instanceof Map) {
        const attrs = attributes.get(target) ?? new Map<PickleValue, PickleValue>();
        const parts = Array.isArray(state) && state.length === 2 ? state : [state];
        for (const part of parts) {
          if (part === null) continue;
          if (!(part instanceof Map)) throw new CheckpointError(`Expected a dict as the state of a dict but received ${typeName(part)}`);
          for (const [k, v] of part) attrs.set(k, v);
        }
        attributes.set(target, attrs);
        return;
      }
      if (isTensorLike(target)) return; // a Parameter's python attributes carry no tensor data
      throw new CheckpointError(`Expected BUILD to target a dict or tensor but received ${typeName(target)}`);
    },
  };
}

function isTensorLike(v: PickleValue): v is RawTensor {
  return typeof v === 'object' && v !== null && !(v instanceof Map) && !(v instanceof Set) && !Array.isArray(v)
    && !(v instanceof Uint8Array) && !(v instanceof PyGlobal) && !(v instanceof PickleOpaque);
}

function callGlobal(fn: PyGlobal, args: PickleValue[], options: TensorBuildOptions): PickleValue {
  const argErr = (expected: string): never => {
    throw new CheckpointError(
      `Expected ${fn.qualname} to be called with ${expected} but received (${args.map(typeName).join(', ')})`);
  };
  switch (fn.qualname) {
    case 'collections.OrderedDict': {
      const m = new Map<PickleValue, PickleValue>();
      if (args.length === 0) return m;
      const pairs = args[0];
      if (args.length !== 1 || !Array.isArray(pairs)) return argErr('no arguments or a list of pairs');
      for (const p of pairs as PickleValue[]) {
        if (!Array.isArray(p) || p.length !== 2) return argErr('a list of (key, value) pairs');
        m.set(p[0]!, p[1]!);
      }
      return m;
    }
    case 'torch.Size':
      if (args.length === 0) return [];
      if (args.length !== 1 || !Array.isArray(args[0])) return argErr('one tuple of ints');
      return args[0];
    case 'builtins.set': case 'builtins.frozenset':
      if (args.length === 0) return new Set();
      if (args.length !== 1 || !Array.isArray(args[0])) return argErr('one list');
      return new Set(args[0] as PickleValue[]);
    case '_codecs.encode': {
      // Protocol 2 spells bytes as _codecs.encode(text, 'latin1'); any other codec is refused.
      const [text, codec] = args;
      if (typeof text !== 'string' || (codec !== 'latin1' && codec !== 'latin-1')) return argErr("(str, 'latin1')");
      return Uint8Array.from(text as string, (c) => c.charCodeAt(0) & 0xff);
    }
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2': {
      const [storage, offset, size, stride] = args;
      if (!(storage instanceof Storage)) return argErr('a storage first');
      return rebuildTensor(storage, storage.dtype, offset, size, stride, options, argErr);
    }
    case 'torch._utils._rebuild_tensor_v3': {
      const [storage, offset, size, stride, , , dtype] = args;
      if (!(storage instanceof Storage) || !(dtype instanceof DtypeGlobal)) return argErr('a storage and a dtype');
      return rebuildTensor(storage, dtype.dtype, offset, size, stride, options, argErr);
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state': {
      const data = args[0];
      if (!isTensorLike(data as PickleValue)) return argErr('a tensor first');
      return data!;
    }
    case 'torch._tensor._rebuild_from_type_v2': {
      // (func, new_type, args, state): plain tensors and Parameters only; func is itself allowlisted.
      const [func, newType, inner] = args;
      if (!(func instanceof PyGlobal) || !REBUILDERS.has(func.qualname) || !Array.isArray(inner)) {
        return argErr('a torch rebuild function and its arguments');
      }
      if (!(newType instanceof PyGlobal) || !['torch.Tensor', 'torch.nn.parameter.Parameter'].includes(newType.qualname)) {
        return argErr('torch.Tensor or torch.nn.Parameter as the type');
      }
      return callGlobal(func, inner as PickleValue[], options);
    }
    default:
      throw new CheckpointError(`Refusing to call ${fn.qualname}: it is allowed only as a value (a storage type or dtype), not as a function`);
  }
}

/** PyTorch's own limit on a tensor's dimensions. */
const MAX_DIMS = 64;

function intList(v: PickleValue | undefined): number[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.every((x) => typeof x === 'number' && Number.isSafeInteger(x)) ? (v as number[]) : undefined;
}

function rebuildTensor(
  storage: Storage, dtype: PthDtype, offset: PickleValue | undefined, sizeV: PickleValue | undefined,
  strideV: PickleValue | undefined, options: TensorBuildOptions, argErr: (expected: string) => never,
): RawTensor {
  const size = intList(sizeV);
  const stride = intList(strideV);
  if (typeof offset !== 'number' || !size || !stride) return argErr('(storage, offset, size tuple, stride tuple, …)');
  if (size.length > MAX_DIMS) throw new CheckpointError(`Expected a tensor of at most ${MAX_DIMS} dimensions but received ${size.length}`);
  const es = DTYPE_SIZE[dtype];
  if (options.dryRun) return { dtype, shape: [...size], data: new Uint8Array(0) };
  const bytes = numel(size) * es;
  const budget = options.budget;
  // Checked before anything is copied: the size alone says what the contiguous tensor would take.
  if (budget && size.every((n) => n >= 0) && bytes > budget.left) {
    const viewed = Math.min(storage.bytes.length, Math.max(0, ...stride.map((st, d) => st * Math.max(0, size[d]! - 1))) * es + es);
    throw new CheckpointError(
      `Refusing a ${dtype} tensor of size [${size.join(', ')}] with stride [${stride.join(', ')}]: it views ${formatBytes(viewed)} of storage ` +
      `but would take ${formatBytes(bytes)} as a contiguous tensor, more than the file's tensors may take (twice its ${formatBytes(budget.storageBytes)} of storage ` +
      `plus ${formatBytes(EXPANSION_ALLOWANCE_BYTES)}). A stride-0 (expanded) or overlapping view was saved, or one storage is rebuilt many times; ` +
      'save tensor.contiguous() or .clone() instead of the view');
  }
  const data = materialize(storage.bytes, es, offset, size, stride);
  if (options.bigEndian) swapBytes(data, es);
  if (data.length !== bytes) throw new CheckpointError(`Internal size mismatch while rebuilding a ${dtype} tensor`);
  if (budget) budget.left -= bytes;
  return { dtype, shape: [...size], data };
}
