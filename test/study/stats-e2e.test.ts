// A real (tiny) study on generated images, trained end to end: its report.md, report.tex, table.csv
// and summary.json agree, and the study file's correction and claims reach the report.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { runStudy, type StudyRunResult } from '../../src/study/runner.js';
import { tmp, writeStudy } from './live-fixtures.js';
import { assertExportsAgree } from './report-agreement.js';

describe('a real study with four variants, two seeds and a claim to check', () => {
  let result: StudyRunResult;
  before(async () => {
    const root = tmp();
    const file = writeStudy(root, {
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
        assert.equal(s.images, 32);
        assert.equal(s.b - s.c, correct(c.variant) - correct(c.reference), `${c.variant} vs ${c.reference}, seed ${s.seed}`);
        assert.equal(s.classes.reduce((n, k) => n + k.gained, 0), s.b);
      }
    }
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
