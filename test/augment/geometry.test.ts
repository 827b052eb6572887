import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, tensor, type Tensor } from '../../src/tensor/index.js';
import { UniformStream, cropAt, flipWhere, padBatch, resizedCrops, sampleResizedCropBox } from '../../src/augment/index.js';
import { testImages } from './helpers.js';

const data = (t: Tensor): number[] => Array.from(t.toTypedArray() as Float32Array);
const mask = (bits: number[]): Tensor => tensor(bits, [bits.length], 'bool');

test('flip twice is the identity; flip mirrors exactly the masked images', () => {
  const x = testImages(3, 4, 5);
  const m = mask([1, 0, 1]);
  assert.deepEqual(data(flipWhere(flipWhere(x, m), m)), data(x));
  const y = flipWhere(x, m);
  assert.deepEqual(data(y.narrow(0, 0, 1)), data(x.narrow(0, 0, 1).flip([3])));
  assert.deepEqual(data(y.narrow(0, 1, 1)), data(x.narrow(0, 1, 1)));
  assert.notDeepEqual(data(y.narrow(0, 2, 1)), data(x.narrow(0, 2, 1)));
});

test('cropAt takes each image window at its own corner', () => {
  const x = testImages(3, 6, 7);
  const tops = [0, 2, 3];
  const lefts = [1, 0, 4];
  const y = cropAt(x, tops, lefts, 3, 3);
  assert.deepEqual(y.shape, [3, 3, 3, 3]);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(data(y.narrow(0, i, 1)), data(x.narrow(0, i, 1).narrow(2, tops[i]!, 3).narrow(3, lefts[i]!, 3)));
  }
});

test('padding: zeros adds a zero border, reflect mirrors without repeating the edge', () => {
  const x = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
  assert.deepEqual(data(padBatch(x, 1, 'zeros')), [0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0]);
  assert.deepEqual(data(padBatch(x, 1, 'reflect')), [4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3, 2, 1, 2, 1]);
});

test('random resized crop boxes follow torchvision: inside the image, area and aspect within bounds', () => {
  const rng = new UniformStream(new Generator(5));
  for (let i = 0; i < 200; i++) {
    const b = sampleResizedCropBox(rng, 60, 80, [0.08, 1], [3 / 4, 4 / 3]);
    assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= 60 && b.left + b.width <= 80, JSON.stringify(b));
    const area = (b.height * b.width) / (60 * 80);
    assert.ok(area > 0.06 && area <= 1.02, `area fraction ${area}`);
  }
  // No box can reach ratio 10 in a square image, so every try fails and the central fallback is used.
  const fallback = sampleResizedCropBox(rng, 50, 50, [0.5, 1], [10, 20]);
  assert.deepEqual(fallback, { top: 22, left: 0, height: 5, width: 50 });
});

test('resizedCrops resizes each box to the output size', () => {
  const x = testImages(2, 10, 12);
  const y = resizedCrops(x, [{ top: 0, left: 0, height: 10, width: 12 }, { top: 2, left: 3, height: 4, width: 4 }], 5, 6);
  assert.deepEqual(y.shape, [2, 3, 5, 6]);
});
