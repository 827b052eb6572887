// The layers the CNN families added: ReLU6, channel concatenation, adaptive average pooling, and the
// torchvision initialisers of VGG, MobileNetV2 and DenseNet.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { F, Generator, noGrad, randn, tensor, tidy } from '../../src/tensor/index.js';
import { adaptiveAvgPool, concatenate, conv2d, dense, flatten, input, model, relu6 } from '../../src/nn/index.js';

describe('CNN layers', () => {
  it('relu6 clamps to [0, 6] and passes gradient only inside', () => {
    const x = input({ shape: [4] });
    const m = model({ inputs: x, outputs: relu6().apply(x), seed: 0 });
    tidy(() => {
      const v = tensor([[-1, 3, 6, 9]], [1, 4]).requiresGrad_();
      const y = m.forward(v);
      assert.deepEqual(y.toArray(), [0, 3, 6, 6]);
      y.sum().backward();
      assert.deepEqual(v.grad!.toArray(), [0, 1, 1, 0]);
    });
    m.dispose();
  });

  it('concatenate joins channels, infers the shape, and refuses inputs that differ elsewhere', () => {
    const a = input({ shape: [4, null, null] });
    const b = conv2d({ filters: 2, kernelSize: 1 }).apply(a);
    const y = concatenate().apply([a, b]);
    assert.deepEqual(y.shape, [null, 6, null, null]);
    const m = model({ inputs: a, outputs: y, seed: 0 });
    tidy(() => {
      const v = randn([2, 4, 3, 5], { generator: new Generator(1) });
      const out = noGrad(() => m.forward(v));
      assert.deepEqual(out.shape, [2, 6, 3, 5]);
      assert.deepEqual(out.narrow(1, 0, 4).toArray(), v.toArray());
    });
    m.dispose();
    const c = input({ shape: [4, 8, 8] });
    const small = input({ shape: [2, 4, 4] });
    assert.throws(() => concatenate({ name: 'cat' }).apply([c, small]), /Concatenate layer "cat" needs inputs that differ only in channels \(dim 1\) but received \(None, 4, 8, 8\) and \(None, 2, 4, 4\)/);
    assert.throws(() => concatenate({ name: 'one' }).apply([c]), /Concatenate layer "one" needs at least 2 inputs but received 1/);
  });

  it("adaptive average pooling gives torch's windows: a mean at 14→7, a copy at 1→7", () => {
    const x = input({ shape: [1, null, null] });
    const m = model({ inputs: x, outputs: flatten().apply(adaptiveAvgPool({ outputSize: 7 }).apply(x)), seed: 0 });
    tidy(() => {
      const v = randn([1, 1, 14, 14], { generator: new Generator(2) });
      const ours = noGrad(() => m.forward(v));
      const ref = F.avgPool2d(v, { kernelSize: [2, 2], stride: [2, 2] }).flatten(1);
      assert.ok(ours.sub(ref).abs().max().item() < 1e-6);
      const one = tensor([3.5], [1, 1, 1, 1]);
      assert.deepEqual(noGrad(() => m.forward(one)).toArray(), Array(49).fill(3.5));
    });
    assert.deepEqual(m.summaryData(224).rows.at(-1)!.outputShape, [null, 49]);
    m.dispose();
  });

  it("the initialisers: dense N(0, 0.01²) with zero bias, zero conv biases, and refusals of unknown names", () => {
    const x = input({ shape: [3, 8, 8] });
    const c = conv2d({ filters: 64, kernelSize: 3, biasInitializer: 'zeros', kernelInitializer: 'kaiming-normal-fan-in' });
    const d = dense({ units: 256, kernelInitializer: { normalStd: 0.01 } });
    const m = model({ inputs: x, outputs: d.apply(flatten().apply(c.apply(x))), seed: 3 });
    const w = d.params.get('weight')!.toArray();
    const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    assert.ok(Math.abs(std - 0.01) < 0.0005, `dense std ${std}`);
    assert.ok(d.params.get('bias')!.toArray().every((v) => v === 0));
    assert.ok(c.params.get('bias')!.toArray().every((v) => v === 0));
    const k = c.params.get('weight')!.toArray();
    const kstd = Math.sqrt(k.reduce((a, v) => a + v * v, 0) / k.length);
    assert.ok(Math.abs(kstd - Math.sqrt(2 / 27)) < 0.02, `conv std ${kstd}, fan-in 27`);
    m.dispose();
    assert.throws(() => dense({ units: 2, kernelInitializer: { normalStd: -1 } }), /dense ".*" kernelInitializer/);
    assert.throws(() => conv2d({ filters: 2, kernelSize: 1, biasInitializer: 'ones' as never }), /Expected "torch-default" or "zeros" for conv2d ".*" biasInitializer but received "ones"/);
    assert.throws(() => conv2d({ filters: 2, kernelSize: 1, kernelInitializer: 'xavier' as never }), /Expected "kaiming-normal-fan-out", "kaiming-normal-fan-in" or "torch-default" for conv2d ".*" kernelInitializer but received "xavier"/);
  });
});
