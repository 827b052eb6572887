/**
 * Training batches streamed from WebDataset shards, read sequentially and decoded on the fly, with no
 * decoded-image cache: for sets larger than the cache could hold, or shards on shared storage. The same
 * interface as DataLoader's training side (epoch / batchesPerEpoch / stats), so `fit` takes either.
 *
 * Each rank runs `workers` independent streams (its shards dealt between them, each with its own seeded
 * shuffle buffer, as PyTorch DataLoader workers each iterate their copy of a WebDataset); a batch takes one
 * sample from each live stream in turn. Everything is a function of (seed, epoch, rank), so the position of
 * every stream after k batches is known, recorded in checkpoints, and a resumed epoch continues bit for bit.
 */
import { invalidArg } from '../util/errors.js';
import { BadImageError, decodeItems, type DecodeTarget } from './decode.js';
import type { EpochOptions, LoaderStats } from './loader.js';
import type { BatchU8, Dataset } from './types.js';
import { assignShards, shardSampleCounts, webDatasetStream, type StreamedSample } from './webdataset.js';

export interface StreamLoaderOptions extends DecodeTarget {
  batchSize: number;
  seed: number;
  shard?: { rank: number; worldSize: number };
  /** Streams per rank (loader workers). Default 2. */
  workers?: number;
  /** Samples each stream holds for shuffling (WebDataset's shuffle(n)). Default 1000. */
  bufferSize?: number;
  /** Batches decoded ahead while the consumer works. Default 2. */
  prefetch?: number;
}

/** Where each stream of a rank stands after some batches of an epoch: what a checkpoint records. */
export interface StreamPosition {
  epoch: number;
  batch: number;
  /** Samples taken from each worker's stream so far (the first pass over the rank's shards). */
  consumed: number[];
  /** Samples taken in the wrap-around pass that evens out the ranks (see WebDatasetLoader.length). */
  padding: number;
}

export class WebDatasetLoader {
  readonly batchSize: number;
  readonly seed: number;
  readonly workers: number;
  readonly bufferSize: number;
  readonly prefetch: number;
  readonly shard: { rank: number; worldSize: number };
  readonly dropLast = false;
  private readonly target: DecodeTarget;
  private readonly perShard: number[];
  private readonly rankCounts: number[];
  private waitMs = 0;
  private elapsedMs = 0;
  private batches = 0;
  private images = 0;

  constructor(
    readonly data: Dataset,
    o: StreamLoaderOptions,
  ) {
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw invalidArg('batchSize', 'a positive integer', o.batchSize);
    if (!Number.isInteger(o.seed)) throw invalidArg('seed', 'an integer', o.seed);
    const workers = o.workers ?? 2;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw invalidArg('workers', 'an integer from 1 to 64', workers);
    const bufferSize = o.bufferSize ?? 1000;
    if (!Number.isInteger(bufferSize) || bufferSize < 0 || bufferSize > 1_000_000) throw invalidArg('bufferSize', 'an integer from 0 to 1000000', bufferSize);
    const shard = o.shard ?? { rank: 0, worldSize: 1 };
    if (!Number.isInteger(shard.worldSize) || shard.worldSize < 1) throw invalidArg('shard.worldSize', 'a positive integer', shard.worldSize);
    if (!Number.isInteger(shard.rank) || shard.rank < 0 || shard.rank >= shard.worldSize) throw invalidArg('shard.rank', `an integer in [0, ${shard.worldSize})`, shard.rank);
    this.batchSize = o.batchSize;
    this.seed = o.seed;
    this.workers = workers;
    this.bufferSize = bufferSize;
    this.prefetch = o.prefetch ?? 2;
    this.shard = shard;
    this.target = { height: o.height, width: o.width, resize: o.resize };
    this.perShard = shardSampleCounts(data);
    // A rank's shards are the same every epoch (assignShards), so its sample count is too.
    this.rankCounts = Array.from({ length: shard.worldSize }, (_, r) => this.perShard.reduce((n, c, k) => (k % shard.worldSize === r ? n + c : n), 0));
    const empty = this.rankCounts.indexOf(0);
    if (empty >= 0) {
      throw new Error(`Expected every rank to get samples to stream but rank ${empty} of ${shard.worldSize} gets none: ${data.description} has ${this.perShard.length} shard(s) ` +
        `for ${shard.worldSize} ranks; write it as at least one shard per rank (ablate data shard --samples-per-shard), or set data.stream: false`);
    }
  }

