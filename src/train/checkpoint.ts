import { createHash } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { z } from 'zod';
import { join, relative } from 'node:path';
import { CheckpointError, writeCheckpoint, readCheckpoint, isRawTensor, readTensorBytes, tensorByteLength, type RawTensor, type PickleValue, type CheckpointValue, type TensorBytes, type TensorSource } from '../models/pth/index.js';
import { releaseFreeHostMemory, type OptimizerState, type Tensor } from '../tensor/index.js';
import { tensorSource, rawToTensor } from '../models/index.js';
import type { Logs } from './callbacks/base.js';
import { runFolder, type CheckpointFile } from '../run/folder.js';

/**
 * Everything a killed run needs to continue exactly where it stopped. Stored in one torch-loadable
 * file (`torch.load(path)['model']` is a torchvision state dict), written atomically, with a digest
 * over the state and every tensor, so a damaged or edited checkpoint is never resumed from.
 */
export interface TrainingState {
  /** Layout of this object; a checkpoint of another format is refused rather than half understood. */
  format: typeof STATE_FORMAT;
  /** 0-based epoch in progress (or just finished, when epochComplete). */
  epoch: number;
  /** Batches of `epoch` already trained (the next one to train when resuming). */
  batchInEpoch: number;
  epochComplete: boolean;
  globalStep: number;
  optimizer: { kind: string; step: number; hyper: Record<string, number | boolean> };
  schedule: unknown;
  callbacks: unknown;
  /** base64 of libtorch generator states, keyed by purpose (augmentation, ...). */
  generators: Record<string, string>;
  /** Running sums of the epoch in progress, so its final metrics equal an uninterrupted run's. */
  accum: EpochAccumulators;
  trainTimeS: number;
  /** Images trained on over the whole run (for images/s across resumes). */
  trainImages: number;
  /**
   * Every epoch finished up to this checkpoint with its logs (0-based epoch; non-finite values as
   * null): the run's history as of this step, from which history.jsonl and metrics.csv are rebuilt.
   */
  epochs: Array<{ epoch: number; logs: Record<string, number | null> }>;
  configHash: string;
  /** A streaming loader's record of where its streams stand (see TrainLoader.position); absent for cached data. */
  loader?: unknown;
}

export const STATE_FORMAT = 2;

export interface EpochAccumulators {
  lossSum: number;
  correct: number;
  correctTop5: number;
  seen: number;
  waitMs: number;
  stepMs: number;
  /** Wall-clock milliseconds of the epoch before the checkpoint. */
  epochMs: number;
}

/**
 * `last` is the newest training checkpoint and `previous` the one before it: when `last` turns out
 * damaged, the run resumes from `previous`. `best` holds only weights.
 */
export const checkpointPath = (runDir: string, kind: CheckpointFile): string => runFolder(runDir).checkpoint(kind);

/** A training checkpoint that failed a check: which file, and what is wrong with it. */
export class DamagedCheckpointError extends Error {
  override name = 'DamagedCheckpointError';
  constructor(readonly path: string, readonly damage: string) {
    super(`${path} is damaged: ${damage}`);
  }
}

/** Each tensor as a source the writer reads straight from the tensor's memory: no copy of the state in JavaScript. */
function sourceMap(m: Map<string, Tensor>): Map<string, TensorSource> {
  return new Map([...m].map(([k, t]) => [k, tensorSource(t)]));
}

/**
 * SHA-256 over the state's JSON text and every tensor (section, key, dtype, shape, bytes) in key
 * order. The zip's CRC-32s catch damage to the file; this catches a checkpoint whose content was
 * changed and re-encoded (an edited step count, a swapped tensor), which CRCs cannot.
 */
function checkpointDigest(stateJson: string, sections: ReadonlyArray<[string, ReadonlyMap<string, TensorBytes>]>): string {
  const h = createHash('sha256');
  const field = (s: string) => { h.update(String(Buffer.byteLength(s))); h.update(':'); h.update(s); };
  field(stateJson);
  for (const [section, m] of sections) {
    for (const key of [...m.keys()].sort()) {
      const t = m.get(key)!;
      field(`${section}/${key}/${t.dtype}/${t.shape.join(',')}`);
      h.update(String(tensorByteLength(t)));
      readTensorBytes(t, (bytes) => h.update(bytes));
    }
  }
  return `sha256:${h.digest('hex')}`;
}

