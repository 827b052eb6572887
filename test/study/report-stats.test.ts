// Multiple-comparison correction, feasible-range intervals, expectations and the data files
// (report.tex, table.csv, summary.json) of a study report, on fake study folders.
import assert from 'node:assert/strict';
import * as fsSync from 'node:fs';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { writeStudyReport, type WrittenReport } from '../../src/study/report/index.js';
import { adjustPValues, tTestP } from '../../src/study/inference.js';
import { mean as avg, pairedInterval } from '../../src/study/stats.js';
import { type FakeRun, tmpStudyDir, writeFakeStudy } from './fixtures.js';
import { assertExportsAgree } from './report-agreement.js';

/** A run whose validation accuracy is `acc` at every epoch, so its final accuracy is exactly `acc`. */
const flat = (variant: string, seed: number, acc: number): FakeRun => ({
  name: `${variant}-seed${seed}`, variant, axes: { model: variant }, seed, status: 'ok',
  epochs: Array.from({ length: 4 }, () => ({ loss: 1 - acc, accuracy: acc, val_loss: 1 - acc, val_accuracy: acc })),
});

/** base and three variants over 3 seeds: strong (+10 points, clear), weak (+3, p ≈ 0.035 alone), null (≈ 0). */
function family(): FakeRun[] {
  const base = [0.7, 0.72, 0.74];
  const deltas: Record<string, number[]> = { strong: [0.1, 0.11, 0.1], weak: [0.02, 0.03, 0.04], null: [0.01, -0.01, 0.005] };
  return [
    ...base.map((a, s) => flat('base', s, a)),
    ...Object.entries(deltas).flatMap(([name, d]) => d.map((x, s) => flat(name, s, base[s] + x))),
  ];
}

const COMPARE = ['strong', 'weak', 'null'].map((v) => ({ variant: v, reference: 'base' }));

async function report(runs: FakeRun[], statistics?: Record<string, unknown>, compare = COMPARE): Promise<WrittenReport> {
  const dir = writeFakeStudy(tmpStudyDir(), runs, { compare, ...(statistics ? { statistics } : {}) });
  return writeStudyReport(dir, { png: false, now: new Date('2024-05-02T09:00:00Z') });
}

describe('multiple-comparison correction in the report', () => {
  test('Holm (the default): a difference significant alone is not significant among 3 comparisons', async () => {
    const r = await report(family());
    const [strong, weak, nul] = r.model.verdicts;
    assert.deepEqual(r.model.family, { correction: 'holm', size: 3, alpha: 0.05 });
    assert.ok(weak.pValue! < 0.05 && weak.pValue! > 0.025, `raw p ${weak.pValue}`);
    assert.deepEqual([strong, weak, nul].map((v) => v.adjustedP), adjustPValues([strong, weak, nul].map((v) => v.pValue!), 'holm'));
    assert.ok(weak.adjustedP! >= 0.05);
    assert.equal(strong.kind, 'better');
    assert.equal(weak.kind, 'no-difference');
    assert.equal(nul.kind, 'no-difference');
    assert.match(weak.text, /^No significant difference between weak and base after Holm correction for 3 comparisons, though alone it would be \(weak \+3\.0 points, 95% CI \+\d\.\d to \+\d\.\d points; paired over 3 seeds; p = 0\.0\d+, Holm-adjusted p = 0\.0\d+ over 3 comparisons\)/);
    const md = readFileSync(r.markdown, 'utf8');
    assert.match(md, /Multiple-comparison correction: \*\*Holm \(family-wise error rate\)\*\* over 3 comparisons at α = 0\.05; verdicts use the adjusted p-values/);
    assert.match(md, /\| weak vs base \| \+3\.0 \| \+\d\.\d to \+\d\.\d \| 3 paired \| 0\.0\d+ \| 0\.0\d+ \| no-difference \|/);
    const html = readFileSync(r.html, 'utf8');
    assert.match(html, /Holm-adjusted p = 0\.0\d+ over 3 comparisons/);
    assert.match(html, /<th class="num">Adjusted p \(holm\)<\/th>/);
  });

  test('correction: none calls the same difference significant, and the report warns about it', async () => {
    const r = await report(family(), { correction: 'none' });
    const weak = r.model.verdicts[1];
    assert.equal(weak.kind, 'better');
    assert.equal(weak.adjustedP, weak.pValue);
    assert.match(readFileSync(r.markdown, 'utf8'), /Multiple-comparison correction is off \(`correction: none`\): each of the 3 comparisons is tested at α = 0\.05 on its own/);
  });

  test('correction: bh adjusts by Benjamini–Hochberg', async () => {
    const r = await report(family(), { correction: 'bh' });
    const ps = r.model.verdicts.map((v) => v.pValue!);
    assert.deepEqual(r.model.verdicts.map((v) => v.adjustedP), adjustPValues(ps, 'bh'));
    assert.match(readFileSync(r.markdown, 'utf8'), /\*\*Benjamini–Hochberg \(false discovery rate\)\*\* over 3 comparisons/);
  });

  test('a damaged statistics block in study.json falls back to Holm instead of losing the index', async () => {
    const r = await report(family(), { correction: 'bonferroni-ish' });
    assert.equal(r.model.family.correction, 'holm');
    assert.equal(r.model.title, 'fake-study');
  });

  test('single-seed and unavailable comparisons stay out of the family', async () => {
    const runs = [...family(), flat('lonely', 0, 0.9)];
    const r = await report(runs, undefined, [...COMPARE, { variant: 'lonely', reference: 'base' }, { variant: 'ghost', reference: 'base' }]);
    assert.equal(r.model.family.size, 3);
    assert.equal(r.model.verdicts[3].pValue, undefined);
    assert.equal(r.model.verdicts[4].kind, 'unavailable');
  });
});

