import { existsSync, readdirSync, rmSync } from 'node:fs';
import { z } from 'zod';
import { join } from 'node:path';
import { readCheckpoint, writeCheckpoint, isRawTensor, type RawTensor, type PickleValue, type CheckpointValue } from '../models/pth/index.js';
import type { OptimizerState, Tensor } from '../tensor/index.js';
import { tensorToRaw, rawToTensor } from '../models/index.js';

/**
 * Everything a killed run needs to continue exactly where it stopped. Stored in one torch-loadable
 * file (`torch.load(path)['model']` is a torchvision state dict), written atomically, so the previous
 * checkpoint survives a crash during the write.
 */
export interface TrainingState {
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
  /** Images trained on over the whole run (for images/s across resumes); absent in older checkpoints. */
  trainImages?: number;
  configHash: string;
}

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

export const CHECKPOINT_DIR = 'checkpoints';
export const checkpointPath = (runDir: string, kind: 'last' | 'best'): string => join(runDir, CHECKPOINT_DIR, `${kind}.pth`);

function rawMap(m: Map<string, Tensor>): Map<string, RawTensor> {
  return new Map([...m].map(([k, t]) => [k, tensorToRaw(t)]));
}

export async function saveTrainingCheckpoint(
  path: string,
  model: Map<string, Tensor>,
  optimizer: OptimizerState,
  held: Record<string, Map<string, Tensor>>,
  state: TrainingState,
): Promise<void> {
  const heldRaw = new Map<string, CheckpointValue>();
  for (const [k, m] of Object.entries(held)) heldRaw.set(k, rawMap(m));
  const value = new Map<string, CheckpointValue>([
    ['model', rawMap(model)],
    ['optimizer', rawMap(optimizer.tensors)],
    ['held_weights', heldRaw],
    // JSON rather than pickled scalars: exact round-trip of every number, and torch.load-able anyway.
    ['ablate_state', JSON.stringify(state)],
  ]);
  await writeCheckpoint(path, value);
}

export interface LoadedCheckpoint {
  model: Map<string, RawTensor>;
  optimizerTensors: Map<string, RawTensor>;
  held: Record<string, Map<string, RawTensor>>;
  state: TrainingState;
}

function asRawMap(v: PickleValue | undefined, what: string, path: string): Map<string, RawTensor> {
  if (!(v instanceof Map)) throw new Error(`${path}: expected "${what}" to be a dict of tensors`);
  const out = new Map<string, RawTensor>();
  for (const [k, t] of v) {
    if (typeof k !== 'string' || !isRawTensor(t)) throw new Error(`${path}: "${what}" holds a non-tensor entry ${String(k)}`);
    out.set(k, t);
  }
  return out;
}

const int0 = z.number().int().min(0);
/** Only what the resume path relies on; the rest is checked by its owners (schedule, callbacks). */
const TrainingStateSchema = z.looseObject({
  epoch: int0,
  batchInEpoch: int0,
  epochComplete: z.boolean(),
  globalStep: int0,
  optimizer: z.looseObject({ kind: z.string(), step: z.number(), hyper: z.record(z.string(), z.union([z.number(), z.boolean()])) }),
  generators: z.record(z.string(), z.string()),
  accum: z.looseObject({ lossSum: z.number(), correct: z.number(), correctTop5: z.number(), seen: z.number() }),
  trainTimeS: z.number().min(0),
  configHash: z.string(),
});

const DAMAGED = 'remove it to start this run over, or restore a copy';

/** Reads `checkpoints/last.pth`; a truncated or foreign file is a clear error naming the file, never a crash. */
export async function loadTrainingCheckpoint(path: string): Promise<LoadedCheckpoint> {
  if (!existsSync(path)) throw new Error(`no checkpoint at ${path}`);
  let root: PickleValue;
  try {
    root = await readCheckpoint(path);
  } catch (e) {
    throw new Error(`cannot resume from ${path}: the checkpoint is damaged (${(e as Error).message}); ${DAMAGED}`);
  }
  if (!(root instanceof Map) || typeof root.get('ablate_state') !== 'string') {
    throw new Error(`cannot resume from ${path}: it is not an ablate training checkpoint (expected keys model, optimizer, ablate_state); ${DAMAGED}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(root.get('ablate_state') as string);
  } catch (e) {
    throw new Error(`cannot resume from ${path}: its training state is not valid JSON (${(e as Error).message}); ${DAMAGED}`);
  }
  const st = TrainingStateSchema.safeParse(parsed);
  if (!st.success) {
    const i = st.error.issues[0]!;
    throw new Error(`cannot resume from ${path}: its training state is invalid at "${i.path.join('.')}" (${i.message}); ${DAMAGED}`);
  }
  const heldRoot = root.get('held_weights');
  const held: Record<string, Map<string, RawTensor>> = {};
  if (heldRoot instanceof Map) for (const [k, v] of heldRoot) held[String(k)] = asRawMap(v, `held_weights.${String(k)}`, path);
  return {
    model: asRawMap(root.get('model'), 'model', path),
    optimizerTensors: asRawMap(root.get('optimizer'), 'optimizer', path),
    held,
    state: st.data as unknown as TrainingState,
  };
}

export function optimizerStateFrom(loaded: LoadedCheckpoint): OptimizerState {
  const tensors = new Map<string, Tensor>();
  for (const [k, r] of loaded.optimizerTensors) tensors.set(k, rawToTensor(r));
  return { ...loaded.state.optimizer, tensors };
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
 * A process killed while writing a checkpoint leaves its temp file (`.last.pth.<pid>.<ms>.tmp`, see
 * writeFileAtomic) behind; for big models that is hundreds of MB per kill, so a resume clears them.
 */
export function removeStaleCheckpointTemps(runDir: string): string[] {
  const dir = join(runDir, CHECKPOINT_DIR);
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = /^\..+\.(\d+)\.\d+\.tmp$/.exec(name);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}
