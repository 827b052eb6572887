// The search itself, without training: the tune: block's checks, the seeded sampler, successive halving
// on a synthetic objective with a known ranking, the tuning plan's data carving and budget.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { parseStudySpec, StudySpecError } from '../../../src/study/spec.js';
import { expandStudy } from '../../../src/study/spec-expand.js';
import { gridPointsOf, samplePoints } from '../../../src/study/tune/sampler.js';
import { halvingEpochs, halvingRungs, promote } from '../../../src/study/tune/halving.js';
import { buildTunePlan, carveSplit, rungRuns } from '../../../src/study/tune/plan.js';
import { chooseBest, type TrialResult } from '../../../src/study/tune/select.js';
import type { Dimension } from '../../../src/study/tune/space.js';
import { planStudy } from '../../../src/study/runner.js';
import { tuningCost } from '../../../src/study/tune/cost.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BASE = 'base: { model: resnet20-cifar, epochs: 4, data: { source: generated, split: train, valSplit: test }, optimizer: { name: sgd, lr: 0.1 } }';
const study = (tune: string, extra = '') => `name: t\n${BASE}\naxes: { model: [resnet20-cifar, plain20-cifar] }\n${extra}tune: ${tune}\n`;
const problems = (text: string): string[] => {
  try {
    parseStudySpec(text);
    return [];
  } catch (e) {
    assert.ok(e instanceof StudySpecError, String(e));
    return e.issues.map((i) => `${i.path}: expected ${i.expected} but received ${i.received}`);
  }
};

describe('tune: block', () => {
  test('a valid block is read with its defaults', () => {
    const s = parseStudySpec(study('{ space: { optimizer.lr: [0.3, 0.1, 0.03] }, budget: { epochs: 2 } }'));
    assert.deepEqual(s.tune, {
      space: [{ path: 'optimizer.lr', kind: 'list', values: [0.3, 0.1, 0.03] }], method: 'grid', epochs: 2,
      metric: 'val_accuracy', valSplit: 0.1, eta: 3, minEpochs: 1, samplerSeed: 0,
    });
    const r = parseStudySpec(study('{ space: { optimizer.lr: { logUniform: [0.001, 0.3] }, optimizer.momentum: { range: [0.8, 0.95], step: 0.05 } }, method: asha, trials: 9, metric: val_loss, seeds: 2, valSplit: "20%" }'));
    assert.equal(r.tune?.method, 'asha');
    assert.deepEqual(r.tune?.seeds, [0, 1]);
    assert.equal(r.tune?.valSplit, 0.2);
  });

  test('every bad field is named with what was expected and what was received', () => {
    const p = problems(study('{ space: { optimizer.lr: { logUniform: [0, 0.3] }, model: [a], seed: [1] }, method: bayes, metric: acc, valSplit: 0.9, budget: { epoch: 3 }, trails: 3 }'));
    const has = (re: RegExp) => assert.ok(p.some((l) => re.test(l)), `${re} in:\n${p.join('\n')}`);
    has(/^tune\.trails: expected no key "trails" \(did you mean "trials"\?\)/);
    has(/^tune\.space\["optimizer\.lr"\]: expected .*logUniform: \[low, high\]\} with 0 < low < high but received/);
    has(/^tune\.space\.model: expected a path that is not axis "model" of the study/);
    has(/^tune\.space\.seed: expected a path other than "seed"/);
    has(/^tune\.method: expected grid, random or asha .* but received "bayes"/);
    has(/^tune\.metric: expected val_accuracy .* or val_loss .* but received "acc"/);
    has(/^tune\.valSplit: expected the fraction .* but received number 0\.9/);
    has(/^tune\.budget\.epoch: expected only the keys trials, epochs, images/);
  });

  test('a continuous range needs a trial count; random needs one; grid refuses a count that is not its size', () => {
    assert.match(problems(study('{ space: { optimizer.lr: { logUniform: [0.001, 0.3] } } }')).join('\n'), /a list or \{range: \[a, b\], step: s\} for method grid \(a continuous range is sampled: give tune\.trials\)/);
    assert.match(problems(study('{ space: { optimizer.lr: [0.1, 0.01] }, method: random }')).join('\n'), /tune\.trials: expected a number of trials per arm for method random/);
    assert.match(problems(study('{ space: { optimizer.lr: [0.1, 0.01] }, trials: 3 }')).join('\n'), /tune\.trials: expected the grid's size \(2\) or no trial count/);
    assert.match(problems(study('{ space: { optimizer.lr: [0.1] }, method: random, trials: 100000 }')).join('\n'), /tune\.trials: expected a whole number of trials per arm from 1 to 1000 but received number 100000/);
  });
});

