import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { planStudy } from '../../src/study/runner.js';
import { checkRunConfig } from '../../src/study/validate-run.js';
import { StudySpecError } from '../../src/study/spec-issues.js';
import { resolveRunPlan } from '../../src/run/plan.js';
import { listPresets } from '../../src/models/index.js';

const STUDIES = join(import.meta.dirname, '../../studies');
const tmp = () => mkdtempSync(join(tmpdir(), 'ablate-validate-'));

function specError(fn: () => unknown): StudySpecError {
  try {
    fn();
  } catch (e) {
    if (e instanceof StudySpecError) return e;
    throw e;
  }
  assert.fail('expected a StudySpecError');
}

const GOOD = {
  model: 'resnet20-cifar',
  data: { source: 'generated', generated: { classes: 4, trainCount: 64, testCount: 32, size: 8 }, split: 'train', valSplit: 'test' },
  augment: 'none',
  epochs: 2,
};

describe('bundled studies', () => {
  const files = readdirSync(STUDIES).filter((f) => /\.ya?ml$/.test(f));
  test('the four studies of the issue are bundled', () => {
    for (const f of ['augmentation.yaml', 'degradation-cifar.yaml', 'demo.yaml', 'food101-augmentation.yaml', 'preact.yaml', 'resnet-vs-plain.yaml', 'shortcut-options.yaml', 'vgg-batchnorm.yaml', 'mobilenet-residual.yaml']) {
      assert.ok(files.includes(f), f);
    }
  });
  for (const file of files) {
    test(`studies/${file} expands and every run passes every layer's validator`, () => {
      const data = tmp(); // stands in for the user's --data folder
      // A Hub dataset is named in the study itself; it has no folder to point at.
      const { study } = planStudy(join(STUDIES, file), { dataPath: file.startsWith('food101') ? undefined : data });
      assert.ok(study.runs.length > 0);
      for (const run of study.runs) {
        // The same plan runTraining resolves, so a typo in a bundled study fails here rather than for a user.
        const plan = resolveRunPlan(run.config);
        assert.ok(plan.model.preset === undefined || listPresets().includes(plan.model.preset), `${run.name}: model ${plan.model.preset} is a preset`);
        assert.equal(checkRunConfig(run.config).length, 0);
      }
    });
  }

  test('shortcut-options.yaml: options A/B/C and plain at 20 and 56 layers, each against option A at its depth', () => {
    const { study } = planStudy(join(STUDIES, 'shortcut-options.yaml'), { dataPath: tmp() });
    assert.deepEqual(study.axes, { 'model.depth': [20, 56], 'model.shortcut': ['A', 'B', 'C', 'plain'] });
    const shortcut = Object.fromEntries(study.runs.map((r) => [r.variant, (r.config.model as { shortcut: string }).shortcut]));
    assert.deepEqual(shortcut, {
      'depth20-A': 'zero-pad', 'depth20-B': 'projection', 'depth20-C': 'all-projection', 'depth20-plain': 'none',
      'depth56-A': 'zero-pad', 'depth56-B': 'projection', 'depth56-C': 'all-projection', 'depth56-plain': 'none',
    });
    assert.deepEqual(study.comparisons.map((c) => `${c.variant}:${c.reference}`).sort(),
      ['depth20-B:depth20-A', 'depth20-C:depth20-A', 'depth20-plain:depth20-A', 'depth56-B:depth56-A', 'depth56-C:depth56-A', 'depth56-plain:depth56-A']);
  });

  test('vgg-batchnorm.yaml: VGG-11 with and without BN at two learning rates, BN against plain at each', () => {
    const { study } = planStudy(join(STUDIES, 'vgg-batchnorm.yaml'), { dataPath: tmp() });
    assert.equal(study.runs.length, 12);
    for (const r of study.runs) {
      const plan = resolveRunPlan(r.config);
      assert.deepEqual([plan.model.family, plan.model.preset, plan.model.depth, plan.model.head], ['vgg', 'vgg11-cifar', 11, 'linear']);
      assert.equal(plan.model.batchNorm, r.variant.endsWith('-bn'), r.variant);
    }
    assert.deepEqual(study.comparisons.map((c) => `${c.variant}:${c.reference}`).sort(), ['lr0.01-bn:lr0.01-plain', 'lr0.05-bn:lr0.05-plain']);
  });

  test('mobilenet-residual.yaml: the CIFAR MobileNetV2 with and without the inverted-residual skip', () => {
    const { study } = planStudy(join(STUDIES, 'mobilenet-residual.yaml'), { dataPath: tmp() });
    assert.equal(study.runs.length, 6);
    const skip = Object.fromEntries(study.runs.map((r) => [r.variant, resolveRunPlan(r.config).model.invertedResidual]));
    assert.deepEqual(skip, { skip: true, noskip: false });
    assert.deepEqual(study.comparisons, [{ variant: 'noskip', reference: 'skip' }]);
    // The plan's full model (every switch written out) resolves again: what config.json holds.
    const plan = resolveRunPlan(study.runs[0]!.config);
    assert.deepEqual(resolveRunPlan({ ...study.runs[0]!.config, model: plan.model }).model, plan.model);
  });

  test('demo.yaml compares residual with plain at two depths and needs no --data', () => {
    const { study } = planStudy(join(STUDIES, 'demo.yaml'));
    const models = new Set(study.runs.map((r) => r.config.model));
    assert.deepEqual([...models].sort(), ['plain20-cifar', 'plain56-cifar', 'resnet20-cifar', 'resnet56-cifar']);
    assert.ok(study.seeds.length >= 2, 'two seeds or more, so the report can put an interval on each difference');
    assert.deepEqual(study.comparisons.slice(0, 2), [
      { variant: 'resnet20-cifar', reference: 'plain20-cifar' },
      { variant: 'resnet56-cifar', reference: 'plain56-cifar' },
    ]);
  });

  test('a study on a dataset ablate can fetch needs no --data: its runs name the source without a path', () => {
    const { study } = planStudy(join(STUDIES, 'resnet-vs-plain.yaml'));
    for (const r of study.runs) {
      assert.equal((r.config.data as Record<string, unknown>).source, 'cats_vs_dogs');
      assert.equal((r.config.data as Record<string, unknown>).path, undefined);
    }
  });
});

