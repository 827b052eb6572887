// `ablate study …` as a user runs it: a real process that can be killed, interrupted and run again.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { historyOf, locked, runCli, spawnCli, statusOf, tmp, waitFor, writeStudy } from './live-fixtures.js';

/** A variant slow enough (a few seconds) to be caught mid-run. */
const SLOW = { data: { generated: { trainCount: 384, size: 16 } }, epochs: 6 };


function fileState(path: string): { text: string; mtimeMs: number } {
  return { text: readFileSync(path, 'utf8'), mtimeMs: statSync(path).mtimeMs };
}

describe('ablate study run', () => {
  test('a bad study file: every bad field with path, expectation and value, before anything runs', async () => {
    const root = tmp();
    const file = writeStudy(root, {
      name: 'bad',
      base: { epochs: 0, data: { source: 'generated', generated: { clases: 2 } }, augment: 'standard+cutmx' },
      axes: { model: ['resnet20-cifar', 'resnet8-cifar'] },
    });
    const out = join(root, 'out');
    const r = await runCli(['study', 'run', file, '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.output, /^ablate: error: Study file .*bad\.yaml has 4 problems:\n/);
    assert.match(r.output, /- config\.epochs \(every run\): expected .*>= 1 but received number 0/);
    assert.match(r.output, /- config\.data\.generated\.clases \(every run\): .*did you mean "classes"/);
    assert.match(r.output, /- config\.augment.* \(every run\): expected .* but received/);
    assert.match(r.output, /- config\.model \(resnet8-cifar-seed0\): expected a model preset .* but received "resnet8-cifar"/);
    assert.doesNotMatch(r.output, /\n\s+at |--verbose/, 'one clear message, no stack');
    assert.equal(existsSync(out), false, 'nothing was created or trained');
  });

  test('killed mid-study and run again: finished runs are kept, the interrupted one resumes from its checkpoint', async () => {
    const root = tmp();
    const out = join(root, 'out');
    const file = writeStudy(root, { variants: [{ name: 'quick' }, { name: 'slow', ...SLOW }], seeds: [0] });
    const args = ['study', 'run', file, '--out', out, '--threads', '1'];
    const quick = join(out, 'quick-seed0');
    const slow = join(out, 'slow-seed0');

    const first = spawnCli(args);
    await waitFor('the slow run to finish its first epoch', () => historyOf(slow).length >= 1, first);
    first.child.kill('SIGKILL');
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL');
    assert.equal(statusOf(quick).status, 'ok');
    // The orphaned training process notices its study is gone and stops at the next step with a checkpoint.
    await waitFor('the orphaned worker to let go of its run', () => !locked(slow));
    assert.equal(statusOf(slow).status, 'stopped');
    assert.ok(existsSync(join(slow, 'checkpoints', 'last.pth')));
    const epochsBefore = historyOf(slow).length;
    assert.ok(epochsBefore < 6, `the slow run was cut short (it had ${epochsBefore} epochs)`);
    const quickFiles = ['status.json', 'history.jsonl', 'checkpoints/last.pth'].map((f) => fileState(join(quick, f)));
    const slowEpoch1 = readFileSync(join(slow, 'history.jsonl'), 'utf8').split('\n')[0];

    const second = await runCli(args);
    assert.equal(second.code, 0, second.output);
    assert.match(second.output, /1 already finished, 1 to run/);
    assert.match(second.output, /resuming .*slow-seed0 at epoch \d+, batch \d+/);
    // Nothing trained twice: the finished run's files are untouched, the resumed run's epochs are each there once.
    assert.deepEqual(['status.json', 'history.jsonl', 'checkpoints/last.pth'].map((f) => fileState(join(quick, f))), quickFiles);
    assert.deepEqual(historyOf(slow).map((h) => h.epoch), [1, 2, 3, 4, 5, 6]);
    assert.equal(readFileSync(join(slow, 'history.jsonl'), 'utf8').split('\n')[0], slowEpoch1, 'epoch 1 was written once, before the kill');
    // Nothing lost: both runs are in the study index and the report.
    assert.equal(statusOf(slow).status, 'ok');
    const index = JSON.parse(readFileSync(join(out, 'study.json'), 'utf8'));
    assert.deepEqual(index.runs.map((r: { name: string; status: string }) => `${r.name}:${r.status}`), ['quick-seed0:ok', 'slow-seed0:ok']);
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /2 runs: 2 ok/);

    const status = await runCli(['study', 'status', out]);
    assert.equal(status.code, 0);
    assert.match(status.output, /^Study tiny: 2 runs \(2 ok\)\n\nRUN\s+STATUS\s+EPOCHS/);
    assert.match(status.output, /^quick-seed0\s+ok\s+3\/3\s+\[#{10}\]\s+\d+\.\d%/m);
    assert.match(status.output, /^slow-seed0\s+ok\s+6\/6\s+\[#{10}\]\s+\d+\.\d%/m);
  });

  test('Ctrl-C stops every running variant with a checkpoint; running again resumes them', async () => {
    const root = tmp();
    const out = join(root, 'out');
    const file = writeStudy(root, { name: 'ctrlc', base: SLOW, axes: { model: ['resnet20-cifar', 'plain20-cifar'] }, seeds: [0] });
    const args = ['study', 'run', file, '--out', out, '--parallel', '2', '--threads', '2'];
    const runs = ['resnet20-cifar-seed0', 'plain20-cifar-seed0'].map((n) => join(out, n));

    // Its own process group, so the signal reaches the runner and its workers at once, as a terminal's Ctrl-C does.
    const first = spawnCli(args, { detached: true });
    await waitFor('both variants to finish an epoch', () => runs.every((r) => historyOf(r).length >= 1), first);
    process.kill(-first.child.pid!, 'SIGINT');
    const stopped = await first.done;
    assert.equal(stopped.code, 130, stopped.output);
    assert.match(stopped.output, /stopping the study after the current step/);
    assert.match(stopped.output, /Interrupted — run the same command again to resume/);
    for (const r of runs) {
      assert.equal(statusOf(r).status, 'stopped', r);
      assert.ok(existsSync(join(r, 'checkpoints', 'last.pth')), `${r} has a checkpoint`);
      assert.equal(locked(r), false);
      assert.ok(historyOf(r).length < 6, `${r} was cut short`);
    }
    const epoch1 = runs.map((r) => readFileSync(join(r, 'history.jsonl'), 'utf8').split('\n')[0]);

    const again = await runCli(args);
    assert.equal(again.code, 0, again.output);
    for (const r of runs) {
      assert.equal(statusOf(r).status, 'ok');
      assert.deepEqual(historyOf(r).map((h) => h.epoch), [1, 2, 3, 4, 5, 6]);
    }
    assert.deepEqual(runs.map((r) => readFileSync(join(r, 'history.jsonl'), 'utf8').split('\n')[0]), epoch1, 'resumed, not restarted');
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /2 runs: 2 ok/);
  });

  test('a study that names no existing file: one line, exit code 1', async () => {
    const r = await runCli(['study', 'run', join(tmp(), 'missing.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.output, /^ablate: error: study file .*missing\.yaml does not exist\n$/);
  });

  test('failed variants make the exit code 1 and are named at the end', async () => {
    const root = tmp();
    const broken = join(root, 'broken.pth');
    writeFileSync(broken, 'not weights');
    const file = writeStudy(root, { name: 'fails', variants: [{ name: 'broken', pretrained: broken }], seeds: [0] });
    const r = await runCli(['study', 'run', file, '--out', join(root, 'out'), '--threads', '1']);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /1 run\(s\) failed: broken-seed0/);
  });
});
