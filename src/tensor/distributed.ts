// Data-parallel primitives on libtorch's c10d: one process group per process (TCPStore rendezvous, Gloo
// for CPU tensors, NCCL for CUDA tensors where the build has it), collectives on tensors, and DDP's
// gradient Reducer, which all-reduces gradients in buckets from autograd hooks while backward is still
// running (communication overlapped with compute, as torch.nn.parallel.DistributedDataParallel does).
// ablate implements no collective itself.
import { native } from './native.js';
import { cudaDeviceCount, nativeVersion } from './runtime.js';
import type { Tensor } from './tensor.js';
// The same words the native collectives use, so every way a dead peer surfaces says what to do.
import { PEER_HINT } from './peer-lost.js';

export type ReduceOp = 'sum' | 'avg' | 'max' | 'min';

/**
 * 'gloo' (CPU training), or 'nccl' (CUDA training): NCCL for CUDA tensors with Gloo beside it for CPU ones
 * (metric sums, barriers), as torch.distributed's "cpu:gloo,cuda:nccl". `backendFor(device)` picks as PyTorch does.
 */
export type DistBackend = 'gloo' | 'nccl';

export interface ProcessGroupOptions {
  /** Host of rank 0's TCPStore (torchrun's MASTER_ADDR). */
  masterAddr: string;
  /** Port of rank 0's TCPStore (torchrun's MASTER_PORT). */
  masterPort: number;
  rank: number;
  worldSize: number;
  /**
   * How long rendezvous and every collective may wait for the other ranks before failing with an error
   * (a dead peer must end a run, never hang it). Default 5 minutes, PyTorch's Gloo default is 30.
   */
  timeoutMs?: number;
  /** Network interface for Gloo (GLOO_SOCKET_IFNAME); by default the one the host name resolves to. */
  interface?: string;
  /** Default 'gloo'. 'nccl' needs an addon built with NCCL (`distributedSupport().nccl`) and a visible GPU. */
  backend?: DistBackend;
}

export interface DistributedSupport {
  /** False when the addon was built without Gloo's headers (then every collective throws with the remedy). */
  available: boolean;
  /** Whether the addon was built with c10d's NCCL process group (a CUDA libtorch with NCCL; native/find-nccl.cjs). */
  nccl: boolean;
  initialized: boolean;
  rank?: number;
  worldSize?: number;
  backend?: DistBackend;
}

export function distributedSupport(): DistributedSupport {
  return native.dist_info() as DistributedSupport;
}

/** The backend PyTorch's DDP uses for a device: NCCL on CUDA, Gloo on the CPU. */
export function backendFor(device: string): DistBackend {
  return device.startsWith('cuda') ? 'nccl' : 'gloo';
}

/**
 * Why this process cannot use `backend`, or null when it can: the addon must have been built with it, and NCCL
 * needs a GPU. The message says what was expected, what this build has, and what to do.
 */
export function backendProblem(backend: DistBackend): string | null {
  const support = distributedSupport();
  const v = nativeVersion();
  if (!support.available) {
    return `Expected an addon built with c10d's Gloo for data-parallel training but this build of ablate has none (libtorch ${v.libtorch}): ` +
      'install libtorch\'s Gloo headers (Debian: libgloo-dev; a pip PyTorch ships none: set GLOO_INCLUDE_DIR, see the README) and rebuild ' +
      '(npm run setup), without ABLATE_WITHOUT_DISTRIBUTED=1 if it was set.';
  }
  if (backend === 'gloo') return null;
  if (!support.nccl) {
    return `Expected an addon built with NCCL for data-parallel training on CUDA (PyTorch's backend for GPUs) but this build of ablate has no NCCL ` +
      `(libtorch ${v.libtorch}, ${v.cuda ? 'a CUDA build' : 'a CPU-only build'}; \`node native/find-nccl.cjs check\` says what was missing). ` +
      'Rebuild against a CUDA libtorch with NCCL and its headers (a CUDA PyTorch: LIBTORCH_USE_PYTORCH=1 npm run setup), or train data-parallel on the CPU (device: cpu).';
  }
  const gpus = cudaDeviceCount();
  if (gpus === 0) {
    return `Expected a visible GPU for NCCL (data-parallel training on CUDA) but this machine shows none (libtorch ${v.libtorch} has CUDA and NCCL; ` +
      'the driver reports 0 devices): run on a machine with a GPU per rank, check CUDA_VISIBLE_DEVICES, or train data-parallel on the CPU (device: cpu).';
  }
  return null;
}

const handles = (ts: readonly Tensor[]) => ts.map((t) => t.handle);

let current: ProcessGroup | null = null;

