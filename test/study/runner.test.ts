import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { runStudy, type StudyRunResult } from '../../src/study/runner.js';
import { studyStatus } from '../../src/study/report/index.js';
import { historyOf, statusOf, tmp, writeStudy } from './live-fixtures.js';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) / (xs.length - 1));
const pct = (x: number) => (100 * x).toFixed(1);

async function quietRun(file: string, out: string, extra: Parameters<typeof runStudy>[1] = {}): Promise<{ result: StudyRunResult; lines: string[] }> {
  const lines: string[] = [];
  const result = await runStudy(file, { out, threads: 1, childOutput: 'quiet', log: (l) => lines.push(l), ...extra });
  return { result, lines };
}

describe('runStudy end to end: 2 variants × 2 seeds', () => {
  let dir: string;
  let result: StudyRunResult;
  let lines: string[];
  before(async () => {
    const root = tmp();
    dir = join(root, 'out');
    const file = writeStudy(root, { axes: { model: ['resnet20-cifar', 'plain20-cifar'] }, seeds: [0, 1] });
    ({ result, lines } = await quietRun(file, dir));
  });

  test('every run trained and finished', () => {
    assert.deepEqual(result.ran.sort(), ['plain20-cifar-seed0', 'plain20-cifar-seed1', 'resnet20-cifar-seed0', 'resnet20-cifar-seed1']);
    assert.deepEqual(result.failed, []);
    assert.equal(result.interrupted, false);
    for (const name of result.ran) {
      const st = statusOf(join(dir, name));
      assert.equal(st.status, 'ok', `${name}: ${st.error}`);
      assert.deepEqual(historyOf(join(dir, name)).map((h) => h.epoch), [1, 2, 3]);
      assert.equal(st.env?.threads, 1);
    }
    const index = JSON.parse(readFileSync(join(dir, 'study.json'), 'utf8'));
    assert.deepEqual(index.runs.map((r: { status: string }) => r.status), ['ok', 'ok', 'ok', 'ok']);
  });

  test("the report's table is computed from the runs' history.jsonl", () => {
    const model = result.report!.model;
    const md = readFileSync(result.report!.markdown, 'utf8');
    for (const variant of ['resnet20-cifar', 'plain20-cifar']) {
      const histories = [0, 1].map((s) => historyOf(join(dir, `${variant}-seed${s}`)));
      const best = histories.map((h) => Math.max(...h.map((e) => e.val_accuracy!)));
      const final = histories.map((h) => mean(h.slice(-3).map((e) => e.val_accuracy!)));
      const v = model.variants.find((x) => x.name === variant)!;
      assert.ok(Math.abs(v.best.mean! - mean(best)) < 1e-12);
      assert.ok(Math.abs(v.best.std! - std(best)) < 1e-12);
      assert.ok(Math.abs(v.final.mean! - mean(final)) < 1e-12);
      assert.equal(v.finished.length, 2);
      // The Markdown row shows the same numbers, as mean ± std in percent.
      const row = md.split('\n').find((l) => l.startsWith(`| ${variant} |`));
      assert.ok(row, `a table row for ${variant}`);
      assert.ok(row.includes(`${pct(mean(best))} ± ${pct(std(best))}`), `${row} has best ${pct(mean(best))} ± ${pct(std(best))}`);
      assert.ok(row.includes(`${pct(mean(final))} ± ${pct(std(final))}`), `${row} has final ${pct(mean(final))}`);
    }
    const [verdict] = model.verdicts;
    assert.equal(verdict.variant, 'plain20-cifar');
    assert.equal(verdict.reference, 'resnet20-cifar');
    assert.ok(verdict.interval, 'two seeds give a confidence interval');
    const diff = model.variants[1].final.mean! - model.variants[0].final.mean!;
    assert.ok(Math.abs(verdict.difference! - diff) < 1e-12);
    assert.ok(verdict.interval.low <= diff && diff <= verdict.interval.high);
    if (!verdict.significant) assert.match(verdict.text, /No significant difference .* with 2 seeds/);
  });

  test('the report is written beside the runs, and the run log ends with where it is and the verdicts', () => {
    const html = readFileSync(result.report!.html, 'utf8');
    assert.match(html, /<svg/);
    assert.ok(result.report!.plots.length > 0 && result.report!.plots.every((p) => existsSync(p)));
    const tail = lines.slice(-6).join('\n');
    assert.match(tail, /4 runs: 4 ok/);
    assert.match(tail, /Verdicts:\n {2}- Plain-20-cifar vs ResNet-20-cifar: /);
    assert.match(tail, /Report: .*report\.html/);
  });

  test('study status lists every run with its epochs and accuracy', () => {
    const s = studyStatus(dir);
    assert.equal(s.counts.ok, 4);
    for (const name of result.ran) assert.match(s.text, new RegExp(`^${name}\\s+ok\\s+3/3 `, 'm'));
  });

  test('running the same study again trains nothing', async () => {
    const before = result.ran.map((n) => readFileSync(join(dir, n, 'history.jsonl'), 'utf8'));
    const again = await quietRun(join(dir, '..', 'tiny.yaml'), dir, { noReport: true });
    assert.deepEqual(again.result.ran, []);
    assert.equal(again.result.skipped.length, 4);
    assert.match(again.lines[0], /4 already finished/);
    assert.deepEqual(result.ran.map((n) => readFileSync(join(dir, n, 'history.jsonl'), 'utf8')), before);
  });
});

