// The report of an adaptive-seeds study (looks, decisions, verdicts on each pair's own seeds) and the
// parallel-coordinates figure, on fake study folders.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { adjustPValues } from '../../src/study/inference.js';
import { writeStudyReport } from '../../src/study/report/index.js';
import { parallelRows } from '../../src/study/report/parallel-coordinates.js';
import { buildReportModel } from '../../src/study/report/model.js';
import { readStudy } from '../../src/study/run-files.js';
import { dashboardState } from '../../src/study/serve/snapshot.js';
import { runAdaptive } from '../../src/study/adaptive-seeds.js';
import type { StudyRunOptions, StudyRunResult } from '../../src/study/runner.js';
import type { ExpandedStudy } from '../../src/study/spec-expand.js';
import { type FakeRun, tmpStudyDir, writeFakeStudy } from './fixtures.js';
import { assertExportsAgree } from './report-agreement.js';

const flat = (variant: string, axes: FakeRun['axes'], seed: number, acc: number): FakeRun => ({
  name: `${variant}-seed${seed}`, variant, axes, seed, status: 'ok',
  epochs: Array.from({ length: 3 }, () => ({ loss: 1 - acc, accuracy: acc, val_loss: 1 - acc, val_accuracy: acc })),
});

/** base at 70/72/74/…; `big` 10 points above at every seed (decided at the first look); `same` within noise, run to max. */
function adaptiveStudy(): string {
  const base = [0.7, 0.72, 0.74, 0.71, 0.73];
  const noise = [0.004, -0.006, 0.002, 0.005, -0.003];
  const runs = [
    ...base.map((a, s) => flat('base', { model: 'base' }, s, a)),
    // Decided with 3 seeds: only those ran.
    ...base.slice(0, 3).map((a, s) => flat('big', { model: 'big' }, s, a + 0.1 + noise[s] / 10)),
    ...base.map((a, s) => flat('same', { model: 'same' }, s, a + noise[s])),
  ];
  return writeFakeStudy(tmpStudyDir(), runs, {
    seeds: [0, 1, 2, 3, 4],
    compare: [{ variant: 'big', reference: 'base' }, { variant: 'same', reference: 'base' }],
    statistics: { correction: 'holm', adaptiveSeeds: { min: 3, max: 5 } },
  });
}

