// Pre-activation ResNets (and WRN-28-10's parameter count) against an independent PyTorch implementation
// (test/models/torch_preact.py): same weights under ablate's names, same logits and BN statistics.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Generator, noGrad, normal_, randn, tidy, uniform_, type Tensor } from '../../src/tensor/index.js';
import { BatchNormalization, type Model } from '../../src/nn/index.js';
import { createModelFromSpec, rawToTensor, resolveModelSpec, saveWeights, tensorToRaw, type ModelSpec } from '../../src/models/index.js';
import { readStateDict, writeStateDict, type RawTensor } from '../../src/models/pth/index.js';
import { PYTHON } from '../torch-python.js';
import { relError } from './parity-helpers.js';

const SCRIPT = fileURLToPath(new URL('./torch_preact.py', import.meta.url));

function torchMissing(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found: PyTorch parity needs Debian python3-torch`;
  if (r.status !== 0) return `${PYTHON} cannot import torch (install python3-torch): ${r.stderr.trim().split('\n').pop()}`;
  return false;
}
const skip = torchMissing();

/** Cases run through both implementations: each switch that changes the v2 graph at least once. */
const CASES: Record<string, ModelSpec> = {
  'preact-cifar-zeropad': 'preact-resnet20-cifar',
  'preact-cifar-wide-projection': { depth: 14, preact: true, widthMultiplier: 2, shortcut: 'projection' },
  'preact-bottleneck-all-projection': { depth: 50, preact: true, widthMultiplier: 0.5, stride: '1x1', shortcut: 'all-projection' },
  'preact-plain': { depth: 8, preact: true, shortcut: 'none' },
};
const COUNT_ONLY: Record<string, ModelSpec> = { 'wrn28-10-cifar': 'wrn28-10-cifar' };
const NUM_CLASSES = 10;

function randomizeBatchNorm(model: Model, g: Generator): void {
  noGrad(() => {
    for (const l of model.layers) {
      if (!(l instanceof BatchNormalization)) continue;
      normal_(l.buffers.get('running_mean')!, 0, 0.1, g);
      uniform_(l.buffers.get('running_var')!, 0.5, 1.5, g);
      uniform_(l.params.get('weight')!, 0.5, 1.5, g);
      normal_(l.params.get('bias')!, 0, 0.1, g);
    }
  });
}

describe('pre-activation ResNets match a hand-written PyTorch ResNet v2', { skip }, () => {
  let dir: string;
  let x: Tensor;
  const models = new Map<string, Model>();
  const outputs = new Map<string, Map<string, RawTensor>>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ablate-preact-parity-'));
    x = randn([2, 3, 64, 64], { generator: new Generator(11) });
    await writeStateDict(join(dir, 'input.pth'), new Map([['x', tensorToRaw(x)]]));
    const configs: Record<string, unknown> = {};
    for (const [i, [name, spec]] of Object.entries(CASES).entries()) {
      const m = createModelFromSpec(spec, { numClasses: NUM_CLASSES, seed: 300 + i });
      randomizeBatchNorm(m, new Generator(400 + i));
      await saveWeights(m, join(dir, `${name}.ablate.pth`));
      models.set(name, m);
      configs[name] = resolveModelSpec(spec, { numClasses: NUM_CLASSES }).config;
    }
    for (const [name, spec] of Object.entries(COUNT_ONLY)) configs[name] = resolveModelSpec(spec).config;
    writeFileSync(join(dir, 'cases.json'), JSON.stringify(configs));
    const r = spawnSync(PYTHON, [SCRIPT, dir, ...Object.keys(configs)], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `torch_preact.py failed:\n${r.stderr}`);
    for (const name of Object.keys(configs)) outputs.set(name, await readStateDict(join(dir, `${name}.out.pth`)));
  });

  after(() => {
    for (const m of models.values()) m.dispose();
    x?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const expected = (c: string, key: string): Tensor => {
    const raw = outputs.get(c)!.get(key);
    assert.ok(raw, `PyTorch output ${key} missing for ${c}`);
    return rawToTensor(raw);
  };
  const torchParams = (c: string): number => tidy(() => expected(c, 'params').item());

  for (const c of Object.keys(CASES)) {
    it(`${c}: same parameter count, eval and train-mode logits and BN statistics as PyTorch (weights loaded strictly by name)`, () => {
      const m = models.get(c)!;
      assert.equal(m.countParams().trainable, torchParams(c));
      m.eval();
      tidy(() => {
        const err = relError(noGrad(() => m.forward(x)), expected(c, 'eval'));
        assert.ok(err < 1e-4, `eval relative error ${err}`);
      });
      m.train();
      tidy(() => {
        const err = relError(noGrad(() => m.forward(x)), expected(c, 'train'));
        assert.ok(err < 1e-4, `train relative error ${err}`);
        const sd = m.stateDict();
        let checked = 0;
        for (const [k, raw] of outputs.get(c)!) {
          if (!k.startsWith('after.') || k.endsWith('num_batches_tracked')) continue;
          const key = k.slice('after.'.length);
          assert.ok(relError(sd.get(key)!, rawToTensor(raw)) < 1e-4, `${key} differs after a train-mode forward`);
          checked++;
        }
        assert.ok(checked > 0);
      });
    });
  }

  it('WRN-28-10 (He depth 26, preact, ×10, projection) has 36,479,194 parameters, in ablate and in the PyTorch reference', () => {
    const m = createModelFromSpec('wrn28-10-cifar', { initialize: false });
    try {
      assert.equal(m.countParams().trainable, 36_479_194);
      assert.equal(torchParams('wrn28-10-cifar'), 36_479_194);
    } finally {
      m.dispose();
    }
  });
});