describe('seeded sampler', () => {
  const space: Dimension[] = [
    { path: 'optimizer.lr', kind: 'logUniform', lo: 0.001, hi: 0.3 },
    { path: 'optimizer.momentum', kind: 'range', lo: 0.8, hi: 0.95, step: 0.05 },
    { path: 'augment', kind: 'list', values: ['none', 'flip'] },
  ];

  test('the same seed gives the same points; another seed other points; every value in its range', () => {
    const a = samplePoints(space, 50, 7);
    assert.deepEqual(samplePoints(space, 50, 7), a);
    assert.deepEqual(samplePoints(space, 10, 7), a.slice(0, 10), 'a longer search starts with the same points');
    assert.notDeepEqual(samplePoints(space, 50, 8), a);
    for (const p of a) {
      const lr = p['optimizer.lr'] as number;
      assert.ok(lr >= 0.001 && lr <= 0.3, String(lr));
      assert.ok([0.8, 0.85, 0.9, 0.95].includes(p['optimizer.momentum'] as number), String(p['optimizer.momentum']));
      assert.ok(['none', 'flip'].includes(p.augment as string));
    }
    // Log-uniform: about as many draws below the geometric midpoint as above it.
    const below = a.filter((p) => (p['optimizer.lr'] as number) < Math.sqrt(0.001 * 0.3)).length;
    assert.ok(below > 12 && below < 38, `${below} of 50 below the geometric mean`);
  });

  test('the grid is every combination, first path slowest; stepped ranges end on round values', () => {
    assert.deepEqual(gridPointsOf([space[1]!, space[2]!]).map((p) => `${p['optimizer.momentum']}/${p.augment}`),
      ['0.8/none', '0.8/flip', '0.85/none', '0.85/flip', '0.9/none', '0.9/flip', '0.95/none', '0.95/flip']);
    assert.throws(() => gridPointsOf([space[0]!]), /Expected a discrete dimension for a grid but optimizer\.lr is a continuous logUniform range/);
  });
});

describe('successive halving', () => {
  test('rungs: n, n/eta, … trials with eta × the epochs up to the budget', () => {
    assert.deepEqual(halvingRungs(9, 1, 9, 3), [{ index: 0, trials: 9, epochs: 1 }, { index: 1, trials: 3, epochs: 3 }, { index: 2, trials: 1, epochs: 9 }]);
    assert.equal(halvingEpochs(halvingRungs(9, 1, 9, 3)), 9 + 9 + 9);
    // Cut short by the trial count: the last trial still trains for the whole budget.
    assert.deepEqual(halvingRungs(4, 1, 27, 2), [{ index: 0, trials: 4, epochs: 1 }, { index: 1, trials: 2, epochs: 2 }, { index: 2, trials: 1, epochs: 27 }]);
    assert.throws(() => halvingRungs(4, 5, 2, 3), /Expected n ≥ 1, 1 ≤ minEpochs ≤ maxEpochs and eta ≥ 2 but received n=4, minEpochs=5, maxEpochs=2, eta=3/);
  });

  test('promotes the right trials on a synthetic objective and spends exactly the planned budget', () => {
    // Objective: the trial's quality q_k (known ranking) is reached after enough epochs; early rungs see
    // a noisy, epoch-dependent version whose ranking still follows q for the better half.
    const q = [0.2, 0.9, 0.5, 0.7, 0.1, 0.95, 0.3, 0.6, 0.8];
    const objective = (k: number, epochs: number) => q[k]! * (1 - 0.5 / epochs);
    const rungs = halvingRungs(q.length, 1, 9, 3);
    let alive = q.map((_, k) => k);
    let spent = 0;
    const promotedSets: number[][] = [];
    for (const [i, rung] of rungs.entries()) {
      assert.equal(alive.length, rung.trials);
      const scores = alive.map((k) => ({ trial: k, metric: objective(k, rung.epochs) }));
      spent += rung.trials * rung.epochs;
      const next = rungs[i + 1];
      if (next) {
        alive = promote(scores, next.trials, true).sort((a, b) => a - b);
        promotedSets.push(alive);
      } else alive = promote(scores, 1, true);
    }
    assert.deepEqual(promotedSets, [[1, 5, 8], [5]], 'the top third, then the best');
    assert.deepEqual(alive, [5]);
    assert.equal(spent, halvingEpochs(rungs));
    // Lower is better for losses; a missing or NaN metric ranks last; ties go to the lower trial index.
    assert.deepEqual(promote([{ trial: 0, metric: 0.5 }, { trial: 1, metric: undefined }, { trial: 2, metric: NaN }, { trial: 3, metric: 0.2 }, { trial: 4, metric: 0.2 }], 3, false), [3, 4, 0]);
  });
});

