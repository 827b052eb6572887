import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readRun, readStudy, studyIndexFor, studyIndexSchema } from '../../src/study/run-files.js';
import { readHistory } from '../../src/run/run-folder.js';
import { expandStudy } from '../../src/study/spec-expand.js';
import { parseStudySpec } from '../../src/study/spec.js';
import { curve, historyLine, standardRuns, tmpStudyDir, writeFakeStudy } from './fixtures.js';

describe('history.jsonl', () => {
  test('a torn last line is skipped with a warning; earlier lines are kept', () => {
    const dir = tmpStudyDir();
    const lines = curve(3, 0.5, 0.7).map(historyLine);
    writeFileSync(join(dir, 'history.jsonl'), lines.join('\n') + '\n' + lines[0].slice(0, 20));
    const warnings: string[] = [];
    const h = readHistory(dir, warnings);
    assert.deepEqual(h.map((r) => r.epoch), [1, 2, 3]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /last line is incomplete/);
  });

  test('NaN written as null or "NaN" reads as NaN; a repeated epoch keeps its last version', () => {
    const dir = tmpStudyDir();
    const row = (epoch: number, loss: unknown, val: number) => JSON.stringify({ epoch, loss, accuracy: 0.5, val_accuracy: val, lr: 0.1, epoch_time_s: 1, images_per_s: 10 });
    writeFileSync(join(dir, 'history.jsonl'), [row(1, 1, 0.5), row(2, 0.9, 0.6), row(2, 0.8, 0.65), row(3, null, 0.5), row(4, 'NaN', 0.5), '', ''].join('\n'));
    const warnings: string[] = [];
    const h = readHistory(dir, warnings);
    assert.deepEqual(h.map((r) => r.epoch), [1, 2, 3, 4]);
    assert.equal(h[1].val_accuracy, 0.65);
    assert.ok(Number.isNaN(h[2].loss) && Number.isNaN(h[3].loss));
    assert.deepEqual(warnings, []);
  });

  test('a malformed middle line is reported with its line number', () => {
    const dir = tmpStudyDir();
    const lines = curve(3, 0.5, 0.7).map(historyLine);
    writeFileSync(join(dir, 'history.jsonl'), [lines[0], '{"epoch": 0}', lines[2]].join('\n'));
    const warnings: string[] = [];
    assert.equal(readHistory(dir, warnings).length, 2);
    assert.match(warnings[0], /^history\.jsonl line 2: /);
  });
});

describe('run and study folders', () => {
  test('readStudy follows study.json and reads every run', () => {
    const dir = writeFakeStudy(tmpStudyDir(), standardRuns());
    const s = readStudy(dir);
    assert.equal(s.runs.length, 7);
    const killed = s.runs.find((r) => r.name === 'resnet50-seed1')!;
    assert.equal(killed.state, 'running');
    assert.equal(killed.history.length, 3);
    assert.equal(killed.warnings.length, 1);
    const failed = s.runs.find((r) => r.name === 'resnet50-seed0')!;
    assert.equal(failed.status?.error, 'CUDA out of memory: tried to allocate 2.00 GiB');
    assert.equal(s.runs[0].config?.model, 'resnet34');
  });

  test('without study.json the run folders are read directly', () => {
    const dir = writeFakeStudy(tmpStudyDir(), standardRuns());
    rmSync(join(dir, 'study.json'));
    mkdirSync(join(dir, 'plots'));
    const s = readStudy(dir);
    assert.equal(s.runs.length, 7, 'folders without run files (plots/) are not runs');
    assert.match(s.warnings[0], /study\.json: missing/);
    assert.equal(s.runs.find((r) => r.name === 'plain34-seed1')!.variant, 'plain34');
    assert.equal(s.runs.find((r) => r.name === 'plain34-seed1')!.seed, 1);
  });

  test('no status.json: pending, or running once epochs exist; a broken status.json is a warning', () => {
    const runs = standardRuns().slice(0, 2);
    runs[0].noStatus = true;
    runs[0].status = 'pending';
    runs[1].noStatus = true;
    runs[1].status = 'pending';
    runs[1].epochs = [];
    const dir = writeFakeStudy(tmpStudyDir(), runs);
    assert.equal(readRun(join(dir, runs[0].name)).state, 'running');
    assert.equal(readRun(join(dir, runs[1].name)).state, 'pending');
    writeFileSync(join(dir, runs[1].name, 'status.json'), '{"status": "exploded"}');
    const r = readRun(join(dir, runs[1].name));
    assert.match(r.warnings[0], /^status\.json: status: /);
  });

  test('a missing study folder is a clear error', () => {
    assert.throws(() => readStudy('/nonexistent/study'), /Expected a study folder for studyDir but received "\/nonexistent\/study"/);
  });

  test('studyIndexFor writes what readStudy reads', () => {
    const study = expandStudy(parseStudySpec('name: s\nbase: {model: a}\naxes: {model: [a, b]}\nseeds: 2\ncompare: [[b, a]]\n'));
    const index = studyIndexFor(study, { specFile: 's.yaml', now: new Date('2024-01-01T00:00:00Z') });
    assert.ok(studyIndexSchema.safeParse(index).success);
    assert.deepEqual(index.runs.map((r) => [r.name, r.variant, r.status]), [['a-seed0', 'a', 'pending'], ['b-seed0', 'b', 'pending'], ['a-seed1', 'a', 'pending'], ['b-seed1', 'b', 'pending']]);
    assert.deepEqual(index.compare, [{ variant: 'b', reference: 'a' }]);
    const dir = tmpStudyDir();
    writeFileSync(join(dir, 'study.json'), JSON.stringify(index));
    const s = readStudy(dir);
    assert.deepEqual(s.runs.map((r) => r.state), ['pending', 'pending', 'pending', 'pending']);
  });
});
