// ConvNeXt and ViT presets: torchvision 0.14's exact parameter counts and FLOPs, the names its state dicts use,
// and what each switch means beyond building (the switch matrix is in families.test.ts).
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Generator, noGrad, randn, tidy } from '../../src/tensor/index.js';
import { ModelConfigError, createModelFromSpec, resolveModelSpec, listModelPresets, validateModelSpec, type ModelSpec, type ResolvedConvNeXtConfig, type ResolvedViTConfig } from '../../src/models/index.js';
import { blockDropRates } from '../../src/models/convnext/build.js';
import { convnextParamCount } from '../../src/models/convnext/config.js';
import { vitParamCount } from '../../src/models/vit/config.js';
import { vitBlockDropRates } from '../../src/models/vit/index.js';
import { lookupHubWeights, pretrainedTransforms, weightsArch } from '../../src/models/hub-weights.js';

/** sum(p.numel() for p in torchvision.models.X().parameters()) and the "GFLOPS" (MACs) in torchvision's model table. */
const TORCHVISION: Record<string, { params: number; gmacs?: number }> = {
  'convnext-tiny': { params: 28_589_128, gmacs: 4.456 },
  'convnext-small': { params: 50_223_688, gmacs: 8.684 },
  'convnext-base': { params: 88_591_464, gmacs: 15.355 },
  'convnext-large': { params: 197_767_336, gmacs: 34.361 },
  'vit-b-16': { params: 86_567_656, gmacs: 17.564 },
  'vit-b-32': { params: 88_224_232, gmacs: 4.409 },
  'vit-l-16': { params: 304_326_632, gmacs: 61.555 },
  'vit-l-32': { params: 306_535_400, gmacs: 15.378 },
  'vit-h-14': { params: 632_045_800, gmacs: 167.295 },
};

describe('ConvNeXt and ViT presets match torchvision', () => {
  it('every torchvision preset is here, plus the CIFAR ones', () => {
    assert.deepEqual(listModelPresets('convnext'), ['convnext-tiny', 'convnext-small', 'convnext-base', 'convnext-large', 'convnext-nano-cifar']);
    assert.deepEqual(listModelPresets('vit'), ['vit-b-16', 'vit-b-32', 'vit-l-16', 'vit-l-32', 'vit-h-14', 'vit-tiny-cifar']);
  });
  for (const [preset, tv] of Object.entries(TORCHVISION)) {
    it(`${preset}: ${tv.params.toLocaleString('en')} parameters and ${tv.gmacs} G multiply-accumulates at 224² as torchvision`, () => {
      const m = createModelFromSpec(preset, { initialize: false });
      try {
        assert.deepEqual(m.countParams(), { trainable: tv.params, nonTrainable: 0, total: tv.params });
        // torchvision's table rounds to three decimals.
        const g = m.flops().macs / 1e9;
        assert.ok(Math.abs(g - tv.gmacs!) <= 0.0005, `${g} G MACs`);
      } finally {
        m.dispose();
      }
    });
  }
});

