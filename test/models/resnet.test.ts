import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { Generator, liveTensorCount, noGrad, randn, tidy, F, randint, cudaAvailable, type Tensor } from '../../src/tensor/index.js';
import { Conv2D, ZeroPadShortcut, Add } from '../../src/nn/index.js';
import {
  createModel, listModelPresets, printSummary, modelSummaryData, resolveModelConfig, ModelConfigError, SHORTCUTS, validateResNetConfig, type ResNet,
} from '../../src/models/index.js';

const x32 = randn([2, 3, 32, 32], { generator: new Generator(3) });
after(() => x32.dispose());

const allFinite = (t: Tensor): boolean => tidy(() => t.isfinite().all().item() === 1);
const sumParams = (m: ResNet, pred: (name: string) => boolean): number =>
  m.namedParameters().filter(([k]) => pred(k)).reduce((a, [, t]) => a + t.numel, 0);

describe('preset registry', () => {
  it('lists resnet/plain/preact 18…152, the CIFAR 20…110 nets, the wide ResNets and WRN-28-10', () => {
    const expected = [18, 34, 50, 101, 152].flatMap((d) => [`resnet${d}`, `plain${d}`, `preact-resnet${d}`])
      .concat([20, 32, 44, 56, 110].flatMap((d) => [`resnet${d}-cifar`, `plain${d}-cifar`, `preact-resnet${d}-cifar`]))
      .concat(['wide-resnet50-2', 'wide-resnet101-2', 'wrn28-10-cifar'])
      .concat(['resnext50-32x4d', 'resnext101-32x8d', 'resnext101-64x4d', 'resnext29-8x16d-cifar', 'resnet29-bottleneck-cifar']);
    assert.deepEqual(listModelPresets('resnet').sort(), expected.sort());
  });

  it('rejects an unknown preset, listing the valid names', () => {
    assert.throws(() => createModel('resnet35'), (e: Error) => /Unknown model preset "resnet35"; expected one of: resnet18, plain18, .*plain110-cifar/.test(e.message));
  });

  it('rejects bad config fields with path, expectation and the value received', () => {
    assert.throws(() => createModel({ depth: 50, shortcut: 'zero' as never }), (e: unknown) => {
      assert.ok(e instanceof ModelConfigError);
      assert.match(e.message, /shortcut: expected "projection" \| "zero-pad" \| "all-projection" \| "none", received "zero"/);
      return true;
    });
    assert.throws(() => createModel('resnet18', { numClasses: 0 }), /numClasses: expected number >= 1, received number 0/);
    assert.throws(() => createModel('resnet18', { config: { bnEps: -1 } }), /bnEps: expected number > 0, received number -1/);
    assert.throws(() => createModel({ depth: 19 as never }), /depth: expected 18 \| 34 \| 50 \| 101 \| 152 \(ImageNet layout\) or 6n\+2 from 8 to 2000 \(CIFAR layout: 20 \| 32 \| 44 \| 56 \| 110 \| …\), or 9n\+2 with block: bottleneck \(CIFAR layout: 29 \| …\), received number 19/);
    const issues = validateResNetConfig({ depth: 18, numClases: 2, stride: 2 });
    assert.deepEqual(issues.map((i) => i.path).sort(), ['numClases', 'stride']);
    assert.match(issues.find((i) => i.path === 'numClases')!.message, /did you mean "numClasses"/);
  });

  it('resolves defaults from depth: CIFAR nets use option-A shortcuts, 10 classes and 32×32', () => {
    const c = resolveModelConfig('resnet56-cifar');
    assert.deepEqual([c.layout, c.block, c.layers, c.widths, c.shortcut, c.numClasses, c.inputSize], ['cifar', 'basic', [9, 9, 9], [16, 32, 64], 'zero-pad', 10, 32]);
    const r = resolveModelConfig('resnet50', { numClasses: 2 });
    assert.deepEqual([r.layout, r.block, r.layers, r.shortcut, r.stride, r.numClasses, r.inputSize], ['imagenet', 'bottleneck', [3, 4, 6, 3], 'projection', '3x3', 2, 224]);
    assert.equal(resolveModelConfig('plain34').shortcut, 'none');
  });
});

