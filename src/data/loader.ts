import { invalidArg } from '../util/errors.js';
import type { ImageSet } from './image-cache.js';
import { permutation } from './random.js';
import type { BatchU8 } from './types.js';

/** Options of a DataLoader: batch size, shuffling, seed, prefetch. */
export interface LoaderOptions {
  batchSize: number;
  /** Shuffle each epoch with an order that depends only on (seed, epoch). Default true. */
  shuffle?: boolean;
  seed?: number;
  /** Drop the final partial batch. Default false. */
  dropLast?: boolean;
  /** Batches read ahead while the consumer works on the current one. Default 3. */
  prefetch?: number;
  /**
   * Data-parallel rank: this loader reads only its shard of each epoch (torch's DistributedSampler: the
   * same (seed, epoch) order on every rank, padded by wrapping to a multiple of worldSize, rank r taking
   * positions r, r + worldSize, …), so shards are disjoint except for the padding and equally long.
   * `pad: false` (validation) leaves out the padding: disjoint shards whose union is the split exactly.
   */
  shard?: { rank: number; worldSize: number; pad?: boolean };
  /**
   * Read a set that is still decoding (a tentative ImageSet, see PrepareOptions.background) in its tentative
   * order, so the first epoch trains while later images decode; the set decodes each epoch's order first.
   * Batches are exactly those of the settled set unless a file turns out undecodable: reads then throw
   * SplitChangedError and the caller starts again from `data.settled()`. Default false: wait for the set
   * to settle and batch from the settled set.
   */
  early?: boolean;
}

export interface EpochOptions {
  /**
   * Skip the first k batches of the epoch's order (same order as an uninterrupted run),
   * to resume a run that was killed mid-epoch after k batches.
   */
  startBatch?: number;
  /**
   * Recycle the images buffers: a batch's `images` are overwritten once the batch after it has been asked for,
   * and may be longer than `n × height × width × 3` (the bytes past that are stale). For consumers that copy
   * the pixels out before asking for the next batch, as training and evaluation do: at 224² and batch 64 a fresh
   * buffer is 9.6 MB zero-filled by the JS thread (about 1.2 ms there) and page-faulted again by the read, every
   * step. Default false: every batch owns its buffer.
   */
  reuseBuffers?: boolean;
}

export interface LoaderStats {
  batches: number;
  images: number;
  /** Milliseconds the consumer spent waiting inside next() for a batch. */
  waitMs: number;
  /** Milliseconds from the first next() of each epoch to its end, summed over epochs. */
  elapsedMs: number;
  /** waitMs / elapsedMs: the data-wait fraction training reports (0 when nothing ran). */
  waitFraction: number;
}

/** What training needs from a loader: the cached DataLoader and the streaming WebDatasetLoader are both one. */
export interface TrainLoader {
  readonly batchSize: number;
  /** Images per epoch (this rank's). */
  readonly length: number;
  readonly batchesPerEpoch: number;
  epoch(epoch: number, opts?: EpochOptions): AsyncGenerator<BatchU8, void, undefined>;
  stats(): LoaderStats;
  /** Streaming loaders: where their streams stand after `batch` batches of `epoch`, recorded in checkpoints. */
  position?(epoch: number, batch: number): unknown;
  /** Streaming loaders: refuse a checkpoint whose record of the streams is not where this loader would stand. */
  checkPosition?(recorded: unknown, epoch: number, batch: number): void;
}

