// What the training loop needs from data parallelism, in one place: the process group and DDP's gradient
// Reducer (src/tensor/distributed.ts), weights and BN statistics kept equal to rank 0's, metrics summed
// over ranks so every rank takes the same decisions (divergence, early stopping, checkpoints), and each
// rank's own random state saved beside rank 0's checkpoint so a resume restores every rank.
import { existsSync, rmSync } from 'node:fs';
import { GradientReducer, ProcessGroup, backendFor, tensor, type DistBackend, type GradientReducerOptions, type Tensor } from '../tensor/index.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { BatchNormalization } from '../nn/index.js';
import type { LaunchEnv } from './launch.js';
import { readRegularTextSync } from '../util/regular-file.js';
import { runFolder } from '../run/folder.js';

export interface ParallelModel {
  parameters(): Tensor[];
  stateDict(): Map<string, Tensor>;
  /** Its layers, where batch-norm layers are switched to SyncBatchNorm. */
  layers?: readonly unknown[];
}

/** The model's buffers (BN running statistics and counters): its state dict less its parameters. */
function buffersOf(model: ParallelModel): Tensor[] {
  const params = new Set(model.parameters());
  return [...model.stateDict().values()].filter((t) => !params.has(t));
}

/** The random state a non-zero rank keeps apart from rank 0's checkpoint. */
export interface RankState {
  rank: number;
  worldSize: number;
  globalStep: number;
  generators: Record<string, string>;
  /** This rank's streaming loader position (TrainingState.loader). */
  loader?: unknown;
}

/**
 * How training sets up DDP's Reducer: DDP's bucket sizes (25 MB, the first 1 MB) and gradients as views of
 * the buckets. bench/allreduce.ts measures the same settings.
 */
export const DATA_PARALLEL_REDUCER: Readonly<Required<GradientReducerOptions>> = Object.freeze({
  bucketCapMb: 25,
  firstBucketCapMb: 1,
  gradientAsBucketView: true,
});

export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly localWorldSize: number;
  #reducer: GradientReducer | null = null;

  private constructor(
    private readonly group: ProcessGroup,
    env: LaunchEnv,
  ) {
    this.rank = env.rank;
    this.worldSize = env.worldSize;
    this.localRank = env.localRank;
    this.localWorldSize = env.localWorldSize;
  }

  /**
   * Joins the run's process group (blocks until every rank is there, or fails after `timeoutMs`), with the backend
   * PyTorch's DDP uses for the training device: NCCL on CUDA (Gloo beside it for CPU sums), Gloo on the CPU. An
   * addon without NCCL refuses a CUDA run here, with the remedy, rather than fall back to Gloo.
   */
  static join(env: LaunchEnv, timeoutMs?: number, device = 'cpu'): DataParallel {
    const group = ProcessGroup.init({
      masterAddr: env.masterAddr, masterPort: env.masterPort, rank: env.rank, worldSize: env.worldSize, timeoutMs,
      interface: process.env.GLOO_SOCKET_IFNAME || undefined, backend: backendFor(device),
    });
    return new DataParallel(group, env);
  }

  /** 'nccl' for a CUDA run, 'gloo' on the CPU. */
  get backend(): DistBackend {
    return this.group.backend;
  }

  /** Rank 0 writes files, logs and the progress bar; the others only compute. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  /**
   * Rank 0's weights and buffers everywhere, then DDP's Reducer on the parameters (call once, before
   * training). `syncBatchNorm`: the model's batch-norm layers normalise with the global batch's statistics.
   */
  attach(model: ParallelModel, o: { syncBatchNorm?: boolean } = {}): void {
    for (const layer of model.layers ?? []) if (layer instanceof BatchNormalization) layer.sync = o.syncBatchNorm === true;
    const params = model.parameters();
    this.group.broadcast([...params, ...buffersOf(model)], 0);
    this.#reducer?.free();
    this.#reducer = new GradientReducer(this.group, params, DATA_PARALLEL_REDUCER);
  }

  /** BN running statistics from rank 0 before each forward, as DDP's broadcast_buffers does. */
  syncBuffers(model: ParallelModel): void {
    const buffers = buffersOf(model);
    if (buffers.length > 0) this.group.broadcast(buffers, 0);
  }

  /** `loss.backward()` with gradients averaged over the ranks (bucketed, overlapped with backward). */
  backward(loss: Tensor): void {
    if (!this.#reducer) throw new Error('DataParallel.attach(model) must come before the first backward');
    this.#reducer.backward(loss);
  }

  /** Element-wise sums over the ranks, in float64 (counts and metric sums stay exact). */
  sum(values: readonly number[]): number[] {
    const t = tensor(Array.from(values), [values.length], 'float64');
    try {
      this.group.allReduce([t], 'sum');
      return t.toArray() as number[];
    } finally {
      t.dispose();
    }
  }

  barrier(): void {
    this.group.barrier();
  }

  /** Leaves the group; the process can exit or train alone afterwards. */
  close(): void {
    this.#reducer?.free();
    this.#reducer = null;
    this.group.destroy();
  }

  // ---- per-rank random state beside rank 0's checkpoint ----

  static rankStatePath(runDir: string, rank: number, globalStep: number): string {
    return runFolder(runDir).rankStepState(rank, globalStep);
  }

  /** Written by every rank but 0 whenever rank 0 writes checkpoints/last.pth; the last few are kept. */
  saveRankState(runDir: string, state: Omit<RankState, 'rank' | 'worldSize'>): void {
    if (this.isMain) return;
    writeJsonAtomic(DataParallel.rankStatePath(runDir, this.rank, state.globalStep), { rank: this.rank, worldSize: this.worldSize, ...state });
    // Keep three: rank 0 may fall back to its previous checkpoint when the last one is damaged.
    const mine = runFolder(runDir).rankStepStates(this.rank);
    for (const step of mine.slice(3)) rmSync(DataParallel.rankStatePath(runDir, this.rank, step), { force: true });
  }

  /** This rank's state at rank 0's checkpoint step; refuses a resume that would desynchronise the ranks. */
  loadRankState(runDir: string, globalStep: number): RankState | null {
    if (this.isMain) return null;
    const path = DataParallel.rankStatePath(runDir, this.rank, globalStep);
    if (!existsSync(path)) {
      throw new Error(
        `cannot resume rank ${this.rank} of ${this.worldSize}: rank 0's checkpoint is at step ${globalStep} but ${path} is missing. ` +
          `The run was last trained with another number of ranks, or the file was removed; resume with the same --nproc-per-node/WORLD_SIZE as before, ` +
          `or start the run again in a new folder.`,
      );
    }
    const s = JSON.parse(readRegularTextSync(path, { what: 'rank state file' })) as RankState;
    if (s.rank !== this.rank || s.worldSize !== this.worldSize || s.globalStep !== globalStep) {
      throw new Error(`cannot resume: ${path} holds rank ${s.rank} of ${s.worldSize} at step ${s.globalStep}, expected rank ${this.rank} of ${this.worldSize} at step ${globalStep}`);
    }
    return s;
  }
}