describe('parameter counts equal torchvision at 1000 classes', () => {
  const table: [string, number, number][] = [
    ['resnet18', 11_689_512, 9_600],
    ['resnet34', 21_797_672, 17_024],
    ['resnet50', 25_557_032, 53_120],
    ['resnet101', 44_549_160, 105_344],
    ['resnet152', 60_192_808, 151_424],
  ];
  for (const [preset, trainable, nonTrainable] of table) {
    it(`${preset}: ${trainable} trainable, ${nonTrainable} non-trainable; the plain twin lacks exactly the projections`, () => {
      const m = createModel(preset, { initialize: false });
      const plain = createModel(preset.replace('resnet', 'plain'), { initialize: false });
      try {
        assert.deepEqual(m.countParams(), { trainable, nonTrainable, total: trainable + nonTrainable });
        const projections = sumParams(m, (k) => k.includes('downsample'));
        assert.ok(projections > 0);
        assert.equal(plain.countParams().trainable, trainable - projections);
        const summary = m.summaryData();
        assert.equal(summary.totals.trainable, trainable);
        assert.equal(summary.totals.nonTrainable, nonTrainable);
      } finally {
        m.dispose();
        plain.dispose();
      }
    });
  }

  it('CIFAR ResNet-20/56/110 have ≈0.27M/0.85M/1.7M parameters (He et al. Table 6)', () => {
    for (const [preset, millions] of [['resnet20-cifar', 0.27], ['resnet56-cifar', 0.85], ['resnet110-cifar', 1.7]] as const) {
      const m = createModel(preset, { initialize: false });
      const p = m.countParams().trainable / 1e6;
      m.dispose();
      assert.ok(Math.abs(p - millions) / millions < 0.03, `${preset}: ${p}M`);
    }
  });

  it('MACs at 224×224 match torchvision’s table (1.81/3.66/4.09 G)', () => {
    for (const [preset, g] of [['resnet18', 1.81], ['resnet34', 3.66], ['resnet50', 4.09]] as const) {
      const m = createModel(preset, { initialize: false });
      const { macs, flops } = m.flops(224);
      m.dispose();
      assert.ok(Math.abs(macs / 1e9 - g) < 0.006, `${preset}: ${macs}`);
      assert.ok(flops > 2 * macs);
    }
  });
});

describe('every preset builds and runs', () => {
  for (const preset of listModelPresets('resnet')) {
    // The 101/152-layer nets only check structure: a forward adds seconds and no new code path.
    const runs = !/101|152/.test(preset);
    it(`${preset}: ${runs ? 'logits [2, classes] without NaN in train and eval mode, ' : ''}summary totals = countParams`, () => {
      const m = createModel(preset, { numClasses: 7, seed: 0, initialize: runs });
      try {
        if (runs) {
          for (const training of [true, false]) {
            m.train(training);
            tidy(() => {
              const y = noGrad(() => m.forward(x32));
              assert.deepEqual(y.shape, [2, 7]);
              assert.ok(allFinite(y));
            });
          }
        }
        const s = m.summaryData();
        const c = m.countParams();
        assert.deepEqual([s.totals.trainable, s.totals.nonTrainable, s.totals.params], [c.trainable, c.nonTrainable, c.total]);
        assert.deepEqual(s.rows.at(-1)!.outputShape, [null, 7]);
        assert.equal(s.rows.at(-1)!.name, 'fc');
        const plain = preset.startsWith('plain');
        assert.equal(m.layers.some((l) => l instanceof Add), !plain);
        assert.equal(m.layers.some((l) => l.name.includes('downsample')), !plain);
      } finally {
        m.dispose();
      }
    });
  }
});