function digestSections<T extends TensorBytes>(model: ReadonlyMap<string, T>, optimizer: ReadonlyMap<string, T>, held: Record<string, ReadonlyMap<string, T>>): Array<[string, ReadonlyMap<string, T>]> {
  return [['model', model], ['optimizer', optimizer], ...Object.keys(held).sort().map((k): [string, ReadonlyMap<string, T>] => [`held/${k}`, held[k]!])];
}

export interface SaveTrainingCheckpointOptions {
  /**
   * Move the current `last.pth` to `previous.pth` once the new one is complete. Only for a `last.pth`
   * known to be good (written or verified by this process), so `previous` is always a good one.
   */
  keepPrevious: boolean;
}

/**
 * Writes `checkpoints/last.pth`; a failure (a full disk) leaves `last.pth` and `previous.pth` as they were.
 * No tensor is copied into JavaScript: one pass over the tensors' memory computes the digest (and each tensor's
 * CRC-32, which the zip headers need first), a second streams them into the file, record by record.
 */
export async function saveTrainingCheckpoint(
  runDir: string,
  model: Map<string, Tensor>,
  optimizer: OptimizerState,
  held: Record<string, Map<string, Tensor>>,
  state: TrainingState,
  options: SaveTrainingCheckpointOptions,
): Promise<void> {
  // Hands back the pages the allocator kept from the last step before the write fills the page cache; the
  // contiguous CPU copy a GPU or channels-last tensor needs (one tensor at a time) reuses freed memory.
  releaseFreeHostMemory();
  const modelSrc = sourceMap(model);
  const optSrc = sourceMap(optimizer.tensors);
  const heldSrc: Record<string, Map<string, TensorSource>> = {};
  for (const [k, m] of Object.entries(held)) heldSrc[k] = sourceMap(m);
  // JSON rather than pickled scalars: exact round-trip of every number, and torch.load-able anyway.
  const stateJson = JSON.stringify(state);
  const value = new Map<string, CheckpointValue>([
    ['model', modelSrc],
    ['optimizer', optSrc],
    ['held_weights', new Map(Object.entries(heldSrc))],
    ['ablate_state', stateJson],
    ['ablate_digest', checkpointDigest(stateJson, digestSections(modelSrc, optSrc, heldSrc))],
  ]);
  const last = checkpointPath(runDir, 'last');
  await writeCheckpoint(last, value, {
    beforeReplace: () => { if (options.keepPrevious && existsSync(last)) renameSync(last, checkpointPath(runDir, 'previous')); },
  });
}

export interface LoadedCheckpoint {
  model: Map<string, RawTensor>;
  optimizerTensors: Map<string, RawTensor>;
  held: Record<string, Map<string, RawTensor>>;
  state: TrainingState;
}

function asRawMap(v: PickleValue | undefined, what: string, path: string): Map<string, RawTensor> {
  if (!(v instanceof Map)) throw new DamagedCheckpointError(path, `expected "${what}" to be a dict of tensors`);
  const out = new Map<string, RawTensor>();
  for (const [k, t] of v) {
    if (typeof k !== 'string' || !isRawTensor(t)) throw new DamagedCheckpointError(path, `"${what}" holds a non-tensor entry ${String(k)}`);
    out.set(k, t);
  }
  return out;
}