describe('ConvNeXt and ViT: what the switches mean', () => {
  it('state-dict keys are torchvision\'s', () => {
    const c = createModelFromSpec('convnext-nano-cifar', { initialize: false });
    const ck = [...c.stateDict().keys()];
    for (const k of ['features.0.0.weight', 'features.0.1.weight', 'features.1.0.layer_scale', 'features.1.0.block.0.weight', 'features.1.0.block.2.bias',
      'features.1.0.block.3.weight', 'features.1.0.block.5.bias', 'features.2.0.weight', 'features.2.1.weight', 'features.7.1.layer_scale', 'classifier.0.weight', 'classifier.2.bias']) {
      assert.ok(ck.includes(k), k);
    }
    c.dispose();
    const v = createModelFromSpec('vit-tiny-cifar', { initialize: false });
    const vk = [...v.stateDict().keys()];
    assert.deepEqual(vk.slice(0, 4), ['conv_proj.weight', 'conv_proj.bias', 'class_token', 'encoder.pos_embedding']);
    assert.deepEqual(vk.slice(4, 16), [
      'ln_1.weight', 'ln_1.bias', 'self_attention.in_proj_weight', 'self_attention.in_proj_bias', 'self_attention.out_proj.weight', 'self_attention.out_proj.bias',
      'ln_2.weight', 'ln_2.bias', 'mlp.0.weight', 'mlp.0.bias', 'mlp.3.weight', 'mlp.3.bias',
    ].map((k) => `encoder.layers.encoder_layer_0.${k}`));
    assert.deepEqual(vk.slice(-4), ['encoder.ln.weight', 'encoder.ln.bias', 'heads.head.weight', 'heads.head.bias']);
    v.dispose();
  });

  it('dropPathRate rises linearly from 0 at the first block to the rate at the last (torchvision ConvNeXt, timm ViT)', () => {
    const c = resolveModelSpec<ResolvedConvNeXtConfig>({ preset: 'convnext-tiny' }).config;
    const rates = blockDropRates(c);
    assert.equal(rates.length, 18);
    assert.equal(rates[0], 0);
    assert.ok(Math.abs(rates[17]! - 0.1) < 1e-12);
    const v = resolveModelSpec<ResolvedViTConfig>({ preset: 'vit-b-16', dropPathRate: 0.1 }).config;
    assert.deepEqual(vitBlockDropRates(v).map((r) => Math.round(r * 1e6) / 1e6), Array.from({ length: 12 }, (_, i) => Math.round((0.1 * i * 1e6) / 11) / 1e6));
  });

  it('layerScale 0 and posEmbed none remove their parameters; pool gap removes the class token; mlpDim defaults to 4 × width', () => {
    const count = (spec: ModelSpec) => {
      const m = createModelFromSpec(spec, { initialize: false });
      const n = m.countParams().trainable;
      m.dispose();
      return n;
    };
    const nano = count('convnext-nano-cifar');
    assert.equal(nano - count({ preset: 'convnext-nano-cifar', layerScale: 0 }), 2 * (32 + 64 + 128 + 256));
    const vit = count('vit-tiny-cifar');
    assert.equal(vit - count({ preset: 'vit-tiny-cifar', posEmbed: 'none' }), 65 * 128);
    assert.equal(vit - count({ preset: 'vit-tiny-cifar', posEmbed: 'sincos' }), 65 * 128);
    assert.equal(vit - count({ preset: 'vit-tiny-cifar', pool: 'gap' }), 128 + 128);
    assert.equal(resolveModelSpec<ResolvedViTConfig>({ family: 'vit', patchSize: 4, depth: 1, heads: 1, width: 24, inputSize: 32 }).config.mlpDim, 96);
  });

  it('sin-cos and no position embedding: the patch order matters only with a position embedding', () => {
    // Permuting the patches of an image permutes the patch tokens; with gap pooling and no position information
    // the logits are unchanged, with a sin-cos table they change.
    const logits = (posEmbed: string, flip: boolean) => {
      const m = createModelFromSpec({ preset: 'vit-tiny-cifar', pool: 'gap', posEmbed }, { seed: 3 });
      m.eval();
      const out = tidy(() => {
        const x = randn([1, 3, 32, 32], { generator: new Generator(4) });
        // Reverse the order of the 8 columns of 4×4 patches, each patch kept intact: the same patches, elsewhere.
        const input = flip ? x.reshape([1, 3, 32, 8, 4]).flip([3]).reshape([1, 3, 32, 32]) : x;
        return noGrad(() => m.forward(input)).toArray();
      });
      m.dispose();
      return out;
    };
    const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]!) < 1e-5);
    assert.ok(close(logits('none', false), logits('none', true)), 'no position embedding: a bag of patches');
    assert.ok(!close(logits('sincos', false), logits('sincos', true)), 'sin-cos: positions matter');
  });
});

describe('ConvNeXt and ViT pretrained weights by name (resolved without network)', () => {
  const env = {};
  it('torchvision names and aliases map to torchvision\'s files, each with its preprocessing', () => {
    const t = lookupHubWeights('imagenet', 'convnext_tiny', env);
    assert.deepEqual([t.id, t.fileName, t.url, t.resizeSize, t.cropSize, t.interpolation], [
      'ConvNeXt_Tiny_Weights.IMAGENET1K_V1', 'convnext_tiny-983f1562.pth', 'https://download.pytorch.org/models/convnext_tiny-983f1562.pth', 236, 224, 'bilinear',
    ]);
    assert.equal(lookupHubWeights('ConvNeXt_Large_Weights.DEFAULT', 'convnext-large', env).sha256Prefix, 'ea097f82');
    const v = lookupHubWeights('imagenet', 'vit_b_16', env);
    assert.deepEqual([v.id, v.fileName, v.resizeSize, v.cropSize], ['ViT_B_16_Weights.IMAGENET1K_V1', 'vit_b_16-c867db91.pth', 256, 224]);
    const lin = lookupHubWeights('IMAGENET1K_SWAG_LINEAR_V1', 'vit-b-16', env);
    assert.deepEqual([lin.fileName, lin.resizeSize, lin.interpolation], ['vit_b_16_lc_swag-4e70ced5.pth', 224, 'bicubic']);
    assert.equal(lookupHubWeights('imagenet', 'vit-l-16', env).resizeSize, 242);
    // The end-to-end SWAG sets have a position table for their own image size: a model of that inputSize takes them.
    const e2e = lookupHubWeights('imagenet', { preset: 'vit-b-16', inputSize: 384 }, env);
    assert.deepEqual([e2e.id, e2e.fileName, e2e.cropSize], ['ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1', 'vit_b_16_swag-9ac1b537.pth', 384]);
    assert.equal(lookupHubWeights('imagenet', 'vit-h-14', env).id, 'ViT_H_14_Weights.IMAGENET1K_SWAG_LINEAR_V1');
    assert.equal(lookupHubWeights('imagenet', { preset: 'vit-h-14', inputSize: 518 }, env).fileName, 'vit_h_14_swag-80465313.pth');
    assert.equal(pretrainedTransforms('/cache/convnext_small-0c510722.pth', 'convnext-small', env).resizeSize, 230);
  });

  it('switches that keep the shapes keep the weights; ones that change their meaning or shapes have none', () => {
    assert.equal(weightsArch({ preset: 'convnext-tiny', dropPathRate: 0.3 }), 'convnext_tiny');
    assert.equal(weightsArch({ preset: 'vit-b-16', dropPathRate: 0.1, dropout: 0.1 }), 'vit_b_16');
    for (const spec of [
      { preset: 'convnext-tiny', norm: 'batchnorm' }, { preset: 'convnext-tiny', kernelSize: 3 }, { preset: 'convnext-tiny', layerScale: 0 },
      { preset: 'vit-b-16', pool: 'gap' }, { preset: 'vit-b-16', posEmbed: 'sincos' }, { preset: 'vit-b-16', inputSize: 256 }, 'vit-tiny-cifar', 'convnext-nano-cifar',
    ]) {
      assert.equal(weightsArch(spec), undefined, JSON.stringify(spec));
    }
    assert.throws(() => lookupHubWeights('imagenet', { preset: 'vit-b-16', pool: 'gap' }, env), /torchvision publishes them for .*vit_b_16.*, but \{"preset":"vit-b-16","pool":"gap"\} has none/);
    assert.throws(() => lookupHubWeights('IMAGENET1K_SWAG_E2E_V1', 'vit-b-16', env), /Expected one of IMAGENET1K_V1, IMAGENET1K_SWAG_LINEAR_V1 \(or imagenet, the best of them\) for pretrained with vit-b-16 but received "IMAGENET1K_SWAG_E2E_V1"/);
  });
});

