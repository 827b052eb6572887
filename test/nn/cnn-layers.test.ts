// The layers the CNN families added: ReLU6, channel concatenation, adaptive average pooling, and the
// torchvision initialisers of VGG, MobileNetV2 and DenseNet.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { F, Generator, noGrad, randn, tensor, tidy } from '../../src/tensor/index.js';
import { adaptiveAvgPool, batchNorm, concatenate, conv2d, dense, flatten, input, model, relu6 } from '../../src/nn/index.js';

describe('CNN layers', () => {
  it('relu6 clamps to [0, 6] and passes gradient only inside', () => {
    const x = input({ shape: [4] });
    const m = model({ inputs: x, outputs: relu6().apply(x), seed: 0 });
    tidy(() => {
      const v = tensor([[-1, 3, 6, 9]], [1, 4]).requiresGrad_();
      const y = m.forward(v);
      assert.deepEqual(y.toArray(), [0, 3, 6, 6]);
      y.sum().backward();
      // As torch.nn.ReLU6 (hardtanh): no gradient at the bounds themselves ([0, 1, 0, 0] in PyTorch 1.13).
      assert.deepEqual(v.grad!.toArray(), [0, 1, 0, 0]);
    });
    // In place (what the graph compiler does after a batch norm, as torchvision's ReLU6(inplace=True)): the same
    // values and gradients as out of place; under bf16 autocast (no hardtanh backward on 1.13's CPU) it clamps.
    tidy(() => {
      const v = randn([3, 2, 5, 5], { generator: new Generator(1) }).mul(4);
      const a = v.clone().requiresGrad_();
      const b = v.clone().requiresGrad_();
      const ya = F.relu6_(a.mul(1.5));
      const yb = F.relu6(b.mul(1.5));
      assert.deepEqual(ya.toArray(), yb.toArray());
      ya.mul(yb.detach()).sum().backward();
      yb.mul(yb.detach()).sum().backward();
      assert.deepEqual(a.grad!.toArray(), b.grad!.toArray());
      assert.ok(a.grad!.abs().sum().item() > 0 && ya.max().item() === 6 && ya.min().item() === 0);
      const c = v.clone().requiresGrad_();
      const y16 = F.relu6_(c.to('bfloat16').mul(1.5));
      assert.equal(y16.dtype, 'bfloat16');
      y16.float().sum().backward();
      assert.ok(c.grad!.abs().sum().item() > 0);
    });
    const xi = input({ shape: [2, 4, 4] });
    const m2 = model({ inputs: xi, outputs: relu6().apply(batchNorm({}).apply(conv2d({ filters: 2, kernelSize: 1, useBias: false }).apply(xi))), seed: 0 });
    tidy(() => {
      const y = m2.forward(randn([2, 2, 4, 4], { generator: new Generator(2) }).mul(4));
      y.sum().backward();
      assert.ok(y.max().item() <= 6 && y.min().item() >= 0);
      assert.ok(m2.parameters()[0]!.grad!.abs().sum().item() > 0);
    });
    m2.dispose();
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
