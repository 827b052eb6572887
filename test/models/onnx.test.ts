// ONNX export: the exported graph, run by onnxruntime-node, gives ablate's own eval-mode logits.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Generator, noGrad, normal_, randn, uniform_, type Tensor } from '../../src/tensor/index.js';
import { BatchNormalization, Layer, dense, flatten, input, model as makeModel, type Shape } from '../../src/nn/index.js';
import { createModel, createModelFromSpec, exportOnnx, modelToOnnx, readOnnxMetadata, OnnxExportError } from '../../src/models/index.js';
import type { Model } from '../../src/nn/index.js';

/** Random BN statistics and affine parameters, so eval mode is not a near-identity. */
function randomizeBatchNorm(m: Model, g: Generator): void {
  noGrad(() => {
    for (const l of m.layers) {
      if (!(l instanceof BatchNormalization)) continue;
      normal_(l.buffers.get('running_mean')!, 0, 0.1, g);
      uniform_(l.buffers.get('running_var')!, 0.5, 1.5, g);
      uniform_(l.params.get('weight')!, 0.5, 1.5, g);
      normal_(l.params.get('bias')!, 0, 0.1, g);
    }
  });
}

async function runOnnx(bytes: Uint8Array, x: Tensor): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.toArray()), x.shape) });
    const logits = out.logits!;
    return { data: logits.data as Float32Array, dims: logits.dims };
  } finally {
    await session.release();
  }
}

/**
 * max |a − b| / max(1, |b|) over the elements: 1e-4 absolute for logits up to 1, relative beyond (the
 * deep random-BN nets here reach logits of ~10, where float32 summation order alone moves the 6th digit).
 */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return d;
}

