import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, stateDictToRaw, type ModelSpec } from '../../src/models/index.js';
import { writeStateDict, type RawTensor } from '../../src/models/pth/index.js';
import { DEFAULT_TRANSFORMS, lookupHubWeights, pretrainedTransforms, resolvePretrained, isWeightsName, weightsArch, weightsSizeLimit } from '../../src/models/hub-weights.js';
import { loadPretrained } from '../../src/train/pretrained.js';
import { runTraining } from '../../src/train/run.js';
import { readRunInfo } from '../../src/run/open-run.js';
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
      resnet18: {
        IMAGENET1K_V1: { url: `https://download.pytorch.org/models/${fixture.name}` },
        BROKEN: { url: 'https://download.pytorch.org/models/resnet18-00000000.pth' },
        ENDLESS: { url: 'https://example.org/resnet18-0e0e0e0e.pth' },
      },
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

  test('every CNN family resolves its torchvision weights by name, for its presets and for switches that keep the shapes', () => {
    const env = {};
    const cases: [ModelSpec, string, string, number][] = [
      ['vgg11', 'imagenet', 'VGG11_Weights.IMAGENET1K_V1|vgg11-8a719046.pth', 256],
      ['vgg16_bn', 'VGG16_BN_Weights.DEFAULT', 'VGG16_BN_Weights.IMAGENET1K_V1|vgg16_bn-6c64b313.pth', 256],
      ['vgg19-bn', 'IMAGENET1K_V1', 'VGG19_BN_Weights.IMAGENET1K_V1|vgg19_bn-c79401a0.pth', 256],
      [{ preset: 'vgg13', dropout: 0.2 }, 'imagenet', 'VGG13_Weights.IMAGENET1K_V1|vgg13-19584684.pth', 256],
      ['densenet121', 'imagenet', 'DenseNet121_Weights.IMAGENET1K_V1|densenet121-a639ec97.pth', 256],
      ['densenet161', 'imagenet', 'DenseNet161_Weights.IMAGENET1K_V1|densenet161-8d451a50.pth', 256],
      ['mobilenet_v2', 'imagenet', 'MobileNet_V2_Weights.IMAGENET1K_V2|mobilenet_v2-7ebf99e0.pth', 232],
      ['mobilenet-v2', 'IMAGENET1K_V1', 'MobileNet_V2_Weights.IMAGENET1K_V1|mobilenet_v2-b0353104.pth', 256],
      // Strides and skips hold no weights: the CIFAR layout and the ablated nets fine-tune from the same tensors.
      ['mobilenet-v2-cifar', 'imagenet', 'MobileNet_V2_Weights.IMAGENET1K_V2|mobilenet_v2-7ebf99e0.pth', 232],
      [{ preset: 'mobilenet-v2', invertedResidual: false }, 'imagenet', 'MobileNet_V2_Weights.IMAGENET1K_V2|mobilenet_v2-7ebf99e0.pth', 232],
      ['resnext50_32x4d', 'imagenet', 'ResNeXt50_32X4D_Weights.IMAGENET1K_V2|resnext50_32x4d-1a0047aa.pth', 232],
      ['resnext101-32x8d', 'IMAGENET1K_V1', 'ResNeXt101_32X8D_Weights.IMAGENET1K_V1|resnext101_32x8d-8ba56ff5.pth', 256],
      ['resnext101_64x4d', 'imagenet', 'ResNeXt101_64X4D_Weights.IMAGENET1K_V1|resnext101_64x4d-173b62eb.pth', 232],
      [{ depth: 50, widthPerGroup: 128 }, 'imagenet', 'Wide_ResNet50_2_Weights.IMAGENET1K_V2|wide_resnet50_2-9ba9bcbe.pth', 232],
    ];
    for (const [model, name, expected, resize] of cases) {
      const w = lookupHubWeights(name, model, env);
      assert.equal(`${w.id}|${w.fileName}`, expected, JSON.stringify(model));
      assert.equal(w.url, `https://download.pytorch.org/models/${w.fileName}`);
      assert.equal(w.sha256Prefix, /-([0-9a-f]+)\.pth$/.exec(w.fileName)![1]);
      assert.deepEqual([w.resizeSize, w.cropSize, w.interpolation], [resize, 224, 'bilinear']);
      assert.deepEqual(pretrainedTransforms(name, model, env).resizeSize, resize);
    }
    // No torchvision weights: CIFAR presets, other widths and cardinalities, other growth rates, a linear head.
    for (const model of ['vgg11-cifar', 'mobilenet-v2-w0.5', 'densenet-bc100-k12-cifar', 'resnext29-8x16d-cifar',
      { preset: 'densenet121', growthRate: 24 }, { preset: 'vgg16', hiddenUnits: 1024 }, { preset: 'resnext50_32x4d', groups: 16 }]) {
      assert.throws(() => lookupHubWeights('imagenet', model, env), /has none \(only a config with the names and shapes of one of those architectures has\); give a \.pth file instead/, JSON.stringify(model));
    }
    assert.throws(() => lookupHubWeights('IMAGENET1K_V2', 'vgg11', env), /Expected one of IMAGENET1K_V1 \(or imagenet, the best of them\) for pretrained with vgg11/);
    assert.throws(() => lookupHubWeights('ResNet50_Weights.IMAGENET1K_V1', 'densenet121', env), /Expected DenseNet121_Weights \(the weights of densenet121/);
    // Without a listed size the download is capped by the architecture's own parameter count (torchvision's name as a preset).
    const cap = weightsSizeLimit(lookupHubWeights('imagenet', 'mobilenet_v2', env));
    assert.ok(cap && 'maxBytes' in cap && cap.maxBytes > 3_504_872 * 4 && cap.maxBytes < 3_504_872 * 4 * 1.1 + 2 ** 21, JSON.stringify(cap));
    assert.match((cap as { why: string }).why, /^mobilenet_v2 has 3\.5 M parameters and buffers/);
    // A study pre-flight checks the name against the model, whatever its family.
    assert.deepEqual(checkRunConfig({ model: 'mobilenet_v2', data: { source: 'generated' }, pretrained: 'imagenet' }), []);
    assert.equal(checkRunConfig({ model: 'densenet-bc40-k12-cifar', data: { source: 'generated' }, pretrained: 'imagenet' })[0]?.path, 'pretrained');
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

  test('weights have a tight size limit: torchvision\'s listed size, else the parameters as float32', async () => {
    const tv = lookupHubWeights('IMAGENET1K_V1', 'resnet50', {});
    assert.deepEqual(weightsSizeLimit(tv), { maxBytes: Math.ceil(97.7815 * 2 ** 20), why: 'torchvision lists resnet50-0676ba61.pth as 97.781 MiB' });
    // A hostile mirror that claims 10 GiB for torchvision's resnet34 (83.275 MiB) is refused on the header.
    let sent = 0;
    const zeros = Buffer.alloc(1 << 16);
    server.files.set('/resnet34-b627a593.pth', { body: Buffer.alloc(0), handler: (_req, res) => {
      res.writeHead(200, { 'content-length': String(10 * 2 ** 30) });
      res.on('error', () => undefined);
      const pump = () => { while (sent < 64 << 20 && !res.destroyed) { sent += zeros.length; if (!res.write(zeros)) return void res.once('drain', pump); } res.end(); };
      pump();
    } });
    await assert.rejects(resolvePretrained('IMAGENET1K_V1', 'resnet34', quiet), /the server announced 10737418240 bytes .* may have at most 87320\d{3} bytes \(87\.3 MB: torchvision lists resnet34-b627a593\.pth as 83\.275 MiB\)/);
    assert.ok(sent < 8 << 20, `stopped reading at once (${sent} bytes sent)`);
    assert.ok(!existsSync(join(root, 'torch', 'hub', 'checkpoints', 'resnet34-b627a593.pth.part')));
    // Catalogue weights without a size: resnet18's parameters and buffers as float32, plus 5% and 1 MiB.
    const own = lookupHubWeights('ENDLESS', 'resnet18');
    const limit = weightsSizeLimit(own);
    assert.ok(limit && 'maxBytes' in limit);
    assert.ok(limit.maxBytes > 11_689_512 * 4 && limit.maxBytes < 11_689_512 * 4 * 1.1, `${limit.maxBytes}`);
    assert.match(limit.why, /^resnet18 has 11\.7 M parameters and buffers, 46\.\d MB as float32/);
    server.files.set('/resnet18-0e0e0e0e.pth', { body: Buffer.alloc(0), handler: (_req, res) => {
      res.writeHead(200, {}); // chunked, no length: only the bytes received can be counted
      res.on('error', () => undefined);
      let n = 0;
      const pump = () => { while (n < 64 << 20 && !res.destroyed) { n += zeros.length; if (!res.write(zeros)) return void res.once('drain', pump); } res.end(); };
      pump();
    } });
    await assert.rejects(resolvePretrained('resnet18-0e0e0e0e.pth', 'resnet18', quiet), /the server sent more than \d+ bytes, but resnet18-0e0e0e0e\.pth may have at most \d+ bytes \(\d+\.\d MB: resnet18 has 11\.7 M parameters/);
    assert.ok(!existsSync(join(root, 'torch', 'hub', 'checkpoints', 'resnet18-0e0e0e0e.pth.part')));
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
    const plan = await readRunInfo(runDir);
    assert.deepEqual(plan.preprocessing.pretrained, { weights: 'ResNet18_Weights.IMAGENET1K_V1', resizeSize: 256, cropSize: 224, interpolation: 'bilinear' });
    assert.equal(status.pretrained.weights, 'ResNet18_Weights.IMAGENET1K_V1');
    assert.equal(status.pretrained.requested, 'imagenet');
  });
});
