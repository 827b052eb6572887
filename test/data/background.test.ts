// Decoding in the background (PrepareOptions.background) and reading early (LoaderOptions.early): the first
// epoch's batches are exactly those of a split decoded first; an undecodable file is reported, never trained on.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { DataLoader, openDataset, prepareImages, SplitChangedError, type Dataset, type ImageSet } from '../../src/data/index.js';
import type { BatchU8 } from '../../src/data/types.js';
import { tempDir, writeFile } from './fixtures.js';

/** A folder of small textured JPEGs in two classes, optionally with one corrupt file. */
async function folder(dir: string, n: number, corrupt?: string): Promise<string> {
  const root = join(dir, 'imgs');
  for (let i = 0; i < n; i++) {
    const px = Buffer.alloc(24 * 20 * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k * 7 + i * 31 + ((k >> 4) % 3) * 50) & 255;
    const bytes = await sharp(px, { raw: { width: 24, height: 20, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
    writeFile(join(root, i % 2 ? 'b' : 'a', `${i}.jpg`), bytes);
  }
  if (corrupt) writeFile(join(root, 'a', corrupt), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(40, 7)]));
  return root;
}

async function epochs(set: ImageSet, count: number, early: boolean): Promise<BatchU8[]> {
  const loader = new DataLoader(set, { batchSize: 8, seed: 3, early });
  const out: BatchU8[] = [];
  for (let e = 0; e < count; e++) for await (const b of loader.epoch(e)) out.push(b);
  return out;
}

const opts = (cacheDir: string | null, background: boolean) => ({ height: 16, width: 16, cacheDir, background, log: () => {} });

for (const where of ['memory', 'disk'] as const) {
  test(`background decode (${where}): an early loader gives the same batches as a split decoded first`, async (t) => {
    const dir = tempDir(t);
    const ds = await openDataset({ path: await folder(dir, 70) });
    t.after(() => ds.close());
    const cache = (name: string) => (where === 'memory' ? null : join(dir, name));
    const first = await prepareImages(ds, opts(cache('c1'), false));
    const want = await epochs(first, 2, false);
    await first.close();

    const set = await prepareImages(ds, opts(cache('c2'), true));
    assert.equal(set.tentative, true);
    assert.equal(set.length, ds.length);
    const got = await epochs(set, 2, true);
    assert.deepEqual(got, want);
    assert.equal(await set.settled(), set, 'every file decoded: the tentative set was the real one');
    assert.equal(set.tentative, false);
    assert.deepEqual(set.badFiles, []);
    await set.close();
    if (where === 'disk') {
      // The cache it wrote is complete and valid: the next prepare reuses it.
      assert.deepEqual(readdirSync(join(dir, 'c2')).filter((f) => f.endsWith('.tmp')), []);
      const again = await prepareImages(ds, opts(cache('c2'), true));
      t.after(() => again.close());
      assert.equal(again.fromCache, true);
      assert.equal(again.tentative, false);
      assert.deepEqual(await epochs(again, 2, true), want);
    }
  });
}

test('background decode: an undecodable file makes early reads throw SplitChangedError, and settled() is the split a first decode gives', async (t) => {
  const dir = tempDir(t);
  const ds: Dataset = await openDataset({ path: await folder(dir, 40, '999-broken.jpg') });
  t.after(() => ds.close());
  const first = await prepareImages(ds, opts(join(dir, 'c1'), false));
  t.after(() => first.close());
  assert.equal(first.badFiles.length, 1);

  const set = await prepareImages(ds, opts(join(dir, 'c2'), true));
  await assert.rejects(epochs(set, 1, true), (e: unknown) => e instanceof SplitChangedError && /999-broken\.jpg/.test(e.message));
  const real = await set.settled();
  t.after(() => real.close());
  assert.notEqual(real, set);
  assert.equal(real.length, first.length);
  assert.deepEqual(real.badFiles, first.badFiles);
  assert.deepEqual(Array.from(real.indices), Array.from(first.indices));
  assert.deepEqual(await epochs(real, 1, true), await epochs(first, 1, false));
  // The tentative set stays refused: it never hands out pixels of the wrong split.
  await assert.rejects(set.readInto([0], new Uint8Array(set.slotBytes)), SplitChangedError);
  await set.close();
});

test('a loader that does not read early waits for the set to settle and batches from the real split', async (t) => {
  const dir = tempDir(t);
  const ds = await openDataset({ path: await folder(dir, 30, '998-broken.jpg') });
  t.after(() => ds.close());
  const first = await prepareImages(ds, opts(null, false));
  const set = await prepareImages(ds, opts(null, true));
  const loader = new DataLoader(set, { batchSize: 8, shuffle: false });
  const got: BatchU8[] = [];
  for await (const b of loader.epoch(0)) got.push(b);
  assert.equal(loader.data.length, first.length);
  assert.deepEqual(got, await collect(new DataLoader(first, { batchSize: 8, shuffle: false })));
  await loader.data.close();
  await set.close();
});

async function collect(loader: DataLoader): Promise<BatchU8[]> {
  const out: BatchU8[] = [];
  for await (const b of loader.epoch(0)) out.push(b);
  return out;
}

test('closing a set while it decodes stops the decode and leaves no temporary file', async (t) => {
  const dir = tempDir(t);
  const ds = await openDataset({ path: await folder(dir, 300) });
  t.after(() => ds.close());
  const set = await prepareImages(ds, opts(join(dir, 'c'), true));
  await set.close();
  await assert.rejects(set.settled(), /closed while its images were being decoded/);
  assert.deepEqual(existsSync(join(dir, 'c')) ? readdirSync(join(dir, 'c')) : [], []);
});