const int0 = z.number().int().min(0);
const logValue = z.number().nullable();
/** Only what the resume path relies on; the rest is checked by its owners (schedule, callbacks). */
const TrainingStateSchema = z.looseObject({
  format: z.literal(STATE_FORMAT),
  epoch: int0,
  batchInEpoch: int0,
  epochComplete: z.boolean(),
  globalStep: int0,
  optimizer: z.looseObject({ kind: z.string(), step: z.number(), hyper: z.record(z.string(), z.union([z.number(), z.boolean()])) }),
  generators: z.record(z.string(), z.string()),
  accum: z.looseObject({ lossSum: z.number(), correct: z.number(), correctTop5: z.number(), seen: z.number() }),
  trainTimeS: z.number().min(0),
  trainImages: int0,
  epochs: z.array(z.object({ epoch: int0, logs: z.record(z.string(), logValue) })),
  configHash: z.string(),
});

/**
 * Reads and verifies one training checkpoint: zip CRCs and sizes (in the reader), the digest over state
 * and tensors, then the state's shape. Any failure is a DamagedCheckpointError saying what is wrong.
 */
export async function loadTrainingCheckpoint(path: string): Promise<LoadedCheckpoint> {
  if (!existsSync(path)) throw new Error(`no checkpoint at ${path}`);
  let root: PickleValue;
  try {
    root = await readCheckpoint(path);
  } catch (e) {
    // The error names the file already; this one names it once, as damaged.
    throw new DamagedCheckpointError(path, e instanceof CheckpointError && e.file === path ? e.detail : (e as Error).message);
  }
  if (!(root instanceof Map) || typeof root.get('ablate_state') !== 'string') {
    throw new DamagedCheckpointError(path, 'it is not an ablate training checkpoint (expected keys model, optimizer, ablate_state)');
  }
  const stateJson = root.get('ablate_state') as string;
  const digest = root.get('ablate_digest');
  if (typeof digest !== 'string') {
    throw new DamagedCheckpointError(path, 'it has no ablate_digest, so its content cannot be verified (an older ablate wrote it, or the key was removed)');
  }
  const heldRoot = root.get('held_weights');
  const held: Record<string, Map<string, RawTensor>> = {};
  if (heldRoot instanceof Map) for (const [k, v] of heldRoot) held[String(k)] = asRawMap(v, `held_weights.${String(k)}`, path);
  const model = asRawMap(root.get('model'), 'model', path);
  const optimizerTensors = asRawMap(root.get('optimizer'), 'optimizer', path);
  const actual = checkpointDigest(stateJson, digestSections(model, optimizerTensors, held));
  if (actual !== digest) {
    throw new DamagedCheckpointError(path,
      `its training state or tensors do not match the digest written with them (${digest.slice(0, 19)}… expected, ${actual.slice(0, 19)}… found): they were changed after the checkpoint was written`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stateJson);
  } catch (e) {
    throw new DamagedCheckpointError(path, `its training state is not valid JSON (${(e as Error).message})`);
  }
  const st = TrainingStateSchema.safeParse(parsed);
  if (!st.success) {
    const i = st.error.issues[0]!;
    throw new DamagedCheckpointError(path, `its training state is invalid at "${i.path.join('.')}" (${i.message})`);
  }
  return { model, optimizerTensors, held, state: st.data as unknown as TrainingState };
}

/** True when the run folder holds a training checkpoint to resume from (good or not: resume checks). */
export function hasTrainingCheckpoint(runDir: string): boolean {
  return existsSync(checkpointPath(runDir, 'last')) || existsSync(checkpointPath(runDir, 'previous'));
}

export interface ResumePoint {
  checkpoint: LoadedCheckpoint;
  path: string;
  /** Whether `last.pth` itself verified; only then may the next save keep it as `previous.pth`. */
  lastIsGood: boolean;
}

/**
 * The newest checkpoint that passes every check: `last.pth`, else `previous.pth`. A damaged or missing
 * `last.pth` is reported through `log`, naming the file and the damage; when no good checkpoint is left
 * this throws, listing what is wrong with each. undefined when the run has no checkpoint at all.
 */
