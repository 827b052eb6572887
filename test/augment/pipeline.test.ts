import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, liveTensorCount, tensor, type Tensor } from '../../src/tensor/index.js';
import { buildAugmentPipeline, type AugmentResult } from '../../src/augment/index.js';
import { labelsOf, testImages } from './helpers.js';

const arr = (t: Tensor): number[] => t.toArray();
const release = (r: AugmentResult): void => {
  r.images.dispose();
  r.targets.dispose();
};

test('a fixed seed reproduces the batch, and so does restoring the generator state', () => {
  const p = buildAugmentPipeline(['standard', { randomCrop: { size: 6, padding: 2, paddingMode: 'reflect' } }, { saturation: [0.5, 1.5] }, { mix: { cutmix: 1, mixup: 0.2 } }], { numClasses: 4 });
  const x = testImages(4, 8, 8);
  const y = labelsOf([0, 1, 2, 3]);
  const a = p.apply(x, y, new Generator(42), { training: true });
  const b = p.apply(x, y, new Generator(42), { training: true });
  assert.deepEqual(arr(a.images), arr(b.images));
  assert.deepEqual(arr(a.targets), arr(b.targets));
  assert.deepEqual(a.info, b.info);
  const c = p.apply(x, y, new Generator(43), { training: true });
  assert.notDeepEqual(arr(a.images), arr(c.images));

  // A trainer saves the state before a batch and restores it on resume: the batch comes out the same.
  const g = new Generator(7);
  release(p.apply(x, y, g, { training: true }));
  const saved = g.getState();
  const next = p.apply(x, y, g, { training: true });
  const resumed = new Generator(0);
  resumed.setState(saved);
  const again = p.apply(x, y, resumed, { training: true });
  assert.deepEqual(arr(next.images), arr(again.images));
  assert.deepEqual(arr(next.targets), arr(again.targets));
  for (const r of [a, b, c, next, again]) release(r);
});

test('standard: shapes kept, values in [0, 1], one-hot targets; the seeds\' op order', () => {
  const p = buildAugmentPipeline('standard', { numClasses: 3 });
  assert.deepEqual(p.ops.map((o) => o.op), ['flip', 'brightness', 'hue', 'contrast', 'clip']);
  const r = p.apply(testImages(5, 7, 9), labelsOf([0, 2, 1, 1, 0]), new Generator(1), { training: true });
  assert.deepEqual(r.images.shape, [5, 3, 7, 9]);
  assert.ok(arr(r.images).every((v) => v >= 0 && v <= 1));
  assert.deepEqual(arr(r.targets), [1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0]);
  assert.equal(r.info.mix, null);
  release(r);
});

test('evaluation skips random ops and mixing; random crops become centre crops', () => {
  const x = testImages(2, 10, 10);
  const y = labelsOf([1, 0]);
  const p = buildAugmentPipeline(['standard+cutmix'], { numClasses: 2 });
  const r = p.apply(x, y, new Generator(1), { training: false });
  assert.deepEqual(arr(r.images), arr(x));
  assert.deepEqual(arr(r.targets), [0, 1, 1, 0]);
  const crop = buildAugmentPipeline([{ randomCrop: 6 }], { numClasses: 2 }).apply(x, y, new Generator(1), { training: false });
  assert.deepEqual(arr(crop.images), arr(x.narrow(2, 2, 6).narrow(3, 2, 6)));
  const rrc = buildAugmentPipeline(['randomResizedCrop'], { numClasses: 2, imageSize: 8 });
  const train = rrc.apply(x, y, new Generator(1), { training: true });
  const evalOut = rrc.apply(x, y, new Generator(1), { training: false });
  assert.deepEqual(train.images.shape, [2, 3, 8, 8]);
  assert.deepEqual(evalOut.images.shape, [2, 3, 8, 8]);
  for (const o of [r, crop, train, evalOut]) release(o);
});

test('padCrop (CIFAR) keeps the size and each output is a window of the padded image', () => {
  const x = testImages(3, 8, 8);
  const y = labelsOf([0, 1, 2]);
  const r = buildAugmentPipeline([{ padCrop: { padding: 2, mode: 'zeros' } }], { numClasses: 3 }).apply(x, y, new Generator(9), { training: true });
  assert.deepEqual(r.images.shape, [3, 3, 8, 8]);
  const nonZero = (t: Tensor) => arr(t).filter((v) => v !== 0).length;
  // Zero padding can only remove pixels from view, never invent them.
  assert.ok(nonZero(r.images) <= nonZero(x));
  release(r);
});