  /**
   * Samples this rank visits per epoch: the most any rank streams, a rank with fewer taking its first samples
   * again (as torch's DistributedSampler pads), because every rank must take the same number of steps.
   */
  get length(): number {
    return Math.max(...this.rankCounts);
  }

  /** Samples this rank streams once per epoch (before padding). */
  get ownLength(): number {
    return this.rankCounts[this.shard.rank]!;
  }

  get batchesPerEpoch(): number {
    return Math.ceil(this.length / this.batchSize);
  }

  /** Samples of each worker's stream in `epoch` (its shards' sizes). */
  private workerCounts(epoch: number): number[] {
    return Array.from({ length: this.workers }, (_, w) =>
      assignShards(this.perShard.length, { seed: this.seed, epoch, rank: this.shard.rank, worldSize: this.shard.worldSize, worker: w, workers: this.workers })
        .reduce((n, k) => n + this.perShard[k]!, 0));
  }

  /** Where every stream stands after `batch` batches of `epoch`. */
  position(epoch: number, batch: number): StreamPosition {
    if (!Number.isInteger(epoch) || epoch < 0) throw invalidArg('epoch', 'a non-negative integer', epoch);
    if (!Number.isInteger(batch) || batch < 0 || batch > this.batchesPerEpoch) throw invalidArg('batch', `an integer from 0 to ${this.batchesPerEpoch}`, batch);
    const taken = Math.min(batch * this.batchSize, this.length);
    const own = this.ownLength;
    const counts = this.workerCounts(epoch);
    return { epoch, batch, consumed: skipsAfter(counts, Math.min(taken, own)), padding: Math.max(0, taken - own) };
  }

  /**
   * Checks a checkpoint's record of the streams against this loader: a different record means the shards,
   * workers or buffer changed since, and the resumed epoch would not continue the interrupted one.
   */
  checkPosition(recorded: unknown, epoch: number, batch: number): void {
    const want = this.position(epoch, batch);
    if (JSON.stringify(recorded) !== JSON.stringify(want)) {
      throw new Error(`cannot resume: the checkpoint's record of the WebDataset streams (${JSON.stringify(recorded)}) differs from where ${this.workers} worker(s) ` +
        `over ${this.data.description} stand after batch ${batch} of epoch ${epoch + 1} (${JSON.stringify(want)}): the shards or data.streamWorkers changed since; ` +
        'resume with the same shards and settings, or start the run again in a new folder');
    }
  }

  /** The rank's samples from `skip` on, in epoch order: the workers' streams in turn, then the wrap-around padding. */
  private async *samples(epoch: number, skip: number): AsyncGenerator<StreamedSample> {
    const own = this.ownLength;
    if (skip < own) yield* this.interleaved(epoch, skip, own - skip);
    const pad = this.length - own;
    const padSkip = Math.max(0, skip - own);
    if (pad > padSkip) yield* this.interleaved(epoch, padSkip, pad - padSkip);
  }

  /** `take` samples of the workers' streams in turn, after the first `skip` (streams never read what they skip). */
  private async *interleaved(epoch: number, skip: number, take: number): AsyncGenerator<StreamedSample> {
    const counts = this.workerCounts(epoch);
    const skips = skipsAfter(counts, skip);
    const streams = counts.map((_, w) => webDatasetStream(this.data, {
      seed: this.seed, epoch, rank: this.shard.rank, worldSize: this.shard.worldSize, worker: w, workers: this.workers, bufferSize: this.bufferSize, skip: skips[w],
    }));
    try {
      const left = counts.map((c, w) => c - skips[w]!);
      let w = firstAfter(counts, skips, skip);
      for (let n = 0; n < take; n++) {
        while (left[w]! === 0) w = (w + 1) % this.workers;
        const r = await streams[w]!.next();
        if (r.done) throw new Error(`WebDataset stream ${w} of rank ${this.shard.rank} ended early: a shard changed while it was read`);
        left[w]!--;
        yield r.value;
        w = (w + 1) % this.workers;
      }
    } finally {
      await Promise.all(streams.map((s) => s.return(undefined)));
    }
  }

