// Adaptive seeds: the α-spending against SciPy, the look-by-look allocation of seeds, and simulated null
// studies showing that the error rate over all looks stays at α while naive repeated testing inflates it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { PYTHON } from '../torch-python.js';
import { normals } from './seeded-normals.js';
import { type AdaptiveSeeds, lookSchedule, obrienFlemingSpending, sequentialLooks } from '../../src/study/sequential.js';
import type { Correction } from '../../src/study/inference.js';
import { parseStudySpec, StudySpecError } from '../../src/study/spec.js';

const probe = spawnSync(PYTHON, ['-c', 'import scipy'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : `needs SciPy in ${PYTHON} (apt-get install -y python3-scipy)`;

test('O\'Brien–Fleming-type spending matches 2 − 2Φ(z/√t) computed by SciPy; the looks spend α in all', { skip }, () => {
  const ts = [0.1, 0.3, 0.5, 0.7, 0.9, 1];
  const r = spawnSync(PYTHON, ['-c', `import json; from scipy.stats import norm
print(json.dumps([[2 - 2 * norm.cdf(norm.ppf(1 - a / 2) / t ** 0.5) for t in ${JSON.stringify(ts)}] for a in (0.05, 0.01)]))`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const ref = JSON.parse(r.stdout) as number[][];
  for (const [i, a] of [0.05, 0.01].entries()) {
    for (const [j, t] of ts.entries()) {
      const got = obrienFlemingSpending(t, a);
      assert.ok(Math.abs(got - ref[i][j]) <= 1e-9 * Math.max(1, ref[i][j] * 1e3), `α ${a}, t ${t}: ${got} vs ${ref[i][j]}`);
    }
  }
  const sched = lookSchedule({ min: 3, max: 10 }, 0.05);
  assert.deepEqual(sched.map((l) => l.seeds), [3, 4, 5, 6, 7, 8, 9, 10]);
  assert.ok(Math.abs(sched.reduce((a, l) => a + l.alpha, 0) - 0.05) < 1e-12);
  // Later looks spend more: the shape that keeps the last look close to a fixed design's.
  for (let k = 1; k < sched.length; k++) assert.ok(sched[k].alpha > sched[k - 1].alpha);
});

const VARIANTS = ['base', 'a', 'b', 'c'];
const PAIRS = [{ variant: 'a', reference: 'base' }, { variant: 'b', reference: 'base' }, { variant: 'c', reference: 'base' }];

/**
 * One adaptive study run as the runner runs it: only the seeds `need` asks for are revealed, the looks
 * are replayed from what is revealed, until complete. Returns whether anything was decided and the runs used.
 */
function simulate(rand: () => number, s: AdaptiveSeeds, effects: number[], correction: Correction, naive: boolean): { any: boolean; runs: number; decided: number } {
  // Each seed shifts every variant alike (the shared seed effect pairing removes), plus each run's own noise.
  const seedEffect = Array.from({ length: s.max }, () => 0.02 * rand());
  const full = VARIANTS.map((_, v) => Array.from({ length: s.max }, (_, i) => 0.8 + (v > 0 ? effects[v - 1] : 0) + seedEffect[i] + 0.01 * rand()));
  const schedule = naive ? lookSchedule(s, 0.05).map((l) => ({ ...l, alpha: 0.05 })) : undefined;
  const need = new Map(VARIANTS.map((v) => [v, s.min]));
  for (;;) {
    const values = new Map(VARIANTS.map((v, k) => [v, full[k].slice(0, need.get(v))]));
    const r = sequentialLooks(PAIRS, values, s, { alpha: 0.05, correction, variants: VARIANTS, ...(schedule ? { schedule } : {}) });
    if (r.complete) {
      const decided = r.comparisons.filter((c) => c.decidedAt !== undefined).length;
      return { any: decided > 0, runs: [...need.values()].reduce((a, b) => a + b, 0), decided };
    }
    for (const [v, n] of r.need) need.set(v, n);
  }
}

describe('simulated null studies over all looks (3 comparisons, 3 to 10 seeds)', () => {
  const studies = 3000;
  const alpha = 0.05;
  const se = Math.sqrt((alpha * (1 - alpha)) / studies);
  for (const correction of ['holm', 'bh'] as const) {
    test(`${correction}: the error rate of adaptive seeding stays at α; naive looks at full α inflate it`, () => {
      const s = { min: 3, max: 10 };
      const rand = normals(correction === 'holm' ? 29 : 31);
      let spent = 0;
      let naive = 0;
      for (let i = 0; i < studies; i++) {
        if (simulate(rand, s, [0, 0, 0], correction, false).any) spent++;
        if (simulate(rand, s, [0, 0, 0], correction, true).any) naive++;
      }
      const rate = { spent: spent / studies, naive: naive / studies };
      console.log(`${correction}: adaptive ${rate.spent}, naive ${rate.naive} over ${studies} null studies`);
      assert.ok(rate.spent <= alpha + 3 * se, `adaptive error rate ${rate.spent} > ${alpha} + 3·${se.toFixed(4)}`);
      // Testing at full α at each of 8 looks, with the correction over comparisons only, is far above α.
      assert.ok(rate.naive > 2 * alpha, `naive repeated testing ${rate.naive}: the simulation must show the inflation`);
      // Not vacuous: the spending leaves a real chance to decide.
      assert.ok(rate.spent > 0.01, `adaptive error rate ${rate.spent} is implausibly low`);
    });
  }
});

test('seeds go only to undecided pairs: a large effect is decided early, a null pair runs to max', () => {
  const rand = normals(7);
  const s = { min: 3, max: 10 };
  // a beats base by 5 points against 1 point of noise; b and c are like base.
  let runs = 0;
  let decidedA = 0;
  for (let i = 0; i < 200; i++) {
    const seedEffect = Array.from({ length: s.max }, () => 0.02 * rand());
    const full = new Map(VARIANTS.map((v, k) => [v, Array.from({ length: s.max }, (_, j) => 0.8 + (k === 1 ? 0.05 : 0) + seedEffect[j] + 0.01 * rand())]));
    const need = new Map(VARIANTS.map((v) => [v, s.min]));
    let r;
    for (;;) {
      r = sequentialLooks(PAIRS, new Map([...full].map(([v, xs]) => [v, xs.slice(0, need.get(v))])), s, { alpha: 0.05, correction: 'holm', variants: VARIANTS });
      if (r.complete) break;
      for (const [v, n] of r.need) need.set(v, n);
    }
    if (r.comparisons[0].decidedAt !== undefined) {
      decidedA++;
      // Once a is decided, it gets no more seeds than its decision needed.
      assert.equal(need.get('a'), r.comparisons[0].seeds);
    }
    runs += [...need.values()].reduce((a, b) => a + b, 0);
  }
  assert.ok(decidedA >= 190, `the 5-point effect was decided in ${decidedA} of 200 studies`);
  // Fewer runs than running every variant to max (4 × 10 = 40 per study).
  assert.ok(runs / 200 < 38, `mean runs per study ${runs / 200}`);
});

test('pairedP is the paired t-test of the interval', async () => {
  const { pairedInterval } = await import('../../src/study/stats.js');
  const { tTestP } = await import('../../src/study/inference.js');
  const { pairedP } = await import('../../src/study/sequential.js');
  const a = [0.81, 0.83, 0.8, 0.84];
  const b = [0.8, 0.8, 0.79, 0.81];
  assert.ok(Math.abs(pairedP(a, b) - tTestP(pairedInterval(a, b)!)) < 1e-14);
  assert.equal(pairedP([0.8], [0.7]), 1);
});

test('a look waits for unfinished runs; a run that ended without a value leaves a pair with fewer seeds', () => {
  const s = { min: 3, max: 5 };
  const pending = sequentialLooks(PAIRS.slice(0, 1), new Map([['a', [0.9, 0.9, undefined]], ['base', [0.8, 0.8, 0.8]]]), s, { alpha: 0.05, correction: 'holm' });
  assert.equal(pending.complete, false);
  assert.equal(pending.looks.length, 0);
  assert.equal(pending.need.get('a'), 3);
  const failed = sequentialLooks(PAIRS.slice(0, 1), new Map([['a', [0.9, 0.91, null]], ['base', [0.8, 0.8, 0.8]]]), s, { alpha: 0.05, correction: 'holm' });
  assert.equal(failed.looks.length, 1);
  assert.equal(failed.looks[0].tested[0].decided, false);
  assert.deepEqual([failed.need.get('a'), failed.need.get('base')], [4, 4]);
});

describe('study file: seeds: { min, max, until: decided }', () => {
  const base = 'name: s\nbase: { model: resnet20-cifar, epochs: 1 }\naxes: { model: [resnet20-cifar, plain20-cifar] }\n';
  test('plans seeds 0..max−1 and records the bounds', () => {
    const spec = parseStudySpec(`${base}seeds: { min: 3, max: 6, until: decided }\n`);
    assert.deepEqual(spec.seeds, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(spec.adaptiveSeeds, { min: 3, max: 6 });
  });
  for (const [bad, why] of [
    ['{ min: 1, max: 6, until: decided }', /min of at least 2 seeds.*received min: 1/],
    ['{ min: 4, max: 4, until: decided }', /max above min.*received min: 4, max: 4/],
    ['{ min: 3, max: 6, until: done }', /until: decided \(received until: "done"\)/],
    ['{ min: 3, max: 6, until: decided, step: 2 }', /only the keys min, max, until \(received "step"\)/],
  ] as const) {
    test(`refuses ${bad}`, () => {
      assert.throws(() => parseStudySpec(`${base}seeds: ${bad}\n`), (e: unknown) => e instanceof StudySpecError && why.test(e.message) && /seeds/.test(e.message));
    });
  }
  test('the run ceiling counts max seeds', () => {
    assert.throws(() => parseStudySpec(`${base}seeds: { min: 3, max: 600, until: decided }\n`), /at most 1,000 runs.*1,200 runs/s);
  });
});