describe('tuning plan', () => {
  test('the tuning data is carved from the end of the training split', () => {
    assert.deepEqual(carveSplit('train', 0.1), { train: 'train[:90%]', val: 'train[90%:]' });
    assert.deepEqual(carveSplit('train[:80%]', 0.1), { train: 'train[:72%]', val: 'train[72%:80%]' });
    assert.deepEqual(carveSplit('train[0:1000]', 0.1), { train: 'train[:900]', val: 'train[900:1000]' });
    assert.deepEqual(carveSplit('train[:45000]', 0.1), { train: 'train[:40500]', val: 'train[40500:45000]' });
    assert.match(carveSplit('train+extra', 0.1) as string, /a union such as "a\+b" cannot be/);
    assert.match(carveSplit('train[10%:1000]', 0.1) as string, /bounds of one kind/);
    assert.match(carveSplit('train[:1]', 0.1) as string, /a training split large enough to carve 10% from/);
  });

  test('every arm gets the same points, epochs and seeds; trials never see the study\'s validation or test data', () => {
    const spec = parseStudySpec(study('{ space: { optimizer.lr: { logUniform: [0.001, 0.3] } }, method: asha, trials: 9, budget: { epochs: 9 }, seeds: [3, 4] }', 'seeds: [0, 1, 2]\n'));
    const expanded = expandStudy(spec);
    const issues: never[] = [];
    const plan = buildTunePlan(expanded, spec.tune!, issues);
    assert.deepEqual(issues, []);
    assert.equal(plan.epochsPerArm, 2 * (9 * 1 + 3 * 3 + 1 * 9));
    const runs = rungRuns(plan, plan.rungs[0]!, () => [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(runs.length, 2 * 2 * 9);
    const lrs = (arm: string) => runs.filter((r) => r.arm === arm && r.seed === 3).map((r) => (r.config.optimizer as { lr: number }).lr);
    assert.deepEqual(lrs('resnet20-cifar'), lrs('plain20-cifar'));
    for (const r of runs) {
      assert.deepEqual(r.config.data, { source: 'generated', split: 'train[:90%]', valSplit: 'train[90%:]' }, r.name);
      assert.equal(r.config.epochs, 1);
      assert.ok([3, 4].includes(r.config.seed as number));
    }
    assert.match(runs[0]!.name, /^resnet20-cifar-t0-e1-seed3$/);
    assert.match(plan.dataNote, /trials train on 'train\[:90%\]' and validate on 'train\[90%:\]'.*main runs: train on 'train' .* validate on 'test'/);
  });

  test('the chosen value at the edge of what was searched is flagged', () => {
    const spec = parseStudySpec(study('{ space: { optimizer.lr: [0.3, 0.1, 0.03] }, metric: val_loss }'));
    const plan = buildTunePlan(expandStudy(spec), spec.tune!, []);
    const trial = (k: number, metric: number): TrialResult => ({ trial: k, rung: 0, epochs: 4, values: plan.points[k]!, metric, runs: [`r${k}`], seconds: 1 });
    const res = chooseBest(plan, [new Map([
      ['resnet20-cifar', [trial(0, 0.4), trial(1, 0.3), trial(2, 0.5)]],
      ['plain20-cifar', [trial(0, 0.9), trial(1, 0.6), trial(2, 0.5)]],
    ])]);
    assert.deepEqual(res.arms.map((a) => [a.arm, a.chosen['optimizer.lr'], a.atEdge.map((e) => e.edge)]), [['resnet20-cifar', 0.1, []], ['plain20-cifar', 0.03, ['lowest']]]);
    assert.throws(() => chooseBest(plan, [new Map([['resnet20-cifar', [{ ...trial(0, 0), metric: undefined }]], ['plain20-cifar', [trial(0, 1)]]])]), /tuning: no trial of arm resnet20-cifar gave a val_loss/);
  });
});

describe('bundled tuned study', () => {
  test('studies/resnet-vs-plain-tuned.yaml: every arm searches 5 learning rates on a split carved from train[:45000]', () => {
    const data = mkdtempSync(join(tmpdir(), 'ablate-tuned-'));
    const { study } = planStudy(join(import.meta.dirname, '../../../studies/resnet-vs-plain-tuned.yaml'), { dataPath: data });
    rmSync(data, { recursive: true, force: true });
    const plan = study.tune!;
    assert.deepEqual([...plan.arms.keys()], ['resnet20-cifar', 'plain20-cifar', 'resnet56-cifar', 'plain56-cifar']);
    assert.deepEqual(plan.points.map((p) => p['optimizer.lr']), [0.3, 0.1, 0.03, 0.01, 0.003]);
    assert.match(plan.dataNote, /trials train on 'train\[:40500\]' and validate on 'train\[40500:45000\]'/);
    const cost = tuningCost(plan, study.runs.map((r) => ({ variant: r.variant, cost: { trainImages: 45000, epochs: 30, estimatedS: 300 } })));
    assert.deepEqual(cost.arms.map((a) => [a.trials, a.runs, a.epochs, a.images]), Array(4).fill([5, 5, 15, 40500 * 15]));
    assert.equal(cost.totalRuns, 20);
    // Time from the main run's speed: 300 s for 45,000 × 30 images.
    assert.ok(Math.abs(cost.totalEstimatedS! - 4 * 40500 * 15 * (300 / (45000 * 30))) < 1e-6);
  });
});

describe('tuning plans that cannot run are refused before anything trains', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const write = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'ablate-tune-bad-'));
    dirs.push(dir);
    writeFileSync(join(dir, 's.yaml'), text);
    return join(dir, 's.yaml');
  };
  const refusal = (file: string): string => {
    try {
      planStudy(file);
    } catch (e) {
      assert.ok(e instanceof StudySpecError, String(e));
      return e.message;
    }
    assert.fail('planStudy accepted it');
  };

  test('a searched value the training config refuses names the trial, the field and the value', () => {
    const msg = refusal(write(study('{ space: { optimizer.lr: [0.1, -1] } }')));
    assert.match(msg, /tune trial resnet20-cifar-t1-seed0: config\.optimizer\.lr: expected .* but received/);
  });

  test('more tuning runs than the ceiling', () => {
    const arms = Array.from({ length: 101 }, (_, i) => i / 1000);
    const msg = refusal(write(`name: t\n${BASE}\naxes: { optimizer.weightDecay: [${arms.join(', ')}] }\ntune: { space: { optimizer.lr: { logUniform: [0.001, 0.1] } }, method: random, trials: 1000 }\n`));
    assert.match(msg, /tune: expected at most 100,000 tuning runs \(fewer trials, tuning seeds or arms\) but received "101,000 runs \(101 arms × 1 seeds × 1000 trials\)"/);
  });

  test('a training split that cannot be carved', () => {
    const msg = refusal(write(study('{ space: { optimizer.lr: [0.1, 0.01] } }').replace('split: train,', "split: 'train+test',")));
    assert.match(msg, /tune\.valSplit \(arm resnet20-cifar\): expected a data\.split of one split .* but received "train\+test"/);
  });
});

describe('budget in images', () => {
  test('each trial\'s epochs are cut to the images it may see; asha refuses an images budget', () => {
    const spec = parseStudySpec(study('{ space: { optimizer.lr: [0.1, 0.01] }, budget: { images: 100, epochs: 2 } }').replace('epochs: 4,', 'epochs: 4, batchSize: 16,'));
    const plan = buildTunePlan(expandStudy(spec), spec.tune!, []);
    const runs = rungRuns(plan, plan.rungs[0]!, () => [0, 1]);
    assert.deepEqual(runs.map((r) => [r.config.epochs, r.config.stepsPerEpoch]), Array(4).fill([2, 4]), '2 epochs × 4 steps × 16 images ≥ 100 images');
    assert.match(problems(study('{ space: { optimizer.lr: [0.1, 0.01] }, method: asha, budget: { images: 100 } }')).join('\n'), /tune\.budget\.images: expected no images budget with method asha/);
  });
});
