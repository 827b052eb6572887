import { CheckpointError, checkpointErrorIn } from './checkpoint-error.js';
import { isRawTensor, type RawTensor } from './raw-tensor.js';
import { readCheckpoint, type CheckpointSource } from './read-checkpoint.js';
import { quoteShort, typeName, type PickleValue } from './unpickler.js';

export interface ReadStateDictOptions {
  /**
   * Where the state dict sits inside a training checkpoint: a key (`'model'`) or a path of keys
   * (`['model', 'state_dict']`). Without it, a flat dict of tensors is used as is, and otherwise
   * the first of STATE_DICT_KEYS present holds it.
   */
  key?: string | readonly string[];
  /** Remove this prefix from keys that have it, e.g. `'module.'` for DataParallel checkpoints. */
  stripPrefix?: string;
}

/** Keys under which training scripts conventionally store the model's weights. */
export const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model', 'net', 'network', 'module'] as const;

/** Read a checkpoint and return its state dict (parameter name → tensor), in file order. */
export async function readStateDict(source: CheckpointSource, options: ReadStateDictOptions = {}): Promise<Map<string, RawTensor>> {
  const checkpoint = await readCheckpoint(source);
  try {
    return selectStateDict(checkpoint, options);
  } catch (e) {
    throw typeof source === 'string' ? checkpointErrorIn(source, e) : e;
  }
}

export function selectStateDict(checkpoint: PickleValue, options: ReadStateDictOptions = {}): Map<string, RawTensor> {
  let node = checkpoint;
  let where = 'the checkpoint';
  if (options.key !== undefined) {
    const path = typeof options.key === 'string' ? [options.key] : options.key;
    for (const k of path) {
      if (!(node instanceof Map) || !node.has(k)) {
        const keys = node instanceof Map ? listKeys(node) : typeName(node);
        throw new CheckpointError(`Expected key ${JSON.stringify(k)} in ${where} but it holds ${keys}`);
      }
      node = node.get(k)!;
      where = `${where}[${JSON.stringify(k)}]`;
    }
  } else if (node instanceof Map && !isTensorDict(node)) {
    const found = STATE_DICT_KEYS.find((k) => node instanceof Map && node.get(k) instanceof Map);
    if (found === undefined) {
      throw new CheckpointError(
        `Expected a state dict (a dict of tensors) or a checkpoint holding one under ${STATE_DICT_KEYS.map((k) => `'${k}'`).join('/')} ` +
        `but received a dict with ${listKeys(node)}; pass { key } to choose`);
    }
    node = node.get(found)!;
    where = `${where}[${JSON.stringify(found)}]`;
  }
  if (!(node instanceof Map)) throw new CheckpointError(`Expected a dict of tensors at ${where} but received ${typeName(node)}`);

  const out = new Map<string, RawTensor>();
  for (const [k, v] of node) {
    if (typeof k !== 'string') throw new CheckpointError(`Expected string keys in the state dict at ${where} but received ${typeName(k)}`);
    if (!isRawTensor(v)) throw new CheckpointError(`Expected a tensor for ${quoteShort(k)} in the state dict at ${where} but received ${typeName(v)}`);
    out.set(k, v);
  }
  return options.stripPrefix ? stripKeyPrefix(out, options.stripPrefix) : out;
}

/** Drop `prefix` (default `'module.'`, added by DataParallel/DDP) from every key that starts with it. */
export function stripKeyPrefix<T>(stateDict: ReadonlyMap<string, T>, prefix = 'module.'): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of stateDict) {
    const name = k.startsWith(prefix) ? k.slice(prefix.length) : k;
    if (out.has(name)) throw new CheckpointError(`Expected unique keys after stripping ${JSON.stringify(prefix)} but ${JSON.stringify(name)} occurs twice`);
    out.set(name, v);
  }
  return out;
}

function isTensorDict(m: Map<PickleValue, PickleValue>): boolean {
  for (const v of m.values()) if (!isRawTensor(v)) return false;
  return true;
}

function listKeys(m: Map<PickleValue, PickleValue>): string {
  const keys = [...m.keys()].slice(0, 10).map((k) => (typeof k === 'string' ? quoteShort(k) : typeName(k)));
  return `keys [${keys.join(', ')}${m.size > 10 ? `, … ${m.size - 10} more` : ''}]`;
}