/** Batches of uint8 images from an ImageSet, shuffled reproducibly, read ahead in the background. */
export class DataLoader implements TrainLoader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly prefetch: number;
  readonly shard: { rank: number; worldSize: number; pad: boolean };
  private waitMs = 0;
  private elapsedMs = 0;
  private batches = 0;
  private images = 0;

  readonly early: boolean;
  #data: ImageSet;

  constructor(data: ImageSet, opts: LoaderOptions) {
    this.#data = data;
    this.early = opts.early ?? false;
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw invalidArg('batchSize', 'a positive integer', opts.batchSize);
    if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw invalidArg('seed', 'an integer', opts.seed);
    if (opts.prefetch !== undefined && (!Number.isInteger(opts.prefetch) || opts.prefetch < 0)) throw invalidArg('prefetch', 'a non-negative integer', opts.prefetch);
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle ?? true;
    this.seed = opts.seed ?? 0;
    this.dropLast = opts.dropLast ?? false;
    this.prefetch = opts.prefetch ?? 3;
    const shard = opts.shard ?? { rank: 0, worldSize: 1 };
    if (!Number.isInteger(shard.worldSize) || shard.worldSize < 1) throw invalidArg('shard.worldSize', 'a positive integer', shard.worldSize);
    if (!Number.isInteger(shard.rank) || shard.rank < 0 || shard.rank >= shard.worldSize) throw invalidArg('shard.rank', `an integer in [0, ${shard.worldSize})`, shard.rank);
    this.shard = { rank: shard.rank, worldSize: shard.worldSize, pad: shard.pad ?? true };
  }

  /** The set batches come from (the settled set, once a loader that does not read early has waited for it). */
  get data(): ImageSet {
    return this.#data;
  }

  /** Images this loader visits per epoch (its shard's length when data-parallel). */
  get length(): number {
    const { rank, worldSize, pad } = this.shard;
    return pad ? Math.ceil(this.data.length / worldSize) : Math.max(0, Math.ceil((this.data.length - rank) / worldSize));
  }

  get batchesPerEpoch(): number {
    const n = this.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Positions (into the ImageSet) in the order epoch `epoch` visits them. */
  order(epoch: number): Int32Array {
    if (!Number.isInteger(epoch) || epoch < 0) throw invalidArg('epoch', 'a non-negative integer', epoch);
    const full = this.shuffle ? permutation(this.data.length, this.seed, epoch) : Int32Array.from({ length: this.data.length }, (_, i) => i);
    return shardOf(full, this.shard.rank, this.shard.worldSize, this.shard.pad);
  }

  private async readBatch(positions: Int32Array, pool?: Uint8Array[]): Promise<BatchU8> {
    const { height, width } = this.data;
    // Pooled buffers are all a full batch long, so the last (partial) batch fits one too.
    const bytes = (pool ? this.batchSize : positions.length) * height * width * 3;
    const images = pool?.pop() ?? new Uint8Array(bytes);
    await this.data.readInto(positions, images);
    return {
      images,
      labels: Int32Array.from(positions, (p) => this.data.labels[p]!),
      indices: Int32Array.from(positions, (p) => this.data.indices[p]!),
      n: positions.length,
      height,
      width,
    };
  }

  /** Iterate one epoch's batches; breaking out early stops the read-ahead. */
  async *epoch(epoch: number, opts: EpochOptions = {}): AsyncGenerator<BatchU8, void, undefined> {
    if (this.#data.tentative && !this.early) this.#data = await this.#data.settled();
    const order = this.order(epoch);
    // Positions of a tentative set are its dataset indices: decode this epoch's images in the order it reads them.
    if (this.#data.tentative) this.#data.prioritize(order.subarray((opts.startBatch ?? 0) * this.batchSize), this.batchSize);
    const total = this.batchesPerEpoch;
    const start = opts.startBatch ?? 0;
    if (!Number.isInteger(start) || start < 0 || start > total) throw invalidArg('startBatch', `an integer from 0 to ${total}`, start);
    const slice = (b: number): Int32Array => order.subarray(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length));
    const queue: Promise<BatchU8>[] = [];
    // With reuseBuffers: the buffers of batches the consumer is done with. At most prefetch + 1 are ever made.
    const pool: Uint8Array[] | undefined = opts.reuseBuffers ? [] : undefined;
    let nextToRead = start;
    const fill = (limit: number): void => {
      while (nextToRead < total && queue.length < limit) {
        const p = this.readBatch(slice(nextToRead++), pool);
        p.catch(() => {}); // surfaced when awaited; this only stops an unhandled-rejection warning
        queue.push(p);
      }
    };
    const began = performance.now();
    try {
      for (let b = start; b < total; b++) {
        fill(Math.max(1, this.prefetch)); // at least the batch about to be awaited
        const t = performance.now();
        const batch = await queue.shift()!;
        this.waitMs += performance.now() - t;
        this.batches++;
        this.images += batch.n;
        fill(this.prefetch); // read ahead while the consumer works on `batch`
        yield batch;
        // The consumer asked for the next batch: it is done with this one's pixels.
        pool?.push(batch.images);
      }
    } finally {
      this.elapsedMs += performance.now() - began;
    }
  }

  stats(): LoaderStats {
    return {
      batches: this.batches,
      images: this.images,
      waitMs: this.waitMs,
      elapsedMs: this.elapsedMs,
      waitFraction: this.elapsedMs > 0 ? this.waitMs / this.elapsedMs : 0,
    };
  }

  resetStats(): void {
    this.waitMs = this.elapsedMs = this.batches = this.images = 0;
  }
}

/** DistributedSampler's split of one epoch's order: pad by wrapping to a multiple of `world`, take every world-th. */
export function shardOf(order: Int32Array, rank: number, world: number, pad = true): Int32Array {
  if (world === 1) return order;
  const n = order.length;
  if (n === 0) return order;
  const per = pad ? Math.ceil(n / world) : Math.max(0, Math.ceil((n - rank) / world));
  const out = new Int32Array(per);
  for (let k = 0; k < per; k++) out[k] = order[(rank + k * world) % n]!;
  return out;
}
