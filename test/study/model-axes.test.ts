// Model switches as study axes, `study plan`, and study files checked in one pass.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { runStudy, type StudyRunResult } from '../../src/study/runner.js';
import { planStudyCost, type StudyPlanReport } from '../../src/study/plan-cost.js';
import { inspectStudyFile } from '../../src/study/spec.js';
import { runCli, statusOf, tmp, writeStudy } from './live-fixtures.js';

const BOOL_SWITCH = 'preact';

describe(`a study over model.shortcut × model.${BOOL_SWITCH}`, () => {
  let dir: string;
  let planned: StudyPlanReport;
  let result: StudyRunResult;
  before(async () => {
    const root = tmp();
    dir = join(root, 'out');
    const file = writeStudy(root, {
      name: 'switches',
      base: { epochs: 1 },
      axes: { 'model.shortcut': ['projection', 'none'], [`model.${BOOL_SWITCH}`]: [false, true] },
      baseline: { 'model.shortcut': 'projection' },
    });
    const options = { out: dir, threads: 2, parallel: 2 };
    planned = await planStudyCost(file, { ...options, measure: false });
    result = await runStudy(file, { ...options, childOutput: 'quiet', log: () => {}, liveStream: { write: () => true } });
  });

  test('runs are named by the values that differ', () => {
    const names = [`projection-no-${BOOL_SWITCH}`, `projection-${BOOL_SWITCH}`, `none-no-${BOOL_SWITCH}`, `none-${BOOL_SWITCH}`].map((n) => `${n}-seed0`);
    assert.deepEqual(result.study.runs.map((r) => r.name), names);
    assert.deepEqual(result.failed, []);
    for (const n of names) assert.equal(statusOf(join(dir, n)).status, 'ok', n);
  });

  test('the switches reached the models: a plain net has no projection shortcuts', () => {
    const params = (n: string) => statusOf(join(dir, n)).params as number;
    assert.ok(params(`projection-no-${BOOL_SWITCH}-seed0`) > params(`none-no-${BOOL_SWITCH}-seed0`));
    const config = JSON.parse(readFileSync(join(dir, `none-${BOOL_SWITCH}-seed0`, 'config.json'), 'utf8'));
    assert.equal(config.model.preset, 'resnet20-cifar');
    assert.equal(config.model.shortcut, 'none');
    assert.equal(config.model[BOOL_SWITCH], true);
  });

  test('the report has one column per axis', () => {
    const md = readFileSync(result.report!.markdown, 'utf8');
    const header = md.split('\n').find((l) => l.startsWith('| Variant |'))!;
    assert.match(header, /\| model\.shortcut \| model\.\w+ \|/);
    const row = md.split('\n').find((l) => l.startsWith(`| none-${BOOL_SWITCH} |`))!;
    assert.match(row, /\| none \| true \|/);
  });

  test('the plan printed by `study plan` is what ran', () => {
    assert.equal(planned.runs.length, 4);
    for (const r of planned.runs) {
      assert.deepEqual(JSON.parse(readFileSync(join(dir, r.name, 'config.json'), 'utf8')), JSON.parse(JSON.stringify(r.plan)), r.name);
    }
    const none = planned.runs.find((r) => r.name === `none-no-${BOOL_SWITCH}-seed0`)!;
    assert.equal(none.reference, `projection-no-${BOOL_SWITCH}`);
    assert.deepEqual(none.changes, { 'model.shortcut': ['projection', 'none'] });
    assert.equal(none.cost.imagesTimesEpochs, 64);
    assert.equal(none.cost.params, statusOf(join(dir, none.name)).params);
  });
});

describe('study files checked in one pass', () => {
  test('a bad seeds: and a misspelt top-level key hide none of the base config\'s problems', () => {
    const root = tmp();
    const file = join(root, 'bad.yaml');
    writeFileSync(file, [
      'name: bad',
      'axs: { model: [resnet20-cifar] }',
      'seeds: [a]',
      'base:',
      '  model: resnet20-cifar',
      '  data: { source: generated, generated: { clases: 2 } }',
      '  epochs: 0',
      '  seed: true',
      '  augment: standard+cutmx',
      '  bogus: 1',
      '  optimizer: { momentun: 0.9 }',
    ].join('\n'));
    const { issues } = inspectStudyFile(file);
    const paths = issues.map((i) => i.path);
    assert.ok(paths.includes('axs'), paths.join(', '));
    assert.ok(paths.includes('seeds'));
    assert.ok(paths.includes('base.seed'), 'seed: true is refused, not read as seed 0');
    return runCli(['study', 'plan', file, '--no-measure']).then((r) => {
      assert.equal(r.code, 1);
      for (const re of [/- axs: expected no key "axs" \(did you mean "axes"\?\)/, /- seeds: expected .* but received array/, /- base\.seed: .*received boolean true/,
        /- config\.epochs \(every run\)/, /- config\.data\.generated\.clases \(every run\)/, /- config\.augment \(every run\)/, /- config\.bogus \(every run\)/,
        /- config\.optimizer\.momentun \(every run\)/]) {
        assert.match(r.output, re);
      }
      assert.match(r.output, /has 8 problems/);
    });
  });

  test('a study file over 1 MB is refused before it is parsed, in well under a second', () => {
    const root = tmp();
    const file = join(root, 'huge.yaml');
    writeFileSync(file, 'name: huge\nbase:\n' + Array.from({ length: 200_000 }, (_, i) => `  k${i}: ${i}`).join('\n'));
    const t0 = performance.now();
    const { issues } = inspectStudyFile(file);
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `${ms} ms`);
    assert.equal(issues.length, 1);
    assert.match(issues[0]!.expected, /at most 1 MB/);
    // Under the byte limit but with tens of thousands of keys (slow to parse): refused by the line limit.
    writeFileSync(file, 'name: many\nbase:\n' + Array.from({ length: 60_000 }, (_, i) => `  k${i}: ${i}`).join('\n'));
    const t1 = performance.now();
    assert.match(inspectStudyFile(file).issues[0]!.expected, /at most 20,000 lines/);
    assert.ok(performance.now() - t1 < 1000);
  });

  test('duplicate keys are still errors', () => {
    const root = tmp();
    const file = join(root, 'dup.yaml');
    writeFileSync(file, 'name: dup\nbase: { model: resnet20-cifar, epochs: 1, epochs: 2 }\n');
    const { issues } = inspectStudyFile(file);
    assert.equal(issues.length, 1);
    assert.match(issues[0]!.received, /"epochs" appears twice/);
    assert.equal(issues[0]!.path, 'line 2, column 43');
  });
});
