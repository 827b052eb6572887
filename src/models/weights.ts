/**
 * The bridge between live models and checkpoint files: model.stateDict() ⇄ RawTensor maps (the engine-
 * independent form src/models/pth reads and writes), and `.pth` save/load on top.
 */
import { releaseFreeHostMemory, tensor, tidy, type Tensor } from '../tensor/index.js';
import { invalidArg } from '../util/errors.js';
import { StateDictError, isCleanLoad, planStateDictLoad, type LoadReport, type LoadStateDictOptions, type Model } from '../nn/index.js';
import { DTYPE_SIZE, isRawTensor, numel, readStateDict, writeStateDict, type CheckpointSource, type RawTensor, type ReadStateDictOptions, type TensorSource } from './pth/index.js';

/** A tensor's contiguous little-endian bytes (copied to the CPU), as a checkpoint stores them. */
export function tensorToRaw(t: Tensor): RawTensor {
  return { dtype: t.dtype, shape: t.shape, data: t.toBytes() };
}

/** Bytes per part when a tensor is streamed into a file (tensorSource): large enough that a write call costs nothing. */
const SOURCE_CHUNK_BYTES = 1 << 20;
let spareChunk: Uint8Array | undefined;

/**
 * The tensor as a checkpoint writer's TensorSource: its bytes are read straight from the tensor's memory, part by
 * part through one reused 1 MiB buffer, while the file is written (a GPU or non-contiguous tensor is first copied
 * to one contiguous CPU tensor, one tensor at a time). The tensor must stay alive and unchanged until the write ends.
 */
export function tensorSource(t: Tensor): TensorSource {
  const dtype = t.dtype;
  const shape = t.shape;
  return {
    dtype,
    shape,
    byteLength: numel(shape) * DTYPE_SIZE[dtype],
    read(sink) {
      // A nested read (a sink that reads another source) gets its own buffer.
      const chunk = spareChunk ?? new Uint8Array(SOURCE_CHUNK_BYTES);
      spareChunk = undefined;
      try {
        t.readBytes(chunk, sink);
      } finally {
        spareChunk = chunk;
      }
    },
  };
}

/** A new CPU tensor holding a checkpoint tensor's values, dtype kept. */
export function rawToTensor(raw: RawTensor): Tensor {
  if (!isRawTensor(raw)) throw invalidArg('raw tensor', 'a RawTensor {dtype, shape, data}', raw);
  const n = numel(raw.shape);
  const size = DTYPE_SIZE[raw.dtype];
  if (raw.data.byteLength !== n * size) {
    throw new RangeError(`A ${raw.dtype} tensor of shape [${raw.shape.join(', ')}] needs ${n * size} bytes but its data has ${raw.data.byteLength}`);
  }
  // Typed-array views need aligned offsets; a checkpoint slice may not be, so copy it then.
  const bytes = raw.data.byteOffset % size === 0 ? raw.data : raw.data.slice();
  const view = <T>(C: new (b: ArrayBufferLike, o: number, l: number) => T): T => new C(bytes.buffer, bytes.byteOffset, n);
  const shape = [...raw.shape];
  switch (raw.dtype) {
    case 'float32': return tensor(view(Float32Array), shape, 'float32');
    case 'float64': return tensor(view(Float64Array), shape, 'float64');
    case 'int64': return tensor(view(BigInt64Array), shape, 'int64');
    case 'int32': return tensor(view(Int32Array), shape, 'int32');
    case 'int16': return tensor(view(Int16Array), shape, 'int16');
    case 'int8': return tensor(view(Int8Array), shape, 'int8');
    case 'uint8': return tensor(view(Uint8Array), shape, 'uint8');
    case 'bool': return tensor(view(Uint8Array), shape, 'bool');
    // The engine builds half tensors from float32 values; both widen to float32 exactly.
    case 'bfloat16': return tensor(bf16ToF32(view(Uint16Array)), shape, 'bfloat16');
    case 'float16': return tensor(f16ToF32(view(Uint16Array)), shape, 'float16');
  }
}

function bf16ToF32(h: Uint16Array): Float32Array {
  const bits = new Uint32Array(h.length);
  for (let i = 0; i < h.length; i++) bits[i] = h[i]! << 16;
  return new Float32Array(bits.buffer);
}

function f16ToF32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const v = h[i]!;
    const sign = v & 0x8000 ? -1 : 1;
    const exp = (v >> 10) & 0x1f;
    const frac = v & 0x3ff;
    out[i] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** The model's state dict as RawTensors under torchvision keys (includes `num_batches_tracked`). */
export function stateDictToRaw(model: Pick<Model, 'stateDict'>): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [k, t] of model.stateDict()) out.set(k, tensorToRaw(t));
  return out;
}

/**
 * Loads checkpoint tensors into a model. Shapes are checked before any data is converted; strict (the
 * default) throws a StateDictError listing missing, unexpected and mis-shaped keys and changes nothing;
 * `strict: false` loads what matches (e.g. an ImageNet checkpoint into a 2-class model, skipping `fc`).
 */
export function loadRawStateDict(
  model: Pick<Model, 'name' | 'stateDict' | 'loadStateDict'>, raw: ReadonlyMap<string, RawTensor>, options: LoadStateDictOptions = {},
): LoadReport {
  if (!(raw instanceof Map)) throw invalidArg('state dict', 'a Map from key to RawTensor', raw);
  const report = planStateDictLoad(model.stateDict(), raw);
  if ((options.strict ?? true) && !isCleanLoad(report)) throw new StateDictError(report, `model "${model.name}"`);
  tidy(() => {
    const matched = new Map(report.loaded.map((k) => [k, rawToTensor(raw.get(k)!)]));
    model.loadStateDict(matched, { strict: false });
  });
  return report;
}

/**
 * Writes the model's weights as a zip `.pth` that `torch.load` + `load_state_dict` accept, each tensor streamed from
 * its own memory into the file (tensorSource): no copy of the weights is made in JavaScript.
 */
export async function saveWeights(model: Pick<Model, 'stateDict'>, path: string): Promise<void> {
  releaseFreeHostMemory();
  const sources = new Map<string, TensorSource>();
  for (const [k, t] of model.stateDict()) sources.set(k, tensorSource(t));
  await writeStateDict(path, sources);
}

export interface LoadWeightsOptions extends LoadStateDictOptions, ReadStateDictOptions {
  /** Today's name for each checkpoint key (a family's renaming of old torchvision files, e.g. DenseNet's). */
  renameKey?: (key: string) => string;
}

/**
 * Reads a PyTorch checkpoint (`torch.save(model.state_dict(), path)`, or a training checkpoint holding
 * one; see ReadStateDictOptions) and loads it into the model. Never executes code from the file.
 */
export async function loadWeights(model: Model, source: CheckpointSource, options: LoadWeightsOptions = {}): Promise<LoadReport> {
  const raw = await readStateDict(source, { key: options.key, stripPrefix: options.stripPrefix });
  return loadRawStateDict(model, options.renameKey ? renameKeys(raw, options.renameKey) : raw, { strict: options.strict });
}

/** The checkpoint under renamed keys; two keys renamed to one would silently lose a tensor, so that is an error. */
function renameKeys(raw: ReadonlyMap<string, RawTensor>, rename: (key: string) => string): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  const from = new Map<string, string>();
  for (const [k, t] of raw) {
    const n = rename(k);
    if (out.has(n)) throw new Error(`checkpoint keys ${from.get(n)} and ${k} both stand for ${n}: expected one tensor per model key; the file mixes old and new names`);
    out.set(n, t);
    from.set(n, k);
  }
  return out;
}
