import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunFolderFormatError, checkRunFolderFormat, readHistory, readRunStatus, recordedThreads, writeRunStatus, readProgress, writeProgress, readRunRequest, writeRunRequest, type RunStatus } from '../../src/run/run-folder.js';
import { RUN_FOLDER_FORMAT, RunFolder, runFolder } from '../../src/run/folder.js';
import { readRunPlan } from '../../src/run/plan.js';
import { readRunInfo, RunFolderError } from '../../src/run/open-run.js';

// config.json, status.json and history.jsonl of a run `ablate train` wrote before run folders had a format
// version (the main branch at 2f9a497: resnet20-cifar on 3 generated classes, 2 epochs, seed 7).
const FORMAT_1 = join(import.meta.dirname, 'fixtures', 'run-folder-format-1');

function copyOf(src: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-run-folder-'));
  cpSync(src, dir, { recursive: true });
  return dir;
}

const withStatus = (dir: string, patch: Record<string, unknown>) => {
  const s = JSON.parse(readFileSync(runFolder(dir).status, 'utf8')) as Record<string, unknown>;
  writeFileSync(runFolder(dir).status, JSON.stringify({ ...s, ...patch }));
};

test('a run folder written before the format version is read as format 1', async () => {
  const dir = copyOf(FORMAT_1);
  try {
    assert.doesNotThrow(() => checkRunFolderFormat(dir));
    const plan = readRunPlan(dir);
    assert.equal(plan.model.preset, 'resnet20-cifar');
    assert.deepEqual(plan.classNames, ['triangle', 'square', 'cross']);
    assert.deepEqual(plan.data.imageSize, [16, 16]);
    const warnings: string[] = [];
    const status = readRunStatus(dir, warnings);
    assert.deepEqual(warnings, []);
    assert.equal(status?.status, 'ok');
    const history = readHistory(dir, warnings);
    assert.deepEqual(history.map((r) => r.epoch), [1, 2]);
    assert.equal(history[1]!.val_accuracy, 0.25);
    assert.equal(recordedThreads(dir), 1);
    writeFileSync(runFolder(dir).weights, ''); // readRunInfo checks the weights file exists, not its contents
    const info = await readRunInfo(dir);
    assert.deepEqual(info.classNames, ['triangle', 'square', 'cross']);
    assert.deepEqual(info.preprocessing.imageSize, [16, 16]);
    assert.equal(info.weights, runFolder(dir).weights);
    assert.equal(info.plan.seed, 7);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('status.json is written with the format version, and an old folder is upgraded by its next write', () => {
  const dir = copyOf(FORMAT_1);
  try {
    const before = readRunStatus(dir)!;
    writeRunStatus(dir, before as RunStatus);
    const raw = JSON.parse(readFileSync(runFolder(dir).status, 'utf8')) as { format?: unknown; status?: unknown };
    assert.equal(raw.format, RUN_FOLDER_FORMAT);
    assert.equal(raw.status, 'ok');
    assert.equal(readRunStatus(dir)?.status, 'ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder of an unknown format is refused by every reader, and never overwritten', async () => {
  for (const found of [RUN_FOLDER_FORMAT + 1, 99, 0, '2', 1.5, null]) {
    const dir = copyOf(FORMAT_1);
    try {
      withStatus(dir, { format: found });
      const onDisk = readFileSync(runFolder(dir).status, 'utf8');
      const says = (e: unknown) => e instanceof RunFolderFormatError
        && e.message.includes(`format ${JSON.stringify(found)}`)
        && e.message.includes(`reads run folder formats 1 to ${RUN_FOLDER_FORMAT}`)
        && /open it with the ablate version that wrote it .* or train the run again/.test(e.message);
      assert.throws(() => checkRunFolderFormat(dir), says, `format ${JSON.stringify(found)}`);
      assert.throws(() => readRunPlan(dir), says);
      await assert.rejects(readRunInfo(dir), (e: Error) => e instanceof RunFolderError && e.message.includes(`format ${JSON.stringify(found)}`));
      const warnings: string[] = [];
      assert.equal(readRunStatus(dir, warnings), undefined);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /reads run folder formats 1 to/);
      assert.throws(() => writeRunStatus(dir, { ...JSON.parse(onDisk), format: undefined } as RunStatus), RunFolderFormatError);
      assert.equal(readFileSync(runFolder(dir).status, 'utf8'), onDisk);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('progress.json and request.json are read through their schemas', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-run-folder-'));
  try {
    assert.equal(readProgress(dir), undefined);
    const snap = { epoch: 1, epochs: 2, batch: 3, batches: 6, loss: 1.2, updatedAt: new Date(0).toISOString() };
    writeProgress(dir, snap);
    assert.deepEqual(readProgress(dir), snap);
    writeFileSync(runFolder(dir).progress, JSON.stringify({ epoch: 'one' }));
    assert.equal(readProgress(dir), undefined, 'a progress file that breaks its schema shows nothing');
    writeFileSync(runFolder(dir).progress, '{"epoch": 1,');
    assert.equal(readProgress(dir), undefined, 'a torn progress file shows nothing');

    writeRunRequest(dir, { config: { model: 'resnet20-cifar' }, resume: true, name: 'a-seed0', hparams: { seed: 0 } });
    assert.deepEqual(readRunRequest(dir), { config: { model: 'resnet20-cifar' }, resume: true, name: 'a-seed0', hparams: { seed: 0 } });
    writeFileSync(runFolder(dir).request, JSON.stringify({ config: {}, resume: 'yes' }));
    assert.throws(() => readRunRequest(dir), (e: Error) => e.message.includes(runFolder(dir).request) && /resume/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the weights a name stands for, and the run folder a weights file belongs to', () => {
  const dir = copyOf(FORMAT_1);
  try {
    const f = runFolder(dir);
    assert.deepEqual(f.weightsFile(), { name: 'last', path: f.checkpoint('last') }, 'a stopped run: its last checkpoint');
    writeFileSync(f.weights, '');
    assert.deepEqual(f.weightsFile(), { name: 'model', path: f.weights });
    assert.deepEqual(f.weightsFile('best'), { name: 'best', path: join(dir, 'checkpoints', 'best.pth') });
    assert.equal(f.weightsFile(join(dir, 'x.pth')).path, join(dir, 'x.pth'));
    assert.equal(f.config, join(dir, 'config.json'));
    const of = (p: string) => RunFolder.ofWeights(p)?.dir;
    assert.equal(of(f.checkpoint('last')), dir);
    assert.equal(of(f.weights), dir);
    assert.equal(of(join(tmpdir(), 'nowhere', 'model.pth')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
