// The direct libjpeg path (src/data/fast-jpeg.ts) against sharp's pixels, on JPEGs this test makes.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { BadImageError, decodeItem, jpegDecoder, openDataset, prepareImages, type ResizeMode } from '../../src/data/index.js';
import { fastJpeg, resizeRgbNative } from '../../src/data/fast-jpeg.js';

const skip = jpegDecoder() === 'sharp' ? 'ablate_image was not built with libjpeg (scripts/setup.sh installs libjpeg62-turbo-dev)' : false;

/** A photo-like RGB picture: smooth shading, hard edges, and fine texture (what DCT scaling and resampling see). */
function picture(w: number, h: number, seed = 1): Buffer {
  const px = Buffer.alloc(w * h * 3);
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const edge = (x - w / 3) * (y - h / 2) > 0 ? 60 : 0;
      const texture = 20 * Math.sin(x * 0.9) * Math.cos(y * 0.7) + 16 * rand();
      px[i] = clamp(40 + (180 * x) / w + edge + texture);
      px[i + 1] = clamp(30 + (150 * y) / h + texture);
      px[i + 2] = clamp(200 - (120 * (x + y)) / (w + h) - edge + texture);
    }
  }
  return px;
}
const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));

const jpeg = (w: number, h: number, o: { seed?: number; quality?: number } = {}) =>
  sharp(picture(w, h, o.seed), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: o.quality ?? 90, chromaSubsampling: '4:2:0' }).toBuffer();

async function both(bytes: Uint8Array, height: number, width: number, resize: ResizeMode, name = 'a.jpg') {
  const target = { height, width, resize };
  const fast = await decodeItem({ kind: 'encoded', bytes }, target, name);
  process.env.ABLATE_JPEG_DECODER = 'sharp';
  try {
    return { fast, ref: await decodeItem({ kind: 'encoded', bytes }, target, name) };
  } finally {
    delete process.env.ABLATE_JPEG_DECODER;
  }
}

function diff(a: Uint8Array, b: Uint8Array): { mean: number; max: number } {
  assert.equal(a.length, b.length);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / a.length, max };
}

test('full-scale JPEG decodes: within ±3 of sharp (mean ≤ 0.5), enlarging and reducing, stretch and centre crop', { skip }, async () => {
  const cases: [number, number, number, number, ResizeMode][] = [
    [180, 180, 224, 224, 'stretch'], // the 180-px photos at the training size: enlarged
    [180, 140, 224, 224, 'center-crop'],
    [300, 200, 224, 160, 'stretch'], // reduced by less than 2: no DCT scaling
    [333, 250, 224, 224, 'center-crop'],
    [250, 333, 96, 128, 'stretch'], // reduced 2.6×, 2.6×: sharp keeps full scale when the shrink rounds down to 2
  ];
  for (const [w, h, tw, th, mode] of cases) {
    const bytes = await jpeg(w, h);
    const direct = await fastJpeg(bytes, th, tw, mode === 'center-crop');
    assert.ok(direct, `${w}x${h} should take the libjpeg path`);
    assert.equal(direct.scaleDenom, 1, `${w}x${h} → ${tw}x${th}`);
    const { fast, ref } = await both(bytes, th, tw, mode);
    const d = diff(fast.pixels, ref.pixels);
    assert.ok(d.max <= 3 && d.mean <= 0.5, `${w}x${h} → ${tw}x${th} ${mode}: mean ${d.mean.toFixed(3)}, max ${d.max}`);
    assert.deepEqual(fast.conversions, ref.conversions);
  }
});

test('DCT-scaled decodes (photos over twice the target): close to sharp, and the scale chosen as sharp chooses it', { skip }, async () => {
  // sharp's rule: the largest of 8, 4, 2 not above the shrink, halved when the shrink truncates to it exactly.
  for (const [w, h, t, denom] of [[1024, 768, 96, 4], [1200, 900, 224, 2], [2000, 1500, 224, 4], [1800, 1800, 100, 8]] as const) {
    const bytes = await jpeg(w, h, { seed: w });
    const direct = await fastJpeg(bytes, t, t, false);
    assert.equal(direct?.scaleDenom, denom, `${w}x${h} → ${t}`);
    const { fast, ref } = await both(bytes, t, t, 'stretch');
    const d = diff(fast.pixels, ref.pixels);
    // libjpeg-turbo's reduced-size IDCT is not mozjpeg's (sharp's): a documented difference, bounded here.
    assert.ok(d.mean <= 4, `${w}x${h} → ${t}: mean ${d.mean.toFixed(3)}, max ${d.max}`);
  }
});

