// ConvNeXt and ViT: the same weights give the same logits in ablate and torchvision 0.14, in eval and train mode,
// and state dicts move both ways through .pth files (ablate → torch strictly, torch → ablate strictly).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Generator, noGrad, normal_, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { createModelFromSpec, loadWeights, saveWeights, tensorToRaw, type ModelSpec } from '../../src/models/index.js';
import type { Model } from '../../src/nn/index.js';
import { readStateDict, writeStateDict, type RawTensor } from '../../src/models/pth/index.js';
import { PYTHON } from '../torch-python.js';
import { relError, torchOutput, torchvisionMissing } from './parity-helpers.js';

const SCRIPT = fileURLToPath(new URL('./torch_transformer_parity.py', import.meta.url));
const NUM_CLASSES = 10;
/** torchvision's builder for each case is in the Python script; drop-path 0 so train mode is deterministic. */
const CASES: Record<string, { spec: ModelSpec; size: number }> = {
  convnext_tiny: { spec: { preset: 'convnext-tiny', dropPathRate: 0 }, size: 64 },
  // torchvision's own ViT-B/16 at its 224² (batch 2): the preset's sizes, not only the code paths.
  vit_b_16: { spec: 'vit_b_16', size: 224 },
  vit_small: { spec: { family: 'vit', patchSize: 8, depth: 2, heads: 4, width: 64, mlpDim: 128, inputSize: 32 }, size: 32 },
};
const skip = torchvisionMissing();

/** Layer scales, class token and head away from their 1e-6 / zero starts, so every layer shows in the logits. */
function randomizeStarts(m: Model, g: Generator): void {
  noGrad(() => {
    for (const [k, t] of m.stateDict()) if (k.endsWith('layer_scale') || k.startsWith('heads.') || k === 'class_token') normal_(t, 0, 0.5, g);
  });
}

describe('ConvNeXt and ViT parity with torchvision', { skip }, () => {
  let dir: string;
  const inputs = new Map<string, Tensor>();
  const models = new Map<string, Model>();
  const outputs = new Map<string, Map<string, RawTensor>>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ablate-tparity-'));
    for (const [i, [c, { spec, size }]] of Object.entries(CASES).entries()) {
      const x = randn([2, 3, size, size], { generator: new Generator(7 + i) });
      inputs.set(c, x);
      await writeStateDict(join(dir, `${c}.input.pth`), new Map([['x', tensorToRaw(x)]]));
      const m = createModelFromSpec(spec, { numClasses: NUM_CLASSES, seed: 100 + i });
      randomizeStarts(m, new Generator(200 + i));
      await saveWeights(m, join(dir, `${c}.ablate.pth`));
      models.set(c, m);
    }
    const r = spawnSync(PYTHON, [SCRIPT, dir, ...Object.keys(CASES)], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `torch_transformer_parity.py failed:\n${r.stderr}`);
    for (const c of Object.keys(CASES)) outputs.set(c, await readStateDict(join(dir, `${c}.out.pth`)));
  });

  after(() => {
    for (const m of models.values()) m.dispose();
    for (const x of inputs.values()) x.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const expected = (c: string, key: string): Tensor => torchOutput(outputs, c, key);

  for (const c of Object.keys(CASES)) {
    for (const mode of ['eval', 'train'] as const) {
      it(`${c}: ${mode}-mode logits match torchvision on weights ablate wrote (torch loads them strictly)`, () => {
        const m = models.get(c)!;
        m.train(mode === 'train');
        tidy(() => {
          const y = noGrad(() => m.forward(inputs.get(c)!));
          assert.deepEqual(y.shape, [2, NUM_CLASSES]);
          const err = relError(y, expected(c, mode));
          assert.ok(err < 1e-4, `relative error ${err}`);
        });
      });
    }

    it(`${c}: a state dict torch saved loads strictly and gives torch's logits`, async () => {
      const m = createModelFromSpec(CASES[c]!.spec, { numClasses: NUM_CLASSES, seed: 1 });
      try {
        const report = await loadWeights(m, join(dir, `${c}.torch.pth`));
        assert.equal(report.loaded.length, m.stateDict().size);
        m.eval();
        tidy(() => {
          const err = relError(noGrad(() => m.forward(inputs.get(c)!)), expected(c, 'torch_eval'));
          assert.ok(err < 1e-4, `relative error ${err}`);
        });
      } finally {
        m.dispose();
      }
    });
  }
});