/** The process's one process group (libtorch's c10d: Gloo, and NCCL for CUDA tensors). Create it with `ProcessGroup.init`. */
export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: DistBackend;
  #destroyed = false;

  private constructor(rank: number, worldSize: number, backend: DistBackend) {
    this.rank = rank;
    this.worldSize = worldSize;
    this.backend = backend;
  }

  /** Joins the group: blocks until every rank has joined or `timeoutMs` has passed (then throws). */
  static init(o: ProcessGroupOptions): ProcessGroup {
    if (current) throw new Error(`a process group already exists in this process (rank ${current.rank} of ${current.worldSize}); destroy it first`);
    const int = (name: string, v: number, min: number, max: number) => {
      if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`Expected ${name} to be an integer in [${min}, ${max}] but received ${JSON.stringify(v)}`);
    };
    int('worldSize', o.worldSize, 1, 65536);
    int('rank', o.rank, 0, o.worldSize - 1);
    int('masterPort', o.masterPort, 1, 65535);
    const timeout = o.timeoutMs ?? 300_000;
    int('timeoutMs', timeout, 1, 2 ** 31 - 1);
    if (!o.masterAddr) throw new TypeError('Expected masterAddr (MASTER_ADDR) to be a host name or address but received an empty string');
    const backend = o.backend ?? 'gloo';
    if (backend !== 'gloo' && backend !== 'nccl') throw new TypeError(`Expected backend to be 'gloo' or 'nccl' but received ${JSON.stringify(backend)}`);
    const problem = backendProblem(backend);
    if (problem) throw new Error(problem);
    native.dist_init(o.masterAddr, o.masterPort, o.rank, o.worldSize, timeout, o.interface ?? null, backend);
    current = new ProcessGroup(o.rank, o.worldSize, backend);
    return current;
  }

  static current(): ProcessGroup | null {
    return current;
  }

  #check(): void {
    if (this.#destroyed) throw new Error('the process group was destroyed');
  }

  /** In place on every tensor; 'avg' divides the sum by the world size. */
  allReduce(tensors: readonly Tensor[], op: ReduceOp = 'sum'): void {
    this.#check();
    native.dist_all_reduce(handles(tensors), op);
  }

  /** Copies `root`'s values into every rank's tensors (coalesced, as DDP syncs weights and buffers). */
  broadcast(tensors: readonly Tensor[], root = 0): void {
    this.#check();
    native.dist_broadcast(handles(tensors), root);
  }

  barrier(): void {
    this.#check();
    native.dist_barrier();
  }

  /** Leaves the group (also drops the gradient reducer). Safe to call twice. */
  destroy(): void {
    if (this.#destroyed) return;
    native.dist_destroy();
    this.#destroyed = true;
    if (current === this) current = null;
  }
}

export interface GradientReducerOptions {
  /** Bucket size: gradients are all-reduced once this many MB of them are ready (DDP's bucket_cap_mb, 25). */
  bucketCapMb?: number;
  /** The first bucket is small so communication starts early in backward (DDP's default, 1 MB). */
  firstBucketCapMb?: number;
  /**
   * DDP's `gradient_as_bucket_view` (default false, as in DDP): after backward each parameter's gradient is a
   * view of its bucket, so the averaged values are not copied out of the buckets into gradient tensors of their
   * own (one copy of every gradient and their memory less per step; the same values). A gradient read after
   * backward is then overwritten by the next backward, and must not be resized or replaced in place.
   */
  gradientAsBucketView?: boolean;
}

/**
 * DDP's gradient Reducer over `params`: after `prepareForBackward()`, the next backward averages every
 * parameter's gradient over the ranks, bucket by bucket as backward produces them. All ranks must give
 * parameters of the same shapes in the same order; every parameter must receive a gradient each step.
 */
export class GradientReducer {
  /** How many buckets the gradients are all-reduced in. */
  readonly buckets: number;
  /** Each bucket's size in bytes, in the order they are all-reduced (the first one holds the last parameters). */
  readonly bucketBytes: readonly number[];
  #freed = false;

  constructor(group: ProcessGroup, params: readonly Tensor[], options: GradientReducerOptions = {}) {
    if (ProcessGroup.current() !== group) throw new Error('the reducer needs the live process group');
    const mb = (name: string, v: number) => {
      if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`Expected ${name} to be a positive number of MB but received ${JSON.stringify(v)}`);
      return Math.round(v * 1024 * 1024);
    };
    const cap = mb('bucketCapMb', options.bucketCapMb ?? 25);
    const first = mb('firstBucketCapMb', options.firstBucketCapMb ?? 1);
    if (options.gradientAsBucketView !== undefined && typeof options.gradientAsBucketView !== 'boolean') {
      throw new TypeError(`Expected gradientAsBucketView to be a boolean but received ${JSON.stringify(options.gradientAsBucketView)}`);
    }
    this.bucketBytes = Object.freeze(native.ddp_reducer_new(handles(params), cap, first, options.gradientAsBucketView === true) as number[]);
    this.buckets = this.bucketBytes.length;
  }

  /** Call after the forward pass of every step whose backward should synchronise gradients. */
  prepareForBackward(): void {
    if (this.#freed) throw new Error('the gradient reducer was freed');
    native.ddp_prepare_for_backward();
  }

  /**
   * `loss.backward()` with gradients averaged over the ranks. A rank that died or cannot be reached fails
   * here (Gloo sees the closed connection, or the timeout passes) with an error that says what to do.
   */
  backward(loss: Tensor): void {
    this.prepareForBackward();
    try {
      loss.backward();
    } catch (e) {
      const group = ProcessGroup.current();
      const where = group ? ` on rank ${group.rank} of ${group.worldSize}` : '';
      throw new Error(`data-parallel backward failed${where}: ${(e as Error).message}${PEER_HINT}`, { cause: e });
    }
  }

  free(): void {
    if (this.#freed) return;
    native.ddp_reducer_free();
    this.#freed = true;
  }
}
