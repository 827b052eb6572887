// Power before compute: `study plan` says what difference the chosen seeds can detect and how many a minEffect needs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PYTHON } from '../torch-python.js';
import { formatPowerPlan, planPower, readPreviousNoise } from '../../src/study/plan-power.js';
import { expandStudy } from '../../src/study/spec-expand.js';
import { parseStudySpec } from '../../src/study/spec.js';
import { type FakeRun, tmpStudyDir, writeFakeStudy } from './fixtures.js';
import { runCli, tmp, writeStudy } from './live-fixtures.js';

const hasStatsmodels = spawnSync(PYTHON, ['-c', 'import statsmodels'], { encoding: 'utf8' }).status === 0;

function study(extra: string) {
  return expandStudy(parseStudySpec(`name: p\nbase: { model: resnet20-cifar }\naxes: { model: [resnet20-cifar, plain20-cifar, plain32-cifar, plain44-cifar] }\n${extra}`));
}

const flat = (variant: string, seed: number, acc: number): FakeRun => ({
  name: `${variant}-seed${seed}`, variant, axes: { model: variant }, seed, status: 'ok',
  epochs: Array.from({ length: 4 }, () => ({ loss: 1 - acc, accuracy: acc, val_loss: 1 - acc, val_accuracy: acc })),
});

