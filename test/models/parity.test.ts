// The same weights give the same logits and BN statistics in ablate and in PyTorch/torchvision, and
// checkpoints move both ways through .pth files.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Generator, noGrad, normal_, randn, tidy, uniform_, type Tensor } from '../../src/tensor/index.js';
import { BatchNormalization } from '../../src/nn/index.js';
import { createModel, loadWeights, rawToTensor, saveWeights, tensorToRaw, type ResNet } from '../../src/models/index.js';
import { readStateDict, writeStateDict, type RawTensor } from '../../src/models/pth/index.js';
import { PYTHON } from '../torch-python.js';
import { relError } from './parity-helpers.js';

const SCRIPT = fileURLToPath(new URL('./torch_parity.py', import.meta.url));
const CASES = ['resnet18', 'resnet34', 'resnet50', 'plain34'];
const NUM_CLASSES = 10;

function torchMissing(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found: PyTorch parity needs Debian python3-torch and python3-torchvision`;
  if (r.status !== 0) return `${PYTHON} cannot import torch/torchvision (install python3-torch python3-torchvision): ${r.stderr.trim().split('\n').pop()}`;
  return false;
}
const skip = torchMissing();


/** Random BN statistics and affine parameters, so eval mode is not a near-identity. */
function randomizeBatchNorm(model: ResNet, g: Generator): void {
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

describe('parity with PyTorch/torchvision', { skip }, () => {
  let dir: string;
  let x: Tensor;
  const models = new Map<string, ResNet>();
  let outputs: Map<string, Map<string, RawTensor>>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ablate-parity-'));
    x = randn([2, 3, 64, 64], { generator: new Generator(7) });
    await writeStateDict(join(dir, 'input.pth'), new Map([['x', tensorToRaw(x)]]));
    for (const [i, c] of CASES.entries()) {
      const m = createModel(c, { numClasses: NUM_CLASSES, seed: 100 + i });
      randomizeBatchNorm(m, new Generator(200 + i));
      await saveWeights(m, join(dir, `${c}.ablate.pth`));
      models.set(c, m);
    }
    const r = spawnSync(PYTHON, [SCRIPT, dir, ...CASES], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `torch_parity.py failed:\n${r.stderr}`);
    outputs = new Map();
    for (const c of CASES) outputs.set(c, await readStateDict(join(dir, `${c}.out.pth`)));
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

  for (const c of CASES) {
    it(`${c}: eval-mode logits match torchvision (weights written by ablate, read by torch.load strictly)`, () => {
      const m = models.get(c)!;
      m.eval();
      tidy(() => {
        const y = noGrad(() => m.forward(x));
        assert.deepEqual(y.shape, [2, NUM_CLASSES]);
        const err = relError(y, expected(c, 'eval'));
        assert.ok(err < 1e-4, `relative error ${err}`);
      });
    });

    it(`${c}: train-mode logits and updated BN running statistics match torchvision`, () => {
      const m = models.get(c)!;
      m.train();
      tidy(() => {
        const y = noGrad(() => m.forward(x));
        const err = relError(y, expected(c, 'train'));
        assert.ok(err < 1e-4, `train logits relative error ${err}`);
        const sd = m.stateDict();
        let checked = 0;
        for (const [k, raw] of outputs.get(c)!) {
          if (!k.startsWith('after.')) continue;
          const key = k.slice('after.'.length);
          const mine = sd.get(key);
          assert.ok(mine, `ablate has no ${key}`);
          if (key.endsWith('num_batches_tracked')) assert.equal(mine.item(), 1, key);
          else assert.ok(relError(mine, rawToTensor(raw)) < 1e-4, `${key} differs after a train-mode forward`);
          checked++;
        }
        assert.ok(checked > 0);
      });
      m.eval();
    });

    it(`${c}: a state dict saved by torch.save loads strictly and gives torch's logits`, async () => {
      const m = createModel(c, { numClasses: NUM_CLASSES, seed: 1 });
      try {
        const report = await loadWeights(m, join(dir, `${c}.torch.pth`));
        assert.equal(report.loaded.length, m.stateDict().size);
        m.eval();
        tidy(() => {
          const err = relError(noGrad(() => m.forward(x)), expected(c, 'torch_eval'));
          assert.ok(err < 1e-4, `relative error ${err}`);
        });
      } finally {
        m.dispose();
      }
    });
  }
});
