// The bundled model-family studies (ConvNeXt, ViT, VGG, MobileNetV2) plan on CIFAR-10 (a tiny stand-in in CIFAR's
// binary layout, made here): `ablate study plan` lists their variants with the switch each changes, parameters and FLOPs.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, tmp } from './live-fixtures.js';

/** CIFAR-10's binary layout with 20 images per file: one label byte and 3072 pixel bytes per record. */
function fakeCifar10(root: string): string {
  const dir = join(root, 'cifar-10-batches-bin');
  mkdirSync(dir, { recursive: true });
  const records = 20;
  for (const f of [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat('test_batch.bin')) {
    const buf = Buffer.alloc(records * 3073);
    for (let r = 0; r < records; r++) {
      buf[r * 3073] = r % 10;
      for (let j = 1; j < 3073; j++) buf[r * 3073 + j] = (r * 7 + j) % 256;
    }
    writeFileSync(join(dir, f), buf);
  }
  writeFileSync(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  return dir;
}

describe('bundled model-family studies', () => {
  let root: string;
  let data: string;
  before(() => {
    root = tmp('ablate-tstudies-');
    data = fakeCifar10(root);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  // Plan only: nothing is written and nothing trained.
  const plan = async (file: string) => {
    const r = await runCli(['study', 'plan', `studies/${file}.yaml`, '--data', data, '--no-measure']);
    assert.equal(r.code, 0, r.output);
    return r.output.split('\n');
  };
  const row = (lines: string[], variant: string) => lines.find((l) => l.startsWith(`${variant} `)) ?? `(no row ${variant} in:\n${lines.join('\n')})`;

  test('vit-pooling: class token or average pooling × learned or sin-cos positions, 12 runs', async () => {
    const lines = await plan('vit-pooling');
    assert.match(lines.join('\n'), /study vit-pooling: 4 variants × 3 seeds = 12 runs/);
    assert.match(row(lines, 'class-token-learned'), /\(baseline\) +811\.15k +117\.91M +32×32/);
    assert.match(row(lines, 'class-token-sincos'), /model\.posEmbed: learned → sincos +802\.83k/);
    assert.match(row(lines, 'avg-pool-learned'), /model\.pool: cls → gap +810\.89k/);
    assert.match(row(lines, 'avg-pool-sincos'), /model\.pool: cls → gap, model\.posEmbed: learned → sincos +802\.70k/);
  });

  test('vgg-batchnorm: VGG-11 with and without BN at two learning rates, 12 runs, BN against plain at each', async () => {
    const lines = await plan('vgg-batchnorm');
    assert.match(lines.join('\n'), /study vgg-batchnorm: 4 variants × 3 seeds = 12 runs/);
    assert.match(row(lines, 'lr0.01-plain'), /\(baseline\) +9\.23M +305\.97M +32×32 +\d+ × 30/);
    assert.match(row(lines, 'lr0.01-bn'), /vs lr0\.01-plain: model\.batchNorm: false → true +9\.24M +306\.27M/);
    assert.match(row(lines, 'lr0.05-bn'), /vs lr0\.05-plain: model\.batchNorm: false → true +9\.24M/);
  });

  test('mobilenet-residual: the CIFAR MobileNetV2 with and without the inverted-residual skip, 6 runs', async () => {
    const lines = await plan('mobilenet-residual');
    assert.match(lines.join('\n'), /study mobilenet-residual: 2 variants × 3 seeds = 6 runs/);
    assert.match(row(lines, 'skip'), /\(baseline\) +2\.27M +182\.33M +32×32 +\d+ × 60/);
    // The skip is an add: the same parameters, a few element-wise FLOPs fewer without it.
    assert.match(row(lines, 'noskip'), /vs skip: model\.invertedResidual: true → false +2\.27M +182\.26M/);
  });

  test('convnext-norm: LayerNorm or BatchNorm × 7×7 or 3×3 depthwise kernels, 12 runs', async () => {
    const lines = await plan('convnext-norm');
    assert.match(lines.join('\n'), /study convnext-norm: 4 variants × 3 seeds = 12 runs/);
    assert.match(row(lines, 'layernorm-k7'), /\(baseline\) +1\.62M +41\.43M/);
    assert.match(row(lines, 'layernorm-k3'), /model\.kernelSize: 7 → 3 +1\.59M +38\.97M/);
    assert.match(row(lines, 'batchnorm-k7'), /model\.norm: layernorm → batchnorm +1\.63M/);
    assert.match(row(lines, 'batchnorm-k3'), /model\.norm: layernorm → batchnorm, model\.kernelSize: 7 → 3 /);
  });
});