describe('shortcut options', () => {
  for (const depth of [18, 50, 20] as const) {
    for (const shortcut of SHORTCUTS) {
      it(`depth ${depth}, shortcut ${shortcut}: shape, finite logits, matching summary`, () => {
        const m = createModel({ depth, shortcut, numClasses: 3 }, { seed: 1 });
        try {
          tidy(() => {
            const y = noGrad(() => m.forward(x32));
            assert.deepEqual(y.shape, [2, 3]);
            assert.ok(allFinite(y));
          });
          assert.equal(m.summaryData().totals.params, m.countParams().total);
          const zeroPads = m.layers.filter((l) => l instanceof ZeroPadShortcut).length;
          const projections = m.layers.filter((l) => l instanceof Conv2D && l.name.includes('downsample')).length;
          const blocks = m.config.layers.reduce((a, b) => a + b, 0);
          // Shapes change in the first block of each later stage, and in layer1.0 of bottleneck nets (64 → 256).
          const reshaping = m.config.layers.length - 1 + (m.config.block === 'bottleneck' ? 1 : 0);
          const expected = { projection: [0, reshaping], 'zero-pad': [reshaping, 0], 'all-projection': [0, blocks], none: [0, 0] }[shortcut];
          assert.deepEqual([zeroPads, projections], expected);
        } finally {
          m.dispose();
        }
      });
    }
  }

  it('zero-pad shortcuts add no parameters: same count as the plain net', () => {
    const a = createModel({ depth: 34, shortcut: 'zero-pad' }, { initialize: false });
    const b = createModel('plain34', { initialize: false });
    assert.equal(a.countParams().total, b.countParams().total);
    a.dispose();
    b.dispose();
  });
});

