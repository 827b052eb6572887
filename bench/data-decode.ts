// Decode+resize throughput, ablate vs Pillow on the same photos in the same run, one thread each: the 180-px
// photos and the full-size ones. Then the cache's first pass and cached-epoch read rates.
// Usage: node --import tsx bench/data-decode.ts [--quick] [--size 224] [--repeats 3] [--data DIR] [--out FILE]
//   --data: a folder holding petimages-180px/ and petimages-fullres/ (default ../shared/data beside the checkout)
//   --quick: fewer repeats, and no cache pass.
//
// "One thread": ablate decodes a chunk of files per native call, one call in flight (one libuv thread); Pillow
// loops in one Python thread. Both are timed on the wall clock and on the process's CPU time (user + system):
// images per CPU-second is the per-core rate, and the one to quote on a busy machine, where the wall clock
// also counts time spent waiting for a core.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataLoader, decodeItems, jpegDecoder, openDataset, prepareImages } from '../src/data/index.js';
import { dataDirFlag, fmt, hasFlag, intFlag, loadavg, printTable, PYTHON, saveResults } from './lib/common.js';

const size = intFlag('size', 224);
const quick = hasFlag('quick');
const repeats = intFlag('repeats', quick ? 2 : 3);
const data = dataDirFlag('', 'petimages-180px/PetImages');
const tmp = mkdtempSync(join(tmpdir(), 'ablate-bench-'));

function jpegs(root: string): string[] {
  const out: string[] = [];
  for (const cls of readdirSync(join(root, 'PetImages')).sort()) {
    for (const f of readdirSync(join(root, 'PetImages', cls)).sort()) if (/\.jpe?g$/i.test(f)) out.push(join(root, 'PetImages', cls, f));
  }
  return out;
}

interface Rate { wall: number; cpu: number }

/** Passes over a set: the 20 full-size photos take a fraction of a second, so they get more (best of). */
const passes = (n: number): number => (n < 100 ? Math.max(10, repeats) : repeats);

/** Best of several passes over `files` (bytes already in memory), `inFlight` chunks of 32 at a time. */
async function ablateRate(bufs: Buffer[], inFlight: number): Promise<Rate> {
  let best: Rate = { wall: 0, cpu: 0 };
  for (let r = 0; r < passes(bufs.length); r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next < bufs.length) {
        const chunk = bufs.slice(next, (next += 32)).map((bytes) => ({ item: { kind: 'encoded' as const, bytes }, name: 'x.jpg' }));
        for (const d of await decodeItems(chunk, { height: size, width: size, resize: 'stretch' })) if (d instanceof Error) throw d;
      }
    }));
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const rate = { wall: bufs.length / wall, cpu: bufs.length / ((c.user + c.system) / 1e6) };
    if (rate.wall > best.wall) best = rate;
  }
  return best;
}

function pillowRate(files: string[]): Rate {
  const list = join(tmp, 'files.txt');
  writeFileSync(list, files.join('\n'));
  const out = execFileSync(PYTHON, [join(import.meta.dirname, 'data_helper.py'), 'pil-decode', list, String(size), String(passes(files.length))], { encoding: 'utf8' });
  const r = JSON.parse(out) as { images_per_s: number; images_per_cpu_s: number };
  return { wall: r.images_per_s, cpu: r.images_per_cpu_s };
}

const rows: Record<string, unknown>[] = [];
try {
  console.log(`decoder: ${jpegDecoder()} (sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips} for the rest); ${availableParallelism()} cores; target ${size}x${size} RGB, bilinear stretch`);
  for (const name of ['petimages-180px', 'petimages-fullres']) {
    const files = jpegs(join(data, name));
    const bufs = files.map((f) => readFileSync(f)); // both sides read from the page cache; ablate's timing excludes the read
    const load = loadavg();
    await ablateRate(bufs.slice(0, 40), 1); // warm-up: addon, libvips, page cache
    pillowRate(files.slice(0, 40));
    const one = await ablateRate(bufs, 1);
    const pil = pillowRate(files);
    process.env.ABLATE_JPEG_DECODER = 'sharp';
    const viaSharp = await ablateRate(bufs, 1);
    delete process.env.ABLATE_JPEG_DECODER;
    rows.push({ files: name, n: files.length, ablate: one, pillow: pil, sharpOnly: viaSharp, ratioCpu: one.cpu / pil.cpu, ratioWall: one.wall / pil.wall, loadavg: `${load} → ${loadavg()}` });
  }
  console.log('\ndecode + resize, one thread each (images/s on the wall clock; images per CPU-second)');
  printTable(['photos', 'n', 'ablate wall', 'ablate /cpu-s', 'Pillow wall', 'Pillow /cpu-s', 'ratio /cpu-s', 'ratio wall', 'sharp-only /cpu-s', 'target', 'loadavg'], rows.map((r: any) => [
    r.files, r.n, fmt(r.ablate.wall, 0), fmt(r.ablate.cpu, 0), fmt(r.pillow.wall, 0), fmt(r.pillow.cpu, 0), `${fmt(r.ratioCpu, 2)}×`, `${fmt(r.ratioWall, 2)}×`,
    fmt(r.sharpOnly.cpu, 0), r.ratioCpu >= 1 ? '≥ 1.0 ok' : '≥ 1.0 MISSED', r.loadavg,
  ]));

  let cache: Record<string, number> | undefined;
  if (!quick) {
    // First pass into the cache (all cores), then epochs read back from it.
    const ds = await openDataset({ path: join(data, 'petimages-180px'), jfifOnly: false });
    let t0 = performance.now();
    const set = await prepareImages(ds, { height: size, width: size, cacheDir: join(tmp, 'cache'), log: () => {} });
    const buildS = (performance.now() - t0) / 1000;
    await set.close();
    t0 = performance.now();
    const reopened = await prepareImages(ds, { height: size, width: size, cacheDir: join(tmp, 'cache'), log: () => {} });
    const verifyS = (performance.now() - t0) / 1000;
    const loader = new DataLoader(reopened, { batchSize: 32, seed: 0 });
    const rates: number[] = [];
    for (let e = 0; e < 3; e++) {
      t0 = performance.now();
      let n = 0;
      for await (const b of loader.epoch(e)) n += b.n;
      rates.push(n / ((performance.now() - t0) / 1000));
    }
    cache = { buildImagesPerS: set.length / buildS, verifyS, epochImagesPerS: Math.max(...rates) };
    console.log(`\ncache first pass (read + decode ${set.length} images + write, ${availableParallelism()} cores): ${fmt(cache.buildImagesPerS, 0)} images/s`);
    console.log(`cache reopen with full checksum verification: ${fmt(verifyS, 2)} s for ${((set.length * set.slotBytes) / 2 ** 20).toFixed(0)} MiB`);
    console.log(`cached epochs (batch 32, shuffled, positional reads): ${rates.map((r) => fmt(r, 0)).join(', ')} images/s`);
    await reopened.close();
    await ds.close();
  }
  const path = saveResults('data-decode', { size, decoder: jpegDecoder(), rows, cache, loadavg: loadavg() });
  console.log(`\nresults: ${path}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