test('adaptive seeds in the report: the looks, when each pair was decided, each verdict on its own seeds', async () => {
  const dir = adaptiveStudy();
  const r = await writeStudyReport(dir, { png: false });
  const m = r.model;
  const seq = m.sequential!;
  assert.deepEqual(seq.looks.map((l) => l.seeds), [3, 4, 5]);
  assert.equal(seq.comparisons[0].decidedAt, 1);
  assert.equal(seq.comparisons[1].decidedAt, undefined);
  assert.ok(seq.complete);
  const [big, same] = m.verdicts;
  assert.equal(big.kind, 'better');
  assert.deepEqual(big.sequential, { decidedAt: 1, seeds: 3 });
  // big's pair uses seeds 0–2 only (paired), though base ran five.
  assert.equal(big.interval!.method, 'paired');
  assert.deepEqual(big.interval!.n, [3, 3]);
  assert.match(big.text, /decided at look 1 of 3/);
  assert.equal(same.kind, 'no-difference');
  assert.deepEqual(same.interval!.n, [5, 5]);
  assert.match(same.text, /undecided after 3 looks/);
  // The sequential adjusted p is the look's Holm p scaled to α by the look's share.
  const look1 = seq.looks[0].tested.find((t) => t.comparison === 0)!;
  assert.ok(Math.abs(big.adjustedP! - look1.adjustedP) < 1e-15);
  const holm = adjustPValues(seq.looks[0].tested.map((t) => t.p), 'holm');
  assert.ok(Math.abs(look1.adjustedP - Math.min(1, (holm[0] * 0.05) / seq.schedule[0].alpha)) < 1e-15);
  assertExportsAgree(r);
  const md = readFileSync(r.markdown, 'utf8');
  assert.match(md, /## Looks\n\nAdaptive seeds \(`seeds: \{ min: 3, max: 5, until: decided \}`\)/);
  assert.match(md, /\| 1 \| 3 \| [0-9.e-]+ \| big vs base \| p [^|]+ \| p [^|]+ \| decided \|/);
  assert.match(md, /\| 3 \| 5 \| [0-9.e-]+ \| same vs base \| p [^|]+ \| p [^|]+ \| undecided at max seeds \|/);
  const json = JSON.parse(readFileSync(r.json, 'utf8'));
  assert.deepEqual(json.adaptiveSeeds.comparisons.map((c: { decidedAtLook: number | null }) => c.decidedAtLook), [1, null]);
  assert.equal(json.comparisons[0].lookSeeds, 3);
  assert.ok(Math.abs(json.adaptiveSeeds.schedule.reduce((a: number, l: { alpha: number }) => a + l.alpha, 0) - 0.05) < 1e-12);
  assert.match(readFileSync(r.tex, 'utf8'), /adaptive seeds \(3 to 5\): \$p\$-values adjusted by Holm over 2 comparisons and by \$\\alpha\$ spent over up to 3 looks/);
});

test('a study whose first look is still waiting says so and decides nothing', () => {
  const base = [0.7, 0.72];
  const dir = writeFakeStudy(tmpStudyDir(), [...base.map((a, s) => flat('base', { model: 'base' }, s, a)), ...base.map((a, s) => flat('big', { model: 'big' }, s, a + 0.1))], {
    seeds: [0, 1, 2, 3], compare: [{ variant: 'big', reference: 'base' }], statistics: { correction: 'holm', adaptiveSeeds: { min: 3, max: 4 } },
  });
  const m = buildReportModel(readStudy(dir));
  assert.equal(m.sequential!.complete, false);
  assert.equal(m.sequential!.looks.length, 0);
  // Two seeds give a p-value, but no look has been taken: not a finding yet.
  assert.equal(m.verdicts[0].significant, false);
});

test('parallel coordinates: one line per finished variant through its axis values to its accuracy, in the report and as SVG', async () => {
  const runs: FakeRun[] = [];
  const accs: Record<string, number> = { 'resnet-sgd': 0.9, 'resnet-adam': 0.85, 'plain-sgd': 0.8, 'plain-adam': 0.7 };
  for (const [name, acc] of Object.entries(accs)) {
    const [model, opt] = name.split('-');
    for (const s of [0, 1]) runs.push(flat(name, { model, 'optimizer.name': opt }, s, acc + 0.01 * s));
  }
  runs.push({ ...flat('plain-rmsprop', { model: 'plain', 'optimizer.name': 'rmsprop' }, 0, 0.5), status: 'failed' });
  const dir = writeFakeStudy(tmpStudyDir(), runs);
  const m = buildReportModel(readStudy(dir));
  const rows = parallelRows(m.variants)!;
  // The failed variant has no line, but its value keeps its place on the optimizer axis.
  assert.deepEqual([...new Set(rows.map((r) => r.variant))], Object.keys(accs));
  const at = (variant: string, dim: string) => rows.find((r) => r.variant === variant && r.dim === dim)!;
  assert.deepEqual([at('resnet-sgd', 'model').y, at('plain-sgd', 'model').y], [0, 1]);
  assert.deepEqual([at('resnet-sgd', 'optimizer.name').y, at('resnet-adam', 'optimizer.name').y, at('plain-adam', 'optimizer.name').y], [0, 0.5, 0.5]);
  assert.equal(at('resnet-sgd', 'Final val acc (%)').y, 1);
  assert.equal(at('plain-adam', 'Final val acc (%)').y, 0);
  assert.ok(Math.abs(at('plain-sgd', 'Final val acc (%)').y - (80.5 - 70.5) / (90.5 - 70.5)) < 1e-12);
  const r = await writeStudyReport(dir, { png: false });
  const svg = readFileSync(join(dir, 'plots', 'parallel-coordinates.svg'), 'utf8');
  for (const label of ['model', 'optimizer.name', 'Final val acc (%)', 'resnet', 'rmsprop', '90.5', '70.5']) assert.ok(svg.includes(`>${label}<`), `${label} drawn`);
  assert.match(readFileSync(r.markdown, 'utf8'), /### Parallel coordinates: the axes against final validation accuracy\n\n!\[[^\]]*\]\(plots\/parallel-coordinates\.png\)/);
  assert.match(readFileSync(r.html, 'utf8'), /Parallel coordinates/);
  // Nothing to draw with one finished variant, or when the only axis just names the variants.
  assert.equal(parallelRows(m.variants.slice(0, 1)), undefined);
  assert.equal(parallelRows(m.variants.map((v) => ({ ...v, axes: { model: v.name } }))), undefined);
  // The dashboard gets the same figure, its rows sent once by name like the other figures'.
  const s = dashboardState(dir);
  const fig = s.figures.find((x) => x.id === 'parallel-coordinates')!;
  assert.equal(fig.panels.length, 1);
  const name = (fig.panels[0].spec as { data: { name: string } }).data.name;
  assert.equal((s.datasets[name] as { variant: string }[]).filter((r) => r.variant === 'resnet-sgd').length, 3);
});

/** A study of base, big (10 points better) and same (within noise), seeds 0..4, as the runner plans it. */
function plannedStudy(): ExpandedStudy {
  const variants = ['base', 'big', 'same'];
  return {
    name: 'rounds', axes: { model: variants }, seeds: [0, 1, 2, 3, 4], variants,
    runs: [0, 1, 2, 3, 4].flatMap((seed) => variants.map((v) => ({ name: `${v}-seed${seed}`, variant: v, axes: { model: v }, seed, config: {} }))),
    comparisons: [{ variant: 'big', reference: 'base' }, { variant: 'same', reference: 'base' }],
    statistics: { correction: 'holm', adaptiveSeeds: { min: 3, max: 5 } },
  };
}

const ACC: Record<string, (seed: number) => number> = {
  base: (s) => [0.7, 0.72, 0.74, 0.71, 0.73][s],
  big: (s) => [0.8, 0.8204, 0.8397, 0.81, 0.83][s],
  same: (s) => [0.704, 0.714, 0.742, 0.715, 0.727][s],
};

test('the runner\'s rounds: min seeds first, then one more seed only where a comparison is undecided; a report pass that trains nothing', async () => {
  const study = plannedStudy();
  const dir = tmpStudyDir();
  const done: FakeRun[] = [];
  const rounds: { runs: string[]; only?: string[]; noReport?: boolean }[] = [];
  const result = (ran: string[], extra: Partial<StudyRunResult> = {}): StudyRunResult => ({ dir, study, ran, skipped: [], failed: [], interruptedRuns: [], busy: [], interrupted: false, ...extra });
  // Stands in for the runner's pass: trains (writes) every run of the round not yet finished.
  const runRound = async (round: ExpandedStudy, o: StudyRunOptions) => {
    rounds.push({ runs: round.runs.map((r) => r.name), ...(o.only ? { only: o.only } : {}), ...(o.noReport ? { noReport: true } : {}) });
    if (o.only?.length === 0) return result([]);
    const todo = round.runs.filter((r) => !done.some((d) => d.name === r.name));
    done.push(...todo.map((r) => flat(r.variant, r.axes, r.seed, ACC[r.variant](r.seed))));
    writeFakeStudy(dir, done);
    return result(todo.map((r) => r.name));
  };
  const r = await runAdaptive(study, { log: () => {} }, dir, runRound);
  const names = (v: string, n: number) => Array.from({ length: n }, (_, s) => `${v}-seed${s}`);
  assert.deepEqual(rounds.map((x) => x.runs.length), [9, 11, 13, 13]);
  assert.deepEqual(new Set(rounds[2].runs), new Set([...names('base', 5), ...names('big', 3), ...names('same', 5)]));
  assert.deepEqual(rounds.map((x) => [x.noReport ?? false, x.only?.length]), [[true, undefined], [true, undefined], [true, undefined], [false, 0]]);
  assert.equal(r.ran.length, 13);
});

test('the runner\'s rounds: a round that leaves a run unfinished stops there (no second try), and the report pass waits with it', async () => {
  const study = plannedStudy();
  const dir = tmpStudyDir();
  const rounds: string[][] = [];
  const done: FakeRun[] = [];
  const runRound = async (round: ExpandedStudy, o: StudyRunOptions): Promise<StudyRunResult> => {
    rounds.push(o.only?.length === 0 ? ['(report)'] : round.runs.map((r) => r.name));
    // Every run but same-seed2 finishes (it was killed: interrupted).
    const todo = o.only?.length === 0 ? [] : round.runs.filter((r) => r.name !== 'same-seed2' && !done.some((d) => d.name === r.name));
    done.push(...todo.map((r) => flat(r.variant, r.axes, r.seed, ACC[r.variant](r.seed))));
    writeFakeStudy(dir, done);
    return { dir, study, ran: todo.map((r) => r.name), skipped: [], failed: [], interruptedRuns: o.only?.length === 0 ? [] : ['same-seed2'], busy: [], interrupted: false };
  };
  const r = await runAdaptive(study, { log: () => {} }, dir, runRound);
  assert.deepEqual(rounds.map((x) => x.length), [9, 1]);
  assert.deepEqual(r.interruptedRuns, ['same-seed2']);
  await assert.rejects(runAdaptive(study, { shard: { index: 0, count: 2 } }, dir, runRound), /Expected --worker \(or one runner\) .* but received --shard/);
});