describe('runStudy with a failing and a diverging variant, two at a time', () => {
  let dir: string;
  let result: StudyRunResult;
  before(async () => {
    const root = tmp();
    dir = join(root, 'out');
    const broken = join(root, 'broken.pth');
    writeFileSync(broken, 'these are not weights');
    const file = writeStudy(root, {
      name: 'mixed',
      variants: [
        { name: 'exploding', optimizer: { lr: 1e8 } },
        { name: 'broken', pretrained: broken },
        { name: 'good' },
      ],
      seeds: [0],
    });
    ({ result } = await quietRun(file, dir, { parallel: 2, threads: 2 }));
  });

  test('one failing variant does not stop the others', () => {
    assert.deepEqual(result.ran.sort(), ['broken-seed0', 'exploding-seed0', 'good-seed0']);
    assert.deepEqual(result.failed, ['broken-seed0']);
    assert.equal(statusOf(join(dir, 'good-seed0')).status, 'ok');
    assert.deepEqual(historyOf(join(dir, 'good-seed0')).map((h) => h.epoch), [1, 2, 3]);
  });

  test('a diverging variant is reported as diverged, not failed', () => {
    const st = statusOf(join(dir, 'exploding-seed0'));
    assert.equal(st.status, 'diverged');
    assert.match(st.error!, /loss (became|reached) /);
  });

  test('the report marks the failed variant with its error and the diverged one as diverged', () => {
    const model = result.report!.model;
    const status = (name: string) => model.variants.find((v) => v.name === name)!.states;
    assert.deepEqual(status('broken'), { failed: 1 });
    assert.deepEqual(status('exploding'), { diverged: 1 });
    assert.deepEqual(status('good'), { ok: 1 });
    const problem = model.problems.find((p) => p.run === 'broken-seed0')!;
    assert.equal(problem.state, 'failed');
    assert.match(problem.message, /broken\.pth: Expected a PyTorch checkpoint/);
    const md = readFileSync(result.report!.markdown, 'utf8');
    assert.match(md, /^\| broken \|.*\| failed \|/m);
    assert.match(md, /^\| exploding \|.*\| diverged \|/m);
    assert.match(md, /## Problems\n\n(- .*\n)*- \*\*broken-seed0\*\* \(failed\): .*broken\.pth/);
  });

  test('--parallel 2 gives each training process one of the two threads', () => {
    for (const name of ['good-seed0', 'exploding-seed0']) {
      assert.equal(statusOf(join(dir, name)).env?.threads, 1);
      assert.equal(JSON.parse(readFileSync(join(dir, name, 'config.json'), 'utf8')).threads, 1);
    }
  });

  test('a failed variant is not retried unless asked', async () => {
    const again = await quietRun(join(dir, '..', 'mixed.yaml'), dir, { noReport: true });
    assert.deepEqual(again.result.ran, []);
    const retry = await quietRun(join(dir, '..', 'mixed.yaml'), dir, { noReport: true, retryFailed: true });
    assert.deepEqual(retry.result.ran, ['broken-seed0']);
    assert.deepEqual(retry.result.failed, ['broken-seed0']);
  });
});
