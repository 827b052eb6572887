// The layers ConvNeXt and ViT are made of: outputs and gradients equal PyTorch's (torchvision's SqueezeExcitation,
// nn.MultiheadAttention, F.layer_norm, the activations), channels-last maps stay channels-last, bf16 autocast runs
// them, no tensor leaks, and bad shapes are refused at apply() with what was expected.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Generator, cpuSupportsBf16, liveTensorCount, noGrad, randn, tidy, withAutocast, type Tensor } from '../../src/tensor/index.js';
import {
  gelu, hardsigmoid, hardswish, input, layerNorm, multiHeadSelfAttention, permute, positionEmbedding, silu, squeezeExcitation, classToken, tokenPool, type Layer,
} from '../../src/nn/index.js';
import { rawToTensor, tensorToRaw } from '../../src/models/index.js';
import { readStateDict, writeStateDict, type RawTensor } from '../../src/models/pth/index.js';
import { PYTHON } from '../torch-python.js';
import { relError, torchvisionMissing } from '../models/parity-helpers.js';

const SCRIPT = fileURLToPath(new URL('./torch_transformer_layers.py', import.meta.url));

/** Each case: a layer applied to an input of this sample shape (batch 2). */
const CASES: Record<string, { layer: () => Layer; shape: number[]; channelsLast?: boolean }> = {
  ln_last: { layer: () => layerNorm({ epsilon: 1e-6 }), shape: [5, 8] },
  ln_channels: { layer: () => layerNorm({ axis: 'channels', epsilon: 1e-6 }), shape: [8, 5, 5], channelsLast: true },
  gelu: { layer: () => gelu(), shape: [8, 5, 5] },
  gelu_tanh: { layer: () => gelu({ approximate: 'tanh' }), shape: [8, 5, 5] },
  silu: { layer: () => silu(), shape: [8, 5, 5] },
  hardswish: { layer: () => hardswish(), shape: [8, 5, 5] },
  hardsigmoid: { layer: () => hardsigmoid(), shape: [8, 5, 5] },
  se: { layer: () => squeezeExcitation({ squeezeChannels: 3 }), shape: [8, 5, 5] },
  se_silu: { layer: () => squeezeExcitation({ squeezeChannels: 3, activation: 'silu', gate: 'hardsigmoid' }), shape: [8, 5, 5], channelsLast: true },
  mha: { layer: () => multiHeadSelfAttention({ heads: 4 }), shape: [7, 16] },
};

const skip = torchvisionMissing();

describe('transformer-era layers against PyTorch', { skip }, () => {
  let dir: string;
  const mine = new Map<string, Tensor>();
  let ref: Map<string, RawTensor>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ablate-tlayers-'));
    const toTorch = new Map<string, RawTensor>();
    let seed = 1;
    for (const [c, spec] of Object.entries(CASES)) {
      const layer = spec.layer();
      layer.apply(input({ shape: spec.shape }));
      const g = new Generator(seed++);
      // Random weights, so a scale or bias that starts at 1 or 0 is tested too.
      noGrad(() => {
        for (const p of layer.params.values()) p.copy_(tidy(() => randn(p.shape, { generator: g }).mul(0.5).add(p.shape.length === 1 && c.startsWith('ln') ? 1 : 0)));
      });
      let x = randn([2, ...spec.shape], { generator: g });
      if (spec.channelsLast) x = x.contiguous('channels_last');
      x.requiresGrad_(true);
      const y = layer.call([x], true);
      assert.deepEqual(y.shape, [2, ...layer.computeOutputShape([[null, ...spec.shape]]).slice(1)]);
      if (spec.channelsLast) assert.ok(y.isContiguous('channels_last'), `${c}: a channels-last map stays channels-last`);
      const cot = randn(y.shape, { generator: g });
      tidy(() => y.mul(cot).sum().backward());
      toTorch.set(`${c}.x`, tensorToRaw(x.contiguous()));
      toTorch.set(`${c}.g`, tensorToRaw(cot));
      mine.set(`${c}.y`, y);
      mine.set(`${c}.dx`, x.grad!);
      for (const [k, p] of layer.params) {
        toTorch.set(`${c}.${k}`, tensorToRaw(p));
        mine.set(`${c}.d${k}`, p.grad!);
      }
      x.dispose();
      cot.dispose();
    }
    await writeStateDict(join(dir, 'in.pth'), toTorch);
    const r = spawnSync(PYTHON, [SCRIPT, join(dir, 'in.pth'), join(dir, 'out.pth')], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `torch_transformer_layers.py failed:\n${r.stderr}`);
    ref = await readStateDict(join(dir, 'out.pth'));
  });

  after(() => {
    for (const t of mine.values()) t.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const c of Object.keys(CASES)) {
    it(`${c}: output and every gradient equal PyTorch's`, () => {
      const keys = [...ref.keys()].filter((k) => k.startsWith(`${c}.`));
      assert.ok(keys.includes(`${c}.y`) && keys.includes(`${c}.dx`), keys.join(', '));
      assert.deepEqual(keys.sort(), [...mine.keys()].filter((k) => k.startsWith(`${c}.`)).sort(), 'the same gradients on both sides');
      for (const k of keys) {
        const err = tidy(() => relError(mine.get(k)!, rawToTensor(ref.get(k)!)));
        assert.ok(err < 1e-5, `${k}: relative error ${err}`);
      }
    });
  }
});

