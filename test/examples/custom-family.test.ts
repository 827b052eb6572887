/**
 * examples/custom-family: a family written against the public API (tiny-vgg.ts) builds, trains a step,
 * trains a run, and runs a study whose workers load it through node's --import.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import '../../examples/custom-family/tiny-vgg.js';
import { F, Generator, SGD, randint, randn, tidy } from '../../src/tensor/index.js';
import { createModelFromSpec, listFamilies, validateModelSpec } from '../../src/models/index.js';
import { runTraining } from '../../src/train/run.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/custom-family/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('examples/custom-family (a family outside src/)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-custom-family-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('registers with its switches and presets, and validates like a bundled family', () => {
    const f = listFamilies().find((x) => x.name === 'tiny-vgg');
    assert.ok(f);
    assert.deepEqual(f.presets, ['tiny-vgg', 'tiny-vgg-wide']);
    assert.ok(f.switches.includes('batchNorm'));
    const issues = validateModelSpec({ family: 'tiny-vgg', batchNorm: 'yes' });
    assert.deepEqual(issues.map((i) => i.path), ['batchNorm']);
    assert.match(issues[0]!.message, /received "yes"/);
  });

  it('builds, and one SGD step lowers the loss on a fixed batch', () => {
    const m = createModelFromSpec({ family: 'tiny-vgg', widths: [8, 16] }, { numClasses: 4, seed: 0 });
    const x = randn([8, 3, 16, 16], { generator: new Generator(1) });
    const y = randint(0, 4, [8], { generator: new Generator(2) });
    try {
      assert.deepEqual([...m.stateDict().keys()].slice(0, 3), ['features.0.weight', 'features.1.weight', 'features.1.bias']);
      const opt = new SGD(m.parameters(), { lr: 0.1 });
      const loss = (): number => tidy(() => {
        const l = F.crossEntropy(m.forward(x), y);
        l.backward();
        return l.item();
      });
      const first = loss();
      opt.step();
      opt.zeroGrad();
      assert.ok(loss() < first);
      opt.dispose();
    } finally {
      m.dispose();
      x.dispose();
      y.dispose();
    }
  });

  it('trains a run through the run API', async () => {
    const result = await runTraining({
      model: { family: 'tiny-vgg', widths: [8], batchNorm: false },
      data: { source: 'generated', generated: { classes: 4, trainCount: 32, testCount: 16, size: 16 }, split: 'train', valSplit: 'test' },
      epochs: 1, batchSize: 16, precision: 'fp32', threads: 1,
    }, { runDir: join(dir, 'run'), progress: false, log: () => {} });
    assert.equal(result.status, 'ok');
    assert.equal(JSON.parse(readFileSync(join(dir, 'run', 'config.json'), 'utf8')).model.family, 'tiny-vgg');
  });

  it('runs the example study (workers load the family with --import)', () => {
    const out = join(dir, 'study');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', join(EXAMPLE, 'tiny-vgg.ts'), join(ROOT, 'src/cli/main.ts'),
      'study', 'run', join(EXAMPLE, 'study.yaml'), '--out', out, '--threads', '1'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    for (const run of ['batchNorm-seed0', 'no-batchNorm-seed0']) {
      assert.equal(JSON.parse(readFileSync(join(out, run, 'status.json'), 'utf8')).status, 'ok', run);
    }
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /no-batchNorm/);
  });
});
