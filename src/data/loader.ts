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
}

export interface EpochOptions {
  /**
   * Skip the first k batches of the epoch's order (same order as an uninterrupted run),
   * to resume a run that was killed mid-epoch after k batches.
   */
  startBatch?: number;
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

/** Batches of uint8 images from an ImageSet, shuffled reproducibly, read ahead in the background. */
export class DataLoader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly prefetch: number;
  private waitMs = 0;
  private elapsedMs = 0;
  private batches = 0;
  private images = 0;

  constructor(
    readonly data: ImageSet,
    opts: LoaderOptions,
  ) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw invalidArg('batchSize', 'a positive integer', opts.batchSize);
    if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw invalidArg('seed', 'an integer', opts.seed);
    if (opts.prefetch !== undefined && (!Number.isInteger(opts.prefetch) || opts.prefetch < 0)) throw invalidArg('prefetch', 'a non-negative integer', opts.prefetch);
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle ?? true;
    this.seed = opts.seed ?? 0;
    this.dropLast = opts.dropLast ?? false;
    this.prefetch = opts.prefetch ?? 3;
  }

  get length(): number {
    return this.data.length;
  }

  get batchesPerEpoch(): number {
    const n = this.data.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Positions (into the ImageSet) in the order epoch `epoch` visits them. */
  order(epoch: number): Int32Array {
    if (!Number.isInteger(epoch) || epoch < 0) throw invalidArg('epoch', 'a non-negative integer', epoch);
    if (!this.shuffle) return Int32Array.from({ length: this.data.length }, (_, i) => i);
    return permutation(this.data.length, this.seed, epoch);
  }

  private async readBatch(positions: Int32Array): Promise<BatchU8> {
    const { height, width } = this.data;
    const images = new Uint8Array(positions.length * height * width * 3);
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
    const order = this.order(epoch);
    const total = this.batchesPerEpoch;
    const start = opts.startBatch ?? 0;
    if (!Number.isInteger(start) || start < 0 || start > total) throw invalidArg('startBatch', `an integer from 0 to ${total}`, start);
    const slice = (b: number): Int32Array => order.subarray(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length));
    const queue: Promise<BatchU8>[] = [];
    let nextToRead = start;
    const fill = (limit: number): void => {
      while (nextToRead < total && queue.length < limit) {
        const p = this.readBatch(slice(nextToRead++));
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
