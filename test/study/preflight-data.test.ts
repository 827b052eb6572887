import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runStudy } from '../../src/study/runner.js';
import { DataPreflightError } from '../../src/study/preflight-data.js';
import { tmp, writeStudy } from './live-fixtures.js';

test('a study opens each distinct dataset once before any variant starts, and fails in one message', async () => {
  const root = tmp();
  const empty = join(root, 'empty');
  mkdirSync(empty);
  const file = writeStudy(root, {
    axes: { model: ['resnet20-cifar', 'plain20-cifar'], 'optimizer.lr': [0.1, 0.01] },
    seeds: [0, 1],
    // Every run trains and validates (valSplit: test) on an empty folder: two dataset splits, 16 runs.
    base: { data: { source: 'image-folder', path: empty, split: 'train', generated: undefined } },
  });
  const lines: string[] = [];
  await assert.rejects(runStudy(file, { out: join(root, 'out'), threads: 1, childOutput: 'quiet', log: (l) => lines.push(l), noReport: true }), (e: Error) => {
    assert.ok(e instanceof DataPreflightError, e.stack);
    assert.match(e.message, /^the study's data could not be opened \(each dataset was checked once, before any variant started\):\n  - training data of every run \(.*empty, split 'train'\): Expected class folders with images/);
    assert.match(e.message, /\n  - validation data of every run \(.*empty, split 'test'\): Expected class folders/);
    assert.equal(e.message.split('\n  - ').length, 3, 'one line per bad dataset split, not one per run');
    return true;
  });
  for (const run of ['resnet20-cifar-lr0.1-seed0', 'plain20-cifar-lr0.01-seed1']) assert.ok(!existsSync(join(root, 'out', run, 'status.json')), `${run} never started`);
});
