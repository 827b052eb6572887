import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, type Tensor } from '../../src/tensor/index.js';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, clipValues } from '../../src/augment/index.js';
import { assertClose, maxAbsDiff, testImages } from './helpers.js';

// Python's colorsys, which TF's HSV kernels agree with for values in [0, 1]: an independent reference.
function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const maxc = Math.max(r, g, b);
  const minc = Math.min(r, g, b);
  if (minc === maxc) return [0, 0, maxc];
  const s = (maxc - minc) / maxc;
  const rc = (maxc - r) / (maxc - minc);
  const gc = (maxc - g) / (maxc - minc);
  const bc = (maxc - b) / (maxc - minc);
  const h = r === maxc ? bc - gc : g === maxc ? 2 + rc - bc : 4 + gc - rc;
  return [(((h / 6) % 1) + 1) % 1, s, maxc];
}
function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  if (s === 0) return [v, v, v];
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  return ([[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]] as const)[((i % 6) + 6) % 6]!.slice() as [number, number, number];
}

/** Applies a per-pixel HSV edit to a [N, 3, H, W] batch read back as a flat array. */
function referenceHsv(x: Tensor, edit: (hsv: [number, number, number], image: number) => [number, number, number]): Float32Array {
  const [n, , h, w] = x.shape as [number, number, number, number];
  const src = x.toTypedArray() as Float32Array;
  const out = new Float32Array(src.length);
  const plane = h * w;
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < plane; p++) {
      const at = (c: number): number => i * 3 * plane + c * plane + p;
      const rgb = hsvToRgb(...edit(rgbToHsv(src[at(0)]!, src[at(1)]!, src[at(2)]!), i));
      for (let c = 0; c < 3; c++) out[at(c)] = rgb[c]!;
    }
  }
  return out;
}

const data = (t: Tensor): Float32Array => t.toTypedArray() as Float32Array;

test('brightness 0 is the identity and a delta shifts every channel without clipping', () => {
  const x = testImages(2, 4, 5);
  assert.deepEqual(data(adjustBrightness(x, 0)), data(x));
  const shifted = data(adjustBrightness(x, tensor([0.5, -0.5], [2])));
  const src = data(x);
  const half = src.length / 2;
  assertClose(shifted.slice(0, half), Array.from(src.slice(0, half), (v) => v + 0.5), 1e-6);
  assertClose(shifted.slice(half), Array.from(src.slice(half), (v) => v - 0.5), 1e-6);
  assert.ok(Math.max(...shifted) > 1 && Math.min(...shifted) < 0, 'TF random_brightness does not clip');
});

test('contrast factor 1 is the identity; a factor scales deviations from each channel mean', () => {
  const x = testImages(2, 6, 6);
  assert.ok(maxAbsDiff(data(adjustContrast(x, 1)), data(x)) < 1e-6);
  const y = adjustContrast(x, tensor([0.25, 2], [2]));
  const mx = data(x.mean([2, 3]));
  assertClose(data(y.mean([2, 3])), mx, 1e-5, 'per-channel means are kept');
  const dev = (t: Tensor) => data(t.sub(t.mean([2, 3], true)));
  const dx = dev(x), dy = dev(y);
  const half = dx.length / 2;
  assertClose(dy.slice(0, half), Array.from(dx.slice(0, half), (v) => v * 0.25), 1e-5);
  assertClose(dy.slice(half), Array.from(dx.slice(half), (v) => v * 2), 1e-5);
});

test('hue 0 is the identity (to float tolerance)', () => {
  const x = testImages(3, 8, 8);
  assert.ok(maxAbsDiff(data(adjustHue(x, 0)), data(x)) < 1e-6);
});

test('hue rotation matches an HSV reference, per image', () => {
  const x = testImages(4, 7, 5, 3);
  const deltas = [0.2, -0.2, 0.5, -0.37];
  const got = data(adjustHue(x, tensor(deltas, [4])));
  const want = referenceHsv(x, ([h, s, v], i) => [(((h + deltas[i]!) % 1) + 1) % 1, s, v]);
  assertClose(got, want, 2e-5);
});

test('hue shift stays in range: each pixel keeps its min and max channel, a full turn is the identity', () => {
  const x = testImages(2, 8, 8, 5);
  for (const d of [0.1, -0.3, 0.5]) {
    const y = adjustHue(x, d);
    const v = data(y);
    assert.ok(v.every((e) => e >= 0 && e <= 1), `values leave [0, 1] for delta ${d}`);
    assertClose(data(y.max(1)), data(x.max(1)), 1e-6, 'max');
    assertClose(data(y.min(1)), data(x.min(1)), 1e-6, 'min');
  }
  assert.ok(maxAbsDiff(data(adjustHue(adjustHue(x, 0.5), 0.5)), data(x)) < 1e-5);
  // TF's kernel is defined for values outside [0, 1] too (e.g. after brightness): min and max still hold.
  const shifted = x.sub(0.4);
  const y = adjustHue(shifted, 0.3);
  assertClose(data(y.max(1)), data(shifted.max(1)), 1e-6);
  assertClose(data(y.min(1)), data(shifted.min(1)), 1e-6);
});

test('saturation matches an HSV reference (S scaled and clamped to [0, 1]); factor 1 is the identity', () => {
  const x = testImages(3, 6, 4, 9);
  const factors = [0.3, 1.7, 4];
  const got = data(adjustSaturation(x, tensor(factors, [3])));
  const want = referenceHsv(x, ([h, s, v], i) => [h, Math.min(1, s * factors[i]!), v]);
  assertClose(got, want, 2e-5);
  assert.ok(maxAbsDiff(data(adjustSaturation(x, 1)), data(x)) < 1e-6);
  const grey = adjustSaturation(x, 0);
  assertClose(data(grey.min(1)), data(x.max(1)), 1e-6, 'factor 0 makes every channel equal to V');
});

test('saturation follows TF for pixels with V <= 0: they become grey at V', () => {
  const x = tensor([-0.1, -0.3, -0.2], [1, 3, 1, 1]);
  assertClose(data(adjustSaturation(x, 1.5)), [-0.1, -0.1, -0.1], 1e-7);
});

test('clip bounds values', () => {
  const x = tensor([-0.5, 0.25, 1.5], [1, 3, 1, 1]);
  assert.deepEqual(Array.from(data(clipValues(x))), [0, 0.25, 1]);
});