describe('model behaviour', () => {
  it('the same seed gives the same weights; another seed different ones', () => {
    const [a, b, c] = [1, 1, 2].map((seed) => createModel('resnet20-cifar', { seed }));
    tidy(() => {
      for (const [[k, ta], [, tb], [, tc]] of a!.namedParameters().map((p, i) => [p, b!.namedParameters()[i]!, c!.namedParameters()[i]!])) {
        assert.ok(ta.eq(tb).all().item() === 1, `${k} differs for the same seed`);
        if (k.endsWith('conv1.weight')) assert.ok(ta.eq(tc).all().item() === 0, `${k} equal for different seeds`);
      }
    });
    for (const m of [a, b, c]) m!.dispose();
  });

  it('initialises like torchvision: conv std √(2/fan_out), BN 1/0, fc uniform within 1/√fan_in', () => {
    const m = createModel('resnet18', { seed: 0 });
    const sd = m.stateDict();
    tidy(() => {
      const w = sd.get('layer3.0.conv2.weight')!; // [256, 256, 3, 3]: fan_out 2304
      const std = w.std().item();
      assert.ok(Math.abs(std - Math.sqrt(2 / 2304)) / Math.sqrt(2 / 2304) < 0.02, `std ${std}`);
      assert.ok(Math.abs(w.mean().item()) < 1e-3);
      assert.equal(sd.get('bn1.weight')!.eq(1).all().item(), 1);
      assert.equal(sd.get('bn1.bias')!.eq(0).all().item(), 1);
      assert.equal(sd.get('bn1.running_var')!.eq(1).all().item(), 1);
      const fc = sd.get('fc.weight')!;
      const bound = 1 / Math.sqrt(512);
      assert.ok(fc.abs().max().item() <= bound && fc.abs().max().item() > 0.95 * bound);
      assert.ok(sd.get('fc.bias')!.abs().max().item() <= bound);
    });
    m.dispose();
  });

  it('zeroInitLastBn zeroes the last BN scale of every block only', () => {
    for (const preset of ['resnet18', 'resnet50']) {
      const m = createModel(preset, { config: { zeroInitLastBn: true }, seed: 0, initialize: true });
      const last = preset === 'resnet18' ? /^layer\d\.\d+\.bn2\.weight$/ : /^layer\d\.\d+\.bn3\.weight$/;
      tidy(() => {
        for (const [k, t] of m.namedParameters()) {
          if (!k.includes('bn') || !k.endsWith('weight')) continue;
          assert.equal(t.eq(0).all().item(), last.test(k) ? 1 : 0, k);
        }
      });
      m.dispose();
    }
  });

  it("stride '1x1' moves a bottleneck's downsampling to its first 1×1 conv", () => {
    const shapeOf = (stride: '3x3' | '1x1', name: string) => {
      const d = modelSummaryData({ depth: 50, stride }, { inputSize: 64 });
      return d.rows.find((r) => r.name === name)!.outputShape;
    };
    assert.deepEqual(shapeOf('3x3', 'layer2.0.conv1'), [null, 128, 16, 16]);
    assert.deepEqual(shapeOf('3x3', 'layer2.0.conv2'), [null, 128, 8, 8]);
    assert.deepEqual(shapeOf('1x1', 'layer2.0.conv1'), [null, 128, 8, 8]);
    assert.deepEqual(shapeOf('1x1', 'layer2.0.conv2'), [null, 128, 8, 8]);
  });

  it('uses torchvision state-dict keys, in torchvision order, with num_batches_tracked as int64', () => {
    const m = createModel('resnet18', { initialize: false });
    const keys = [...m.stateDict().keys()];
    assert.deepEqual(keys.slice(0, 6), ['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked']);
    const i = keys.indexOf('layer2.0.downsample.0.weight');
    assert.deepEqual(keys.slice(i - 1, i + 7), [
      'layer2.0.bn2.num_batches_tracked', 'layer2.0.downsample.0.weight', 'layer2.0.downsample.1.weight', 'layer2.0.downsample.1.bias',
      'layer2.0.downsample.1.running_mean', 'layer2.0.downsample.1.running_var', 'layer2.0.downsample.1.num_batches_tracked', 'layer2.1.conv1.weight',
    ]);
    assert.deepEqual(keys.slice(-2), ['fc.weight', 'fc.bias']);
    assert.equal(keys.length, 122);
    assert.equal(m.stateDict().get('bn1.num_batches_tracked')!.dtype, 'int64');
    assert.equal(m.parameters().length, 62);
    assert.ok(m.parameters().every((p) => p.requiresGrad));
    assert.ok(m.namedBuffers().every(([, b]) => !b.requiresGrad));
    m.dispose();
  });

  it('counts batches only in training mode', () => {
    const m = createModel('resnet20-cifar', { seed: 0 });
    const nbt = m.stateDict().get('layer1.0.bn1.num_batches_tracked')!;
    const rm = m.stateDict().get('layer1.0.bn1.running_mean')!;
    tidy(() => m.forward(x32));
    tidy(() => m.forward(x32));
    assert.equal(nbt.item(), 2);
    const before = rm.toArray();
    m.eval();
    tidy(() => m.forward(x32));
    assert.equal(nbt.item(), 2);
    assert.deepEqual(rm.toArray(), before);
    m.dispose();
  });

  it('forward leaks no tensors: after tidy the live count returns to its previous value', () => {
    const m = createModel('resnet18', { seed: 0 });
    for (const training of [true, false]) {
      m.train(training);
      const before = liveTensorCount();
      tidy(() => {
        m.forward(x32);
      });
      assert.equal(liveTensorCount(), before);
      tidy(() => m.forward(x32)).dispose();
      assert.equal(liveTensorCount(), before);
      // Without tidy only the returned logits stay alive: intermediates are released during forward.
      const y = m.forward(x32);
      assert.equal(liveTensorCount(), before + 1);
      y.dispose();
      assert.equal(liveTensorCount(), before);
    }
    m.dispose();
  });

  it('backpropagates into every parameter', () => {
    const m = createModel('resnet20-cifar', { seed: 0 });
    tidy(() => {
      const loss = F.crossEntropy(m.forward(x32), randint(0, 10, [2], { generator: new Generator(0) }));
      loss.backward();
      for (const [k, p] of m.namedParameters()) {
        const g = p.grad;
        assert.ok(g !== null, `${k} has no gradient`);
        assert.deepEqual(g.shape, p.shape);
      }
    });
    m.dispose();
  });

  it('runs any input size ≥ 32, including non-square', () => {
    const m = createModel('resnet18', { seed: 0, numClasses: 4 });
    m.eval();
    tidy(() => {
      const y = noGrad(() => m.forward(randn([1, 3, 40, 57])));
      assert.deepEqual(y.shape, [1, 4]);
      assert.deepEqual(m.summaryData([40, 57]).rows.find((r) => r.name === 'layer4.1.relu2')!.outputShape, [null, 512, 2, 2]);
    });
    m.dispose();
  });

  it('rejects inputs with the wrong rank or channel count clearly', () => {
    const m = createModel('resnet20-cifar', { initialize: false });
    tidy(() => {
      assert.throws(() => m.forward(randn([3, 32, 32])), /resnet20-cifar\.forward\(\): expected a 4-D input \(None, 3, None, None\) but received shape \[3, 32, 32\]/);
      assert.throws(() => m.forward(randn([2, 1, 32, 32])), /expected input shape \(None, 3, None, None\) but received \[2, 1, 32, 32\]/);
      assert.throws(() => m.forward('x' as never), /Expected a Tensor for resnet20-cifar\.forward\(\) input but received "x"/);
    });
    m.dispose();
  });

  it('channels-last weights give the same logits', () => {
    const m = createModel('resnet18', { seed: 0 });
    m.eval();
    tidy(() => {
      const a = noGrad(() => m.forward(x32));
      m.toMemoryFormat('channels_last');
      assert.ok(m.stateDict().get('layer1.0.conv1.weight')!.isContiguous('channels_last'));
      assert.ok(m.parameters().every((p) => p.requiresGrad));
      const b = noGrad(() => m.forward(x32.contiguous('channels_last')));
      assert.ok(a.sub(b).abs().max().item() < 1e-4);
      m.toMemoryFormat('contiguous');
      assert.ok(m.stateDict().get('layer1.0.conv1.weight')!.isContiguous());
    });
    m.dispose();
  });

  it('to(device): cpu is a no-op; CUDA without a GPU is a clear error', () => {
    const m = createModel('resnet20-cifar', { initialize: false });
    const w = m.parameters()[0];
    assert.equal(m.to('cpu').parameters()[0], w);
    assert.equal(m.device, 'cpu');
    if (!cudaAvailable()) assert.throws(() => m.to('cuda'), /cuda/i);
    assert.throws(() => m.to('tpu'), /Expected "cpu", "cuda" or "cuda:N" for device but received "tpu"/);
    m.dispose();
  });
});