describe('transformer-era layers in the graph', () => {
  it('run under bf16 autocast and leak no tensors', { skip: !cpuSupportsBf16() && 'this CPU has no bf16' }, () => {
    const x = input({ shape: [6, 16] });
    const mha = multiHeadSelfAttention({ heads: 2 });
    const ln = layerNorm();
    ln.apply(mha.apply(x));
    const before = liveTensorCount();
    const data = randn([2, 6, 16]);
    withAutocast({ device: 'cpu', dtype: 'bfloat16' }, () => {
      const y = mha.call([data], true);
      assert.equal(y.dtype, 'bfloat16', 'the attention matmuls run in bf16');
      const z = ln.call([y]);
      assert.deepEqual(z.shape, [2, 6, 16]);
      y.dispose();
      z.dispose();
    });
    data.dispose();
    assert.equal(liveTensorCount(), before);
    mha.dispose();
    ln.dispose();
  });

  it('refuse incompatible shapes at apply() saying what they expected', () => {
    assert.throws(() => multiHeadSelfAttention({ heads: 3 }).apply(input({ shape: [4, 16] })), /MultiHeadSelfAttention layer "multi_head_self_attention(_\d+)?": expected a feature dimension divisible by heads=3, received 16 \(input \(None, 4, 16\)\)/);
    assert.throws(() => multiHeadSelfAttention({ heads: 2 }).apply(input({ shape: [3, 4, 4] })), /expects a 3-D input \(N, tokens, features\) but received shape \(None, 3, 4, 4\)/);
    assert.throws(() => multiHeadSelfAttention({ heads: 0 }), /Expected a positive integer for multiHeadSelfAttention .* heads but received number 0/);
    assert.throws(() => layerNorm({ axis: 'channels' }).apply(input({ shape: [4, 16] })), /LayerNormalization layer .* expects a 4-D input \(N, C, H, W\) but received shape \(None, 4, 16\)/);
    assert.throws(() => layerNorm({ axis: 'rows' as never }), /Expected "last" or "channels" for layerNorm .* axis but received "rows"/);
    assert.throws(() => permute({ dims: [1, 0, 2] }), /keeps the batch dimension first/);
    assert.throws(() => permute({ dims: [0, 2, 1] }).apply(input({ shape: [3, 4, 4] })), /expects a 3-D input/);
    assert.throws(() => positionEmbedding({ kind: 'learned', grid: [2, 2], prefixTokens: 1 }).apply(input({ shape: [4, 8] })), /is for 5 tokens \(1 \+ a 2×2 patch grid\) but received shape \(None, 4, 8\)/);
    assert.throws(() => positionEmbedding({ kind: 'sincos', grid: [2, 2] }).apply(input({ shape: [4, 6] })), /a 2-D sin-cos table needs a feature dimension divisible by 4 and at least 8, received 6/);
    assert.throws(() => classToken().apply(input({ shape: [3, 4, 4] })), /ClassToken layer .* expects a 3-D input/);
    assert.throws(() => tokenPool({ mode: 'max' as never }), /Expected "cls" or "gap" for tokenPool .* mode but received "max"/);
    assert.throws(() => squeezeExcitation({ squeezeChannels: 0 }), /Expected a positive integer for squeezeExcitation .* squeezeChannels/);
  });
});

describe('ConvNeXt and ViT under bf16 autocast and channels-last', { skip: !cpuSupportsBf16() && 'this CPU has no bf16' }, () => {
  for (const preset of ['convnext-nano-cifar', 'vit-tiny-cifar']) {
    it(`${preset}: a bf16 channels-last training step runs, its loss close to fp32's, and leaks nothing`, async () => {
      const { createModelFromSpec } = await import('../../src/models/index.js');
      const { F, SGD, randint } = await import('../../src/tensor/index.js');
      const m = createModelFromSpec(preset, { seed: 0 });
      m.toMemoryFormat('channels_last');
      const x = randn([4, 3, 32, 32], { generator: new Generator(1) }).contiguous('channels_last');
      const y = randint(0, 10, [4], { generator: new Generator(2) });
      const opt = new SGD(m.parameters(), { lr: 0.01 });
      const before = liveTensorCount();
      try {
        const loss = (bf16: boolean) => tidy(() => {
          const logits = bf16 ? withAutocast({ device: 'cpu', dtype: 'bfloat16' }, () => m.forward(x)) : m.forward(x);
          const l = F.crossEntropy(logits.float(), y);
          l.backward();
          return l.item();
        });
        m.eval();
        const fp32 = noGrad(() => tidy(() => F.crossEntropy(m.forward(x).float(), y).item()));
        m.train();
        const bf16 = loss(true);
        opt.step({ zeroGrad: true });
        assert.ok(Math.abs(bf16 - fp32) < 0.05 * Math.abs(fp32) + 0.05, `bf16 loss ${bf16}, fp32 ${fp32}`);
        assert.equal(liveTensorCount(), before);
      } finally {
        opt.dispose();
        x.dispose();
        y.dispose();
        m.dispose();
      }
    });
  }
});
