// Adaptive seeds end to end on generated images: a study of 3 axes with expect:, testSplit and
// seeds: { min, max, until: decided }, its runner killed with SIGKILL mid-way and finished by two
// --worker processes; every planned run trains exactly once, the seeds follow the looks, the report
// files agree, and `study diff` against a copy with one run's history edited reports the flip.
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { writeStudyReport, type WrittenReport } from '../../src/study/report/index.js';
import { prettyName } from '../../src/study/report/format.js';
import { historyOf, runCli, spawnCli, statusOf, tmp, waitFor, writeStudy } from './live-fixtures.js';
import { assertExportsAgree } from './report-agreement.js';

describe('adaptive seeds: kill -9, two workers, agreeing exports, study diff', { timeout: 900_000 }, () => {
  let root: string;
  let out: string;
  let report: WrittenReport;
  let workerOutput = '';

  before(async () => {
    root = tmp('ablate-adaptive-');
    out = join(root, 'out');
    const file = writeStudy(root, {
      name: 'adaptive',
      base: { epochs: 1, data: { generated: { trainCount: 96 }, split: 'train[:64]', valSplit: 'train[64:]', testSplit: 'test' } },
      axes: { model: ['resnet20-cifar', 'plain20-cifar'], 'optimizer.lr': [0.05, 0.01], batchSize: [16, 32] },
      seeds: { min: 2, max: 3, until: 'decided' },
      compare: [['plain20-cifar', 'resnet20-cifar']],
      expect: [{ that: 'resnet20-cifar-lr0.05-batchSize16 > plain20-cifar-lr0.05-batchSize16', source: 'He et al. 2016' }],
    });
    const args = (...extra: string[]) => ['study', 'run', file, '--out', out, '--threads', '1', ...extra];
    const plan = await runCli(['study', 'plan', file, '--no-measure']);
    assert.equal(plan.code, 0, plan.output);
    assert.match(plan.output, /adaptive seeds: 2 to 3 seeds per variant, .*: 16 to 24 runs/);

    // The runner is killed once a few runs of the first round have finished.
    const first = spawnCli(args());
    const finished = () => readdirSync(out).filter((d) => statusOf(join(out, d)).status === 'ok').length;
    await waitFor('three runs to finish', () => existsSync(out) && finished() >= 3, first, 300_000);
    first.child.kill('SIGKILL');
    assert.equal((await first.done).signal, 'SIGKILL');
    assert.ok(finished() < 16, 'killed before the first round ended');

    // Two cooperating workers finish the study: both replay the same looks from the finished runs.
    const [a, b] = [spawnCli(args('--worker')), spawnCli(args('--worker'))];
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.equal(ra.code, 0, ra.output);
    assert.equal(rb.code, 0, rb.output);
    workerOutput = ra.output + rb.output;
    report = await writeStudyReport(out, { png: false });
  });

  test('every planned run trained exactly once, and the seeds follow the looks', () => {
    const m = report.model;
    const seq = m.sequential!;
    assert.ok(seq.complete, 'the study ended with every comparison decided or at max seeds');
    assert.equal(seq.looks[0].seeds, 2);
    assert.equal(seq.looks[0].tested.length, 4);
    for (const v of m.variants) {
      for (const r of v.runs) {
        assert.equal(r.run.state, 'ok', r.run.name);
        assert.equal(historyOf(r.run.dir).length, 1, `${r.run.name} trained its one epoch once`);
      }
      // A variant gets its third seed exactly when one of its comparisons was undecided at the first look.
      const undecided = seq.looks[0].tested.some((t) => !t.decided && [m.verdicts[t.comparison].variant, m.verdicts[t.comparison].reference].includes(v.name));
      assert.equal(v.runs.length, undecided ? 3 : 2, v.name);
    }
    assert.match(workerOutput, /adaptive seeds: look \d of 2 needs \d+ runs \(16 to 24 in all\)/);
  });

  test('report.md, report.tex, table.csv and summary.json agree, with the looks and the claim', () => {
    assertExportsAgree(report);
    const md = readFileSync(report.markdown, 'utf8');
    const json = JSON.parse(readFileSync(report.json, 'utf8'));
    assert.match(md, /## Looks/);
    assert.match(md, /With adaptive seeds, the adjustment also spends α over up to 2 looks/);
    assert.equal(json.adaptiveSeeds.min, 2);
    assert.equal(json.adaptiveSeeds.max, 3);
    json.comparisons.forEach((c: { variant: string; decidedAtLook: number | null; lookSeeds: number; adjustedP?: number; significant: boolean }, i: number) => {
      assert.equal(json.adaptiveSeeds.comparisons[i].decidedAtLook, c.decidedAtLook);
      assert.equal(c.significant, c.decidedAtLook !== null);
      if (c.adjustedP !== undefined) assert.equal(c.adjustedP < 0.05, c.decidedAtLook !== null);
      // Each look's row in report.md.
      for (const l of json.adaptiveSeeds.looks) {
        const t = l.tested.find((x: { variant: string }) => x.variant === c.variant);
        if (t) assert.ok(md.split('\n').some((line) => line.startsWith(`| ${l.look} | ${l.seeds} |`) && line.includes(t.decided ? '| decided |' : 'undecided')), `look ${l.look} of ${c.variant} in report.md`);
      }
    });
    assert.match(readFileSync(report.tex, 'utf8'), /adaptive seeds \(2 to 3\)/);
    const claim = json.comparisons.find((c: { expectation?: unknown }) => c.expectation);
    assert.match(claim.expectation.outcome, /^(replicated|contradicted|inconclusive)$/);
    for (const v of report.model.variants) assert.equal(v.test.n, v.finished.length, `${v.name}: test split scored once per run`);
    assert.match(md, /Parallel coordinates/);
  });

  test('study diff against a copy with one run\'s history edited reports the flipped verdict and exits non-zero', async () => {
    const copy = join(root, 'copy');
    cpSync(out, copy, { recursive: true });
    const m = report.model;
    // Make one pair's two first seeds differ by the very same amount: zero spread over the seeds of the
    // first look, which the sequential test then decides. Only a pair not already decided can flip.
    const final = (name: string) => m.variants.flatMap((v) => v.runs).find((r) => r.run.name === name)!.finalValAcc!;
    const pick = m.verdicts.map((v) => ({ v, d0: final(`${v.variant}-seed0`) - final(`${v.reference}-seed0`) })).find(({ v, d0 }) => !v.significant && d0 !== 0);
    assert.ok(pick, `a comparison not yet significant with a non-zero difference at seed 0: ${m.verdicts.map((v) => v.text).join(' / ')}`);
    const edited = join(copy, `${pick.v.variant}-seed1`);
    const value = final(`${pick.v.reference}-seed1`) + pick.d0;
    const lines = readFileSync(join(edited, 'history.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
    writeFileSync(join(edited, 'history.jsonl'), lines.map((l) => JSON.stringify({ ...JSON.parse(l), val_accuracy: value })).join('\n') + '\n');
    const r = await runCli(['study', 'diff', out, copy]);
    assert.equal(r.code, 3, r.output);
    const esc = (n: string) => prettyName(n).replace(/[.+]/g, '\\$&');
    assert.match(r.output, new RegExp(`^FLIPPED ${esc(pick.v.variant)} vs ${esc(pick.v.reference)}: A no-difference .* → B better`, 'm'));
  });
});
