// A real (tiny) study on generated images, trained end to end: its report.md, report.tex, table.csv
// and summary.json agree, and the study file's correction and claims reach the report.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { runStudy, type StudyRunResult } from '../../src/study/runner.js';
import { tmp, writeStudy } from './live-fixtures.js';
import { assertExportsAgree, parseCsv } from './report-agreement.js';

describe('a real study with four variants, two seeds and a claim to check', () => {
  let result: StudyRunResult;
  before(async () => {
    const root = tmp();
    const file = writeStudy(root, {
      // Validation carved from the training images; the generated test split is held out, scored once per run.
      base: { data: { split: 'train[:48]', valSplit: 'train[48:]', testSplit: 'test' } },
      axes: { model: ['resnet20-cifar', 'plain20-cifar'], 'optimizer.lr': [0.05, 0.01] },
      seeds: [0, 1],
      baseline: { model: 'resnet20-cifar', 'optimizer.lr': 0.05 },
      correction: 'bh',
      expect: [{ that: 'resnet20-cifar-lr0.05 > plain20-cifar-lr0.05', source: 'He et al. 2016' }],
    });
    result = await runStudy(file, { out: join(root, 'out'), threads: 1, childOutput: 'quiet', log: () => {} });
  });

  test('every run finished and the report files agree with each other', () => {
    assert.deepEqual(result.failed, []);
    const r = result.report!;
    assert.equal(r.model.verdicts.length, 3);
    assertExportsAgree(r);
  });

  test('each comparison gets a per-image McNemar test per seed, consistent with the runs\' own predictions', () => {
    const r = result.report!;
    assert.equal(r.model.perImage.length, 3);
    for (const c of r.model.perImage) {
      assert.deepEqual(c.notes, []);
      assert.deepEqual(c.seeds.map((s) => s.seed), [0, 1]);
      for (const s of c.seeds) {
        const correct = (variant: string) => {
          const p = JSON.parse(readFileSync(join(result.dir, `${variant}-seed${s.seed}`, 'analysis', 'predictions.json'), 'utf8'));
          return p.label.filter((l: number, i: number) => p.predicted[i] === l).length;
        };
        assert.equal(s.images, 16); // the validation split, train[48:] of 64
        assert.equal(s.b - s.c, correct(c.variant) - correct(c.reference), `${c.variant} vs ${c.reference}, seed ${s.seed}`);
        assert.equal(s.classes.reduce((n, k) => n + k.gained, 0), s.b);
      }
    }
  });

  test('every run scored the held-out test split once, and the report shows it beside validation accuracy', () => {
    const r = result.report!;
    for (const v of r.model.variants) {
      for (const run of v.finished) {
        const st = JSON.parse(readFileSync(join(run.run.dir, 'status.json'), 'utf8'));
        assert.equal(st.testSplit, 'test');
        assert.equal(st.testCount, 32);
        assert.ok(st.testAccuracy >= 0 && st.testAccuracy <= 1);
        assert.equal(run.testAcc, st.testAccuracy);
        assert.equal(JSON.parse(readFileSync(join(run.run.dir, 'config.json'), 'utf8')).testData.split, 'test');
      }
      assert.equal(v.test.n, 2);
    }
    const md = readFileSync(r.markdown, 'utf8');
    assert.match(md, /\| Test acc \(%, held out\) \|/);
    assert.match(md, /\*\*Test acc \(held out\)\*\* is each run's accuracy on `data\.testSplit`, scored once after training/);
    const json = JSON.parse(readFileSync(r.json, 'utf8'));
    const csv = parseCsv(readFileSync(r.csv, 'utf8'));
    json.variants.forEach((v: { name: string; testAccPct: { mean: number } }, i: number) => {
      assert.equal(csv[i].variant, v.name);
      assert.equal(Number(csv[i].test_acc_mean_pct), v.testAccPct.mean);
    });
    assert.match(readFileSync(r.tex, 'utf8'), /Test acc \(\\%\)/);
  });

  test("the study file's correction and claim are in the report", () => {
    const r = result.report!;
    assert.equal(r.model.family.correction, 'bh');
    assert.equal(r.model.family.size, 3);
    const claim = r.model.verdicts.find((v) => v.expectation)!;
    assert.equal(claim.variant, 'plain20-cifar-lr0.05');
    assert.match(claim.expectation!.text, /^Expected resnet20-cifar-lr0\.05 > plain20-cifar-lr0\.05 \(He et al\. 2016\): (replicated|contradicted|inconclusive)/);
    const md = readFileSync(r.markdown, 'utf8');
    assert.match(md, /Benjamini–Hochberg \(false discovery rate\)\*\* over 3 comparisons/);
    const json = JSON.parse(readFileSync(r.json, 'utf8'));
    assert.equal(json.correction.method, 'bh');
    assert.equal(json.comparisons.filter((c: { expectation?: unknown }) => c.expectation).length, 1);
  });
});

test('data.testSplit must be a split held out from training and validation', async () => {
  const { inspectRunConfig } = await import('../../src/run/plan.js');
  const cfg = (data: Record<string, unknown>) => ({ model: 'resnet20-cifar', data: { source: 'generated', generated: { classes: 2, trainCount: 8, testCount: 4, size: 8 }, ...data }, epochs: 1 });
  const ok = inspectRunConfig(cfg({ split: 'train[:6]', valSplit: 'train[6:]', testSplit: 'test' }));
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.plan!.testData!.split, 'test');
  const same = inspectRunConfig(cfg({ split: 'train', valSplit: 'test', testSplit: 'test' }));
  assert.match(same.problems.map((p) => `${p.path}: ${p.message}`).join('\n'), /data\.testSplit: expected a split held out from training and validation, received "test", which is also data\.valSplit/);
  const trained = inspectRunConfig(cfg({ split: 'train', testSplit: 'train' }));
  assert.match(trained.problems.map((p) => p.message).join('\n'), /which is also data\.split/);
  const notString = inspectRunConfig(cfg({ split: 'train', testSplit: 3 }));
  assert.match(notString.problems.map((p) => `${p.path}: ${p.message}`).join('\n'), /data\.testSplit: expected a split string such as 'test' or 'train\[90%:\]', received/);
});
