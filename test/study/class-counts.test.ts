// The report's per-class counts, and its flag on a variant that trained on different data.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildReportModel } from '../../src/study/report/model.js';
import { readStudy } from '../../src/study/run-files.js';
import { studyStatus } from '../../src/study/report/status.js';
import { curve, tmpStudyDir, writeFakeStudy, type FakeRun } from './fixtures.js';

function setClassCounts(dir: string, run: string, counts: Record<string, Record<string, number>>): void {
  const file = join(dir, run, 'status.json');
  const st = JSON.parse(readFileSync(file, 'utf8'));
  st.dataset.classCounts = counts;
  writeFileSync(file, JSON.stringify(st));
}

test('the report lists images per class and flags the variant whose class counts differ', () => {
  const dir = tmpStudyDir();
  const run = (variant: string, seed: number): FakeRun => ({ name: `${variant}-seed${seed}`, variant, axes: { model: variant }, seed, status: 'ok', epochs: curve(3, 0.5, 0.7) });
  writeFakeStudy(dir, [run('resnet20', 0), run('resnet20', 1), run('plain20', 0), run('plain20', 1), run('wide20', 0)]);
  const same = { train: { cat: 40, dog: 40 }, val: { cat: 10, dog: 10 } };
  for (const r of ['resnet20-seed0', 'resnet20-seed1', 'plain20-seed0', 'plain20-seed1']) setClassCounts(dir, r, same);
  setClassCounts(dir, 'wide20-seed0', { train: { cat: 40, dog: 12 }, val: { cat: 10, dog: 10 } });

  const model = buildReportModel(readStudy(dir));
  const env = model.environment.find((e) => e.label === 'Images per class')!;
  assert.equal(env.value, 'train: cat 40, dog 40; val: cat 10, dog 10 (4 runs); train: cat 40, dog 12; val: cat 10, dog 10 (1 run)');
  const flagged = model.problems.filter((p) => /class counts/.test(p.message));
  assert.deepEqual(flagged.map((p) => p.run), ['wide20']);
  assert.match(flagged[0]!.message, /different class counts from the other variants — train: cat 40, dog 12; val: cat 10, dog 10 \(the others: train: cat 40, dog 40; val: cat 10, dog 10\); its results are not directly comparable/);

  // One seed of a variant that differs from its other seeds is named too.
  setClassCounts(dir, 'plain20-seed1', { train: { cat: 39, dog: 40 }, val: { cat: 10, dog: 10 } });
  const again = buildReportModel(readStudy(dir)).problems.filter((p) => /class counts/.test(p.message));
  assert.deepEqual(again.map((p) => p.run), ['wide20', 'plain20-seed1']);
});

test('identical class counts: one environment row, no flag; a running run whose process is gone reads as interrupted', () => {
  const dir = tmpStudyDir();
  writeFakeStudy(dir, [
    { name: 'a-seed0', variant: 'a', axes: { model: 'a' }, seed: 0, status: 'ok', epochs: curve(3, 0.5, 0.7) },
    { name: 'b-seed0', variant: 'b', axes: { model: 'b' }, seed: 0, status: 'running', epochs: curve(2, 0.5, 0.6), epochsPlanned: 3, orphaned: true },
  ]);
  for (const r of ['a-seed0', 'b-seed0']) setClassCounts(dir, r, { train: { x: 5, y: 6 } });
  const model = buildReportModel(readStudy(dir));
  assert.equal(model.environment.find((e) => e.label === 'Images per class')!.value, 'train: x 5, y 6');
  assert.equal(model.problems.filter((p) => /class counts/.test(p.message)).length, 0);
  const s = studyStatus(dir);
  assert.match(s.text, /^b-seed0\s+interrupted\s+2\/3/m);
  assert.match(s.text, /warning: b-seed0: status\.json says running, but no process holds the run any more/);
});