test('grayscale JPEGs become RGB with the grayscale conversion counted, as with sharp', { skip }, async () => {
  const rgb = picture(160, 120);
  const grey = Buffer.from(Array.from({ length: 160 * 120 }, (_, i) => rgb[i * 3 + 1]!));
  const bytes = await sharp(grey, { raw: { width: 160, height: 120, channels: 1 } }).toColourspace('b-w').jpeg().toBuffer();
  const direct = await fastJpeg(bytes, 64, 64, false);
  assert.equal(direct?.components, 1);
  const { fast, ref } = await both(bytes, 64, 64, 'stretch', 'gray.jpeg');
  assert.deepEqual(fast.conversions, ['grayscale']);
  assert.deepEqual(ref.conversions, ['grayscale']);
  assert.ok(diff(fast.pixels, ref.pixels).max <= 2);
  for (let i = 0; i < fast.pixels.length; i += 3) assert.ok(fast.pixels[i] === fast.pixels[i + 1] && fast.pixels[i] === fast.pixels[i + 2]);
  // A JPEG named .png is still counted as misnamed.
  assert.deepEqual((await decodeItem({ kind: 'encoded', bytes }, { height: 8, width: 8, resize: 'stretch' }, 'x.png')).conversions, ['grayscale', 'misnamed']);
});

test('what the libjpeg path leaves to sharp gives sharp\'s exact pixels or errors: CMYK, a non-sRGB profile, warnings, truncation', { skip }, async () => {
  const base = await jpeg(200, 150);
  const cmyk = await sharp(base).toColourspace('cmyk').jpeg().toBuffer();
  const p3 = await sharp(base).withIccProfile('p3').jpeg().toBuffer();
  // Garbage between two markers: libjpeg warns ("extraneous bytes before marker"); sharp tolerates it.
  const sos = base.indexOf(Buffer.from([0xff, 0xda]));
  const extraneous = Buffer.concat([base.subarray(0, sos), Buffer.from([1, 2, 3]), base.subarray(sos)]);
  for (const [what, bytes] of [['cmyk', cmyk], ['p3', p3], ['extraneous', extraneous]] as const) {
    assert.equal(await fastJpeg(bytes, 64, 64, false), null, what);
    const { fast, ref } = await both(bytes, 64, 64, 'stretch');
    assert.deepEqual(fast, ref, what);
  }
  const truncated = base.subarray(0, Math.floor(base.length * 0.6));
  assert.equal(await fastJpeg(truncated, 64, 64, false), null);
  const errors: string[] = [];
  for (const decoder of ['libjpeg', 'sharp']) {
    if (decoder === 'sharp') process.env.ABLATE_JPEG_DECODER = 'sharp';
    try {
      await assert.rejects(decodeItem({ kind: 'encoded', bytes: truncated }, { height: 64, width: 64, resize: 'stretch' }, 'cut.jpg'), (e: unknown) => {
        assert.ok(e instanceof BadImageError && e.reason === 'undecodable', String(e));
        errors.push(e.message);
        return true;
      });
    } finally {
      delete process.env.ABLATE_JPEG_DECODER;
    }
  }
  assert.equal(errors[0], errors[1]);
});

test('the resampler alone matches sharp\'s linear resize of raw pixels within ±2 (reductions below 4×)', { skip }, async () => {
  const px = picture(97, 61);
  for (const [w, h] of [[224, 150], [60, 40], [30, 17], [97, 61]]) {
    const ref = await sharp(px, { raw: { width: 97, height: 61, channels: 3 } }).resize({ width: w, height: h, fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    const mine = resizeRgbNative(px, 61, 97, h, w)!;
    const d = diff(mine, ref);
    assert.ok(d.max <= 2 && d.mean <= 0.5, `97x61 → ${w}x${h}: mean ${d.mean.toFixed(3)}, max ${d.max}`);
  }
});

test('the decoder is part of the cache key: switching to sharp builds a new cache instead of reusing pixels it did not make', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-fastjpeg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const c of ['a', 'b']) {
    mkdirSync(join(dir, 'imgs', c), { recursive: true });
    writeFileSync(join(dir, 'imgs', c, '0.jpg'), await jpeg(40, 30, { seed: c.charCodeAt(0) }));
  }
  const ds = await openDataset({ path: join(dir, 'imgs') });
  t.after(() => ds.close());
  const prepare = () => prepareImages(ds, { height: 16, width: 16, cacheDir: join(dir, 'cache'), log: () => {} });
  const first = await prepare();
  await first.close();
  process.env.ABLATE_JPEG_DECODER = 'sharp';
  try {
    const viaSharp = await prepare();
    await viaSharp.close();
    assert.equal(viaSharp.fromCache, false);
    assert.notEqual(viaSharp.cachePath, first.cachePath);
  } finally {
    delete process.env.ABLATE_JPEG_DECODER;
  }
  const again = await prepare();
  await again.close();
  assert.equal(again.fromCache, true);
});
