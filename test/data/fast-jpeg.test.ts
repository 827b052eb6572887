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

// ---- the resampler's exact bytes: native/src/resample.h against this plain reimplementation of its math ----
// The decoded-image cache holds these pixels, so an optimisation of the native code must not change one byte.

/** C's lround (half away from zero) and rint (half to even), exactly: x - trunc(x) and x - floor(x) are exact. */
const lround = (x: number): number => {
  const t = Math.trunc(x);
  return Math.abs(x - t) >= 0.5 ? t + Math.sign(x) : t;
};
const rint = (x: number): number => {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};

/** make_taps: per output pixel the first input, and the 14-bit weights (adding up to 1 << 14). */
function taps(inSize: number, out: number, scale: number, offset: number): { start: number; w: number[] }[] {
  const up = scale < 1;
  const fs = up ? 1 : scale;
  const support = fs;
  const shift = (inSize - rint(inSize / scale) * scale) / 2;
  const stride = Math.ceil(support) * 2 + 1;
  const all: { start: number; w: number[] }[] = [];
  for (let i = 0; i < out; i++) {
    const centre = (i + offset + (up ? 0 : 0.5)) * scale + shift;
    let lo = Math.trunc(centre - support + 0.5);
    let hi = Math.trunc(centre + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > inSize) hi = inSize;
    if (hi - lo > stride) hi = lo + stride;
    let tmp: number[] = [];
    let sum = 0;
    for (let x = lo; x < hi; x++) {
      const d = Math.abs((x - centre + 0.5) / fs);
      const v = d < 1 ? 1 - d : 0;
      tmp.push(v);
      sum += v;
    }
    if (sum <= 0) {
      lo = centre < 0.5 ? 0 : inSize - 1;
      hi = lo + 1;
      tmp = [1];
      sum = 1;
    }
    const w = tmp.map((v) => lround((v / sum) * (1 << 14)));
    let biggest = 0;
    for (let k = 1; k < w.length; k++) if (w[k]! > w[biggest]!) biggest = k;
    w[biggest]! += (1 << 14) - w.reduce((a, b) => a + b, 0);
    all.push({ start: lo, w });
  }
  return all;
}

const round14 = (acc: number): number => Math.max(0, Math.min(255, (acc + (1 << 13)) >> 14));

/** resize_rgb: horizontal pass (rounded to bytes), then vertical. */
function resizeReference(src: Uint8Array, h: number, w: number, oh: number, ow: number, sy: number, sx: number, offy: number, offx: number): Uint8Array {
  const tx = taps(w, ow, sx, offx);
  const ty = taps(h, oh, sy, offy);
  const mid = new Uint8Array(h * ow * 3);
  for (let y = 0; y < h; y++) {
    for (let i = 0; i < ow; i++) {
      const { start, w: wt } = tx[i]!;
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = 0; k < wt.length; k++) acc += src[(y * w + start + k) * 3 + c]! * wt[k]!;
        mid[(y * ow + i) * 3 + c] = round14(acc);
      }
    }
  }
  const out = new Uint8Array(oh * ow * 3);
  for (let j = 0; j < oh; j++) {
    const { start, w: wt } = ty[j]!;
    for (let c = 0; c < ow * 3; c++) {
      let acc = 0;
      for (let k = 0; k < wt.length; k++) acc += mid[(start + k) * ow * 3 + c]! * wt[k]!;
      out[j * ow * 3 + c] = round14(acc);
    }
  }
  return out;
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  const i = a.findIndex((v, k) => v !== b[k]);
  return i < 0 ? 'none' : `byte ${i}: ${a[i]} vs ${b[i]}`;
}

test('the resampler gives exactly the reference bytes: enlarging, reducing up to 4× and beyond, odd sizes, noise and saturated pixels', { skip }, () => {
  let s = 7;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const noise = (w: number, h: number) => Buffer.from(Array.from({ length: w * h * 3 }, () => (rand() < 0.2 ? (rand() < 0.5 ? 0 : 255) : Math.floor(rand() * 256))));
  const cases: [number, number, number, number][] = [
    [97, 61, 224, 150], [97, 61, 60, 40], [97, 61, 30, 17], [97, 61, 97, 61], // the sharp comparison's sizes
    [434, 325, 224, 224], [533, 525, 224, 224], [325, 434, 224, 224], [180, 180, 224, 224], [140, 180, 224, 224], // photos to 224
    [1, 1, 3, 5], [2, 3, 1, 1], [7, 5, 3, 2], [5, 7, 11, 13], [31, 29, 8, 9], [300, 9, 17, 4], [64, 64, 63, 65], [37, 200, 19, 23], [250, 12, 50, 3],
  ];
  for (const [w, h, ow, oh] of cases) {
    for (const px of [picture(w, h, w + h), noise(w, h)]) {
      const mine = resizeRgbNative(px, h, w, oh, ow)!;
      const ref = resizeReference(px, h, w, oh, ow, h / oh, w / ow, 0, 0);
      assert.ok(Buffer.from(mine).equals(Buffer.from(ref)), `${w}x${h} → ${ow}x${oh}: first difference ${firstDifference(mine, ref)}`);
    }
  }
});

test('decoded and resized JPEGs, stretched and centre-cropped, are the reference resampling of the full-size decode, byte for byte', { skip }, async () => {
  // Sizes decoded at full scale (the shrink stays below 2 or truncates to 2), so the full-size decode is the input.
  const cases: [number, number, number, number][] = [[333, 250, 224, 224], [250, 333, 224, 224], [300, 200, 224, 160], [180, 140, 224, 224], [250, 333, 96, 128], [401, 203, 107, 101]];
  for (const [w, h, tw, th] of cases) {
    const bytes = await jpeg(w, h, { seed: w * h });
    const full = await fastJpeg(bytes, h, w, false);
    assert.ok(full && full.scaleDenom === 1);
    for (const cover of [false, true]) {
      const direct = await fastJpeg(bytes, th, tw, cover);
      assert.equal(direct?.scaleDenom, 1, `${w}x${h} → ${tw}x${th}`);
      // As decode() in native/src/image_ops.cc.
      let sx = w / tw;
      let sy = h / th;
      let offx = 0;
      let offy = 0;
      if (cover) {
        sx = sy = Math.min(sx, sy);
        offx = Math.trunc((rint(w / sx) - tw + 1) / 2);
        offy = Math.trunc((rint(h / sy) - th + 1) / 2);
      }
      const ref = resizeReference(full.pixels, h, w, th, tw, sy, sx, offy, offx);
      assert.ok(Buffer.from(direct!.pixels).equals(Buffer.from(ref)), `${w}x${h} → ${tw}x${th} cover ${cover}: first difference ${firstDifference(direct!.pixels, ref)}`);
    }
  }
});
