import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { openDataset, prepareDataset, type ImageSet } from '../../src/data/index.js';
import { tempDir, withJfif, writeFile, writeZip } from './fixtures.js';

/** Noisy content, so a JPEG's entropy-coded data is long enough to cut through after the headers. */
function noise(w: number, h: number, channels: number, seed: number): Buffer {
  const b = Buffer.alloc(w * h * channels);
  let x = seed;
  for (let i = 0; i < b.length; i++) b[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return b;
}
const raw = (w: number, h: number, channels: 1 | 3 | 4) => ({ raw: { width: w, height: h, channels } });

async function badFileSet(): Promise<{ name: string; data: Buffer }[]> {
  const good = async (seed: number) => withJfif(await sharp(noise(32, 32, 3, seed), raw(32, 32, 3)).jpeg().toBuffer());
  const truncated = await good(9);
  return [
    { name: 'PetImages/Cat/1.jpg', data: await good(1) },
    { name: 'PetImages/Cat/2.jpg', data: await good(2) },
    { name: 'PetImages/Cat/3.jpg', data: withJfif(await sharp(noise(32, 32, 1, 3), raw(32, 32, 1)).toColourspace('b-w').jpeg().toBuffer()) }, // grayscale
    { name: 'PetImages/Cat/4.jpg', data: await sharp(noise(32, 32, 3, 4), raw(32, 32, 3)).toColourspace('cmyk').jpeg().toBuffer() }, // CMYK (Adobe, no JFIF)
    { name: 'PetImages/Cat/5.jpg', data: await sharp(noise(32, 32, 3, 5), raw(32, 32, 3)).jpeg().toBuffer() }, // valid, but no JFIF marker
    { name: 'PetImages/Cat/6.jpg', data: Buffer.alloc(0) }, // zero bytes
    { name: 'PetImages/Cat/7.jpg', data: Buffer.from('<html>404 Not Found</html>') }, // not an image at all
    { name: 'PetImages/Cat/8.jpg', data: truncated.subarray(0, Math.floor(truncated.length * 0.6)) }, // cut inside the scan data
    { name: 'PetImages/Dog/1.jpg', data: await good(11) },
    { name: 'PetImages/Dog/2.png', data: await sharp(noise(32, 32, 4, 12), raw(32, 32, 4)).png().toBuffer() }, // RGBA
    { name: 'PetImages/Dog/3.png', data: await sharp(noise(32, 32, 3, 13), raw(32, 32, 3)).toColourspace('rgb16').png().toBuffer() }, // 16-bit
    { name: 'PetImages/Dog/4.jpg', data: await sharp(noise(32, 32, 3, 14), raw(32, 32, 3)).png().toBuffer() }, // PNG named .jpg
    { name: 'PetImages/Dog/5.jpg', data: truncated.subarray(0, 24) }, // cut inside the headers
  ];
}

function reasons(set: ImageSet): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of [...set.badFiles, ...set.excluded]) (out[f.reason] ??= []).push(f.name.replace(/^.*PetImages\//, ''));
  for (const k of Object.keys(out)) out[k]!.sort();
  return out;
}

for (const container of ['folder', 'zip'] as const) {
  test(`bad files in a ${container}: skipped, counted, listed; odd colour formats converted to RGB`, async (t) => {
    const dir = tempDir(t);
    const files = await badFileSet();
    let path = join(dir, 'pets');
    if (container === 'zip') {
      path = join(dir, 'kagglecatsanddogs_5340.zip');
      writeZip(path, files);
    } else for (const f of files) writeFile(join(path, f.name), f.data);

    const lines: string[] = [];
    const all = await prepareDataset({ path, jfifOnly: false, imageSize: 8, cacheDir: join(dir, 'cache') }, { log: (l) => lines.push(l) });
    t.after(() => all.close());
    assert.equal(all.length, 9);
    assert.deepEqual(reasons(all), { empty: ['Cat/6.jpg'], 'not-an-image': ['Cat/7.jpg'], undecodable: ['Cat/8.jpg', 'Dog/5.jpg'] });
    assert.deepEqual(all.conversions, { grayscale: 1, cmyk: 1, alpha: 1, highBitDepth: 1, misnamed: 1 });
    assert.ok(lines.some((l) => /skipped 4 undecodable files \(.*1 empty.*\).*Cat\/6\.jpg/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /converted to 8-bit RGB: 1 grayscale, 1 cmyk, 1 alpha, 1 highBitDepth, 1 misnamed/.test(l)), lines.join('\n'));
    // Every delivered image really is 8x8 RGB with content (not a zero-filled slot).
    const px = new Uint8Array(all.length * 8 * 8 * 3);
    await all.readInto(Array.from({ length: all.length }, (_, i) => i), px);
    for (let i = 0; i < all.length; i++) assert.ok(px.subarray(i * 192, (i + 1) * 192).some((v) => v !== 0), `image ${i} is empty`);

    // TFDS's filter: keep only files with "JFIF" in the first 10 bytes (the default for cats_vs_dogs).
    const jfif = await prepareDataset({ path, imageSize: 8, cacheDir: join(dir, 'cache') }, { log: () => {} });
    t.after(() => jfif.close());
    assert.equal(jfif.length, 4);
    assert.deepEqual(reasons(jfif), {
      'not-jfif': ['Cat/4.jpg', 'Cat/5.jpg', 'Cat/6.jpg', 'Cat/7.jpg', 'Dog/2.png', 'Dog/3.png', 'Dog/4.jpg'],
      undecodable: ['Cat/8.jpg', 'Dog/5.jpg'],
    });
  });
}

test('a FIFO and a symlink to /dev/zero among the images: counted and named as unreadable, never read (no hang, no memory blow-up)', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pets');
  const good = async (seed: number) => withJfif(await sharp(noise(16, 16, 3, seed), raw(16, 16, 3)).jpeg().toBuffer());
  for (const [name, seed] of [['Cat/1.jpg', 1], ['Cat/2.jpg', 2], ['Dog/1.jpg', 3]] as const) writeFile(join(path, name), await good(seed));
  execFileSync('mkfifo', [join(path, 'Cat', 'pipe.jpg')]);
  symlinkSync('/dev/zero', join(path, 'Dog', 'zero.jpg'));
  execFileSync('mkfifo', [join(path, 'Dog', 'notes.txt')]); // not named like an image: ignored, as any other non-image

  const lines: string[] = [];
  const t0 = performance.now();
  const all = await prepareDataset({ path, jfifOnly: false, imageSize: 8, cacheDir: join(dir, 'cache') }, { log: (l) => lines.push(l) });
  t.after(() => all.close());
  assert.ok(performance.now() - t0 < 20_000, `took ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(all.length, 3);
  assert.deepEqual(reasons(all), { unreadable: ['Cat/pipe.jpg', 'Dog/zero.jpg'] });
  const detail = Object.fromEntries(all.badFiles.map((f) => [f.name, f.detail]));
  assert.match(detail['Cat/pipe.jpg']!, /^Expected a regular file for the image but received a FIFO \(named pipe\) at \S+Cat\/pipe\.jpg: /);
  assert.match(detail['Dog/zero.jpg']!, /^Expected a regular file for the image but received a character device \(\/dev\/zero\) at \S+Dog\/zero\.jpg: /);
  assert.ok(lines.some((l) => /skipped 2 undecodable files \(2 unreadable\): Cat\/pipe\.jpg, Dog\/zero\.jpg/.test(l)), lines.join('\n'));

  // TFDS's JFIF filter reads the first bytes: the same two are excluded as unreadable, not as "not JFIF".
  const jfif = await prepareDataset({ path, imageSize: 8, cacheDir: join(dir, 'cache') }, { log: () => {} });
  t.after(() => jfif.close());
  assert.equal(jfif.length, 3);
  assert.deepEqual(reasons(jfif), { unreadable: ['Cat/pipe.jpg', 'Dog/zero.jpg'] });
});

test('a data path that is a FIFO or /dev/zero is refused by kind, not opened as a folder or read', async (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, 'images');
  execFileSync('mkfifo', [fifo]);
  const zero = join(dir, 'data.zip');
  symlinkSync('/dev/zero', zero);
  await assert.rejects(openDataset({ path: fifo }), /^Error: Expected a dataset folder or a \.zip of class folders at \S+images but received a FIFO \(named pipe\): point the data path at a real folder or file$/);
  await assert.rejects(openDataset({ path: zero }), /^Error: Expected a dataset folder or a \.zip of class folders at \S+data\.zip but received a character device:/);
});
