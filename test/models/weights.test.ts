import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DTYPES, Generator, noGrad, randn, tensor, tidy, type DType } from '../../src/tensor/index.js';
import {
  StateDictError, createModel, loadRawStateDict, loadWeights, rawToTensor, saveWeights, stateDictToRaw, tensorToRaw,
} from '../../src/models/index.js';
import { writeCheckpoint, type RawTensor } from '../../src/models/pth/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ablate-weights-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const x = randn([2, 3, 32, 32], { generator: new Generator(5) });
after(() => x.dispose());

describe('RawTensor conversion', () => {
  for (const dtype of DTYPES) {
    it(`${dtype} round-trips bit-exactly, also from an unaligned byte offset`, () => {
      tidy(() => {
        const values = [0, 1, -2, 3.5, 127, -0.25].map((v) => (dtype === 'bool' ? Number(v !== 0) : dtype === 'uint8' ? Math.abs(Math.trunc(v)) : v));
        const t = tensor(values, [2, 3], dtype as DType);
        const raw = tensorToRaw(t);
        assert.equal(raw.dtype, dtype);
        assert.deepEqual(raw.shape, [2, 3]);
        const shifted = new Uint8Array(raw.data.byteLength + 1);
        shifted.set(raw.data, 1);
        for (const data of [raw.data, shifted.subarray(1)]) {
          const back = rawToTensor({ ...raw, data });
          assert.equal(back.dtype, dtype);
          assert.deepEqual(back.shape, [2, 3]);
          assert.deepEqual(back.toBytes(), raw.data);
        }
      });
    });
  }

  it('rejects data of the wrong length', () => {
    assert.throws(() => rawToTensor({ dtype: 'float32', shape: [2, 2], data: new Uint8Array(12) }), /A float32 tensor of shape \[2, 2\] needs 16 bytes but its data has 12/);
  });
});

