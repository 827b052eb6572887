import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { expandStudy } from '../../src/study/spec-expand.js';
import { StudySpecError } from '../../src/study/spec-issues.js';
import { parseSetOverrides } from '../../src/study/spec-overrides.js';
import { checkStudySpec, loadStudySpec, parseStudySpec } from '../../src/study/spec.js';

const BASE = `
name: demo
base:
  model: resnet34
  data: { source: cats_vs_dogs, path: null, split: 'train[:80%]', valSplit: 'train[80%:]', imageSize: 224 }
  epochs: 10
  batchSize: 16
  optimizer: { name: sgd, lr: 0.01, clipnorm: 1 }
`;

function specError(fn: () => unknown): StudySpecError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof StudySpecError, `expected StudySpecError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a StudySpecError');
}

describe('grid expansion', () => {
  test('one axis × seeds: names, seeds, configs, seed-major order', () => {
    const s = expandStudy(parseStudySpec(`${BASE}axes:\n  model: [resnet34, plain34]\nseeds: [0, 1]\n`));
    assert.deepEqual(s.runs.map((r) => r.name), ['resnet34-seed0', 'plain34-seed0', 'resnet34-seed1', 'plain34-seed1']);
    assert.deepEqual(s.variants, ['resnet34', 'plain34']);
    assert.deepEqual(s.runs.map((r) => r.seed), [0, 0, 1, 1]);
    assert.equal(s.runs[1].config.model, 'plain34');
    assert.equal(s.runs[1].config.seed, 0);
    assert.equal(s.runs[3].config.seed, 1);
    assert.deepEqual(s.runs[1].axes, { model: 'plain34' });
    assert.equal(s.runs[1].variant, 'plain34');
    assert.deepEqual(s.axes, { model: ['resnet34', 'plain34'] });
    // untouched base fields arrive deep-copied, not shared
    assert.deepEqual(s.runs[0].config.optimizer, { name: 'sgd', lr: 0.01, clipnorm: 1 });
    (s.runs[0].config.optimizer as { lr: number }).lr = 5;
    assert.equal((s.runs[1].config.optimizer as { lr: number }).lr, 0.01);
  });

  test('cartesian product of two axes, first axis slowest; labelled and dotted axes', () => {
    const s = expandStudy(parseStudySpec(`${BASE}axes:
  model: [resnet50, plain50]
  augment: { none: [], cutmix: [{ cutmix: { alpha: 1, prob: 1 } }] }
  optimizer.lr: [0.1, 0.01]
seeds: 2
`));
    assert.equal(s.runs.length, 2 * 2 * 2 * 2);
    assert.deepEqual(s.variants.slice(0, 4), ['resnet50-none-lr0.1', 'resnet50-none-lr0.01', 'resnet50-cutmix-lr0.1', 'resnet50-cutmix-lr0.01']);
    const r = s.runs.find((x) => x.name === 'resnet50-cutmix-lr0.01-seed1')!;
    assert.ok(r);
    assert.deepEqual(r.config.augment, [{ cutmix: { alpha: 1, prob: 1 } }]);
    // the dotted path changes lr and keeps the rest of the optimizer
    assert.deepEqual(r.config.optimizer, { name: 'sgd', lr: 0.01, clipnorm: 1 });
    assert.deepEqual(r.axes, { model: 'resnet50', augment: 'cutmix', 'optimizer.lr': 0.01 });
    assert.deepEqual(s.axes['optimizer.lr'], [0.1, 0.01]);
    assert.deepEqual(s.seeds, [0, 1]);
  });

  test('booleans and nulls get readable names; dotted paths create missing mappings', () => {
    const s = expandStudy(parseStudySpec(`${BASE}axes:\n  optimizer.nesterov: [true, false]\n  loss.labelSmoothing: [0, 0.1]\n`));
    assert.deepEqual(s.variants, ['nesterov-labelSmoothing0', 'nesterov-labelSmoothing0.1', 'no-nesterov-labelSmoothing0', 'no-nesterov-labelSmoothing0.1']);
    assert.deepEqual(s.runs[1].config.loss, { labelSmoothing: 0.1 });
  });

  test('explicit variants: names given or derived, overrides become table columns', () => {
    const s = expandStudy(parseStudySpec(`${BASE}variants:
  - model: resnet34
  - { name: plain34-slow, model: plain34, optimizer.lr: 0.001 }
  - name: plain34-wd
    model: plain34
    optimizer: { weightDecay: 0.0001 }
