/**
 * A plan's data, opened and decoded: the one path from a split's DataPlan to the ImageSet a loader
 * batches from, shared by training, evaluation and the augmentation preview.
 */
import { openDataset, prepareImages, defaultCacheDir, type Dataset, type ImageSet, type OpenOptions } from '../data/index.js';
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
