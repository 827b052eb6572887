// The model-family registry and the ResNet switches: every preset and every switch combination builds,
// summarises (showing its switches), trains a step, and saves and loads its weights.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { F, Generator, SGD, manualSeed, noGrad, randint, randn, tidy, withAutocast } from '../../src/tensor/index.js';
import { Conv2D, DropPath, ZeroPadShortcut, dense, flatten, formatSummary, globalAveragePool, input, model, relu, type Model } from '../../src/nn/index.js';
import {
  ModelConfigError, ModelSpecSchema, SHORTCUTS, describeResolvedSpec, modelSpecObject, blockPlans, buildResolvedModel, createModel, createModelFromSpec, listFamilies, listModelPresets,
  listPresets, loadWeights, presetSpec, registerFamily, canonicalPreset, resolveModelConfig, resolveModelSpec, saveWeights, validateModelSpec, validateResNetConfig,
  type ModelFamily, type ModelSpec, type ResNet, type ResolvedResNetConfig,
} from '../../src/models/index.js';
import { formatZodIssues } from '../../src/util/zod-issues.js';

const dir = mkdtempSync(join(tmpdir(), 'ablate-families-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const x32 = randn([2, 3, 32, 32], { generator: new Generator(3) });
after(() => x32.dispose());

const NUM_CLASSES = 3;

/** One SGD step on a fixed batch; returns the loss and how many parameter tensors changed. */
function trainStep(m: Model): { loss: number; changed: number; total: number } {
  m.train();
  const params = m.parameters();
  const before = params.map((p) => p.toArray());
  const opt = new SGD(params, { lr: 0.1 });
  const loss = tidy(() => {
    const l = F.crossEntropy(m.forward(x32), randint(0, NUM_CLASSES, [2], { generator: new Generator(0) }));
    l.backward();
    return l.item();
  });
  opt.step();
  opt.zeroGrad();
  const changed = params.filter((p, i) => p.toArray().some((v, j) => v !== before[i]![j])).length;
  return { loss, changed, total: params.length };
}

const evalLogits = (m: Model): number[] => {
  m.eval();
  return tidy(() => noGrad(() => m.forward(x32)).toArray());
};

/** Saves to a .pth, loads strictly into a differently initialised twin: same eval logits. */
async function roundTrip(spec: ModelSpec, m: Model): Promise<void> {
  const path = join(dir, 'w.pth');
  await saveWeights(m, path);
  const twin = createModelFromSpec(spec, { numClasses: NUM_CLASSES, seed: 999 });
  try {
    const report = await loadWeights(twin, path);
    assert.equal(report.loaded.length, m.stateDict().size);
    assert.deepEqual([...twin.stateDict().keys()], [...m.stateDict().keys()]);
    assert.deepEqual(evalLogits(twin), evalLogits(m));
  } finally {
    twin.dispose();
  }
}

// At the model's own input size: a ViT only takes the image size its position table was built for.
const summaryLines = (m: Model): string[] => formatSummary(m.summaryData());

function assertSummaryShowsSwitches(m: ResNet): void {
  const c = m.config;
  const lines = summaryLines(m);
  assert.equal(lines[0], `Model: "${m.name}"`);
  const sw = lines.find((l) => l.startsWith('Switches: '));
  assert.ok(sw, lines.slice(0, 4).join('\n'));
  for (const k of ['shortcut', 'preact', 'widthMultiplier', 'dropPathRate', 'depth'] as const) {
    assert.ok(sw.includes(` ${k}=${String(c[k])}`) || sw.startsWith(`Switches: ${k}=${String(c[k])}`), `${k} missing in: ${sw}`);
  }
}

/** torchvision 0.14's parameter counts at 1000 classes, by its builder names (aliases of the presets). */
const TORCHVISION_PARAMS: Record<string, number> = {
  vgg11: 132_863_336, vgg11_bn: 132_868_840, vgg13: 133_047_848, vgg13_bn: 133_053_736, vgg16: 138_357_544, vgg16_bn: 138_365_992,
  vgg19: 143_667_240, vgg19_bn: 143_678_248, resnext50_32x4d: 25_028_904, resnext101_32x8d: 88_791_336, resnext101_64x4d: 83_455_272,
  densenet121: 7_978_856, densenet161: 28_681_000, densenet169: 14_149_480, densenet201: 20_013_928, mobilenet_v2: 3_504_872,
  wide_resnet50_2: 68_883_240, wide_resnet101_2: 126_886_696,
};
const torchvisionParams = new Map(Object.entries(TORCHVISION_PARAMS).map(([k, v]) => [canonicalPreset(k)!, v]));

describe('every preset', () => {
  it('every torchvision name in the count table is a preset', () => assert.equal(torchvisionParams.size, Object.keys(TORCHVISION_PARAMS).length));
  // Presets above this size only build and summarise here (a train step of ResNet-152 or a wide ResNet
  // costs seconds and hundreds of MB on the 2-core CI); every code path they use is trained below at
  // smaller depth or width, with the same builder.
  const TRAIN_BUDGET = 12_000_000;
  // Presets whose every layer type and switch another trained preset of the same family already runs
  // (other widths or depths of the same builder): built and summarised only, to keep the file affordable.
  const SAME_PATHS = new Set(['vgg13-cifar', 'vgg13-bn-cifar', 'vgg11-bn-cifar', 'mobilenet-v2-w0.5', 'mobilenet-v2-w0.75', 'mobilenet-v2-w1.4', 'mobilenet-v2-cifar', 'densenet-bc100-k12-cifar']);
  const trained: string[] = [];
  for (const preset of listPresets()) {
    it(`${preset}: builds, summarises with its switches${torchvisionParams.has(preset) ? ` and torchvision's ${torchvisionParams.get(preset)} parameters` : ''}, trains a step and round-trips its weights (when ≤ 12M params)`, async () => {
      const resolved = resolveModelSpec(preset, { numClasses: NUM_CLASSES });
      const published = torchvisionParams.get(preset);
      // torchvision's nets are summarised at their 1000 classes, so the count is torchvision's exactly.
      const shape = createModelFromSpec(preset, { numClasses: published !== undefined ? 1000 : NUM_CLASSES, initialize: false });
      const small = shape.countParams().trainable <= TRAIN_BUDGET && !SAME_PATHS.has(preset);
      try {
        assert.equal(shape.name, preset);
        // Any family: the summary shows the family's description of the config under the model name.
        const details = shape.describeConfig();
        assert.ok(details.length > 0);
        assert.deepEqual(summaryLines(shape).slice(1, 1 + details.length), details);
        if (resolved.family === 'resnet') assertSummaryShowsSwitches(shape as ResNet);
        assert.equal(new Set(shape.layers.map((l) => l.name)).size, shape.layers.length);
        // Every switch written out (what a run's config.json holds) resolves to the same config again.
        const switches = listFamilies().find((f) => f.name === resolved.family)!.switches;
        const full = Object.fromEntries(switches.map((k) => [k, (resolved.config as Record<string, unknown>)[k]]).filter(([, v]) => v !== undefined));
        assert.deepEqual(resolveModelSpec({ family: resolved.family, preset, ...full }).config, resolved.config);
        if (published !== undefined) {
          assert.equal(shape.countParams().trainable, published);
          assert.equal(shape.summaryData().totals.trainable, published);
        }
      } finally {
        shape.dispose();
      }
      if (!small) return;
      trained.push(preset);
      const m = createModelFromSpec(preset, { numClasses: NUM_CLASSES, seed: 1 });
      try {
        const s = trainStep(m);
        assert.ok(Number.isFinite(s.loss), `loss ${s.loss}`);
        assert.ok(s.changed > s.total / 2, `${s.changed} of ${s.total} parameter tensors changed`);
        await roundTrip(preset, m);
      } finally {
        m.dispose();
      }
    });
  }
  it('the trained subset covers every block type, layout and switch present in the presets', () => {
    for (const p of ['resnet18', 'plain18', 'preact-resnet18', 'resnet110-cifar', 'plain110-cifar', 'preact-resnet110-cifar']) assert.ok(trained.includes(p), p);
    // Each CNN family's torchvision layout and its CPU-sized CIFAR preset.
    for (const p of ['resnext29-8x16d-cifar', 'vgg11-cifar', 'vgg11-bn-small-cifar', 'mobilenet-v2', 'mobilenet-v2-small-cifar', 'densenet121', 'densenet-bc40-k12-cifar']) {
      assert.ok(trained.includes(p), p);
    }
  });
});

const BLOCKS = [
  { label: 'basic (CIFAR depth 8)', depth: 8, widthMultiplier: 0.5, blocks: 3 },
  { label: 'basic widened ×1.5 (CIFAR depth 8)', depth: 8, widthMultiplier: 1.5, blocks: 3 },
  { label: 'bottleneck (ImageNet depth 50)', depth: 50, widthMultiplier: 0.25, blocks: 16 },
] as const;

describe('switch combinations: preact × shortcut × dropPathRate × block type and width', () => {
  for (const b of BLOCKS) {
    for (const preact of [false, true]) {
      for (const shortcut of SHORTCUTS) {
        for (const dropPathRate of shortcut === 'none' ? [0] : [0, 0.2]) {
          const spec = { depth: b.depth, widthMultiplier: b.widthMultiplier, preact, shortcut, dropPathRate };
          it(`${b.label}, preact ${preact}, shortcut ${shortcut}, dropPathRate ${dropPathRate}`, async () => {
            const m = createModelFromSpec(spec, { numClasses: NUM_CLASSES, seed: 5 }) as ResNet;
            try {
              assertSummaryShowsSwitches(m);
              const rows = m.summaryData(32).rows;
              assert.equal(rows.filter((r) => r.type === 'DropPath').length, dropPathRate > 0 ? b.blocks : 0);
              assert.equal(rows.filter((r) => r.type === 'Add').length, shortcut === 'none' ? 0 : b.blocks);
              const keys = [...m.stateDict().keys()];
              // v1: stem BN, BN after each projection; v2: no stem BN, bare projection convs, a final BN `norm`.
              assert.equal(keys.includes('bn1.weight'), !preact);
              assert.equal(keys.includes('norm.weight'), preact);
              const projections = keys.filter((k) => /downsample\.0\.weight$/.test(k)).length;
              const projectionBns = keys.filter((k) => /downsample\.1\.weight$/.test(k)).length;
              assert.equal(projectionBns, preact ? 0 : projections);
              if (shortcut === 'all-projection') assert.equal(projections, b.blocks);
              if (shortcut === 'zero-pad' || shortcut === 'none') assert.equal(projections, 0);
              assert.equal(m.layers.some((l) => l instanceof ZeroPadShortcut), shortcut === 'zero-pad');

              const s = trainStep(m);
              assert.ok(Number.isFinite(s.loss), `loss ${s.loss}`);
              assert.ok(s.changed > s.total / 2, `${s.changed} of ${s.total} parameter tensors changed`);
              // Eval is deterministic; train-mode draws differ with the seed only when blocks are dropped.
              assert.deepEqual(evalLogits(m), evalLogits(m));
              m.train();
              const trainOut = (seed: number): number[] => {
                manualSeed(seed);
                return tidy(() => noGrad(() => m.forward(x32)).toArray());
              };
              if (dropPathRate > 0) {
                assert.deepEqual(trainOut(1), trainOut(1));
                assert.ok([2, 3, 4, 5].some((sd) => JSON.stringify(trainOut(sd)) !== JSON.stringify(trainOut(1))), 'drop-path masks change with the seed');
              }
              await roundTrip(spec, m);
            } finally {
              m.dispose();
            }
          });
        }
      }
    }
  }
});

/** Build, summary (family line and every switch), a training step that moves most weights, a strict .pth round trip. */
async function exercise(spec: ModelSpec, check: (m: Model, keys: string[]) => void = () => undefined): Promise<void> {
  const m = createModelFromSpec(spec, { numClasses: NUM_CLASSES, seed: 5 });
  try {
    const r = resolveModelSpec(spec, { numClasses: NUM_CLASSES });
    const lines = summaryLines(m);
    assert.ok(lines[1]!.startsWith(`Family: ${r.family} (`), lines[1]);
    for (const [k, v] of Object.entries(r.overrides)) {
      if (k !== 'family') assert.ok(lines[2]!.includes(` ${k}=${String(v)}`) || lines[2]!.startsWith(`Switches: ${k}=${String(v)}`), `${k}=${String(v)} missing in: ${lines[2]}`);
    }
    check(m, [...m.stateDict().keys()]);
    const s = trainStep(m);
    assert.ok(Number.isFinite(s.loss), `loss ${s.loss}`);
    assert.ok(s.changed > s.total / 2, `${s.changed} of ${s.total} parameter tensors changed`);
    await roundTrip(spec, m);
  } finally {
    m.dispose();
  }
}

const count = (m: Model, type: string) => m.summaryData(32).rows.filter((r) => r.type === type).length;

describe('CNN family switches: every combination builds, summarises, trains a step and round-trips', () => {
  for (const groups of [1, 4]) {
    for (const preact of [false, true]) {
      for (const shortcut of ['projection', 'zero-pad', 'none'] as const) {
        const spec = { depth: 11, block: 'bottleneck', groups, widthPerGroup: 16, preact, shortcut };
        it(`resnet (ResNeXt-11 CIFAR bottleneck) groups ${groups}, preact ${preact}, shortcut ${shortcut}`, () => exercise(spec, (m) => {
          const grouped = m.layers.filter((l) => l instanceof Conv2D && l.groups > 1);
          assert.equal(grouped.length, groups > 1 ? 3 : 0, 'one grouped 3×3 conv per block');
          for (const l of grouped) assert.equal((l as Conv2D).groups, groups);
        }));
      }
    }
  }
  for (const batchNorm of [false, true]) {
    for (const head of ['fc3', 'linear'] as const) {
      const spec = { family: 'vgg', depth: 11, batchNorm, head, widthMultiplier: 1 / 16, ...(head === 'fc3' ? { hiddenUnits: 32 } : {}) };
      it(`vgg-11 batchNorm ${batchNorm}, head ${head}`, () => exercise(spec, (m, keys) => {
        assert.equal(count(m, 'BatchNormalization'), batchNorm ? 8 : 0);
        // torchvision's Sequential indices: conv-BN-ReLU takes 3, conv-ReLU 2; pools take 1.
        assert.equal(keys.filter((k) => k.startsWith('features.')).at(-1), batchNorm ? 'features.26.num_batches_tracked' : 'features.18.bias');
        assert.deepEqual(keys.filter((k) => k.startsWith('classifier')), head === 'fc3'
          ? ['classifier.0.weight', 'classifier.0.bias', 'classifier.3.weight', 'classifier.3.bias', 'classifier.6.weight', 'classifier.6.bias']
          : ['classifier.weight', 'classifier.bias']);
      }));
    }
  }
  for (const layout of ['imagenet', 'cifar'] as const) {
    for (const invertedResidual of [true, false]) {
      for (const linearBottleneck of [true, false]) {
        const spec = { family: 'mobilenet', layout, widthMultiplier: 0.5, invertedResidual, linearBottleneck };
        it(`mobilenet ${layout}, invertedResidual ${invertedResidual}, linearBottleneck ${linearBottleneck}`, () => exercise(spec, (m) => {
          assert.equal(count(m, 'Add'), invertedResidual ? 10 : 0, 'Table 2: 10 stride-1 blocks keep their width');
          assert.equal(count(m, 'ReLU6'), 2 + 16 * 2 + 1 + (linearBottleneck ? 0 : 17));
        }));
      }
    }
  }
  it('mobilenet expandRatio 1 and 3: no expansion conv at 1, hidden widths = t × input at 3', () => exercise({ family: 'mobilenet', layout: 'cifar', widthMultiplier: 0.25, expandRatio: 3 }, (m) => {
    assert.equal((m.layers.find((l) => l.name === 'features.2.conv.0.0') as Conv2D).filters, 8 * 3);
  }).then(() => exercise({ family: 'mobilenet', layout: 'cifar', widthMultiplier: 0.25, expandRatio: 1 }, (_m, keys) => {
    assert.ok(keys.includes('features.2.conv.2.running_mean') && !keys.includes('features.2.conv.3.weight'));
  })));
  for (const bottleneck of [true, false]) {
    for (const compression of [0.5, 1]) {
      for (const dropRate of [0, 0.2]) {
        const spec = { family: 'densenet', layout: 'cifar', depth: bottleneck ? 10 : 7, growthRate: 4, bottleneck, compression, dropRate };
        it(`densenet CIFAR bottleneck ${bottleneck}, compression ${compression}, dropRate ${dropRate}`, () => exercise(spec, (m, keys) => {
          assert.equal(keys.includes('features.denseblock1.denselayer1.conv2.weight'), bottleneck);
          assert.equal(count(m, 'Concatenate'), 3);
          assert.equal(count(m, 'Dropout'), dropRate > 0 ? 3 : 0);
          const stem = bottleneck ? 8 : 16;
          const t1 = m.layers.find((l) => l.name === 'features.transition1.conv') as Conv2D;
          assert.equal(t1.filters, Math.floor((stem + 4) * compression));
        }));
      }
    }
  }
  it('densenet ImageNet layout (121 blocks at k=4): stem, four blocks, three transitions', () => exercise({ family: 'densenet', depth: 121, growthRate: 4, initFeatures: 8 }, (m, keys) => {
    assert.ok(keys.includes('features.norm0.weight') && keys.includes('features.transition3.conv.weight') && keys.includes('features.denseblock4.denselayer16.conv2.weight'));
    assert.equal(count(m, 'Concatenate'), 58);
  }));

  it('nonsensical combinations are errors naming the field, the expectation and the value', () => {
    const problems = (spec: unknown) => validateModelSpec(spec).map((i) => `${i.path}: ${i.message}`).join('\n');
    assert.match(problems({ depth: 18, groups: 32 }), /groups: expected 1 with basic blocks \(depth 18\).*received number 32/);
    assert.match(problems({ depth: 20, widthPerGroup: 4 }), /widthPerGroup: expected 64 with basic blocks/);
    assert.match(problems({ depth: 50, block: 'basic' }), /block: expected "bottleneck" or no block with ImageNet depth 50/);
    assert.match(problems({ depth: 29 }), /depth: expected 6n\+2 .*received 29; set block: bottleneck/);
    assert.match(problems({ depth: 32, block: 'bottleneck' }), /depth: expected 9n\+2 .*received 32/);
    assert.match(problems({ preset: 'vgg11-cifar', dropout: 0.3 }), /dropout: expected no dropout with head: linear/);
    assert.match(problems({ preset: 'vgg11', bnEps: 1e-3 }), /bnEps: expected no bnEps with batchNorm: false/);
    assert.match(problems({ family: 'vgg', depth: 12 }), /depth: expected 11 \| 13 \| 16 \| 19 \(configurations A, B, D, E\), received number 12/);
    assert.match(problems({ preset: 'densenet121', bottleneck: false, bnSize: 2 }), /bnSize: expected no bnSize with bottleneck: false/);
    assert.match(problems({ family: 'densenet', depth: 100 }), /depth: expected 121 \| 161 \| 169 \| 201 in the ImageNet layout, received 100/);
    assert.match(problems({ family: 'densenet', layout: 'cifar', depth: 41 }), /depth: expected 6n\+4 .* received 41/);
    assert.match(problems({ preset: 'mobilenet-v2', expandRatio: 0.5 }), /expandRatio: expected number >= 1, received number 0.5/);
    assert.match(problems({ preset: 'mobilenet-v2', invertedResidual: 'no' }), /invertedResidual: expected boolean, received "no"/);
    assert.match(problems({ preset: 'mobilenet-v2', invertedResiduals: false }), /did you mean "invertedResidual"/);
  });
});

describe('the CNN families run channels-last and under bf16 autocast', () => {
  for (const preset of ['vgg11-bn-small-cifar', 'mobilenet-v2-small-cifar', 'densenet-bc40-k12-cifar', 'resnext29-8x16d-cifar']) {
    it(`${preset}: channels-last weights give the same logits; a bf16 autocast step stays close to fp32 and trains`, () => {
      const m = createModelFromSpec(preset, { numClasses: NUM_CLASSES, seed: 2 });
      try {
        m.eval();
        tidy(() => {
          const a = noGrad(() => m.forward(x32));
          const scale = a.abs().max().item();
          m.toMemoryFormat('channels_last');
          const b = noGrad(() => m.forward(x32.contiguous('channels_last')));
          assert.ok(a.sub(b).abs().max().item() <= 1e-4 * Math.max(scale, 1), 'channels-last logits');
          const c = withAutocast({ dtype: 'bfloat16' }, () => noGrad(() => m.forward(x32.contiguous('channels_last'))));
          // bf16 keeps 8 bits of mantissa: a few percent of the logits' scale, never NaN.
          const err = c.to('float32').sub(a).abs().max().item();
          assert.ok(Number.isFinite(err) && err <= 0.1 * Math.max(scale, 1), `bf16 error ${err} at scale ${scale}`);
        });
        const s = withAutocast({ dtype: 'bfloat16' }, () => trainStep(m));
        assert.ok(Number.isFinite(s.loss) && s.changed > s.total / 2, `bf16 step: loss ${s.loss}, ${s.changed}/${s.total} changed`);
      } finally {
        m.dispose();
      }
    });
  }
});

describe('published parameter counts', () => {
  it("the paper's CIFAR nets have their published sizes (DenseNet-BC-100 k12 0.8M, DenseNet-40 k12 1.0M)", () => {
    for (const [preset, millions] of [['densenet-bc100-k12-cifar', 0.8], ['densenet40-k12-cifar', 1.0]] as const) {
      const m = createModelFromSpec(preset, { initialize: false });
      assert.equal(Math.round(m.countParams().trainable / 1e5) / 10, millions, preset);
      m.dispose();
    }
  });
});

describe('ResNet switches: what each means', () => {
  it('widthMultiplier scales stage widths (the stem only when thinning); bottlenecks keep 4× the base width at the output (torchvision wide_resnet)', () => {
    const c = resolveModelConfig({ depth: 20, widthMultiplier: 0.5 });
    assert.deepEqual([c.stemWidth, c.widths, c.baseWidths], [8, [8, 16, 32], [8, 16, 32]], 'thinning scales the stem and outputs too');
    const thinBottleneck = createModel({ depth: 50, widthMultiplier: 0.25 }, { initialize: false });
    assert.deepEqual(thinBottleneck.stateDict().get('conv1.weight')!.shape, [16, 3, 7, 7]);
    assert.deepEqual(thinBottleneck.stateDict().get('layer4.2.conv3.weight')!.shape, [512, 128, 1, 1]);
    thinBottleneck.dispose();
    const wide = resolveModelConfig({ depth: 20, widthMultiplier: 2.5 });
    assert.deepEqual([wide.stemWidth, wide.widths], [16, [40, 80, 160]]);
    const w = resolveModelConfig('wide-resnet50-2');
    assert.deepEqual([w.stemWidth, w.widths], [64, [128, 256, 512, 1024]]);
    const m = createModel('wide-resnet50-2', { initialize: false });
    try {
      // torchvision.models.wide_resnet50_2(): 68,883,240 parameters, 68,224 BN running-stat entries.
      assert.deepEqual(m.countParams(), { trainable: 68_883_240, nonTrainable: 68_224, total: 68_951_464 });
      const sd = m.stateDict();
      assert.deepEqual(sd.get('layer4.2.conv2.weight')!.shape, [1024, 1024, 3, 3]);
      assert.deepEqual(sd.get('layer4.2.conv3.weight')!.shape, [2048, 1024, 1, 1]);
    } finally {
      m.dispose();
    }
    const r = createModel('wide-resnet101-2', { initialize: false });
    assert.equal(r.countParams().trainable, 126_886_696); // torchvision.models.wide_resnet101_2()
    r.dispose();
  });

  it('preact keeps the parameter count of v1 (ResNet-110 ≈ 1.7M, He et al. 2016b Table 3): the BNs move, none is added', () => {
    for (const depth of [20, 110]) {
      const v1 = createModel({ depth }, { initialize: false });
      const v2 = createModel({ depth, preact: true }, { initialize: false });
      assert.deepEqual(v2.countParams(), v1.countParams());
      if (depth === 110) assert.equal(Math.round(v2.countParams().trainable / 1e5) / 10, 1.7);
      v1.dispose();
      v2.dispose();
    }
  });

  it('dropPathRate rises linearly with depth: block l of L drops with rate · l / L (Huang et al.), the last exactly at the rate', () => {
    const cfg = resolveModelConfig({ depth: 20, dropPathRate: 0.3 });
    const plans = blockPlans(cfg);
    assert.equal(plans.length, 9);
    plans.forEach((p, i) => { assert.ok(Math.abs(p.dropRate - (0.3 * (i + 1)) / 9) < 1e-12, `${p.name}: ${p.dropRate}`); });
    assert.equal(plans[8]!.dropRate, 0.3);
    const m = createModel({ depth: 20, dropPathRate: 0.3 }, { initialize: false });
    const layers = m.layers.filter((l): l is DropPath => l instanceof DropPath);
    assert.deepEqual(layers.map((l) => l.name), plans.map((p) => `${p.name}.drop_path`));
    assert.deepEqual(layers.map((l) => l.rate), plans.map((p) => p.dropRate));
    // Parameter-free: same weights and FLOPs as without stochastic depth.
    const plain = createModel({ depth: 20 }, { initialize: false });
    assert.deepEqual(m.countParams(), plain.countParams());
    assert.deepEqual(m.flops(), plain.flops());
    m.dispose();
    plain.dispose();
  });

  it('a v2 block whose last conv is zero is the identity: the identity path is untouched by BN or ReLU', () => {
    const m = createModel({ depth: 20, preact: true, shortcut: 'projection' }, { seed: 2 });
    const ref = createModel({ depth: 8, preact: true, shortcut: 'projection' }, { seed: 2 });
    try {
      // Zeroing conv2 in every block but the first of each stage leaves a 1-block-per-stage net: the depth-8 twin.
      const sd = m.stateDict();
      noGrad(() => {
        for (const [k, t] of sd) if (/^layer\d\.[12]\.conv2\.weight$/.test(k)) t.zero_();
        for (const [k, t] of ref.stateDict()) t.copy_(sd.get(k.replace(/^(layer\d)\.0\./, '$1.0.'))!);
      });
      assert.deepEqual(evalLogits(m), evalLogits(ref));
    } finally {
      m.dispose();
      ref.dispose();
    }
  });

  it('CIFAR depth is any 6n+2 from 8 to 2000 (ResNet-1202 ≈ 19.4M, He et al. Table 6)', () => {
    assert.deepEqual(resolveModelConfig({ depth: 26 }).layers, [4, 4, 4]);
    const m = createModel({ depth: 1202 }, { initialize: false });
    assert.equal(Math.round(m.countParams().trainable / 1e5) / 10, 19.4);
    m.dispose();
    for (const depth of [27, 2, 2006, 26.5]) assert.ok(validateResNetConfig({ depth }).some((i) => i.path === 'depth'), String(depth));
  });

  it('reports every bad switch at once, including combinations that make no sense', () => {
    const issues = validateResNetConfig({ depth: 27, preact: 'yes', widthMultiplier: 0, dropPathRate: 0.5, shortcut: 'none' });
    assert.deepEqual(issues.map((i) => i.path).sort(), ['depth', 'dropPathRate', 'preact', 'widthMultiplier']);
    const msg = (o: object, path: string) => validateResNetConfig(o).find((i) => i.path === path)?.message ?? '(no issue)';
    assert.equal(msg({ depth: 20, widthMultiplier: 0 }, 'widthMultiplier'), 'expected number >= 0.0625, received number 0');
    assert.equal(msg({ depth: 20, widthMultiplier: 65 }, 'widthMultiplier'), 'expected number <= 64, received number 65');
    assert.equal(msg({ depth: 20, dropPathRate: 1 }, 'dropPathRate'), 'expected number < 1, received number 1');
    assert.match(msg({ depth: 20, shortcut: 'none', dropPathRate: 0.1 }, 'dropPathRate'), /^expected 0 with shortcut "none": stochastic depth drops a block's residual branch .* received number 0\.1; use a residual shortcut or dropPathRate 0$/);
    assert.match(msg({ depth: 20, preact: true, zeroInitLastBn: true }, 'zeroInitLastBn'), /^expected false with preact: true: a pre-activation branch ends with a conv, not a BN/);
    assert.match(msg({ depth: 20, shortcut: 'none', zeroInitLastBn: true }, 'zeroInitLastBn'), /^expected false with shortcut "none": without a shortcut a block whose last BN starts at zero outputs zeros/);
    assert.throws(() => createModel('plain20-cifar', { config: { dropPathRate: 0.1 } }), ModelConfigError);
    // Plain v2 is allowed: the same BN-ReLU-conv stack without additions.
    assert.deepEqual(validateResNetConfig({ depth: 20, preact: true, shortcut: 'none' }), []);
  });
});

describe('model specs', () => {
  it('resolves a preset name, switches over a preset, and a bare config (family resnet by default)', () => {
    const a = resolveModelSpec<ResolvedResNetConfig>('resnet56-cifar');
    assert.deepEqual([a.family, a.preset, a.name, a.overrides, a.input], ['resnet', 'resnet56-cifar', 'resnet56-cifar', {}, { depth: 56 }]);
    const b = resolveModelSpec<ResolvedResNetConfig>({ preset: 'resnet34', shortcut: 'zero-pad', preact: true });
    assert.deepEqual([b.family, b.preset, b.name, b.overrides], ['resnet', 'resnet34', 'preact-resnet34', { shortcut: 'zero-pad', preact: true }]);
    assert.deepEqual([b.config.depth, b.config.shortcut, b.config.preact, b.config.widthMultiplier, b.config.dropPathRate], [34, 'zero-pad', true, 1, 0]);
    const c = resolveModelSpec<ResolvedResNetConfig>({ family: 'resnet', depth: 110, dropPathRate: 0.1 }, { numClasses: 100 });
    assert.deepEqual([c.preset, c.name, c.config.numClasses, c.config.dropPathRate], [undefined, 'resnet110-cifar', 100, 0.1]);
    assert.equal(resolveModelSpec({ depth: 50 }).family, 'resnet');
    // A study axis sets a switch on the base's spec: a preset name becomes an object first.
    assert.deepEqual({ ...modelSpecObject('resnet56-cifar'), preact: true }, { preset: 'resnet56-cifar', preact: true });
    assert.throws(() => modelSpecObject(7 as never), ModelConfigError);
    assert.equal(describeResolvedSpec(b).length, 2);
    assert.equal(describeResolvedSpec(b)[0], 'Family: resnet (ImageNet layout, basic blocks 3/4/6/3, widths 64/128/256/512)');
    assert.match(describeResolvedSpec(b)[1]!, /^Switches: depth=34 shortcut=zero-pad preact=true widthMultiplier=1 dropPathRate=0 /);
  });

  it("torchvision's names are preset names: lower case with '_' read as '-', wherever a preset is named", () => {
    for (const alias of ['wide_resnet50_2', 'WIDE_RESNET50_2', 'Wide-ResNet50-2']) {
      const r = resolveModelSpec(alias);
      assert.deepEqual([r.family, r.preset, r.name], ['resnet', 'wide-resnet50-2', 'wide-resnet50-2'], alias);
    }
    const o = resolveModelSpec<ResolvedResNetConfig>({ preset: 'wide_resnet101_2', shortcut: 'none' });
    assert.deepEqual([o.preset, o.config.depth, o.config.widthMultiplier, o.config.shortcut], ['wide-resnet101-2', 101, 2, 'none']);
    assert.deepEqual(validateModelSpec({ preset: 'wide_resnet50_2', dropPathRate: 0.1 }), []);
    assert.deepEqual(presetSpec('wide_resnet50_2'), { family: 'resnet', config: { depth: 50, widthMultiplier: 2 } });
    const m = createModel('wide_resnet50_2', { initialize: false });
    try {
      assert.equal(m.name, 'wide-resnet50-2');
    } finally {
      m.dispose();
    }
    // Only '_' and case: anything else is still an unknown preset, with the usual hint.
    assert.match(validateModelSpec('wide resnet50 2')[0]!.message, /received "wide resnet50 2" \(did you mean "wide-resnet50-2"\?\)/);
  });

  it('lists every problem of a spec with its path, expectation, value and a hint', () => {
    const issues = validateModelSpec({ preset: 'resnet35', family: 'resnt' });
    assert.deepEqual(issues.map((i) => i.path), ['preset', 'family']);
    assert.match(issues[0]!.message, /^expected a model preset \(resnet18, plain18, .*\), received "resnet35" \(did you mean "resnet34"\?\)$/);
    assert.match(issues[1]!.message, /^expected a model family \(resnet(, [a-z-]+)*\), received "resnt" \(did you mean "resnet"\?\)$/);
    const many = validateModelSpec({ preset: 'plain20-cifar', dropPathRate: 0.2, preact: 1, widthMultplier: 2 });
    assert.deepEqual(many.map((i) => i.path).sort(), ['dropPathRate', 'preact', 'widthMultplier']);
    assert.match(many.find((i) => i.path === 'widthMultplier')!.message, /did you mean "widthMultiplier"/);
    assert.deepEqual(validateModelSpec(42).map((i) => i.path), ['']);
    assert.deepEqual(validateModelSpec(['resnet18']).map((i) => i.path), ['']);
    assert.match(validateModelSpec('resnet50x')[0]!.message, /received "resnet50x" \(did you mean "resnet50"\?\)/);
    assert.throws(() => resolveModelSpec({ preset: 'resnet18', numClasses: 0 }), (e: unknown) => e instanceof ModelConfigError && e.issues[0]!.path === 'numClasses');
  });

  it('ModelSpecSchema embeds in a larger config: issues carry the field path and are not reworded', () => {
    const Run = z.strictObject({ model: ModelSpecSchema, epochs: z.number() });
    const r = Run.safeParse({ model: { preset: 'plain20-cifar', dropPathRate: 0.2, preact: 'no' }, epochs: 'x' }, { reportInput: true });
    assert.equal(r.success, false);
    const issues = formatZodIssues(r.error!.issues);
    assert.deepEqual(issues.map((i) => i.path).sort(), ['epochs', 'model.dropPathRate', 'model.preact']);
    for (const i of issues) assert.equal(i.message.match(/received/g)?.length, 1, i.message);
    assert.equal(issues.find((i) => i.path === 'model.preact')!.message, 'expected boolean, received "no"');
    assert.ok(Run.safeParse({ model: { preset: 'resnet18', widthMultiplier: 2 }, epochs: 1 }).success);
    assert.ok(Run.safeParse({ model: 'preact-resnet110-cifar', epochs: 1 }).success);
  });

  it('a resolved spec survives JSON (a run\'s config.json) and rebuilds the same model', () => {
    const spec = { preset: 'resnet20-cifar', preact: true, widthMultiplier: 0.5, dropPathRate: 0.1 };
    const stored = JSON.parse(JSON.stringify(resolveModelSpec(spec, { numClasses: NUM_CLASSES })));
    const a = buildResolvedModel(stored, { seed: 4 });
    const b = createModelFromSpec(spec, { numClasses: NUM_CLASSES, seed: 4 });
    try {
      assert.equal(a.name, 'preact-resnet20-w0.5-cifar');
      assert.deepEqual(evalLogits(a), evalLogits(b));
      assert.deepEqual((a as ResNet).config, (b as ResNet).config);
    } finally {
      a.dispose();
      b.dispose();
    }
    assert.throws(() => buildResolvedModel({ ...stored, input: { ...stored.input, preact: 'yes' } }), ModelConfigError);
  });
});

describe('a new family registers itself and is usable through specs, with no other edits', () => {
  const TinySchema = z.strictObject({ hidden: z.number().int().min(1).default(4), numClasses: z.number().int().min(1).default(3) });
  type TinyConfig = z.output<typeof TinySchema>;
  const tiny: ModelFamily<z.input<typeof TinySchema>, TinyConfig> = {
    name: 'tiny-mlp',
    description: 'pooled MLP for tests',
    schema: TinySchema,
    presets: new Map([['tiny-mlp-4', { hidden: 4 }]]),
    validate: (c) => {
      const r = TinySchema.safeParse(c, { reportInput: true });
      return r.success ? [] : formatZodIssues(r.error.issues);
    },
    resolve: (c) => {
      const r = TinySchema.safeParse(c, { reportInput: true });
      if (!r.success) throw new ModelConfigError(formatZodIssues(r.error.issues));
      return r.data;
    },
    build: (c, o) => {
      const x = input({ shape: [3, null, null] });
      const y = dense({ name: 'fc', units: c.numClasses }).apply(relu().apply(dense({ name: 'hidden', units: c.hidden }).apply(flatten().apply(globalAveragePool().apply(x)))));
      return model({ inputs: x, outputs: y, name: o.name, generator: o.generator, initialize: o.initialize, defaultInputSize: 8 });
    },
    defaultName: (c) => `tiny-mlp-${c.hidden}`,
    describe: (c) => [`Switches: hidden=${c.hidden}`],
  };

  it('registers, lists, resolves, builds, summarises and trains', () => {
    registerFamily(tiny);
    // The bundled families first (resnet leading), the new one last.
    const names = listFamilies().map((f) => f.name);
    assert.deepEqual([names[0], names[names.length - 1]], ['resnet', 'tiny-mlp']);
    assert.deepEqual(listFamilies().find((f) => f.name === 'tiny-mlp')!.switches, ['hidden', 'numClasses']);
    assert.ok(listFamilies()[0]!.switches.includes('dropPathRate'));
    assert.deepEqual(listModelPresets('tiny-mlp'), ['tiny-mlp-4']);
    assert.ok(listPresets().includes('tiny-mlp-4'));
    const m = createModelFromSpec({ family: 'tiny-mlp', hidden: 6 }, { seed: 1 });
    try {
      assert.equal(m.name, 'tiny-mlp-6');
      assert.equal(m.countParams().trainable, 3 * 6 + 6 + 6 * 3 + 3);
      assert.ok(Number.isFinite(trainStep(m).loss));
    } finally {
      m.dispose();
    }
    assert.equal(resolveModelSpec('tiny-mlp-4').family, 'tiny-mlp');
    assert.deepEqual(validateModelSpec({ family: 'tiny-mlp', hiden: 2 }).map((i) => i.path), ['hiden']);
    assert.match(validateModelSpec({ family: 'resnet', preset: 'tiny-mlp-4' })[0]!.message, /^expected "tiny-mlp" \(the family of preset "tiny-mlp-4"\) or no family, received "resnet"$/);
    assert.throws(() => createModel('tiny-mlp-4'), /createModel builds ResNets, but preset "tiny-mlp-4" is of family "tiny-mlp"; use createModelFromSpec/);
    assert.throws(() => registerFamily(tiny), /registered twice/);
    assert.throws(() => registerFamily({ ...tiny, name: 'other', presets: new Map([['resnet18', { hidden: 1 }]]) }), /preset "resnet18" of family "other" is already a preset of family "resnet"/);
  });
});

describe('ablate summary', () => {
  const CLI = join(import.meta.dirname, '../../src/cli/main.ts');
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, 'summary', ...args], { encoding: 'utf8', timeout: 60_000 });

  it('takes a spec and --set switches, shows them, and defaults the input size to the model\'s', () => {
    const r = cli(['{preset: resnet20-cifar, preact: true}', '--set', 'dropPathRate=0.1', '--set', 'widthMultiplier=2']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'Model: "preact-resnet20-w2-cifar"');
    assert.match(lines[2]!, /^Switches: depth=20 shortcut=zero-pad preact=true widthMultiplier=2 dropPathRate=0.1 /);
    assert.ok(lines.some((l) => /^ layer3\.2\.drop_path \(DropPath\) +\(None, 128, 8, 8\) +0 /.test(l)), 'drop-path row at 32×32');
    assert.ok(lines.some((l) => /^ norm \(BatchNormalization\) /.test(l)));
  });

  it('--list shows every family with its switches and presets', () => {
    const r = cli(['--list']);
    assert.equal(r.status, 0, r.stderr);
    for (const [family, switches, preset] of [
      ['resnet', 'groups, widthPerGroup', 'resnext50-32x4d'], ['vgg', 'depth, batchNorm, head', 'vgg16-bn'],
      ['mobilenet', 'invertedResidual, linearBottleneck', 'mobilenet-v2-cifar'], ['densenet', 'growthRate, compression, bottleneck', 'densenet121'],
    ]) {
      const at = r.stdout.split('\n').findIndex((l) => l.startsWith(`${family}: `));
      assert.ok(at >= 0, `${family} missing:\n${r.stdout}`);
      assert.ok(r.stdout.split('\n')[at + 1]!.includes(switches), `${family} switches`);
      assert.ok(r.stdout.split('\n')[at + 2]!.includes(preset), `${family} presets`);
    }
  });

  it("summarises any family by torchvision's name, with its switches", () => {
    const r = cli(['mobilenet_v2', '--set', 'invertedResidual=false', '--input', '64']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'Model: "mobilenet-v2-noskip"');
    assert.match(lines[1]!, /^Family: mobilenet \(ImageNet layout, 17 inverted residual blocks, 0 with a skip/);
    assert.match(lines[2]!, /invertedResidual=false/);
    assert.ok(lines.some((l) => /^ features\.17\.conv\.2 \(Conv2D\) +\(None, 320, 2, 2\)/.test(l)), 'torchvision names at 64×64');
  });

  it('exits non-zero listing every bad switch', () => {
    const r = cli(['plain20-cifar', '--set', 'dropPathRate=0.2', '--set', 'preact=yes']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /preact: expected boolean, received "yes"/);
    assert.match(r.stderr, /dropPathRate: expected 0 with shortcut "none"/);
  });
});

describe('ConvNeXt and ViT switches: every combination builds, summarises, trains, saves and loads', () => {
  /** Two steps: the first reaches every layer only through weights that start near zero (layer scale 1e-6). */
  const twoSteps = (m: Model) => {
    const first = trainStep(m);
    const second = trainStep(m);
    assert.ok(Number.isFinite(first.loss) && Number.isFinite(second.loss), `losses ${first.loss}, ${second.loss}`);
    assert.ok(second.changed > second.total / 2, `${second.changed} of ${second.total} parameter tensors changed`);
  };
  const switchesLine = (m: Model): string => summaryLines(m).find((l) => l.startsWith('Switches: ')) ?? '(none)';
  /** Train-mode outputs repeat with the global seed and change with it (the drop-path masks). */
  const assertSeededDraws = (m: Model) => {
    m.train();
    const out = (seed: number): string => {
      manualSeed(seed);
      return JSON.stringify(tidy(() => noGrad(() => m.forward(x32)).toArray()));
    };
    assert.equal(out(1), out(1));
    assert.ok([2, 3, 4, 5].some((sd) => out(sd) !== out(1)), 'drop-path masks change with the seed');
  };

  const CONVNEXT_BASE = { family: 'convnext', depths: [1, 2], widths: [16, 32], stemPatch: 2, inputSize: 32 };
  for (const norm of ['layernorm', 'batchnorm'] as const) {
    for (const kernelSize of [3, 7]) {
      for (const layerScale of [1e-6, 0]) {
        for (const dropPathRate of [0, 0.3]) {
          const spec = { ...CONVNEXT_BASE, norm, kernelSize, layerScale, dropPathRate };
          it(`convnext: norm ${norm}, kernelSize ${kernelSize}, layerScale ${layerScale}, dropPathRate ${dropPathRate}`, async () => {
            const m = createModelFromSpec(spec, { numClasses: NUM_CLASSES, seed: 5 });
            try {
              assert.match(switchesLine(m), new RegExp(`^Switches: norm=${norm} kernelSize=${kernelSize} layerScale=${layerScale} dropPathRate=${dropPathRate} `));
              const sd = m.stateDict();
              assert.deepEqual(sd.get('features.1.0.block.0.weight')!.shape, [16, 1, kernelSize, kernelSize]);
              assert.equal(sd.has('features.3.1.layer_scale'), layerScale > 0);
              // BatchNorm everywhere: stem, blocks, downsampling and head carry running statistics; LayerNorm none.
              const bns = [...sd.keys()].filter((k) => k.endsWith('running_mean'));
              assert.deepEqual(bns, norm === 'batchnorm' ? ['features.0.1.running_mean', 'features.1.0.block.2.running_mean', 'features.2.0.running_mean',
                'features.3.0.block.2.running_mean', 'features.3.1.block.2.running_mean', 'classifier.0.running_mean'] : []);
              // Block 0 of 3 never drops (torchvision's rule), the last drops at the full rate.
              const rows = m.summaryData().rows.filter((r) => r.type === 'DropPath').map((r) => r.name);
              assert.deepEqual(rows, dropPathRate > 0 ? ['features.3.0.stochastic_depth', 'features.3.1.stochastic_depth'] : []);
              twoSteps(m);
              if (dropPathRate > 0) assertSeededDraws(m);
              await roundTrip(spec, m);
            } finally {
              m.dispose();
            }
          });
        }
      }
    }
  }

  const VIT_BASE = { family: 'vit', patchSize: 8, depth: 3, heads: 2, width: 32, mlpDim: 48, inputSize: 32 };
  for (const pool of ['cls', 'gap'] as const) {
    for (const posEmbed of ['learned', 'sincos', 'none'] as const) {
      for (const dropPathRate of [0, 0.3]) {
        const spec = { ...VIT_BASE, pool, posEmbed, dropPathRate };
        it(`vit: pool ${pool}, posEmbed ${posEmbed}, dropPathRate ${dropPathRate}`, async () => {
          const m = createModelFromSpec(spec, { numClasses: NUM_CLASSES, seed: 5 });
          try {
            assert.match(switchesLine(m), new RegExp(` pool=${pool} posEmbed=${posEmbed} dropPathRate=${dropPathRate} `));
            const sd = m.stateDict();
            assert.equal(sd.has('class_token'), pool === 'cls');
            assert.deepEqual(sd.get('encoder.pos_embedding')?.shape, posEmbed === 'learned' ? [1, pool === 'cls' ? 17 : 16, 32] : undefined);
            assert.deepEqual(sd.get('encoder.layers.encoder_layer_2.self_attention.in_proj_weight')!.shape, [96, 32]);
            const rows = m.summaryData().rows;
            assert.deepEqual(rows.find((r) => r.name === 'pool')!.outputShape, [null, 32]);
            assert.equal(rows.filter((r) => r.type === 'DropPath').length, dropPathRate > 0 ? 4 : 0);
            twoSteps(m);
            if (dropPathRate > 0) assertSeededDraws(m);
            await roundTrip(spec, m);
          } finally {
            m.dispose();
          }
        });
      }
    }
  }

  // The layout fields, each away from the matrix's base once.
  for (const spec of [
    { ...CONVNEXT_BASE, depths: [1], widths: [8], stemPatch: 1 }, { ...CONVNEXT_BASE, depths: [1, 1, 1], widths: [8, 16, 24], inChannels: 1 },
    { ...VIT_BASE, patchSize: 4, depth: 1, heads: 4, width: 16, mlpDim: 8 }, { ...VIT_BASE, patchSize: 16, heads: 1, inChannels: 1 },
  ]) {
    it(`${spec.family} layout ${JSON.stringify(spec)}`, async () => {
      const channels = (spec as { inChannels?: number }).inChannels ?? 3;
      const x = randn([2, channels, 32, 32], { generator: new Generator(3) });
      const m = createModelFromSpec(spec, { numClasses: NUM_CLASSES, seed: 5 });
      try {
        m.train();
        const loss = tidy(() => {
          const l = F.crossEntropy(m.forward(x), randint(0, NUM_CLASSES, [2], { generator: new Generator(0) }));
          l.backward();
          return l.item();
        });
        assert.ok(Number.isFinite(loss));
        assert.equal(m.parameters().filter((p) => p.grad === null).length, 0, 'every parameter has a gradient');
        const path = join(dir, 'layout.pth');
        await saveWeights(m, path);
        const twin = createModelFromSpec(spec, { numClasses: NUM_CLASSES, seed: 6 });
        assert.equal((await loadWeights(twin, path)).loaded.length, m.stateDict().size);
        twin.dispose();
      } finally {
        m.dispose();
        x.dispose();
      }
    });
  }

  it('vit: dropout and attention dropout act in training only', () => {
    const m = createModelFromSpec({ ...VIT_BASE, dropout: 0.2, attentionDropout: 0.2 }, { numClasses: NUM_CLASSES, seed: 5 });
    try {
      assert.deepEqual(evalLogits(m), evalLogits(m));
      m.train();
      manualSeed(1);
      const a = tidy(() => noGrad(() => m.forward(x32)).toArray());
      manualSeed(2);
      const b = tidy(() => noGrad(() => m.forward(x32)).toArray());
      assert.notDeepEqual(a, b);
      assert.ok(Number.isFinite(trainStep(m).loss));
    } finally {
      m.dispose();
    }
  });

  it('nonsensical combinations are errors naming what was expected and received', () => {
    const issues = (spec: object) => validateModelSpec(spec);
    const one = (spec: object, path: string) => issues(spec).find((i) => i.path === path)?.message ?? `(no issue at ${path}: ${JSON.stringify(issues(spec))})`;
    assert.equal(one({ ...VIT_BASE, heads: 3 }, 'heads'), 'expected a divisor of width 32 (each head gets width / heads features), received number 3');
    assert.equal(one({ ...VIT_BASE, inputSize: 36 }, 'inputSize'), 'expected a multiple of patchSize 8 (the image is cut into whole patches), received number 36');
    assert.equal(one({ family: 'vit', patchSize: 15, depth: 1, heads: 1, width: 8 }, 'inputSize'), 'expected a multiple of patchSize 15 (the image is cut into whole patches), received number 224 (the default)');
    assert.match(one({ ...VIT_BASE, width: 30, heads: 2, posEmbed: 'sincos' }, 'width'), /^expected a multiple of 4, at least 8, with posEmbed "sincos" .*received number 30$/);
    assert.equal(one({ ...VIT_BASE, pool: 'max' }, 'pool'), 'expected "cls" | "gap", received "max"');
    assert.match(one({ ...VIT_BASE, posEmbd: 'none' }, 'posEmbd'), /did you mean "posEmbed"/);
    assert.equal(one({ ...CONVNEXT_BASE, kernelSize: 4 }, 'kernelSize'), 'expected an odd kernel size (1, 3, 5, 7, …) so padding k/2 keeps the map size, received number 4');
    assert.equal(one({ ...CONVNEXT_BASE, widths: [16, 32, 64] }, 'widths'), 'expected one width per stage (2, as depths), received 3: array of length 3 [16,32,64]');
    assert.match(one({ ...CONVNEXT_BASE, inputSize: 3 }, 'inputSize'), /^expected at least 4 \(the stem's 2× and 1 2× downsamplings leave no pixel otherwise\), received number 3$/);
    assert.equal(one({ ...CONVNEXT_BASE, norm: 'groupnorm' }, 'norm'), 'expected "layernorm" | "batchnorm", received "groupnorm"');
    assert.equal(one({ preset: 'convnext-tiny', dropPathRate: 1 }, 'dropPathRate'), 'expected number < 1, received number 1');
    // All at once, before anything is built.
    assert.deepEqual(issues({ ...VIT_BASE, heads: 3, inputSize: 36, pool: 'max' }).map((i) => i.path).sort(), ['heads', 'inputSize', 'pool']);
    assert.throws(() => createModelFromSpec({ ...VIT_BASE, heads: 5 }), ModelConfigError);
  });

  it('a ViT refuses images of another size than its position table, saying which size it takes', () => {
    const m = createModelFromSpec(VIT_BASE, { numClasses: NUM_CLASSES, seed: 5 });
    const x = randn([1, 3, 40, 40]);
    try {
      assert.throws(() => m.forward(x), /PositionEmbedding layer "encoder" is for 17 tokens \(a 4×4 patch grid and a class token\) but received 26: this ViT takes 32×32 images \(inputSize 32, 4×4 patches of 8²\): resize the images to 32 \(data\.imageSize\) or build the model for their size \(model\.inputSize\)/);
      assert.throws(() => m.summaryData(40), /PositionEmbedding layer "encoder" is for 17 tokens .* but received shape \(None, 26, 32\)/);
    } finally {
      x.dispose();
      m.dispose();
    }
  });
});
