import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync, openSync, readSync, readdirSync, closeSync, writeSync, truncateSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDataset, prepareImages, type Dataset, type ImageSet } from '../../src/data/index.js';
import { jpeg, tempDir, writeFile } from './fixtures.js';

async function folder(dir: string): Promise<string> {
  const root = join(dir, 'imgs');
  for (let i = 0; i < 5; i++) {
    writeFile(join(root, 'a', `${i}.jpg`), await jpeg(10, 10, [40 * i, 100, 50]));
    writeFile(join(root, 'b', `${i}.jpg`), await jpeg(10, 10, [50, 100, 40 * i]));
  }
  return root;
}

async function pixels(set: ImageSet): Promise<Uint8Array> {
  const out = new Uint8Array(set.length * set.slotBytes);
  await set.readInto(Array.from({ length: set.length }, (_, i) => i), out);
  return out;
}

async function prepare(ds: Dataset, cacheDir: string, log: string[] = []): Promise<ImageSet> {
  return prepareImages(ds, { height: 6, width: 6, cacheDir, log: (l) => log.push(l) });
}

test('cache: first pass writes, second pass reuses, without temp files left behind', async (t) => {
  const dir = tempDir(t);
  const ds = await openDataset({ path: await folder(dir) });
  t.after(() => ds.close());
  const cache = join(dir, 'cache');
  const first = await prepare(ds, cache);
  assert.equal(first.fromCache, false);
  const want = await pixels(first);
  await first.close();
  const second = await prepare(ds, cache);
  t.after(() => second.close());
  assert.equal(second.fromCache, true);
  assert.equal(second.cachePath, first.cachePath);
  assert.deepEqual(await pixels(second), want);
  assert.deepEqual(readdirSync(cache), [first.cachePath!.split('/').pop()]);
  // Different size or resize method: a different cache.
  const other = await prepareImages(ds, { height: 6, width: 6, resize: 'center-crop', cacheDir: cache, log: () => {} });
  t.after(() => other.close());
  assert.notEqual(other.cachePath, first.cachePath);
});

test('cache: changed source files are never served from the old cache', async (t) => {
  const dir = tempDir(t);
  const root = await folder(dir);
  const ds1 = await openDataset({ path: root });
  const first = await prepare(ds1, join(dir, 'cache'));
  await Promise.all([first.close(), ds1.close()]);
  writeFile(join(root, 'a', '0.jpg'), await jpeg(10, 10, [255, 255, 255]));
  utimesSync(join(root, 'a', '0.jpg'), new Date(), new Date(Date.now() + 5000));
  const ds2 = await openDataset({ path: root });
  t.after(() => ds2.close());
  const second = await prepare(ds2, join(dir, 'cache'));
  t.after(() => second.close());
  assert.equal(second.fromCache, false);
  const pos = Array.from(second.indices).findIndex((i) => ds2.itemName(i) === 'a/0.jpg');
  const px = new Uint8Array(second.slotBytes);
  await second.readInto([pos], px);
  assert.ok(px.every((v) => v > 240), 'new white image is delivered');
});

const damages: [string, (file: string, other: string) => void, RegExp][] = [
  ['a flipped pixel byte', (f) => flip(f, 4096 + 37), /pixel checksum mismatch in image 0/],
  ['truncation', (f) => truncateSync(f, statSync(f).size - 10), /truncated or padded|index checksum/],
  ['a truncated pixel area', (f) => truncateSync(f, 5000), /truncated or padded|data region/],
  ['a garbage header', (f) => flip(f, 3), /bad magic/],
  ['a damaged header field', (f) => flip(f, 14), /header checksum mismatch/],
  ['a damaged index', (f) => flip(f, statSync(f).size - 3), /index checksum mismatch/],
  ['another dataset\'s cache under this name', (f, other) => copyFileSync(other, f), /key mismatch \(stale\)|count or dimensions/],
  // Opening a FIFO for reading would wait for a writer forever.
  ['a FIFO in place of the cache', (f) => { rmSync(f); execFileSync('mkfifo', [f]); }, /Expected a regular file for the image cache but received a FIFO \(named pipe\)/],
];

function flip(file: string, at: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0]! ^= 0x5a;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

for (const [what, damage, reason] of damages) {
  test(`cache: ${what} is detected and the cache rebuilt, never trusted`, async (t) => {
    const dir = tempDir(t);
    const root = await folder(dir);
    const ds = await openDataset({ path: root });
    const half = await openDataset({ path: root, split: 'train[:50%]' });
    t.after(() => Promise.all([ds.close(), half.close()]));
    const cache = join(dir, 'cache');
    const first = await prepare(ds, cache);
    const want = await pixels(first);
    await first.close();
    const decoy = await prepare(half, cache);
    await decoy.close();
    damage(first.cachePath!, decoy.cachePath!);
    const log: string[] = [];
    const again = await prepare(ds, cache, log);
    t.after(() => again.close());
    assert.equal(again.fromCache, false);
    assert.ok(log.some((l) => /is invalid/.test(l) && reason.test(l)), log.join('\n'));
    assert.deepEqual(await pixels(again), want);
    const third = await prepare(ds, cache);
    t.after(() => third.close());
    assert.equal(third.fromCache, true);
  });
}
