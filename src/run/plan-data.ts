/**
 * A plan's data, opened and decoded: the one path from a split's DataPlan to the ImageSet a loader
 * batches from, shared by training, evaluation and the augmentation preview.
 */
import { existsSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { openDataset, prepareImages, defaultCacheDir, webDatasetSplitOf, WebDatasetLoader, type Dataset, type ImageSet, type OpenOptions } from '../data/index.js';
import { throwIfInterrupted } from '../util/interrupt.js';
import { cachePolicy, imageSizeOf, type DataPlan, type RunPlan } from './plan.js';

export interface PlanDatasets {
  train: Dataset;
  val?: Dataset;
  /** The held-out test split (data.testSplit), scored once after training. */
  test?: Dataset;
  close(): Promise<void>;
}

/** Open the training, validation and test sources (file lists, no decoding yet; a fetchable source is fetched first, logged). */
export async function openPlanDatasets(plan: Pick<RunPlan, 'data' | 'valData' | 'testData'>, o: OpenOptions = {}): Promise<PlanDatasets> {
  const train = await openDataset(plan.data, o);
  let val: Dataset | undefined;
  let test: Dataset | undefined;
  try {
    if (plan.valData) val = await openDataset(plan.valData, o);
    if (plan.testData) test = await openDataset(plan.testData, o);
  } catch (e) {
    await train.close();
    await val?.close();
    throw e;
  }
  return { train, val, ...(test ? { test } : {}), close: async () => { await train.close(); await val?.close(); await test?.close(); } };
}

/** Where a split's decoded images go: memory for small in-memory sources, else the on-disk cache. */
export function cacheDirOf(d: DataPlan, ds: Dataset): string | null {
  return cachePolicy(d.cache, ds.source) === 'memory' ? null : (d.cacheDir ?? defaultCacheDir());
}

/** Decode a split at the plan's size into its cache (or reuse the cache), logging progress on large sets. */
export function prepareSplit(
  d: DataPlan, ds: Dataset,
  o: { log: (line: string) => void; what: string; signal?: AbortSignal; background?: boolean; after?: Promise<unknown> },
): Promise<ImageSet> {
  const cacheDir = cacheDirOf(d, ds);
  let lastPct = -1;
  return prepareImages(ds, {
    ...imageSizeOf(d, ds), resize: d.resize, cacheDir, concurrency: d.concurrency, verify: d.verifyCache, log: o.log,
    background: o.background, after: o.after,
    onProgress: (done, total) => {
      // Decoding a large split first takes minutes: Ctrl-C stops it at the next image (the partial cache is
      // discarded). In the background, training's own Ctrl-C handling stops the run, and closing the set the decode.
      if (!o.background) throwIfInterrupted(o.signal, `decoding ${o.what} images`);
      const pct = Math.floor((100 * done) / Math.max(1, total));
      if (total > 500 && pct >= lastPct + 10) {
        lastPct = pct;
        o.log(`decoding ${o.what} images: ${done}/${total} (${pct}%)${cacheDir === null ? '' : ' — cached on disk for later runs'}`);
      }
    },
  });
}

/**
 * Whether training streams its WebDataset split (data.stream) rather than decoding it into the cache; undefined
 * for other sources, whose plans do not record it. 'auto' streams http(s) shards (they live on shared storage)
 * and sets whose decoded images would fill more than half the cache folder's free space. A resumed run keeps
 * the choice its plan recorded (a run planned before the field existed decoded into the cache).
 */
export function chooseStreaming(d: DataPlan, ds: Dataset, previous?: DataPlan): { stream: boolean; why: string } | undefined {
  const whole = webDatasetSplitOf(ds) !== undefined;
  if (!whole) {
    if (d.stream === true) {
      throw new Error(`data.stream: true streams one whole WebDataset split (source webdataset, split such as 'train'), but the training data is ` +
        `${ds.source} ${ds.description}${ds.source === 'webdataset' ? ' (a slice or sum of splits cuts across shards)' : ''}: set data.stream: false or auto, or name whole shards`);
    }
    return undefined;
  }
  if (typeof d.stream === 'boolean') return { stream: d.stream, why: `data.stream: ${d.stream}` };
  if (previous) return { stream: previous.stream === true, why: 'as the run was planned' };
  if (typeof d.path === 'string' && /^https?:\/\//.test(d.path)) return { stream: true, why: 'the shards are on http(s)' };
  const { height, width } = imageSizeOf(d, ds);
  const bytes = ds.length * height * width * 3;
  const cacheDir = d.cacheDir ?? defaultCacheDir();
  const free = freeBytes(cacheDir);
  if (free !== undefined && bytes > free / 2) {
    return { stream: true, why: `its decoded images (${(bytes / 2 ** 30).toFixed(1)} GiB) would take more than half the ${(free / 2 ** 30).toFixed(1)} GiB free at ${cacheDir}` };
  }
  return { stream: false, why: `its decoded images (${(bytes / 2 ** 30).toFixed(2)} GiB) fit the cache` };
}

/** Free bytes on the file system of `dir` (or its nearest existing parent); undefined where it cannot be read. */
function freeBytes(dir: string): number | undefined {
  let p = resolve(dir);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  try {
    const s = statfsSync(p);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/** The streaming training loader of a plan's WebDataset split (this rank's shards). */
export function streamLoader(d: DataPlan, ds: Dataset, o: { batchSize: number; seed: number; shard?: { rank: number; worldSize: number } }): WebDatasetLoader {
  return new WebDatasetLoader(ds, { ...o, ...imageSizeOf(d, ds), resize: d.resize, workers: d.streamWorkers, bufferSize: d.shuffleBuffer });
}