`));
    assert.deepEqual(s.variants, ['resnet34', 'plain34-slow', 'plain34-wd']);
    const wd = s.runs.find((r) => r.variant === 'plain34-wd')!;
    assert.deepEqual(wd.config.optimizer, { name: 'sgd', lr: 0.01, clipnorm: 1, weightDecay: 0.0001 });
    assert.deepEqual(s.runs[1].axes, { model: 'plain34', 'optimizer.lr': 0.001, 'optimizer.weightDecay': null });
    assert.deepEqual(wd.axes['optimizer.lr'], 0.01, 'a column a variant does not set shows the base value');
  });

  test('variants × axes combine, and a study with neither is a single variant', () => {
    const s = expandStudy(parseStudySpec(`${BASE}variants:\n  - { name: small, batchSize: 8 }\n  - { name: big, batchSize: 64 }\naxes:\n  model: [a, b]\n`));
    assert.deepEqual(s.variants, ['small-a', 'small-b', 'big-a', 'big-b']);
    assert.equal(s.runs[3].config.batchSize, 64);
    assert.equal(s.runs[3].axes.variant, 'big');
    const one = expandStudy(parseStudySpec(BASE));
    assert.deepEqual(one.runs.map((r) => r.name), ['base-seed0']);
  });

  test('--data replaces base.data.path; --set overrides parse as YAML and apply before axes', () => {
    const spec = parseStudySpec(`${BASE}axes:\n  model: [resnet34, plain34]\n`);
    const s = expandStudy(spec, { dataPath: '/data/cats', overrides: ['epochs=3', 'optimizer.momentum=0.9', 'augment=[flip, {brightness: 0.2}]'] });
    for (const r of s.runs) {
      assert.equal((r.config.data as { path: string }).path, '/data/cats');
      assert.equal(r.config.epochs, 3);
      assert.equal((r.config.optimizer as { momentum: number }).momentum, 0.9);
      assert.deepEqual(r.config.augment, ['flip', { brightness: 0.2 }]);
    }
    assert.equal((spec.base.data as { path: unknown }).path, null, 'the spec itself is not modified');
    const e = specError(() => expandStudy(spec, { overrides: ['model=plain50', 'epochs.x=1'] }));
    assert.deepEqual(e.issues.map((i) => i.path), ['--set model', '--set epochs.x']);
    assert.match(e.issues[0].expected, /not axis "model"/);
    assert.match(e.issues[1].expected, /base\.epochs is not a mapping/);
  });
});

describe('parseSetOverrides', () => {
  test('typed values', () => {
    assert.deepEqual(parseSetOverrides(['a=1', 'b.c=true', 'd=null', "e='12'", 'f=resnet34', 'g=[1, 2]', 'h=x=y']), [
      { path: 'a', value: 1 }, { path: 'b.c', value: true }, { path: 'd', value: null }, { path: 'e', value: '12' },
      { path: 'f', value: 'resnet34' }, { path: 'g', value: [1, 2] }, { path: 'h', value: 'x=y' },
    ]);
  });
  test('clear errors', () => {
    assert.throws(() => parseSetOverrides(['epochs']), /Expected key=value, e\.g\. optimizer\.lr=0\.1 for --set #1 but received "epochs"/);
    assert.throws(() => parseSetOverrides(['a=1', 'bad key=1']), /for --set #2/);
    assert.throws(() => parseSetOverrides(['epochs=']), /Expected a value after "=" .* for --set epochs/);
    assert.throws(() => parseSetOverrides(['a=[1, 2']), /Expected a YAML value/);
  });
});

describe('comparisons', () => {
  test('explicit pairs', () => {
    const s = expandStudy(parseStudySpec(`${BASE}axes:\n  model: [resnet34, plain34, resnet50, plain50]\ncompare: [[resnet34, plain34], [resnet50, plain50]]\n`));
    assert.deepEqual(s.comparisons, [{ variant: 'resnet34', reference: 'plain34' }, { variant: 'resnet50', reference: 'plain50' }]);
  });
  test('default baseline is the first variant; a named baseline compares everything with it', () => {
    const s = expandStudy(parseStudySpec(`${BASE}axes:\n  model: [a, b, c]\n`));
    assert.deepEqual(s.comparisons, [{ variant: 'b', reference: 'a' }, { variant: 'c', reference: 'a' }]);
    const t = expandStudy(parseStudySpec(`${BASE}axes:\n  model: [a, b, c]\nbaseline: c\n`));
    assert.deepEqual(t.comparisons, [{ variant: 'a', reference: 'c' }, { variant: 'b', reference: 'c' }]);
  });
  test('a pair of values of one axis, model switches included, compares every twin', () => {
    const s = expandStudy(parseStudySpec(`${BASE}axes:\n  model.depth: [20, 56]\n  model.shortcut: [projection, zero-pad, none]\ncompare: [[none, projection], [depth56, depth20]]\n`));
    assert.deepEqual(s.comparisons, [
      { variant: 'depth20-none', reference: 'depth20-projection' }, { variant: 'depth56-none', reference: 'depth56-projection' },
      { variant: 'depth56-projection', reference: 'depth20-projection' }, { variant: 'depth56-zero-pad', reference: 'depth20-zero-pad' },
      { variant: 'depth56-none', reference: 'depth20-none' },
    ]);
    assert.deepEqual(s.runs[0]!.config.model, { preset: 'resnet34', depth: 20, shortcut: 'projection' }, 'model.* under a preset name: its object form');
    const baseline = expandStudy(parseStudySpec(`${BASE}axes:\n  model.depth: [20, 56]\n  model.shortcut: [projection, none]\nbaseline: { model.shortcut: projection }\n`));
    assert.deepEqual(baseline.comparisons, [{ variant: 'depth20-none', reference: 'depth20-projection' }, { variant: 'depth56-none', reference: 'depth56-projection' }]);
  });
  test('an axis baseline compares within each group of the other axes', () => {
    const s = expandStudy(parseStudySpec(`${BASE}axes:\n  model: [r50, p50]\n  augment: [none, cutmix, mixup]\nbaseline: { augment: none }\n`));
    assert.deepEqual(s.comparisons, [
      { variant: 'r50-cutmix', reference: 'r50-none' }, { variant: 'r50-mixup', reference: 'r50-none' },
      { variant: 'p50-cutmix', reference: 'p50-none' }, { variant: 'p50-mixup', reference: 'p50-none' },
    ]);
  });
});

describe('validation reports every bad field at once', () => {
  test('many problems in one error, each with path, expectation and value', () => {
    const e = specError(() => parseStudySpec(`