describe('checkRunConfig', () => {
  test('a good config has no problems; nulls in the study file mean "unset"', () => {
    assert.deepEqual(checkRunConfig(GOOD), []);
    const dir = tmp();
    writeFileSync(join(dir, 's.yaml'), `name: s\nbase: ${JSON.stringify({ ...GOOD, pretrained: null })}\n`);
    const { study } = planStudy(join(dir, 's.yaml'));
    assert.equal('pretrained' in study.runs[0].config, false);
  });

  test('each layer reports its own fields, with path, expectation and value', () => {
    const problems = checkRunConfig({
      ...GOOD,
      model: 'resnet8-cifar',
      epochs: 0,
      data: { ...GOOD.data, generated: { ...GOOD.data.generated, clases: 4 }, valSplit: 'test[:' },
      augment: 'standard+cutmx',
    });
    const byPath = new Map(problems.map((p) => [p.path, p.message]));
    assert.match(byPath.get('model')!, /expected a model preset \(.*\), received "resnet8-cifar" \(did you mean "resnet20-cifar"\?\)/);
    assert.match(byPath.get('epochs')!, /expected .*>= 1, received number 0/);
    assert.match(byPath.get('data.generated.clases')!, /did you mean "classes"/);
    assert.match(byPath.get('data.valSplit')!, /expected .*received "test\[:"/);
    assert.ok([...byPath.keys()].some((p) => p.startsWith('augment')), `augment problem in ${[...byPath.keys()].join(', ')}`);
    assert.equal(problems.length, 5, JSON.stringify(problems, null, 1));
  });

  test('files that do not exist are caught before anything runs (and can be left unchecked)', () => {
    const cfg = { ...GOOD, pretrained: '/nonexistent/weights.pth', data: { source: 'cifar10', path: '/nonexistent/cifar' } };
    assert.deepEqual(checkRunConfig(cfg).map((p) => p.path).sort(), ['data.path', 'pretrained']);
    assert.deepEqual(checkRunConfig(cfg, { checkFiles: false }), []);
  });
});

describe('planStudy', () => {
  test('a bad study file: every bad field of every layer at once, grouped by the runs it affects', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'bad.yaml'), `name: bad
base:
  model: resnet20-cifar
  data: { source: generated, generated: { classes: 4, trainCount: 64, testCount: 32, size: 8, difficulty: trivial }, split: train, valSplit: test }
  epochs: 2
  optimizer: { name: sgd, lr: -1 }
  augment: [flip, { cutmix: { alpha: -1 } }]
axes:
  model: [resnet20-cifar, resnet8-cifar]
seeds: [0, 1]
`);
    const e = specError(() => planStudy(join(dir, 'bad.yaml')));
    const paths = e.issues.map((i) => i.path);
    assert.ok(paths.includes('config.optimizer.lr (every run)'), paths.join('\n'));
    assert.ok(paths.includes('config.data.generated.difficulty (every run)'), paths.join('\n'));
    assert.ok(paths.includes('config.model (resnet8-cifar-seed0, resnet8-cifar-seed1)'), paths.join('\n'));
    assert.ok(paths.some((p) => p.startsWith('config.augment')), paths.join('\n'));
    const lr = e.issues.find((i) => i.path.startsWith('config.optimizer.lr'))!;
    assert.equal(lr.received, 'number -1');
    assert.doesNotMatch(e.message, /but received .* but received/);
    assert.match(e.message, /^Study file .*bad\.yaml has \d+ problems:\n  - /);
  });
});
