import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, stateDictToRaw } from '../../src/models/index.js';
import { writeStateDict, type RawTensor } from '../../src/models/pth/index.js';
import { DEFAULT_TRANSFORMS, lookupHubWeights, pretrainedTransforms, resolvePretrained, isWeightsName, weightsArch } from '../../src/models/hub-weights.js';
import { loadPretrained } from '../../src/train/pretrained.js';
import { runTraining } from '../../src/train/run.js';
import { readRunPlan } from '../../src/train/run-plan.js';
import { checkRunConfig } from '../../src/study/validate-run.js';
import { startServer, sha256, type TestServer } from '../data/fetch/server.js';
import { TINY_GENERATED } from '../train/run-helpers.js';

let server: TestServer;
let root: string;
let fixture: { name: string; body: Buffer; conv1: Uint8Array };
const saved = { ...process.env };
const quiet = { log: () => undefined, progress: false as const };

/**
 * A fixture checkpoint with some of resnet18's tensors (conv1, bn1 and a 1000-class fc), named as
 * torchvision names its files: `resnet18-<first 8 hex digits of its SHA-256>.pth`.
 */
async function makeFixture(dir: string): Promise<{ name: string; body: Buffer; conv1: Uint8Array }> {
  const donor = createModel('resnet18', { numClasses: 1000, seed: 123 });
  const all = stateDictToRaw(donor);
  donor.dispose();
  const keep = new Map<string, RawTensor>([...all].filter(([k]) => /^(conv1\.|bn1\.|fc\.)/.test(k) && !k.endsWith('num_batches_tracked')));
  const tmp = join(dir, 'fixture.pth');
  await writeStateDict(tmp, keep);
  const body = readFileSync(tmp);
  return { name: `resnet18-${sha256(body).slice(0, 8)}.pth`, body, conv1: keep.get('conv1.weight')!.data };
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ablate-hub-'));
  fixture = await makeFixture(root);
  server = await startServer({ [`/${fixture.name}`]: { body: fixture.body }, '/resnet18-00000000.pth': { body: fixture.body } });
  writeFileSync(join(root, 'catalogue.json'), JSON.stringify({
    weights: {
      resnet18: { IMAGENET1K_V1: { url: `https://download.pytorch.org/models/${fixture.name}` }, BROKEN: { url: 'https://download.pytorch.org/models/resnet18-00000000.pth' } },
    },
  }));
  Object.assign(process.env, { ABLATE_CATALOGUE: join(root, 'catalogue.json'), TORCH_HOME: join(root, 'torch'), ABLATE_MIRROR: server.base });
});
after(async () => {
  process.env = saved;
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('pretrained weights by name', () => {
  test('torchvision names: imagenet means the best weights; the URLs carry torchvision hash prefixes', () => {
    const env = {};
    assert.equal(lookupHubWeights('imagenet', 'resnet50', env).id, 'ResNet50_Weights.IMAGENET1K_V2');
    assert.equal(lookupHubWeights('imagenet', 'resnet50', env).url, 'https://download.pytorch.org/models/resnet50-11ad3fa6.pth');
    assert.equal(lookupHubWeights('IMAGENET1K_V1', 'resnet50', env).sha256Prefix, '0676ba61');
    assert.equal(lookupHubWeights('imagenet', 'resnet18', env).fileName, 'resnet18-f37072fd.pth');
    assert.equal(lookupHubWeights('ResNet152_Weights.IMAGENET1K_V2', 'resnet152', env).fileName, 'resnet152-f82ba261.pth');
    assert.equal(lookupHubWeights('imagenet', 'plain34', env).id, 'ResNet34_Weights.IMAGENET1K_V1', 'a plain net takes the weights of its depth');
    assert.throws(() => lookupHubWeights('IMAGENET1K_V2', 'resnet18', env), /Expected one of IMAGENET1K_V1 \(or imagenet, the best of them\) for pretrained with resnet18 but received "IMAGENET1K_V2"/);
    assert.throws(() => lookupHubWeights('imagenet', 'resnet20-cifar', env), /torchvision publishes them for resnet18, .*wide_resnet50_2.*, but resnet20-cifar has none/);
    assert.throws(() => lookupHubWeights('imagenet', { preset: 'resnet50', widthMultiplier: 3 }, env), /but \{.*"widthMultiplier":3\} has none/);
    assert.throws(() => lookupHubWeights('VGG16_Weights.IMAGENET1K_V1', 'resnet50', env), /Expected ResNet50_Weights \(the weights of resnet50, the architecture of resnet50\) but pretrained names VGG16_Weights/);
    assert.ok(isWeightsName('imagenet') && isWeightsName('IMAGENET1K_V2') && !isWeightsName('weights.pth'));
    assert.ok(isWeightsName('Wide_ResNet50_2_Weights.DEFAULT') && isWeightsName('IMAGENET1K_SWAG_E2E_V1'));
  });

  test('a spec maps to the torchvision architecture with its shapes: widened, torchvision spellings, switches that keep shapes', () => {
    const env = {};
    assert.equal(weightsArch('wide-resnet50-2'), 'wide_resnet50_2');
    assert.equal(weightsArch('wide_resnet50_2'), 'wide_resnet50_2', "torchvision's name is an alias of the preset");
    assert.equal(weightsArch({ preset: 'resnet50', widthMultiplier: 2 }), 'wide_resnet50_2');
    assert.equal(weightsArch({ preset: 'resnet101', shortcut: 'none' }), 'resnet101');
    assert.equal(weightsArch({ preset: 'resnet50', widthMultiplier: 0.5 }), undefined);
    assert.equal(weightsArch('resnet56-cifar'), undefined);
    assert.equal(weightsArch('no-such-model'), undefined);
    const w = lookupHubWeights('Wide_ResNet50_2_Weights.IMAGENET1K_V2', 'wide_resnet50_2', env);
    assert.equal(w.fileName, 'wide_resnet50_2-9ba9bcbe.pth');
    assert.equal(w.sha256Prefix, '9ba9bcbe');
    assert.equal(w.url, 'https://download.pytorch.org/models/wide_resnet50_2-9ba9bcbe.pth');
    assert.equal(lookupHubWeights('imagenet', 'wide-resnet101-2', env).id, 'Wide_ResNet101_2_Weights.IMAGENET1K_V2');
  });

  test("each weight set carries its own preprocessing: V2 weights are evaluated at resize 232, V1 at torchvision's 256", () => {
    const env = {};
    const v1 = lookupHubWeights('IMAGENET1K_V1', 'resnet50', env);
    const v2 = lookupHubWeights('IMAGENET1K_V2', 'resnet50', env);
    assert.deepEqual([v1.resizeSize, v1.cropSize, v1.interpolation], [256, 224, 'bilinear']);
    assert.deepEqual([v2.resizeSize, v2.cropSize, v2.interpolation], [232, 224, 'bilinear']);
    assert.deepEqual([...v2.mean, ...v2.std], [0.485, 0.456, 0.406, 0.229, 0.224, 0.225]);
    // Known by file name too (a local copy of torchvision's file), and torchvision's defaults for a file it does not know.
    assert.equal(pretrainedTransforms('/some/where/resnet50-11ad3fa6.pth', 'resnet50', env).resizeSize, 232);
    assert.deepEqual(pretrainedTransforms('mine.pth', 'resnet50', env), { ...DEFAULT_TRANSFORMS });
  });

  test('a study pre-flight accepts weights names and refuses ones the model does not have', () => {
    const base = { model: 'resnet18', data: { source: 'generated' } };
    assert.deepEqual(checkRunConfig({ ...base, pretrained: 'imagenet' }), []);
    const p = checkRunConfig({ ...base, pretrained: 'IMAGENET1K_V2' });
    assert.equal(p.length, 1);
    assert.equal(p[0]!.path, 'pretrained');
    assert.match(checkRunConfig({ ...base, pretrained: 'nothing.pth' })[0]!.message, /"imagenet", or a torchvision weights name/);
  });

  test('imagenet is fetched from the mirror into PyTorch\'s cache, the hash prefix checked, and loads what matches', async () => {
    const model = createModel('resnet18', { numClasses: 4, seed: 0 });
    const lines: string[] = [];
    try {
      const rec = await loadPretrained(model, 'imagenet', 'resnet18', { log: (l) => lines.push(l) });
      const cached = join(root, 'torch', 'hub', 'checkpoints', fixture.name);
      assert.equal(rec.file, cached);
      assert.equal(rec.weights, 'ResNet18_Weights.IMAGENET1K_V1');
      assert.deepEqual(readFileSync(cached), fixture.body);
      assert.deepEqual(Buffer.from(model.stateDict().get('conv1.weight')!.toBytes()), Buffer.from(fixture.conv1));
      assert.equal(rec.loaded, 5); // conv1.weight and bn1's weight, bias, running mean and running var
      assert.ok(rec.initialised.includes('fc.weight') && rec.initialised.includes('layer1.0.conv1.weight'));
      assert.match(lines.join('\n'), /kept the fresh initialisation for \d+ \(fc\.weight, fc\.bias/);
    } finally {
      model.dispose();
    }
    // Found in the cache the second time: PyTorch's file name, no request.
    const n = server.requests.length;
    const again = await resolvePretrained(fixture.name, 'resnet18', quiet);
    assert.equal(again.fetched, false);
    assert.equal(server.requests.length, n);
  });

  test('a file whose SHA-256 does not start with its name\'s hash prefix is refused', async () => {
    await assert.rejects(resolvePretrained('resnet18-00000000.pth', 'resnet18', quiet), (e: Error) => {
      assert.match(e.message, /could not download .*\/resnet18-00000000\.pth/);
      assert.match(e.message, /but expected a SHA-256 starting with 00000000; the download was deleted/);
      return true;
    });
    assert.ok(!existsSync(join(root, 'torch', 'hub', 'checkpoints', 'resnet18-00000000.pth')));
    // A damaged file already in the cache is not trusted either: it is set aside and fetched again.
    const cached = join(root, 'torch', 'hub', 'checkpoints', fixture.name);
    writeFileSync(cached, Buffer.from('not the weights'));
    const r = await resolvePretrained('IMAGENET1K_V1', 'resnet18', quiet);
    assert.equal(r.fetched, true);
    assert.deepEqual(readFileSync(cached), fixture.body);
  });

  test('a run with pretrained: imagenet records the weights and their normalisation', async () => {
    const runDir = join(root, 'run');
    await runTraining({
      model: 'resnet18', pretrained: 'imagenet',
      data: { source: 'generated', generated: { ...TINY_GENERATED, trainCount: 16, testCount: 8 }, split: 'train', valSplit: 'test' },
      epochs: 1, batchSize: 8, stepsPerEpoch: 1, precision: 'fp32', threads: 1,
    }, { runDir, progress: false, log: () => undefined });
    const status = JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8'));
    assert.equal(status.status, 'ok');
    assert.deepEqual(status.normalization, {
      kind: 'imagenet', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], from: "the preprocessing of torchvision's ResNet18_Weights.IMAGENET1K_V1",
      resizeSize: 256, cropSize: 224, interpolation: 'bilinear',
    });
    // The run plan (what predict and export read, and ONNX metadata records) names the same preprocessing.
    const plan = await readRunPlan(runDir);
    assert.deepEqual(plan.preprocessing.pretrained, { weights: 'ResNet18_Weights.IMAGENET1K_V1', resizeSize: 256, cropSize: 224, interpolation: 'bilinear' });
    assert.equal(status.pretrained.weights, 'ResNet18_Weights.IMAGENET1K_V1');
    assert.equal(status.pretrained.requested, 'imagenet');
  });
});