describe('intervals stay inside what accuracy allows', () => {
  test('two seeds that disagree wildly: the interval is cut at ±100 points and the verdict says so', async () => {
    const r = await report([flat('a', 0, 0.9), flat('a', 1, 0.9), flat('b', 0, 0.1), flat('b', 1, 0.5)], undefined, [{ variant: 'a', reference: 'b' }]);
    const v = r.model.verdicts[0];
    assert.equal(v.interval!.high, 1);
    assert.equal(v.interval!.low, -1);
    assert.ok(v.bounded && v.bounded.rawHigh > 1 && v.bounded.rawLow < -1);
    assert.match(v.text, /The interval for a − b was cut to what accuracy allows, its lower end to −100\.0 points \(the t-interval reached −\d+\.\d\) and its upper end to \+100\.0 points \(the t-interval reached \+\d+\.\d\)/);
    assert.doesNotMatch(v.text, /±/, 'no symmetric ± for a cut interval');
    const md = readFileSync(r.markdown, 'utf8');
    assert.match(md, /\| a vs b \| \+60\.0 \| −100\.0 to \+100\.0 \(cut to ±100\) \|/);
    const json = JSON.parse(readFileSync(r.json, 'utf8'));
    assert.equal(json.comparisons[0].interval.highPoints, 100);
    assert.equal(json.comparisons[0].interval.cutToFeasibleRange.high, true);
    assert.ok(json.comparisons[0].interval.cutToFeasibleRange.rawHighPoints > 100);
  });

  test('a significant difference whose interval reaches past +100 is still called, with the cut end stated', async () => {
    // Differences 0.8 and 0.4 over two seeds: t-interval ≈ [−1.9, +3.1]; with three seeds it excludes zero.
    const r = await report([flat('a', 0, 0.95), flat('a', 1, 0.96), flat('a', 2, 0.97), flat('b', 0, 0.05), flat('b', 1, 0.5), flat('b', 2, 0.3)], undefined, [{ variant: 'a', reference: 'b' }]);
    const v = r.model.verdicts[0];
    assert.ok(v.bounded?.high && !v.bounded.low, JSON.stringify(v.bounded));
    assert.equal(v.kind, 'better');
    assert.match(v.text, /^a beats b by 67\.7 points \(95% CI \+\d+\.\d to \+100\.0 points; .*\)\. The interval for a − b was cut .* its upper end to \+100\.0 points/);
  });
});