test('offEpochs turns mixing off for the last epochs, and needs the epoch count', () => {
  const p = buildAugmentPipeline([{ cutmix: { alpha: 1, offEpochs: 2 } }], { numClasses: 2 });
  const x = testImages(2, 4, 4);
  const y = labelsOf([0, 1]);
  assert.throws(() => p.apply(x, y, new Generator(0), { training: true }), /offEpochs: 2, so apply\(\) needs \{epoch, totalEpochs\}/);
  const on = p.apply(x, y, new Generator(0), { training: true, epoch: 7, totalEpochs: 10 });
  assert.notEqual(on.info.mix, null);
  const off = p.apply(x, y, new Generator(0), { training: true, epoch: 8, totalEpochs: 10 });
  assert.equal(off.info.mix, null);
  assert.equal(off.info.mixingOff, true);
  p.setEpoch(9, 10);
  assert.deepEqual(p.state(), { epoch: 9, totalEpochs: 10 });
  assert.equal(p.apply(x, y, new Generator(0), { training: true }).info.mix, null);
  release(on);
  release(off);
});

test('apply leaks no tensors and does not consume its inputs', () => {
  const p = buildAugmentPipeline(['standard', { randomResizedCrop: 6 }, { mix: { cutmix: 1, mixup: 1, mode: 'sample' } }], { numClasses: 3 });
  const x = testImages(3, 8, 8);
  const y = labelsOf([0, 1, 2]);
  release(p.apply(x, y, new Generator(0), { training: true }));
  const before = liveTensorCount();
  for (let s = 0; s < 5; s++) release(p.apply(x, y, new Generator(s), { training: true }));
  release(p.apply(x, y, new Generator(0), { training: false }));
  assert.equal(liveTensorCount(), before);
  assert.equal(x.isDisposed, false);
});

test('bad inputs get clear errors', () => {
  const p = buildAugmentPipeline('standard', { numClasses: 3 });
  const g = new Generator(0);
  const x = testImages(2, 4, 4);
  assert.throws(() => p.apply(x.to('uint8'), labelsOf([0, 1]), g, { training: true }), /expected images as a float tensor \[N, C, H, W\] but received uint8 \[2, 3, 4, 4\]/);
  assert.throws(() => p.apply(x, labelsOf([0]), g, { training: true }), /expected labels as int64 \[2\] \(one per image\) but received int64 \[1\]/);
  assert.throws(() => p.apply(x, labelsOf([0, 3]), g, { training: true }), /labels must lie in \[0, 2\] \(numClasses 3\) but range over \[0, 3\]/);
  assert.throws(() => p.apply(x, tensor([0, 1], [2], 'int32'), g, { training: true }), /but received int32 \[2\]/);
  assert.throws(() => p.apply(x.narrow(1, 0, 1), labelsOf([0, 1]), g, { training: true }), /hue and saturation need 3 \(RGB\) channels/);
  assert.throws(() => p.apply(x, labelsOf([0, 1]), {} as Generator, { training: true }), /Expected a Generator for generator but received object/);
  assert.throws(() => buildAugmentPipeline('standard', { numClasses: 0 }), /Expected a positive integer for numClasses but received number 0/);
  assert.throws(() => buildAugmentPipeline([{ randomCrop: 9 }], { numClasses: 2 }).apply(x, labelsOf([0, 1]), g, { training: true }), /crop 9×9 is larger than the image 4×4/);
});

test('describe() lists the training ops and their evaluation counterparts', () => {
  const text = buildAugmentPipeline(['cifar', { mix: { cutmix: 1, mixup: 0.2, switchProb: 0.3, offEpochs: 3 } }], { numClasses: 10, imageSize: 32 }).describe();
  assert.match(text, /^training: {3}random crop 32×32 after 4px zeros padding → horizontal flip \(p=0\.5\) → CutMix α=1 \(p=0\.3\) or MixUp α=0\.2, p=1 per batch, off for the last 3 epoch\(s\)$/m);
  assert.match(text, /^evaluation: centre crop 32×32$/m);
});