describe('state dicts and checkpoints', () => {
  it('save → load into a differently seeded model reproduces its logits exactly', async () => {
    const a = createModel('resnet20-cifar', { seed: 1 });
    const b = createModel('resnet20-cifar', { seed: 2 });
    tidy(() => a.forward(x)); // non-trivial running stats and num_batches_tracked
    a.eval();
    b.eval();
    const path = join(dir, 'a.pth');
    await saveWeights(a, path);
    const report = await loadWeights(b, path);
    assert.equal(report.loaded.length, a.stateDict().size);
    assert.deepEqual([report.missing, report.unexpected, report.mismatched, report.defaulted], [[], [], [], []]);
    tidy(() => {
      assert.deepEqual(noGrad(() => b.forward(x)).toArray(), noGrad(() => a.forward(x)).toArray());
      assert.equal(b.stateDict().get('bn1.num_batches_tracked')!.item(), 1);
    });
    a.dispose();
    b.dispose();
  });

  it('strict loading lists missing, unexpected and mis-shaped keys together and changes nothing', () => {
    const m = createModel('resnet20-cifar', { seed: 1 });
    const raw = stateDictToRaw(m);
    const donorModel = createModel('resnet20-cifar', { seed: 9, numClasses: 5 });
    const donor = stateDictToRaw(donorModel);
    donorModel.dispose();
    const bad = new Map(donor);
    bad.delete('layer1.0.conv1.weight');
    bad.set('head.weight', donor.get('fc.weight')!);
    const err = (() => {
      try {
        loadRawStateDict(m, bad);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof StateDictError);
    assert.match(err.message, /missing keys \(1\): layer1\.0\.conv1\.weight/);
    assert.match(err.message, /unexpected keys \(1\): head\.weight/);
    assert.match(err.message, /mis-shaped keys \(2\): fc\.weight expected \[10, 64\] but received \[5, 64\]; fc\.bias expected \[10\] but received \[5\]/);
    assert.match(err.message, /strict: false/);
    assert.deepEqual(err.report.mismatched[0], { key: 'fc.weight', expected: [10, 64], received: [5, 64] });
    assert.deepEqual(stateDictToRaw(m).get('conv1.weight')!.data, raw.get('conv1.weight')!.data, 'strict failure must not load anything');
    m.dispose();
  });

  it('strict: false loads a 1000-class checkpoint into a 2-class model, skipping fc', async () => {
    const pretrained = createModel('resnet18', { seed: 3 });
    const path = join(dir, 'imagenet.pth');
    await saveWeights(pretrained, path);
    const m = createModel('resnet18', { seed: 4, numClasses: 2 });
    const fcBefore = tensorToRaw(m.stateDict().get('fc.weight')!);
    await assert.rejects(loadWeights(m, path), /mis-shaped keys \(2\): fc\.weight expected \[2, 512\] but received \[1000, 512\]/);
    const report = await loadWeights(m, path, { strict: false });
    assert.deepEqual(report.mismatched.map((k) => k.key), ['fc.weight', 'fc.bias']);
    assert.deepEqual([report.missing, report.unexpected], [[], []]);
    assert.equal(report.loaded.length, m.stateDict().size - 2);
    const mine = stateDictToRaw(m);
    const theirs = stateDictToRaw(pretrained);
    assert.deepEqual(mine.get('layer4.1.conv2.weight')!.data, theirs.get('layer4.1.conv2.weight')!.data);
    assert.deepEqual(mine.get('fc.weight')!.data, fcBefore.data);
    pretrained.dispose();
    m.dispose();
  });

  it('reads a training checkpoint with a DataParallel prefix and no num_batches_tracked (as torch does)', async () => {
    const a = createModel('resnet20-cifar', { seed: 1 });
    tidy(() => a.forward(x));
    const wrapped = new Map<string, RawTensor>();
    for (const [k, v] of stateDictToRaw(a)) if (!k.endsWith('num_batches_tracked')) wrapped.set(`module.${k}`, v);
    const path = join(dir, 'ckpt.pth');
    await writeCheckpoint(path, { epoch: 3, state_dict: wrapped });
    const b = createModel('resnet20-cifar', { seed: 2 });
    tidy(() => b.forward(x));
    const report = await loadWeights(b, path, { stripPrefix: 'module.' });
    assert.equal(report.defaulted.length, 19);
    assert.equal(b.stateDict().get('bn1.num_batches_tracked')!.item(), 0);
    assert.deepEqual(stateDictToRaw(b).get('layer3.2.bn2.running_var')!.data, stateDictToRaw(a).get('layer3.2.bn2.running_var')!.data);
    a.dispose();
    b.dispose();
  });

  it('renameKey maps old checkpoint names to the model\'s; two keys renamed to one are refused, loading nothing', async () => {
    const a = createModel('resnet20-cifar', { seed: 1 });
    const old = new Map<string, RawTensor>();
    // An "old format" file: every BN of the first stage written as `bnN.0.*` (DenseNet's old `norm.1` style).
    for (const [k, v] of stateDictToRaw(a)) old.set(k.replace(/^(layer1\.\d\.bn\d)\./, '$1.0.'), v);
    const path = join(dir, 'old-names.pth');
    await writeCheckpoint(path, old);
    const b = createModel('resnet20-cifar', { seed: 2 });
    try {
      await assert.rejects(loadWeights(b, path), StateDictError);
      const report = await loadWeights(b, path, { renameKey: (k) => k.replace(/^(layer1\.\d\.bn\d)\.0\./, '$1.') });
      assert.equal(report.loaded.length, a.stateDict().size);
      assert.deepEqual(tidy(() => noGrad(() => b.forward(x)).toArray()), tidy(() => noGrad(() => a.forward(x)).toArray()));
      const before = stateDictToRaw(b).get('conv1.weight')!.data;
      await assert.rejects(loadWeights(b, path, { renameKey: (k) => (k.startsWith('layer1.') ? 'conv1.weight' : k) }),
        /checkpoint keys conv1\.weight and layer1\.0\.conv1\.weight both stand for conv1\.weight: expected one tensor per model key/);
      assert.deepEqual(stateDictToRaw(b).get('conv1.weight')!.data, before);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('converts dtypes while loading (a float16 checkpoint into a float32 model)', () => {
    const m = createModel('resnet20-cifar', { seed: 1 });
    const half = new Map<string, RawTensor>();
    tidy(() => {
      for (const [k, t] of m.stateDict()) half.set(k, tensorToRaw(t.dtype === 'float32' ? t.to('float16') : t));
    });
    const other = createModel('resnet20-cifar', { seed: 2 });
    loadRawStateDict(other, half);
    tidy(() => {
      const w = other.stateDict().get('conv1.weight')!;
      assert.equal(w.dtype, 'float32');
      assert.ok(w.sub(m.stateDict().get('conv1.weight')!).abs().max().item() < 1e-3);
    });
    m.dispose();
    other.dispose();
  });

  it('model.loadStateDict takes live tensors too and rejects a non-Map', () => {
    const a = createModel('resnet20-cifar', { seed: 1 });
    const b = createModel('resnet20-cifar', { seed: 2 });
    b.loadStateDict(a.stateDict());
    tidy(() => assert.equal(b.stateDict().get('fc.weight')!.eq(a.stateDict().get('fc.weight')!).all().item(), 1));
    assert.throws(() => b.loadStateDict({} as never), /Expected a Map from key to Tensor for state dict but received object/);
    a.dispose();
    b.dispose();
  });
});