export async function loadResumePoint(runDir: string, log: (line: string) => void): Promise<ResumePoint | undefined> {
  const problems: string[] = [];
  const rel = (p: string) => relative(runDir, p) || p;
  for (const kind of ['last', 'previous'] as const) {
    const path = checkpointPath(runDir, kind);
    if (!existsSync(path)) {
      if (kind === 'last' && existsSync(checkpointPath(runDir, 'previous'))) problems.push(`${rel(path)} is missing`);
      continue;
    }
    try {
      const checkpoint = await loadTrainingCheckpoint(path);
      if (problems.length > 0) {
        const s = checkpoint.state;
        log(`${problems.join('; ')}; resuming from ${rel(path)} instead (epoch ${s.epoch + 1}${s.epochComplete ? ' finished' : `, batch ${s.batchInEpoch}`}, step ${s.globalStep})`);
      }
      return { checkpoint, path, lastIsGood: kind === 'last' };
    } catch (e) {
      if (!(e instanceof DamagedCheckpointError)) throw e;
      problems.push(`${rel(path)} is damaged: ${e.damage}`);
    }
  }
  if (problems.length === 0) return undefined;
  throw new Error(
    `cannot resume ${runDir}: no undamaged checkpoint is left (${problems.join('; ')}); ` +
    `remove ${runFolder(runDir).checkpoints} to start this run over, or restore a copy`);
}

export function optimizerStateFrom(loaded: LoadedCheckpoint): OptimizerState {
  const tensors = new Map<string, Tensor>();
  for (const [k, r] of loaded.optimizerTensors) tensors.set(k, rawToTensor(r));
  return { ...loaded.state.optimizer, tensors };
}

/** Epoch logs as the checkpoint stores them: JSON has no NaN, so non-finite values travel as null. */
export function logsToJson(logs: Logs): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(logs)) if (v !== undefined) out[k] = Number.isFinite(v) ? v : null;
  return out;
}

export function logsFromJson(logs: Record<string, number | null>): Logs {
  const out: Logs = {};
  for (const [k, v] of Object.entries(logs)) out[k] = v === null ? NaN : v;
  return out;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A kill between the two renames of a save (last.pth → previous.pth, then the new file → last.pth) leaves
 * no last.pth, the older checkpoint as previous.pth, and the complete new one in the dead writer's temp file
 * (`.last.pth.<pid>.<ms>.tmp`). The newest such file that passes every check a resume makes becomes
 * last.pth again, so the run continues from it rather than from the step before; a damaged one is left for
 * removeStaleTemps. Returns the file promoted, if any.
 */
export async function promoteCompleteCheckpoint(runDir: string, log: (line: string) => void): Promise<string | undefined> {
  const last = checkpointPath(runDir, 'last');
  const dir = runFolder(runDir).checkpoints;
  if (existsSync(last) || !existsSync(dir)) return undefined;
  const temps = readdirSync(dir)
    .map((name) => ({ name, m: /^\.last\.pth\.(\d+)\.(\d+)\.tmp$/.exec(name) }))
    .filter((t) => t.m !== null && Number(t.m[1]) !== process.pid && !processAlive(Number(t.m[1])))
    .sort((a, b) => Number(b.m![2]) - Number(a.m![2]));
  for (const { name } of temps) {
    const path = join(dir, name);
    try {
      await loadTrainingCheckpoint(path);
    } catch (e) {
      if (e instanceof DamagedCheckpointError) continue;
      throw e;
    }
    renameSync(path, last);
    log(`${relative(runDir, last)} was missing, and the save that was replacing it (${name}, left by a process killed between its renames) is complete and verified: resuming from it`);
    return path;
  }
  return undefined;
}

/**
 * A process killed (or stopped by a full disk) while writing leaves its temp file
 * (`.<name>.<pid>.<ms>.tmp`, see writeFileAtomic) behind: in the run folder (model.pth, status.json)
 * and in checkpoints/, hundreds of MB each for big models. The next start clears those of dead writers.
 */
export function removeStaleTemps(runDir: string): string[] {
  const removed: string[] = [];
  for (const dir of [runDir, runFolder(runDir).checkpoints]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const m = /^\..+\.(\d+)\.\d+\.tmp$/.exec(name);
      if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
      rmSync(join(dir, name), { force: true });
      removed.push(relative(runDir, join(dir, name)));
    }
  }
  return removed;
}