name: "bad name!"
descripton: typo
base: [1, 2]
axes:
  model: [resnet34, [a, b], resnet34]
  optimizer..lr: [0.1]
  seed: [1, 2]
seeds: [0, -1, 1.5]
compare: [[resnet34, plain99], [x]]
baseline: 42
`, 'bad.yaml'));
    const byPath = new Map(e.issues.map((i) => [i.path, i]));
    const paths = e.issues.map((i) => i.path);
    assert.ok(byPath.get('name')!.expected.includes('letters, digits'));
    assert.equal(byPath.get('name')!.received, '"bad name!"');
    assert.match(byPath.get('descripton')!.expected, /did you mean "description"/);
    assert.match(byPath.get('base')!.expected, /a mapping/);
    assert.equal(byPath.get('base')!.received, 'array of length 2 [1,2]');
    assert.match(byPath.get('axes.model[1]')!.expected, /a string, number, true\/false or null/);
    assert.match(byPath.get('axes.model')!.expected, /"resnet34" appears twice/);
    assert.ok(byPath.has('axes["optimizer..lr"]'), paths.join(', '));
    assert.match(byPath.get('axes.seed')!.expected, /seeds:/);
    assert.ok(paths.some((p) => p.startsWith('seeds')), paths.join(', '));
    assert.ok(byPath.has('compare[1]'), paths.join(', '));
    assert.match(byPath.get('baseline')!.expected, /a variant name, or a mapping/);
    assert.equal(byPath.get('baseline')!.received, 'number 42');
    assert.equal(e.issues.length, 10, paths.join(', '));
    assert.match(e.message, /^Study file bad\.yaml has 10 problems:\n {2}- /);
    assert.match(e.message, /\n {2}- name: expected a name of letters.* but received "bad name!"\n/);
  });

  test('cross-field problems: unknown variant names, unknown axes, blocked dotted paths', () => {
    const e = specError(() => parseStudySpec(`${BASE}axes:
  model: [resnet34, plain34]
  epochs.x: [1, 2]