describe('power from noise: in the study file', () => {
  test('smallest detectable difference and seeds for minEffect match statsmodels', { skip: hasStatsmodels ? false : `needs statsmodels in ${PYTHON}` }, () => {
    const p = planPower(study('seeds: 3\nnoise: 0.5\nminEffect: 1'));
    assert.equal(p.comparisons.length, 3);
    assert.equal(p.alpha, 0.05 / 3);
    const ref = JSON.parse(spawnSync(PYTHON, ['-c', `
import json, math, warnings
warnings.simplefilter('ignore')
from statsmodels.stats.power import TTestPower
a = ${p.alpha}; s = 0.5 * math.sqrt(2)
print(json.dumps([TTestPower().solve_power(nobs=3, alpha=a, power=0.8) * s, math.ceil(TTestPower().solve_power(effect_size=1 / s, alpha=a, power=0.8))]))`], { encoding: 'utf8' }).stdout) as [number, number];
    for (const c of p.comparisons) {
      assert.ok(Math.abs(c.minDetectable! - ref[0]) < 1e-4 * ref[0], `${c.minDetectable} vs ${ref[0]}`);
      assert.equal(c.seedsForMinEffect, ref[1]);
      assert.ok(Math.abs(c.sigmaDiff! - 0.5 * Math.SQRT2) < 1e-12);
    }
    const text = formatPowerPlan(p).join('\n');
    assert.match(text, /α = 0\.05\/3 = 0\.0167 per comparison \(Holm's strictest step; conservative\)/);
    assert.match(text, new RegExp(`plain20-cifar vs resnet20-cifar: ≥ ${ref[0].toFixed(2)} points; minEffect 1 needs ${ref[1]} seeds \\(this study has 3: too few\\)`));
    assert.match(text, new RegExp(`warning: 3 of 3 comparisons cannot detect minEffect 1 points with 3 seeds — use seeds: ${ref[1]}`));
  });

  test('correction: none tests each comparison at the full α; one seed detects nothing', () => {
    const p = planPower(study('seeds: 5\nnoise: 0.5\ncorrection: none'));
    assert.equal(p.alpha, p.familyAlpha);
    const one = planPower(study('seeds: 1\nnoise: 0.5\nminEffect: 2'));
    assert.equal(one.comparisons[0].minDetectable, Infinity);
    assert.match(formatPowerPlan(one).join('\n'), /nothing \(one seed cannot measure seed-to-seed noise\)/);
  });

  test('no noise anywhere: the plan says what to add rather than guess', () => {
    const text = formatPowerPlan(planPower(study('seeds: 3'))).join('\n');
    assert.match(text, /unknown: no seed-to-seed noise to go on — add noise: <σ in points> to the study file, or pass --noise-from <an earlier study folder>/);
  });

  test('an effect too small for any practical number of seeds is said so', () => {
    const text = formatPowerPlan(planPower(study('seeds: 3\nnoise: 20\nminEffect: 0.1'))).join('\n');
    assert.match(text, /minEffect 0\.1 needs more than 1000 seeds/);
    assert.match(text, /the effect is below what any practical number of seeds can detect/);
  });

  test('noise: and minEffect: are checked like every other field', () => {
    assert.throws(() => parseStudySpec('name: p\nbase: {}\nnoise: -1\nminEffect: "big"\ncorrection: bonferroni'), (e: Error) => {
      assert.match(e.message, /noise: expected a seed-to-seed standard deviation of final accuracy in points, more than 0 and at most 100 \(e\.g\. 0\.4\) but received number -1/);
      assert.match(e.message, /minEffect: expected the smallest difference worth detecting, in accuracy points, .* but received "big"/);
      assert.match(e.message, /correction: expected one of "holm", "bh", "none" but received "bonferroni"/);
      return true;
    });
  });
});

describe('power from a previous study folder', () => {
  // resnet vs plain20 ran seeds 0..2 there: differences 0.10, 0.12, 0.11 (σ = 1 point); plain32 ran alone.
  function previous(): string {
    return writeFakeStudy(tmpStudyDir(), [
      flat('resnet20-cifar', 0, 0.8), flat('resnet20-cifar', 1, 0.82), flat('resnet20-cifar', 2, 0.84),
      flat('plain20-cifar', 0, 0.7), flat('plain20-cifar', 1, 0.7), flat('plain20-cifar', 2, 0.73),
      flat('plain32-cifar', 0, 0.6),
    ]);
  }

  test('a comparison run there uses its own paired differences; the others the pooled seed spread', () => {
    const prev = previous();
    const noise = readPreviousNoise(prev);
    const p = planPower(study('seeds: 4'), { previous: noise });
    const [p20, p32] = p.comparisons;
    assert.ok(Math.abs(p20.sigmaDiff! - 1) < 1e-9, `σ_diff ${p20.sigmaDiff}`);
    assert.match(p20.source, /^paired differences over 3 seeds in /);
    // Pooled: resnet (0.8, 0.82, 0.84) and plain20 (0.7, 0.7, 0.73): SS = 0.0008 + 0.0006, df = 4.
    const pooled = Math.sqrt((0.0008 + 0.0006) / 4);
    assert.ok(Math.abs(noise.pooled.std - pooled) < 1e-12);
    assert.ok(Math.abs(p32.sigmaDiff! - 100 * Math.SQRT2 * pooled) < 1e-9);
    assert.match(p32.source, /√2 × seed-to-seed σ 1\.87 pooled over 2 variants of /);
  });

  test('a folder that is missing, a file, empty or single-seed is refused, saying what was expected', () => {
    const root = tmp();
    assert.throws(() => readPreviousNoise(join(root, 'nope')), /--noise-from: expected a study folder .* but ".*nope" does not exist/);
    writeFileSync(join(root, 'file'), 'x');
    assert.throws(() => readPreviousNoise(join(root, 'file')), /is not a folder/);
    assert.throws(() => readPreviousNoise(tmpStudyDir()), /expected a study folder with run folders in it, but .* has none/);
    const single = writeFakeStudy(tmpStudyDir(), [flat('a', 0, 0.5), flat('b', 0, 0.6)]);
    assert.throws(() => readPreviousNoise(single), /expected a study whose variants finished two or more seeds each, but in .* each has at most 1 finished seed;/);
  });

  test('ablate study plan --noise-from prints the power section; a bad folder fails at once', async () => {
    const root = tmp();
    const file = writeStudy(root, { axes: { model: ['resnet20-cifar', 'plain20-cifar'] }, seeds: 3, minEffect: 2 });
    const ok = await runCli(['study', 'plan', file, '--no-measure', '--noise-from', previous()]);
    assert.equal(ok.code, 0, ok.output);
    assert.match(ok.output, /power: the smallest difference each comparison detects with 80% power, 3 paired seeds, two-sided t-test at α = 0\.05/);
    assert.match(ok.output, /plain20-cifar vs resnet20-cifar: ≥ \d+\.\d\d points; minEffect 2 needs \d+ seeds/);
    const bad = await runCli(['study', 'plan', file, '--no-measure', '--noise-from', join(root, 'missing')]);
    assert.equal(bad.code, 1);
    assert.match(bad.output, /--noise-from: expected a study folder/);
  });

  test('--pilot trains two seeds of the cheapest variant briefly and sizes the power from them', async () => {
    const root = tmp();
    const out = join(root, 'out');
    const file = writeStudy(root, { axes: { model: ['resnet20-cifar', 'plain20-cifar'] }, seeds: 3, minEffect: 5 });
    const r = await runCli(['study', 'plan', file, '--no-measure', '--pilot', '--pilot-epochs', '2', '--threads', '1', '--out', out]);
    assert.equal(r.code, 0, r.output);
    const m = /pilot: (\S+) for 2 epochs at seeds 0 and 1 in (\S+): seed-to-seed σ (\d+\.\d\d) points — two short runs give only a rough estimate/.exec(r.output);
    assert.ok(m, r.output);
    assert.equal(m[2], `${out}-pilot`);
    // The power section uses the pilot's spread, measured the way --noise-from measures it.
    const noise = readPreviousNoise(m[2]);
    assert.equal(noise.variants.length, 1);
    assert.equal(noise.variants[0].finished.length, 2);
    assert.equal((100 * noise.pooled.std).toFixed(2), m[3]);
    assert.match(r.output, new RegExp(`√2 × seed-to-seed σ ${m[3]} pooled over 1 variant of `));
    const both = await runCli(['study', 'plan', file, '--no-measure', '--pilot', '--noise-from', root]);
    assert.equal(both.code, 1);
    assert.match(both.output, /give either --pilot or --noise-from, not both/);
  });
});

test('adaptive seeds: the power is that of the last look at its share of α', async () => {
  const { lookSchedule } = await import('../../src/study/sequential.js');
  const { minDetectableEffect } = await import('../../src/study/inference.js');
  const spec = parseStudySpec('name: s\nbase: { model: resnet20-cifar, epochs: 1 }\naxes: { model: [resnet20-cifar, plain20-cifar] }\nseeds: { min: 3, max: 8, until: decided }\nnoise: 0.5\n');
  const p = planPower(expandStudy(spec));
  const last = lookSchedule({ min: 3, max: 8 }, 0.05).at(-1)!.alpha;
  assert.equal(p.seeds, 8);
  assert.equal(p.lastLookAlpha, last);
  assert.equal(p.alpha, last);
  // σ of a difference of two independent variants: √2 · 0.5 points.
  assert.ok(Math.abs(p.comparisons[0].minDetectable! - minDetectableEffect(8, last) * Math.SQRT2 * 0.5) < 1e-9);
  assert.match(formatPowerPlan(p).join('\n'), /two-sided t-test at α = 0\.0\d+ \(the last look's share of α = 0\.05 with adaptive seeds; earlier looks only add power\)/);
});