describe('absurd ConvNeXt and ViT configs are refused before anything is allocated', () => {
  it('the parameter count from the config equals the built model\'s, for every preset and several switches', () => {
    const specs: ModelSpec[] = [
      ...listModelPresets('convnext'), ...listModelPresets('vit').filter((p) => !/-l-|-h-/.test(p)),
      { preset: 'convnext-nano-cifar', layerScale: 0, kernelSize: 3, norm: 'batchnorm' }, { preset: 'convnext-nano-cifar', stemPatch: 4, inChannels: 1 },
      { preset: 'vit-tiny-cifar', pool: 'gap' }, { preset: 'vit-tiny-cifar', posEmbed: 'sincos', mlpDim: 100 }, { preset: 'vit-tiny-cifar', posEmbed: 'none', numClasses: 7 },
    ];
    for (const spec of specs) {
      const r = resolveModelSpec(spec);
      const counted = r.family === 'vit' ? vitParamCount(r.config as ResolvedViTConfig) : convnextParamCount(r.config as ResolvedConvNeXtConfig);
      const m = createModelFromSpec(spec, { initialize: false });
      assert.equal(counted, m.countParams().trainable, JSON.stringify(spec));
      m.dispose();
    }
    for (const p of ['vit-l-16', 'vit-h-14']) assert.equal(vitParamCount(resolveModelSpec(p).config as ResolvedViTConfig), TORCHVISION[p]!.params);
  });

  it('over 2 billion parameters, or a patch grid too large for attention, is an error naming the field', () => {
    const t0 = performance.now();
    const huge = validateModelSpec({ family: 'vit', patchSize: 16, depth: 256, heads: 16, width: 16384 });
    assert.deepEqual(huge.map((i) => i.path), ['width']);
    assert.match(huge[0]!.message, /^expected a model of at most 2\.00G parameters \(its weights are allocated when it is built\), received a config of 825G; make width smaller$/);
    const wide = validateModelSpec({ preset: 'convnext-large', widths: [8192, 8192, 8192, 8192] });
    assert.match(wide.find((i) => i.path === 'widths')!.message, /^expected a model of at most 2\.00G parameters .* received a config of 20\.16G; make widths smaller$/);
    const tokens = validateModelSpec({ preset: 'vit-tiny-cifar', patchSize: 1, inputSize: 256 });
    assert.equal(tokens[0]!.path, 'patchSize');
    assert.match(tokens[0]!.message, /^expected at most 16,384 patches \(attention holds tokens² scores per head\), received 256×256 = 65,536 from inputSize 256 and patchSize 1; use larger patches or a smaller inputSize$/);
    assert.throws(() => createModelFromSpec({ family: 'vit', patchSize: 16, depth: 256, heads: 16, width: 16384 }, { initialize: false }), ModelConfigError);
    assert.ok(performance.now() - t0 < 5000, 'refused without building');
    assert.deepEqual(validateModelSpec({ preset: 'vit-h-14', inputSize: 518 }), [], 'the largest torchvision ViT is within the limits');
  });
});