  private async decodeBatch(samples: StreamedSample[], pool?: Uint8Array[]): Promise<BatchU8> {
    const { height, width } = this.target;
    const slot = height * width * 3;
    const images = pool?.pop() ?? new Uint8Array((pool ? this.batchSize : samples.length) * slot);
    const decoded = await decodeItems(samples.map((s) => ({ item: { kind: 'encoded' as const, bytes: s.bytes }, name: this.data.itemName(s.index) })), this.target);
    decoded.forEach((d, k) => {
      if (d instanceof BadImageError) {
        // Leaving it out would change this rank's batches and the ranks' agreement on the epoch's length.
        throw new Error(`Expected a decodable image at ${this.data.itemName(samples[k]!.index)} of ${this.data.description} but it is ${d.reason}: ${d.message}. ` +
          'A streamed epoch cannot leave a sample out; remove it from its shard (ablate data shard rewrites a set), or set data.stream: false to decode through the cache, which lists and skips bad files');
      }
      images.set(d.pixels, k * slot);
    });
    return {
      images,
      labels: Int32Array.from(samples, (s) => s.label),
      indices: Int32Array.from(samples, (s) => s.index),
      n: samples.length,
      height,
      width,
    };
  }

  /** One epoch's batches from batch `startBatch` on; breaking out early stops the streams. */
  async *epoch(epoch: number, opts: EpochOptions = {}): AsyncGenerator<BatchU8, void, undefined> {
    const total = this.batchesPerEpoch;
    const start = opts.startBatch ?? 0;
    if (!Number.isInteger(start) || start < 0 || start > total) throw invalidArg('startBatch', `an integer from 0 to ${total}`, start);
    const source = this.samples(epoch, start * this.batchSize);
    const pool: Uint8Array[] | undefined = opts.reuseBuffers ? [] : undefined;
    const queue: Promise<BatchU8>[] = [];
    let nextToRead = start;
    // Reading is sequential (one shard member after another); decoding runs on the native threads, so the
    // next batches' bytes are gathered while earlier ones decode.
    let reading: Promise<void> = Promise.resolve();
    const fill = (limit: number): void => {
      while (nextToRead < total && queue.length < limit) {
        const n = Math.min(this.batchSize, this.length - nextToRead * this.batchSize);
        nextToRead++;
        const gathered = reading.then(async () => {
          const out: StreamedSample[] = [];
          while (out.length < n) {
            const r = await source.next();
            if (r.done) throw new Error(`WebDataset streams of ${this.data.description} ended before the epoch's ${this.length} samples`);
            out.push(r.value);
          }
          return out;
        });
        reading = gathered.then(() => undefined, () => undefined);
        const p = gathered.then((s) => this.decodeBatch(s, pool));
        p.catch(() => {}); // surfaced when awaited
        queue.push(p);
      }
    };
    const began = performance.now();
    try {
      for (let b = start; b < total; b++) {
        fill(Math.max(1, this.prefetch));
        const t = performance.now();
        const batch = await queue.shift()!;
        this.waitMs += performance.now() - t;
        this.batches++;
        this.images += batch.n;
        fill(this.prefetch);
        yield batch;
        pool?.push(batch.images);
      }
    } finally {
      this.elapsedMs += performance.now() - began;
      // Let reads in flight finish before the streams close their generators.
      await Promise.allSettled(queue);
      await source.return(undefined);
    }
  }

  stats(): LoaderStats {
    return { batches: this.batches, images: this.images, waitMs: this.waitMs, elapsedMs: this.elapsedMs, waitFraction: this.elapsedMs > 0 ? this.waitMs / this.elapsedMs : 0 };
  }

  resetStats(): void {
    this.waitMs = this.elapsedMs = this.batches = this.images = 0;
  }
}

/** Samples taken from each stream once `taken` samples were taken from streams of `counts` samples in turn. */
function skipsAfter(counts: readonly number[], taken: number): number[] {
  const out = counts.map(() => 0);
  // Full rounds take one from every stream still holding samples; the last round stops part way.
  let left = taken;
  for (let round = 0; left > 0; round++) {
    for (let w = 0; w < counts.length && left > 0; w++) {
      if (counts[w]! > round) {
        out[w]!++;
        left--;
      }
    }
  }
  return out;
}

/** The stream the next sample comes from after `taken` in turn (the one after the last stream taken from). */
function firstAfter(counts: readonly number[], skips: readonly number[], taken: number): number {
  if (taken === 0) return 0;
  // The last sample taken came from the highest-numbered stream in the last (partial) round.
  const round = Math.max(...skips) - 1;
  let last = 0;
  for (let w = 0; w < counts.length; w++) if (skips[w]! === round + 1 && counts[w]! > round) last = w;
  return (last + 1) % counts.length;
}
