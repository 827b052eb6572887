import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, tensor, type Tensor } from '../../src/tensor/index.js';
import { mixBatch, type MixSettings } from '../../src/augment/index.js';
import { labelsOf, testImages } from './helpers.js';

const settings = (o: Partial<MixSettings>): MixSettings => ({ cutmixAlpha: null, mixupAlpha: null, prob: 1, switchProb: 0.5, mode: 'batch', ...o });

/** Image i is filled with the marker value (i + 1) / 64 and has label i, so every pixel tells its source. */
function markerBatch(n: number, h: number, w: number): { images: Tensor; labels: Tensor } {
  const data = new Float32Array(n * 3 * h * w);
  for (let i = 0; i < n; i++) data.fill((i + 1) / 64, i * 3 * h * w, (i + 1) * 3 * h * w);
  return { images: tensor(data, [n, 3, h, w]), labels: labelsOf(Array.from({ length: n }, (_, i) => i)) };
}

function rows(t: Tensor, n: number): number[][] {
  const v = t.toArray();
  const c = v.length / n;
  return Array.from({ length: n }, (_, i) => v.slice(i * c, (i + 1) * c));
}

test("CutMix's label weight equals the fraction of pixels pasted from the partner, exactly", () => {
  const [n, h, w] = [6, 9, 14];
  const { images, labels } = markerBatch(n, h, w);
  let partial = 0;
  for (const mode of ['batch', 'sample'] as const) {
    for (let seed = 0; seed < 25; seed++) {
      const out = mixBatch(images, labels, n, settings({ cutmixAlpha: 1, mode }), new Generator(seed));
      const pix = out.images.toTypedArray() as Float32Array;
      const targets = rows(out.targets, n);
      for (let i = 0; i < n; i++) {
        const p = out.info.partner[i]!;
        let fromPartner = 0;
        let fromSelf = 0;
        for (let k = 0; k < 3 * h * w; k++) {
          const v = pix[i * 3 * h * w + k]!;
          if (v === (p + 1) / 64) fromPartner++;
          else if (v === (i + 1) / 64) fromSelf++;
          else assert.fail(`pixel ${k} of image ${i} came from neither image: ${v}`);
        }
        const pasted = p === i ? 0 : fromPartner / (3 * h * w);
        if (p !== i) {
          assert.ok(Math.abs(targets[i]![p]! - pasted) < 1e-6, `seed ${seed} image ${i}: weight ${targets[i]![p]} vs pasted ${pasted}`);
          if (pasted > 0 && pasted < 1) partial++;
        }
        assert.ok(Math.abs(targets[i]![i]! - (1 - pasted)) < 1e-6);
        assert.ok(Math.abs(out.info.lambda[i]! - (1 - pasted)) < 1e-12 || p === i);
        const box = out.info.box[i]!;
        assert.equal(fromPartner, p === i ? 3 * h * w - fromSelf : 3 * box.height * box.width, 'the recorded box is what was pasted');
      }
    }
  }
  assert.ok(partial > 50, 'most checks involved a real partial paste');
});

test('MixUp blends images and labels with the same λ', () => {
  const n = 5;
  const { images, labels } = markerBatch(n, 3, 4);
  const out = mixBatch(images, labels, n, settings({ mixupAlpha: 1 }), new Generator(3));
  const pix = rows(out.images, n);
  const targets = rows(out.targets, n);
  for (let i = 0; i < n; i++) {
    const p = out.info.partner[i]!;
    const lam = out.info.lambda[i]!;
    assert.equal(out.info.kind[i], 'mixup');
    for (const v of pix[i]!) assert.ok(Math.abs(v - (lam * (i + 1) + (1 - lam) * (p + 1)) / 64) < 1e-6);
    if (p !== i) {
      assert.ok(Math.abs(targets[i]![i]! - lam) < 1e-6 && Math.abs(targets[i]![p]! - (1 - lam)) < 1e-6);
    }
  }
});

test('soft targets are rows summing to 1 for every kind and mode', () => {
  const x = testImages(8, 6, 6);
  const y = labelsOf([0, 3, 3, 1, 9, 2, 0, 5]);
  for (const mode of ['batch', 'sample'] as const) {
    for (let seed = 0; seed < 10; seed++) {
      const out = mixBatch(x, y, 10, settings({ cutmixAlpha: 1, mixupAlpha: 0.4, prob: 0.8, mode }), new Generator(seed));
      assert.deepEqual(out.targets.shape, [8, 10]);
      for (const r of rows(out.targets, 8)) {
        assert.ok(Math.abs(r.reduce((a, b) => a + b, 0) - 1) < 1e-6);
        assert.ok(r.every((v) => v >= 0));
      }
    }
  }
});

test('prob 0 leaves the batch alone; switchProb picks CutMix or MixUp; sample mode mixes per image', () => {
  const x = testImages(6, 5, 5);
  const y = labelsOf([0, 1, 2, 3, 4, 5]);
  const off = mixBatch(x, y, 6, settings({ cutmixAlpha: 1, prob: 0 }), new Generator(0));
  assert.deepEqual(off.images.toArray(), x.toArray());
  assert.deepEqual(off.targets.toArray(), Array.from({ length: 36 }, (_, k) => (k % 7 === 0 ? 1 : 0)));
  assert.ok(off.info.kind.every((k) => k === 'none'));
  const kindsOf = (switchProb: number, mode: 'batch' | 'sample') =>
    new Set(Array.from({ length: 20 }, (_, s) => mixBatch(x, y, 6, settings({ cutmixAlpha: 1, mixupAlpha: 1, switchProb, mode }), new Generator(s)).info.kind).flat());
  assert.deepEqual(kindsOf(1, 'batch'), new Set(['cutmix']));
  assert.deepEqual(kindsOf(0, 'batch'), new Set(['mixup']));
  assert.deepEqual(kindsOf(0.5, 'batch'), new Set(['cutmix', 'mixup']));
  const one = mixBatch(x, y, 6, settings({ cutmixAlpha: 1, mixupAlpha: 1, mode: 'sample' }), new Generator(2)).info;
  assert.ok(new Set(one.lambda).size > 1, 'sample mode draws λ per image');
  const batch = mixBatch(x, y, 6, settings({ mixupAlpha: 1, mode: 'batch' }), new Generator(2)).info;
  assert.equal(new Set(batch.lambda).size, 1, 'batch mode draws one λ');
});

test('MixUp λ for α = 1 is uniform: mean ≈ 0.5 and a KS test passes', () => {
  const x = testImages(2, 2, 2);
  const y = labelsOf([0, 1]);
  const lambdas = Array.from({ length: 400 }, (_, s) => mixBatch(x, y, 2, settings({ mixupAlpha: 1 }), new Generator(1000 + s)).info.lambda[0]!);
  const mean = lambdas.reduce((a, b) => a + b, 0) / lambdas.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean λ ${mean}`);
  const sorted = [...lambdas].sort((a, b) => a - b);
  const d = Math.max(...sorted.map((v, i) => Math.max((i + 1) / sorted.length - v, v - i / sorted.length)));
  assert.ok(d < 1.628 / Math.sqrt(sorted.length), `KS distance ${d}`);
});