describe('expected results', () => {
  const expect = [
    { variant: 'strong', reference: 'base', direction: 'greater', by: 5, text: 'strong > base', source: 'Paper, Table 1' },
    { variant: 'weak', reference: 'base', direction: 'greater', text: 'weak > base' },
    { variant: 'null', reference: 'base', direction: 'less', text: 'null < base' },
  ];
  test('replicated, inconclusive, contradicted by size', async () => {
    const r = await report(family(), { correction: 'holm', expect });
    const [strong, weak] = r.model.verdicts.map((v) => v.expectation!);
    assert.equal(strong.outcome, 'replicated');
    assert.match(strong.text, /^Expected strong > base by at least 5 points \(Paper, Table 1\): replicated \(measured \+10\.3 points in the claimed direction, 95% CI/);
    assert.equal(weak.outcome, 'inconclusive');
    assert.match(weak.text, /not significant after correction/);
    const md = readFileSync(r.markdown, 'utf8');
    assert.match(md, /\*\*replicated:\*\* Expected strong > base/);
    const json = JSON.parse(readFileSync(r.json, 'utf8'));
    assert.equal(json.comparisons[0].expectation.outcome, 'replicated');
  });

  test('a claim bigger than the whole interval is contradicted; a reversed significant one too', async () => {
    const r = await report(family(), {
      correction: 'holm',
      expect: [
        { variant: 'strong', reference: 'base', direction: 'greater', by: 30, text: 'strong > base' },
        { variant: 'base', reference: 'weak', direction: 'greater', text: 'base > weak' },
      ],
    }, [{ variant: 'strong', reference: 'base' }, { variant: 'weak', reference: 'base' }]);
    const [big, reversed] = r.model.verdicts.map((v) => v.expectation!);
    assert.equal(big.outcome, 'contradicted');
    assert.match(big.text, /the whole interval lies below the claimed 30 points/);
    // weak vs base: with 2 comparisons Holm leaves the larger p-value (≈ 0.035) as it is: weak is significantly better.
    assert.equal(reversed.outcome, 'contradicted');
    assert.match(reversed.text, /^Expected base > weak: contradicted — the opposite difference is significant \(measured −3\.0 points in the claimed direction/);
    assert.ok(reversed.difference! < 0, 'measured in the claim\'s orientation (base − weak)');
  });
});

describe('report.tex, table.csv and summary.json', () => {
  test('agree with report.md and with each other', async () => {
    const r = await report(family());
    assertExportsAgree(r);
  });

  test('the best variant is bold only when its lead over the runner-up is significant after correction', async () => {
    // strong vs weak compared directly: strong leads by ~7 points on every seed.
    const compare = [...COMPARE, { variant: 'strong', reference: 'weak' }];
    const r = await report(family(), undefined, compare);
    const tex = readFileSync(r.tex, 'utf8');
    assert.match(tex, /^strong & \\textbf\{\d+\.\d \$\\pm\$ \d\.\d\} &/m);
    assert.equal((tex.match(/\\textbf/g) ?? []).length, 1);
    assert.match(tex, /Bold: strong's lead over the runner-up \(weak\) is significant after Holm correction\./);
    // Without the direct comparison nothing is bold, and the caption says why.
    const r2 = await report(family());
    const tex2 = readFileSync(r2.tex, 'utf8');
    assert.doesNotMatch(tex2, /\\textbf/);
    assert.match(tex2, /Nothing is bold: the best variant \(strong\) was not compared with the runner-up \(weak\)\./);
  });

  test('LaTeX special characters in names and values are escaped; CSV fields are quoted', async () => {
    const runs: FakeRun[] = [0, 1].flatMap((s) => [
      { ...flat('a_b', s, 0.8 + s / 100), axes: { model: 'a_b', note: 'x,"y"&50%' } },
      { ...flat('c', s, 0.7 + s / 50), axes: { model: 'c', note: 'plain' } },
    ]);
    const r = await report(runs, undefined, [{ variant: 'a_b', reference: 'c' }]);
    const tex = readFileSync(r.tex, 'utf8');
    assert.match(tex, /^a\\_b & x,"y"\\&50\\% & /m);
    const csv = readFileSync(r.csv, 'utf8');
    assert.match(csv, /^a_b,"x,""y""&50%",/m);
  });
});

describe('expect: in the study file', () => {
  const spec = (extra: string) => `name: e\nbase: { model: resnet20-cifar }\naxes: { model: [resnet20-cifar, plain20-cifar, plain32-cifar] }\n${extra}`;

  test('a claim becomes a comparison (in the direction already listed, if it is) and reaches the index', async () => {
    const { parseStudySpec } = await import('../../src/study/spec.js');
    const { expandStudy } = await import('../../src/study/spec-expand.js');
    const { studyIndexFor } = await import('../../src/study/run-files.js');
    const s = expandStudy(parseStudySpec(spec('compare: [[plain20-cifar, resnet20-cifar]]\nexpect:\n  - resnet20-cifar > plain20-cifar\n  - { that: "plain32-cifar < plain20-cifar", by: ">= 2.5", source: "Fig. 6" }')));
    assert.deepEqual(s.comparisons, [{ variant: 'plain20-cifar', reference: 'resnet20-cifar' }, { variant: 'plain32-cifar', reference: 'plain20-cifar' }]);
    assert.deepEqual(s.statistics.expect![1], { variant: 'plain32-cifar', reference: 'plain20-cifar', direction: 'less', by: 2.5, source: 'Fig. 6', text: 'plain32-cifar < plain20-cifar' });
    assert.equal(studyIndexFor(s).statistics!.correction, 'holm');
  });

  test('bad claims are refused with what was expected', async () => {
    const { parseStudySpec } = await import('../../src/study/spec.js');
    assert.throws(() => parseStudySpec(spec('expect:\n  - resnet20-cifar >> plain20-cifar\n  - resnet20 > plain20-cifar\n  - { that: "plain20-cifar > plain20-cifar" }\n  - { that: "plain32-cifar > plain20-cifar", by: "lots" }\n  - { that: "a > b", bye: 3 }')), (e: Error) => {
      assert.match(e.message, /expect\[0\]: expected a claim "variant > reference" or "variant < reference" but received "resnet20-cifar >> plain20-cifar"/);
      assert.match(e.message, /expect\[1\]: expected left side a variant name: resnet20-cifar, plain20-cifar, plain32-cifar but received "resnet20"/);
      assert.match(e.message, /expect\[2\]\.that: expected two different variants/);
      assert.match(e.message, /expect\[3\]\.by: expected a claimed size in accuracy points, e\.g\. ">= 5" or 5 .* but received "lots"/);
      assert.match(e.message, /expect\[4\]\.bye: expected no key "bye" \(did you mean "by"\?\) but received number 3/);
      return true;
    });
  });
});

test('the bundled studies that quote papers check their claims, without adding comparisons', async () => {
  const { loadStudySpec } = await import('../../src/study/spec.js');
  const { expandStudy } = await import('../../src/study/spec-expand.js');
  const { join } = await import('node:path');
  const claims: Record<string, number> = { 'degradation-cifar': 3, 'shortcut-options': 2, preact: 1, demo: 1 };
  for (const [file, n] of Object.entries(claims)) {
    const s = expandStudy(loadStudySpec(join(import.meta.dirname, '../../studies', `${file}.yaml`)));
    assert.equal(s.statistics.expect?.length, n, file);
    for (const e of s.statistics.expect!) {
      assert.ok(e.source && /He et al\./.test(e.source), `${file}: ${e.text} names its source`);
      assert.ok(s.comparisons.some((c) => (c.variant === e.variant && c.reference === e.reference) || (c.variant === e.reference && c.reference === e.variant)), `${file}: ${e.text} is compared`);
    }
  }
});

describe('per-image comparison (McNemar)', () => {
  const { mkdirSync, writeFileSync } = require_fs();
  function withPredictions(dir: string, run: string, label: number[], predicted: number[], extra: Record<string, unknown> = {}) {
    mkdirSync(`${dir}/${run}/analysis`, { recursive: true });
    writeFileSync(`${dir}/${run}/analysis/predictions.json`, JSON.stringify({ classNames: ['cat', 'dog', 'owl'], datasetIndex: label.map((_, i) => 100 + i), label, predicted, ...extra }));
  }
  // 12 images; variant right / reference wrong on 5 (cat ×3, dog ×2), the reverse on 1 (owl).
  const label = [0, 0, 0, 1, 1, 2, 2, 0, 1, 2, 0, 1];
  const ref = [1, 1, 1, 0, 0, 2, 2, 0, 1, 2, 0, 1];
  const vari = [0, 0, 0, 1, 1, 0, 2, 0, 1, 2, 0, 1];

  test('discordant images per seed, McNemar p-values and the classes gained and lost', async () => {
    const dir = writeFakeStudy(tmpStudyDir(), family(), { compare: [{ variant: 'strong', reference: 'base' }] });
    for (const s of [0, 1]) {
      withPredictions(dir, `strong-seed${s}`, label, vari);
      withPredictions(dir, `base-seed${s}`, label, ref);
    }
    withPredictions(dir, 'strong-seed2', label, vari);
    const r = await writeStudyReport(dir, { png: false });
    const [c] = r.model.perImage;
    assert.deepEqual(c.seeds.map((s) => [s.seed, s.images, s.b, s.c]), [[0, 12, 5, 1], [1, 12, 5, 1]]);
    assert.deepEqual(c.seeds[0].classes, [{ name: 'cat', gained: 3, lost: 0 }, { name: 'dog', gained: 2, lost: 0 }, { name: 'owl', gained: 0, lost: 1 }]);
    assert.ok(Math.abs(c.seeds[0].exactP - 0.21875) < 1e-12, String(c.seeds[0].exactP)); // 2·P(X ≤ 1), X ~ Binomial(6, ½) = 2·7/64
    assert.deepEqual(c.notes, ['base-seed2 has no analysis/predictions.json (trained before ablate wrote it, or its analysis failed)']);
    const md = readFileSync(r.markdown, 'utf8');
    assert.match(md, /## Per-image comparison/);
    assert.match(md, /\| strong vs base \| 0 \| 12 \| 5 \| 1 \| 0\.219 \| 1\.50 \(0\.221\) \| cat \+3, dog \+2 \| owl −1 \|/);
    assert.match(md, /- \*base-seed2 has no analysis\/predictions\.json/);
    assert.equal(JSON.parse(readFileSync(r.json, 'utf8')).perImage[0].seeds[1].b, 5);
    assert.match(readFileSync(r.html, 'utf8'), /<h2>Per-image comparison<\/h2>/);
  });

  test('damaged or mismatched predictions are left out with a note, never mispaired', async () => {
    const dir = writeFakeStudy(tmpStudyDir(), family(), { compare: [{ variant: 'strong', reference: 'base' }] });
    withPredictions(dir, 'strong-seed0', label, vari);
    mkdirSync(`${dir}/base-seed0/analysis`, { recursive: true });
    writeFileSync(`${dir}/base-seed0/analysis/predictions.json`, '{"classNames": ["cat"], "datasetIndex": [1, 2');
    withPredictions(dir, 'strong-seed1', label, vari);
    withPredictions(dir, 'base-seed1', label, ref, { datasetIndex: label.map((_, i) => 200 + i) });
    withPredictions(dir, 'strong-seed2', label, vari);
    withPredictions(dir, 'base-seed2', label, ref.slice(1));
    const r = await writeStudyReport(dir, { png: false });
    const [c] = r.model.perImage;
    assert.deepEqual(c.seeds, []);
    assert.equal(c.notes.length, 3);
    assert.match(c.notes[0], /^base-seed0: analysis\/predictions\.json is not valid JSON/);
    assert.match(c.notes[1], /^strong-seed1 and base-seed1 scored different validation images \(image 100 differs\): not paired$/);
    assert.match(c.notes[2], /^base-seed2: analysis\/predictions\.json is not \{classNames, datasetIndex, label, predicted\} with whole-number lists of one length$/);
  });
});

function require_fs() {
  // Synchronous helpers for the describe body (top-level imports are ESM).
  return { mkdirSync: fsSync.mkdirSync, writeFileSync: fsSync.writeFileSync };
}

describe('factorial analysis of crossed axes', () => {
  // model × augment × 3 seeds: +10 points for resnet, +3 for cutmix, +2 more for both (the interaction).
  const noise = [[0.001, -0.002, 0.0], [0.002, 0.001, -0.001], [-0.001, 0.0, 0.002], [0.0, 0.002, -0.002]];
  const cells = [['plain', 'none'], ['plain', 'cutmix'], ['resnet', 'none'], ['resnet', 'cutmix']] as const;
  const accOf = (k: number, s: number) => {
    const [m, a] = cells[k];
    return 0.6 + (m === 'resnet' ? 0.1 : 0) + (a === 'cutmix' ? 0.03 : 0) + (m === 'resnet' && a === 'cutmix' ? 0.02 : 0) + [0, 0.01, -0.01][s] + noise[k][s];
  };
  const runs = (drop?: number): FakeRun[] => cells.flatMap(([m, a], k) => (k === drop ? [] : [0, 1, 2].map((s) => ({
    ...flat(`${m}-${a}`, s, accOf(k, s)), axes: { model: m, augment: a },
  }))));

  test('main effects and the interaction match the contrasts computed by hand, with corrected p-values', async () => {
    const r = await report(runs(), undefined, [{ variant: 'resnet-none', reference: 'plain-none' }]);
    const f = r.model.factorial!;
    assert.equal(f.skipped, undefined);
    assert.deepEqual(f.effects.map((e) => e.label), ['model: resnet vs plain', 'augment: cutmix vs none', 'model: resnet vs plain × augment: cutmix vs none']);
    const perSeed = (w: number[]) => [0, 1, 2].map((s) => w.reduce((sum, wk, k) => sum + wk * accOf(k, s), 0));
    const expected = [perSeed([-0.5, -0.5, 0.5, 0.5]), perSeed([-0.5, 0.5, -0.5, 0.5]), perSeed([1, -1, -1, 1])];
    const ps = expected.map((v) => tTestP(pairedInterval(v, [0, 0, 0])!));
    f.effects.forEach((e, i) => {
      assert.ok(Math.abs(e.estimate - avg(expected[i])) < 1e-12, `${e.label}: ${e.estimate}`);
      assert.ok(Math.abs(e.pValue! - ps[i]) < 1e-12);
    });
    assert.deepEqual(f.effects.map((e) => e.adjustedP), adjustPValues(ps, 'holm'));
    assert.ok(Math.abs(f.effects[0].estimate - 0.11) < 0.002 && Math.abs(f.effects[2].estimate - 0.02) < 0.005);
    const md = readFileSync(r.markdown, 'utf8');
    assert.match(md, /## Factorial analysis/);
    assert.match(md, /\| model: resnet vs plain × augment: cutmix vs none \| interaction \| \+[12]\.\d \|/);
    assert.equal(JSON.parse(readFileSync(r.json, 'utf8')).factorial.effects.length, 3);
  });

  test('an incomplete grid gets no analysis, and the report says why; one axis gets no section', async () => {
    const r = await report(runs(3), undefined, [{ variant: 'resnet-none', reference: 'plain-none' }]);
    assert.match(r.model.factorial!.skipped!, /^1 of 4 combinations have no finished run \(e\.g\. model=resnet, augment=cutmix\)/);
    assert.match(readFileSync(r.markdown, 'utf8'), /No factorial analysis: 1 of 4 combinations/);
    const one = await report(family());
    assert.equal(one.model.factorial, undefined);
    assert.doesNotMatch(readFileSync(one.markdown, 'utf8'), /Factorial/);
  });
});