describe('ONNX export', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ablate-onnx-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  // projection shortcuts (resnet18/50), none (plain34), zero-pad with Slice + Pad on odd sizes (resnet20-cifar at 33),
  // dropout and the paper's 1×1 stride (resnet50 at 40).
  // The CNN families' layers: ReLU6 (Clip), depthwise and grouped convs, channel concatenation, VGG's linear head.
  const cases: [string, number, Record<string, unknown>][] = [
    ['mobilenet-v2-small-cifar', 32, {}], ['mobilenet-v2-small-cifar', 32, { invertedResidual: false, linearBottleneck: false }],
    ['densenet-bc40-k12-cifar', 32, { dropRate: 0.2 }], ['vgg11-bn-small-cifar', 32, {}], ['resnext29-8x16d-cifar', 32, {}],
    ['resnet18', 32, {}], ['resnet50', 32, {}], ['plain34', 32, {}], ['resnet20-cifar', 33, {}], ['resnet50', 40, { dropout: 0.5, stride: '1x1' }],
    // h11models' switches: pre-activation blocks, a wide net, stochastic depth (identity in eval mode).
    ['resnet20-cifar', 32, { preact: true, dropPathRate: 0.2 }], ['resnet18', 32, { preact: true, widthMultiplier: 2 }],
  ];
  for (const [preset, size, config] of cases) {
    it(`${preset} ${JSON.stringify(config)}: onnxruntime logits equal ablate's eval-mode logits within 1e-4, for two batch sizes`, async () => {
      const m = createModelFromSpec({ preset, ...config }, { numClasses: 7, seed: 3 });
      randomizeBatchNorm(m, new Generator(5));
      m.eval();
      const bytes = modelToOnnx(m, { metadata: { classNames: ['a', 'b'] } });
      for (const n of [1, 3]) {
        const x = randn([n, 3, size, size], { generator: new Generator(11 + n) });
        const ours = noGrad(() => m.forward(x));
        const theirs = await runOnnx(bytes, x);
        assert.deepEqual(theirs.dims, [n, 7]);
        const diff = maxAbsDiff(theirs.data, ours.toArray());
        const scale = ours.abs().max().item();
        assert.ok(diff <= 1e-4, `max |Δlogit|/max(1,|logit|) ${diff} > 1e-4 (batch ${n}, largest |logit| ${scale})`);
        if (process.env.ABLATE_TEST_VERBOSE) console.log(`${preset} batch ${n}: max scaled Δ ${diff.toExponential(2)}, largest |logit| ${scale.toFixed(3)}`);
        x.dispose();
        ours.dispose();
      }
      assert.equal(m.training, false);
      m.dispose();
    });
  }

  it('a model left in training mode still exports inference-form batch norm, and stays in training mode', async () => {
    const m = createModel('resnet18', { numClasses: 3, seed: 1 });
    randomizeBatchNorm(m, new Generator(2));
    const bytes = modelToOnnx(m);
    assert.equal(m.training, true);
    const x = randn([2, 3, 32, 32], { generator: new Generator(4) });
    m.eval();
    const ours = noGrad(() => m.forward(x));
    const diff = maxAbsDiff((await runOnnx(bytes, x)).data, ours.toArray());
    assert.ok(diff <= 1e-4, `max |Δlogit| ${diff}`);
    x.dispose();
    ours.dispose();
    m.dispose();
  });

  it('writes metadata_props that read back, and a file onnxruntime opens', async () => {
    const m = createModel('resnet20-cifar', { numClasses: 2, seed: 0 });
    const path = join(dir, 'm.onnx');
    exportOnnx(m, path, { metadata: { 'ablate.classNames': ['cat', 'dog'], 'ablate.model': 'resnet20-cifar' } });
    const meta = readOnnxMetadata(readFileSync(path));
    assert.deepEqual(JSON.parse(meta['ablate.classNames']!), ['cat', 'dog']);
    assert.equal(meta['ablate.model'], 'resnet20-cifar');
    const s = await ort.InferenceSession.create(path);
    assert.deepEqual(s.inputNames, ['input']);
    assert.deepEqual(s.outputNames, ['logits']);
    await s.release();
    m.dispose();
  });

  it("VGG's adaptive 7×7 pool exports at a fixed input size: identity at 224, AveragePool at 448, Expand from 1×1 at 32", async () => {
    const m = createModelFromSpec({ preset: 'vgg11_bn', widthMultiplier: 1 / 16, hiddenUnits: 8 }, { numClasses: 3, seed: 4 });
    try {
      randomizeBatchNorm(m, new Generator(6));
      m.eval();
      assert.throws(() => modelToOnnx(m), (e: Error) => e instanceof OnnxExportError && /adaptive pooling.*expected a fixed inputSize \(\[height, width\]\), received none/.test(e.message));
      // 64×64 leaves 2×2 features: neither 1×1 nor a multiple of 7×7.
      assert.throws(() => modelToOnnx(m, { inputSize: [64, 64] }), (e: Error) => e instanceof OnnxExportError && /layer "avgpool" pools a 2×2 map to 7×7/.test(e.message));
      for (const size of [224, 448, 32]) {
        const x = randn([2, 3, size, size], { generator: new Generator(size) });
        const ours = noGrad(() => m.forward(x));
        const theirs = await runOnnx(modelToOnnx(m, { inputSize: [size, size] }), x);
        assert.deepEqual(theirs.dims, [2, 3]);
        const diff = maxAbsDiff(theirs.data, ours.toArray());
        assert.ok(diff <= 1e-4, `${size}×${size}: max scaled Δ ${diff}`);
        x.dispose();
        ours.dispose();
      }
    } finally {
      m.dispose();
    }
  });

  it('a layer type with no ONNX mapping fails with an error naming the layer and its type', () => {
    class Swish extends Layer {
      readonly className = 'Swish';
      constructor() {
        super({ name: 'head.swish' }, 'swish');
      }
      computeOutputShape([s]: readonly Shape[]): Shape {
        return s!;
      }
      call(inputs: readonly Tensor[]): Tensor {
        return inputs[0]!.clone();
      }
    }
    const x = input({ shape: [3, 4, 4] });
    const y = dense({ units: 2 }).apply(new Swish().apply(flatten().apply(x)));
    const m = makeModel({ inputs: x, outputs: y, seed: 0 });
    assert.throws(() => modelToOnnx(m), (e: Error) => e instanceof OnnxExportError && /layer "head\.swish" of type Swish/.test(e.message));
    m.dispose();
  });

  it('readOnnxMetadata rejects bytes that are not an ONNX model', () => {
    assert.throws(() => readOnnxMetadata(Uint8Array.from([0x0a, 0xff])), /not an ONNX model/);
  });
});
