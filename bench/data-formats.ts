// Reading + decoding per core from Parquet shards (source hf, a Hub cache snapshot) and from WebDataset tars
// (source webdataset), against the image folder holding the same JPEGs, in the same run.
// Usage: node --import tsx bench/data-formats.ts [--size 224] [--repeats 3] [--data DIR]
//   --data: a folder holding petimages-180px/ (default ../shared/data beside the checkout)
// One decode call in flight (one libuv thread), 32 images a call; rates are images per CPU-second of this
// process (user + system), the per-core number, and per wall second. The shards are written first, with
// `ablate data shard`'s writer and hyparquet-writer (row groups of 100 rows, as `datasets` writes images).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { decodeItems, openDataset, WebDatasetLoader, writeWebDataset, type Dataset, type DataSpecInput } from '../src/data/index.js';
import { parquetShard } from '../test/data/hf-fixture.js';
import { dataDirFlag, fmt, intFlag, loadavg, printTable, saveResults } from './lib/common.js';

const size = intFlag('size', 224);
const repeats = intFlag('repeats', 3);
const data = dataDirFlag('', 'petimages-180px/PetImages');
const tmp = mkdtempSync(join(tmpdir(), 'ablate-bench-formats-'));
const COMMIT = 'f'.repeat(40);

async function prepare(): Promise<{ folder: DataSpecInput; wds: DataSpecInput; hf: DataSpecInput; n: number }> {
  const folder: DataSpecInput = { source: 'image-folder', path: join(data, 'petimages-180px', 'PetImages') };
  const ds = await openDataset(folder);
  try {
    await writeWebDataset(ds, join(tmp, 'wds'), { prefix: 'train', samplesPerShard: 1000 });
    // A Hub snapshot written by hand in huggingface_hub's layout, read with no request.
    process.env.HF_HOME = join(tmp, 'hf');
    process.env.HF_HUB_OFFLINE = '1';
    const repo = join(tmp, 'hf', 'hub', 'datasets--bench--pets');
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(join(repo, 'snapshots', COMMIT, 'data'), { recursive: true });
    const per = 1000;
    const shards = Math.ceil(ds.length / per);
    for (let s = 0; s < shards; s++) {
      const rows: { bytes: Uint8Array; label: number }[] = [];
      for (let i = s * per; i < Math.min(ds.length, (s + 1) * per); i++) {
        const item = await ds.read(i);
        if (item.kind === 'encoded') rows.push({ bytes: item.bytes, label: ds.label(i) });
      }
      const body = parquetShard(rows, { rowGroupSize: 100, classNames: [...ds.classNames] });
      const blob = createHash('sha256').update(body).digest('hex');
      writeFileSync(join(repo, 'blobs', blob), body);
      symlinkSync(`../../../blobs/${blob}`, join(repo, 'snapshots', COMMIT, 'data', `train-${String(s).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.parquet`));
    }
    return { folder, wds: { source: 'webdataset', path: join(tmp, 'wds') }, hf: { source: 'hf', name: 'bench/pets', revision: COMMIT }, n: ds.length };
  } finally {
    await ds.close();
  }
}

interface Rate { openS: number; readCpu: number; decodeCpu: number; decodeWall: number }

/** One pass: open, read every item's bytes in order, then read + decode in chunks of 32; kept if best so far. */
async function measure(spec: DataSpecInput, best: Rate): Promise<Rate> {
  {
    const t0 = performance.now();
    const ds: Dataset = await openDataset(spec);
    const openS = (performance.now() - t0) / 1000;
    try {
      let c0 = process.cpuUsage();
      for (let i = 0; i < ds.length; i++) await ds.read(i);
      let c = process.cpuUsage(c0);
      const readCpu = ds.length / ((c.user + c.system) / 1e6);
      c0 = process.cpuUsage();
      const w0 = performance.now();
      for (let i = 0; i < ds.length; i += 32) {
        const chunk = [];
        for (let k = i; k < Math.min(ds.length, i + 32); k++) chunk.push({ item: await ds.read(k), name: ds.itemName(k) });
        const out = await decodeItems(chunk, { height: size, width: size, resize: 'stretch' });
        const bad = out.find((d) => d instanceof Error);
        if (bad) throw new Error(`${JSON.stringify(spec)}: ${(bad as Error).message}`);
      }
      c = process.cpuUsage(c0);
      const rate = { openS, readCpu, decodeCpu: ds.length / ((c.user + c.system) / 1e6), decodeWall: ds.length / ((performance.now() - w0) / 1000) };
      return rate.decodeCpu > best.decodeCpu ? { ...rate, openS: Math.min(best.openS, openS), readCpu: Math.max(best.readCpu, readCpu) } : best;
    } finally {
      await ds.close();
    }
  }
}

/**
 * One epoch of the training loader that streams the shards (data.stream: true): 2 streams with shuffle buffers
 * of 1000, batches of 32 decoded one call at a time, as the pass above. No separate read figure.
 */
async function measureStream(spec: DataSpecInput, best: Rate): Promise<Rate> {
  const t0 = performance.now();
  const ds = await openDataset(spec);
  const openS = (performance.now() - t0) / 1000;
  try {
    const loader = new WebDatasetLoader(ds, { batchSize: 32, seed: 1, workers: 2, bufferSize: 1000, prefetch: 1, height: size, width: size, resize: 'stretch' });
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    let n = 0;
    for await (const b of loader.epoch(0, { reuseBuffers: true })) n += b.n;
    const c = process.cpuUsage(c0);
    if (n !== ds.length) throw new Error(`streamed ${n} of ${ds.length} images`);
    const rate = { openS, readCpu: NaN, decodeCpu: n / ((c.user + c.system) / 1e6), decodeWall: n / ((performance.now() - w0) / 1000) };
    return rate.decodeCpu > best.decodeCpu ? { ...rate, openS: Math.min(best.openS, openS) } : best;
  } finally {
    await ds.close();
  }
}

try {
  const before = loadavg();
  const { folder, wds, hf, n } = await prepare();
  const results: Record<string, Rate> = {};
  // Sources take turns within each repeat, so a change in the machine's load hits all of them alike.
  for (let r = 0; r < repeats; r++) {
    for (const [name, spec] of [['image folder', folder], ['webdataset tar', wds], ['hf parquet', hf]] as const) {
      results[name] = await measure(spec, results[name] ?? { openS: Infinity, readCpu: 0, decodeCpu: 0, decodeWall: 0 });
    }
    const stream = 'webdataset streamed (training loader)';
    results[stream] = await measureStream(wds, results[stream] ?? { openS: Infinity, readCpu: NaN, decodeCpu: 0, decodeWall: 0 });
  }
  const after = loadavg();
  console.log(`${n} JPEGs (petimages-180px), decoded to ${size}×${size}, best of ${repeats}; load average before ${before}, after ${after}`);
  const base = results['image folder']!.decodeCpu;
  printTable(['source', 'open s', 'read img/cpu-s', 'read+decode img/cpu-s', 'img/wall-s', 'vs folder'],
    Object.entries(results).map(([k, r]) => [k, fmt(r.openS, 2), Number.isNaN(r.readCpu) ? '–' : fmt(r.readCpu, 0), fmt(r.decodeCpu, 0), fmt(r.decodeWall, 0), `${fmt(r.decodeCpu / base, 2)}×`]));
  console.log(`results: ${saveResults('data-formats', { n, size, repeats, loadavg: { before, after }, results })}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
