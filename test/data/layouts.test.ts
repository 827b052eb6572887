import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { heldOutSplit, openDataset, parseDataSpec, resolveSplitName, sourceSplitNames, splitRole } from '../../src/data/index.js';
import { defaultValidation } from '../../src/train/validation-choice.js';
import { runTraining } from '../../src/train/run.js';
import { jpeg, tempDir, writeFile } from './fixtures.js';

const RED: [number, number, number] = [220, 20, 20];
const BLUE: [number, number, number] = [20, 20, 220];

/** `<root>/<split>/{cat,dog}/N.jpg` with `counts[split]` images per class. */
async function splitFolders(root: string, counts: Record<string, number>): Promise<void> {
  for (const [split, n] of Object.entries(counts)) {
    for (const [cls, rgb] of [['cat', RED], ['dog', BLUE]] as const) {
      for (let i = 0; i < n; i++) writeFile(join(root, split, cls, `${i}.jpg`), await jpeg(16, 16, rgb));
    }
  }
}

test('split folder names: roles, aliases and the held-out split', () => {
  assert.equal(splitRole('training_set'), 'train');
  assert.equal(splitRole('Valid'), 'validation');
  assert.equal(splitRole('test_set'), 'test');
  assert.equal(splitRole('cats'), undefined);
  assert.equal(resolveSplitName('train', ['training_set', 'test_set']), 'training_set');
  assert.equal(resolveSplitName('validation', ['train', 'val', 'test']), 'val');
  assert.equal(resolveSplitName('test', ['train', 'valid']), undefined);
  assert.equal(heldOutSplit(['train', 'valid', 'test']), 'valid', 'validation before test');
  assert.equal(heldOutSplit(['training_set', 'test_set']), 'test_set');
  assert.equal(heldOutSplit(['train']), undefined);
});

test("Kaggle's training_set/ + test_set/ opens, and `split: train` finds training_set", async (t) => {
  const dir = tempDir(t);
  await splitFolders(dir, { training_set: 3, test_set: 2 });
  assert.deepEqual([...await sourceSplitNames(parseDataSpec({ path: dir }))].sort(), ['test_set', 'training_set']);
  const train = await openDataset({ path: dir, split: 'train' });
  const test_ = await openDataset({ path: dir, split: 'test_set' });
  t.after(() => Promise.all([train.close(), test_.close()]));
  assert.equal(train.length, 6);
  assert.equal(test_.length, 4);
  assert.deepEqual(train.classNames, ['cat', 'dog']);
  const choice = await defaultValidation(parseDataSpec({ path: dir, split: 'train' }));
  assert.equal(choice.spec?.split, 'test_set');
  assert.match(choice.note!, /^validating on the 'test_set' split of .* \(no valSplit given; set data\.valSplit .* or valData\.path to choose another\)$/);
});

for (const [layout, expected] of [[{ train: 2, valid: 1 }, 'valid'], [{ train: 2, val: 1, test: 1 }, 'val'], [{ train: 2, test: 1 }, 'test']] as const) {
  test(`${Object.keys(layout).join('/ + ')}/: validates on ${expected} when no valSplit is given`, async (t) => {
    const dir = tempDir(t);
    await splitFolders(dir, layout);
    const choice = await defaultValidation(parseDataSpec({ path: dir, split: 'train' }));
    assert.equal(choice.spec?.split, expected);
  });
}

test('one folder of class folders: no held-out split, and the run says it has no validation', async (t) => {
  const dir = tempDir(t);
  await splitFolders(dir, { all: 2 });
  const choice = await defaultValidation(parseDataSpec({ path: join(dir, 'all') }));
  assert.equal(choice.spec, undefined);
  assert.match(choice.note!, /^no validation data: this run reports training metrics only/);
  const gen = await defaultValidation(parseDataSpec({ source: 'generated' }));
  assert.equal(gen.spec, undefined, 'generated data validates only when asked');
});

test('a run on train/ + valid/ without valSplit validates on valid/ and says so', async (t) => {
  const dir = tempDir(t);
  await splitFolders(dir, { train: 4, valid: 2 });
  const lines: string[] = [];
  const runDir = join(dir, 'run');
  await runTraining({
    model: 'resnet20-cifar', data: { path: dir, split: 'train', imageSize: 16, cache: 'memory' },
    epochs: 1, batchSize: 4, precision: 'fp32', threads: 1,
  }, { runDir, progress: false, log: (l) => lines.push(l) });
  assert.ok(lines.some((l) => /^validating on the 'valid' split of /.test(l)), lines.join('\n'));
  const status = JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8'));
  assert.equal(status.dataset.valSplit, 'valid');
  assert.equal(status.dataset.valCount, 4);
  const history = readFileSync(join(runDir, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(typeof history[0].val_accuracy, 'number');
});