describe('printSummary', () => {
  it('prints the Keras table with totals through the injected print function', () => {
    const lines: string[] = [];
    const data = printSummary('resnet50', { numClasses: 2, print: (l) => lines.push(l) });
    assert.equal(lines[0], 'Model: "resnet50"');
    assert.equal(lines[1], 'Family: resnet (ImageNet layout, bottleneck blocks 3/4/6/3, widths 64/128/256/512)');
    assert.match(lines[2]!, /^Switches: depth=50 shortcut=projection preact=false widthMultiplier=1 dropPathRate=0 block=bottleneck groups=1 widthPerGroup=64 stride=3x3 /);
    assert.match(lines[4]!, /^ Layer \(type\) +Output Shape +Param # +MACs +Connected to$/);
    assert.ok(lines.some((l) => /^ conv1 \(Conv2D\) +\(None, 64, 112, 112\) +9,408 +118,013,952 +input$/.test(l)), 'conv1 row');
    assert.ok(lines.some((l) => /^ fc \(Dense\) +\(None, 2\) +4,098 +4,096 +flatten$/.test(l)), 'fc row');
    assert.ok(lines.some((l) => /^ layer1\.0\.add \(Add\) .* layer1\.0\.bn3, layer1\.0\.downsample\.1$/.test(l)), 'add row');
    const trainable = 25_557_032 - 2049 * 998; // fc: 998 fewer rows of 2048 weights + 1 bias
    assert.ok(lines.includes(`Trainable params: ${trainable.toLocaleString('en-US')} (${((trainable * 4) / 2 ** 20).toFixed(2)} MB)`));
    assert.ok(lines.includes('Non-trainable params: 53,120 (207.50 KB)'));
    assert.ok(lines.some((l) => /^Total MACs: 4,08\d,\d{3},\d{3} \(4\.09 G\)/.test(l)));
    assert.equal(data.totals.trainable, trainable);
  });

  it('honours inputSize', () => {
    const lines: string[] = [];
    printSummary('resnet18', { inputSize: 32, print: (l) => lines.push(l) });
    assert.ok(lines.some((l) => /^ layer4\.1\.relu2 \(ReLU\) +\(None, 512, 1, 1\)/.test(l)));
  });
});