compare: [[resnet34, plain43]]
baseline: { augment: none }
`));
    const paths = e.issues.map((i) => i.path);
    assert.deepEqual(paths.sort(), ['axes["epochs.x"]', 'baseline.augment', 'compare[0][1]'].sort());
    const cmp = e.issues.find((i) => i.path === 'compare[0][1]')!;
    assert.match(cmp.expected, /did you mean "plain34"/);
    assert.equal(cmp.received, '"plain43"');
  });

  test('missing required fields and a non-mapping file', () => {
    const e = specError(() => parseStudySpec('description: hi\n'));
    assert.deepEqual(e.issues.map((i) => i.path), ['name', 'base']);
    assert.equal(e.issues[0].received, 'undefined');
    const f = specError(() => parseStudySpec('- 1\n- 2\n'));
    assert.equal(f.issues.length, 1);
  });

  test('colliding run names are reported', () => {
    const e = specError(() => parseStudySpec(`${BASE}axes:\n  model: ['a b', 'a_b']\n`));
    assert.match(e.issues[0].expected, /"a_b" comes out twice/);
  });

  test('YAML syntax errors carry line and column', () => {
    const e = specError(() => parseStudySpec('name: x\nbase: {model: [resnet34\n', 'broken.yaml'));
    assert.match(e.issues[0].path, /^line \d+, column \d+$/);
    assert.equal(e.issues[0].expected, 'valid YAML');
  });

  test('the injected config validator runs on every run; shared problems are reported once', () => {
    const spec = parseStudySpec(`${BASE}axes:\n  optimizer.lr: [0.1, -1]\nseeds: [0, 1]\n`);
    const e = specError(() => expandStudy(spec, {
      validate: (c) => [
        ...((c.optimizer as { lr: number }).lr <= 0 ? [{ path: 'optimizer.lr', message: 'Expected a positive number but received -1' }] : []),
        { path: 'batchSize', message: 'batch size 16 does not fit in memory' },
      ],
    }));
    assert.equal(e.issues.length, 2);
    const lr = e.issues.find((i) => i.path.startsWith('config.optimizer.lr'))!;
    assert.equal(lr.path, 'config.optimizer.lr (lr-1-seed0, lr-1-seed1)');
    assert.equal(lr.expected, 'a positive number');
    assert.equal(lr.received, '-1');
    const bs = e.issues.find((i) => i.path.startsWith('config.batchSize'))!;
    assert.equal(bs.path, 'config.batchSize (every run)');
    assert.equal(bs.received, 'number 16');
  });
});

describe('input formats', () => {
  test('JSON and YAML give the same spec', () => {
    const yaml = parseStudySpec(`${BASE}axes:\n  model: [resnet34, plain34]\nseeds: [0, 1]\n`);
    const json = parseStudySpec(JSON.stringify({
      name: 'demo',
      base: { model: 'resnet34', data: { source: 'cats_vs_dogs', path: null, split: 'train[:80%]', valSplit: 'train[80%:]', imageSize: 224 }, epochs: 10, batchSize: 16, optimizer: { name: 'sgd', lr: 0.01, clipnorm: 1 } },
      axes: { model: ['resnet34', 'plain34'] },
      seeds: [0, 1],
    }), 'x.json');
    assert.deepEqual(expandStudy(json).runs, expandStudy(yaml).runs);
    const e = specError(() => parseStudySpec('{"name": "x",}', 'bad.json'));
    assert.equal(e.issues[0].expected, 'valid JSON');
  });

  test('loadStudySpec reads files and reports a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ablate-spec-'));
    writeFileSync(join(dir, 's.json'), JSON.stringify({ name: 's', base: { model: 'm' }, axes: { model: ['m', 'n'] } }));
    assert.deepEqual(expandStudy(loadStudySpec(join(dir, 's.json'))).variants, ['m', 'n']);
    const e = specError(() => loadStudySpec(join(dir, 'nope.yaml')));
    assert.match(e.issues[0].received, /does not exist/);
  });

  test('checkStudySpec accepts objects built in code', () => {
    const s = checkStudySpec({ name: 'x', base: { model: 'a' }, axes: { model: ['a', 'b'] } });
    assert.deepEqual(s.variantNames, ['a', 'b']);
  });
});

describe('bundled studies', () => {
  for (const [file, runs] of [['resnet-vs-plain', 12], ['augmentation', 12], ['degradation-cifar', 24], ['demo', 8]] as const) {
    test(`studies/${file}.yaml parses and expands`, () => {
      const s = expandStudy(loadStudySpec(join(import.meta.dirname, '../../studies', `${file}.yaml`)), { dataPath: '/data' });
      assert.equal(s.runs.length, runs);
      assert.ok(s.comparisons.length > 0);
      assert.equal(new Set(s.runs.map((r) => r.name)).size, runs);
      for (const r of s.runs) assert.equal((r.config.data as { path: string }).path, '/data');
    });
  }
  test('resnet-vs-plain keeps the seeds\' optimizer', () => {
    const s = expandStudy(loadStudySpec(join(import.meta.dirname, '../../studies/resnet-vs-plain.yaml')));
    assert.deepEqual(s.runs[0].config.optimizer, { name: 'sgd', lr: 0.01, momentum: 0, clipnorm: 1 });
    assert.equal((s.runs[0].config.data as { imageSize: number }).imageSize, 224);
    assert.deepEqual(s.comparisons, [{ variant: 'resnet34', reference: 'plain34' }, { variant: 'resnet50', reference: 'plain50' }]);
  });
});
