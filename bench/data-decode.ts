// Decode+resize throughput (sharp/libvips vs Pillow, same files, same run) and cached-epoch read throughput.
// Usage: node --import tsx bench/data-decode.ts [--quick] [--size 224] [--data DIR (default ../shared/data, holding petimages-180px/ and petimages-fullres/)]
// --quick: only the 180px photos (the full-resolution set takes minutes to decode five times).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataLoader, decodeItem, openDataset, prepareImages } from '../src/data/index.js';
import { dataDirFlag } from './lib/common.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const size = Number(arg('size', '224'));
const data = dataDirFlag('', 'petimages-180px/PetImages');
const quick = process.argv.includes('--quick');
const tmp = mkdtempSync(join(tmpdir(), 'ablate-bench-'));

function jpegs(root: string): string[] {
  const out: string[] = [];
  for (const cls of readdirSync(join(root, 'PetImages')).sort()) {
    for (const f of readdirSync(join(root, 'PetImages', cls)).sort()) if (/\.jpe?g$/i.test(f)) out.push(join(root, 'PetImages', cls, f));
  }
  return out;
}

async function sharpRate(files: string[], concurrency: number, repeats: number): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < files.length) {
          const f = files[next++]!;
          await decodeItem({ kind: 'encoded', bytes: readFileSync(f) }, { height: size, width: size, resize: 'stretch' }, f);
        }
      }),
    );
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return files.length / best;
}

function pillowRate(files: string[], repeats: number): number {
  const list = join(tmp, 'files.txt');
  writeFileSync(list, files.join('\n'));
  const out = execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'data_helper.py'), 'pil-decode', list, String(size), String(repeats)], { encoding: 'utf8' });
  return (JSON.parse(out) as { images_per_s: number }).images_per_s;
}

const rows: string[][] = [];
try {
  console.log(`sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}, ${availableParallelism()} cores, target ${size}x${size} RGB, bilinear stretch`);
  for (const [name, repeats] of ([['petimages-180px', 1], ['petimages-fullres', 5]] as const).slice(0, quick ? 1 : 2)) {
    const files = jpegs(join(data, name));
    await sharpRate(files.slice(0, 20), 2, 1); // warm-up: libvips init, page cache
    pillowRate(files.slice(0, 20), 1);
    const s1 = await sharpRate(files, 1, repeats);
    const s4 = await sharpRate(files, 4, repeats);
    const pil = pillowRate(files, repeats);
    rows.push([name, String(files.length), s1.toFixed(0), s4.toFixed(0), pil.toFixed(0), (s1 / pil).toFixed(2), (s4 / pil).toFixed(2)]);
  }
  console.log('\ndecode+resize, images/s');
  console.log(['files', 'n', 'sharp x1', 'sharp x4 in flight', 'Pillow (1 thread)', 'ratio x1', 'ratio x4'].join(' | '));
  for (const r of rows) console.log(r.join(' | '));

  // First pass into the cache, then epochs read back from it.
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
  console.log(`\ncache first pass (decode ${set.length} images + write): ${(set.length / buildS).toFixed(0)} images/s`);
  console.log(`cache reopen with full checksum verification: ${verifyS.toFixed(2)} s for ${((set.length * set.slotBytes) / 2 ** 20).toFixed(0)} MiB`);
  console.log(`cached epochs (batch 32, shuffled, positional reads): ${rates.map((r) => r.toFixed(0)).join(', ')} images/s`);
  await reopened.close();
  await ds.close();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
