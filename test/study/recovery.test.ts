// A study survives its runner being killed, a worker being killed and a second runner on its folder,
// and ends with exactly the metrics of an uninterrupted study — whatever --parallel was.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { historyOf, locked, runCli, spawnCli, statusOf, tmp, waitFor, writeStudy } from './live-fixtures.js';

const RUNS = ['resnet20-cifar-seed0', 'plain20-cifar-seed0'];
const TIMING = new Set(['epoch_time_s', 'images_per_s', 'data_wait_fraction']);

/** Everything a run's result is: each epoch's metrics (timings aside) and the final weights' bytes. */
function result(runDir: string): { history: Record<string, unknown>[]; weights: string } {
  const history = historyOf(runDir).map((h) => Object.fromEntries(Object.entries(h).filter(([k]) => !TIMING.has(k))));
  return { history, weights: readFileSync(join(runDir, 'model.pth')).toString('base64') };
}

function lockPid(runDir: string): number {
  return (JSON.parse(readFileSync(join(runDir, 'lock'), 'utf8')) as { pid: number }).pid;
}

describe('study recovery: kill -9 of the runner or of a worker, two runners at once', () => {
  let root: string;
  let file: string;
  let reference: Map<string, ReturnType<typeof result>>;
  const args = (out: string, parallel: number) => ['study', 'run', file, '--out', join(root, out), '--parallel', String(parallel), '--threads', '2'];

  before(async () => {
    root = tmp();
    // Slow enough to be caught mid-run (a few seconds per run), small enough for CI.
    file = writeStudy(root, { name: 'rec', base: { data: { generated: { trainCount: 192, size: 8 } }, epochs: 5 }, axes: { model: ['resnet20-cifar', 'plain20-cifar'] }, seeds: [0] });
    // The uninterrupted study, one run at a time.
    const r = await runCli(args('ref', 1));
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /every run uses 1 thread, fixed now for this study, so results do not depend on --parallel/);
    reference = new Map(RUNS.map((n) => [n, result(join(root, 'ref', n))]));
  });

  test('kill -9 of the runner (--parallel 2): workers stop with a checkpoint and let go; the same command finishes identically', async () => {
    const out = join(root, 'killed-runner');
    const runs = RUNS.map((n) => join(out, n));
    const first = spawnCli(args('killed-runner', 2));
    await waitFor('both runs to finish an epoch', () => runs.every((r) => historyOf(r).length >= 1), first);
    first.child.kill('SIGKILL');
    assert.equal((await first.done).signal, 'SIGKILL');
    // Each orphaned worker notices (its IPC channel closes), stops at the next step with a checkpoint,
    // records why and releases its lock — instead of dying of EPIPE on the dead live-view pipe.
    await waitFor('the orphaned workers to let go of their runs', () => runs.every((r) => !locked(r) && statusOf(r).status !== 'running'), undefined, 60_000);
    for (const r of runs) {
      const st = statusOf(r);
      assert.equal(st.status, 'stopped', `${r}: ${JSON.stringify(st)}`);
      assert.match(String(st.reason), /^the study runner \(pid \d+\) is gone$/);
      assert.ok(existsSync(join(r, 'checkpoints', 'last.pth')), `${r} has a checkpoint`);
      assert.ok(historyOf(r).length < 5, `${r} was cut short`);
      assert.match(readFileSync(join(r, 'worker.log'), 'utf8'), /the study runner \(pid \d+\) is gone .*: output continues here\nstopped at epoch \d+, batch \d+; a checkpoint was saved/);
    }

    const again = await runCli(args('killed-runner', 2));
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /note: took over .* from an earlier runner that is gone \(pid \d+ on host /);
    assert.match(again.output, /every run uses 1 thread, as fixed when this study first started/);
    for (const [i, n] of RUNS.entries()) {
      assert.equal(statusOf(runs[i]!).status, 'ok');
      assert.deepEqual(result(runs[i]!), reference.get(n), `${n}: --parallel 2, killed and resumed, equals --parallel 1 uninterrupted`);
    }
  });

  test('a second runner refuses at once naming the first; kill -9 of one worker: interrupted, and the same command resumes it identically', async () => {
    const out = join(root, 'two-runners');
    const [a, b] = RUNS.map((n) => join(out, n)) as [string, string];
    const first = spawnCli(args('two-runners', 2));
    await waitFor('the first runner to hold the study folder', () => existsSync(join(out, 'study.lock')) && readFileSync(join(out, 'study.lock'), 'utf8').includes(`"pid":${first.child.pid},`), first);
    // On a loaded machine starting node (and tsx) alone can take seconds: that start-up, measured by a
    // no-op command started at the same moment, is not counted against the refusal.
    const t0 = Date.now();
    const secondRun = runCli(args('two-runners', 2)).then((r) => ({ ...r, took: Date.now() - t0 }));
    const startupRun = runCli(['--version']).then((r) => ({ ...r, took: Date.now() - t0 }));

    // Meanwhile the OOM killer takes one of the first runner's workers.
    await waitFor('both runs to be training', () => locked(a) && locked(b) && historyOf(a).length >= 1, first);
    process.kill(lockPid(a), 'SIGKILL');

    const [second, startup] = await Promise.all([secondRun, startupRun]);
    assert.equal(startup.code, 0);
    // A refusal, not a wait for the lock (the message below says so); the bound only catches a hang. It was
    // 5 s and failed on a machine loaded enough that loading the study modules alone took 9 s.
    assert.ok(second.took - startup.took < 30_000, `refused in ${second.took} ms (process start-up ${startup.took} ms)`);
    assert.equal(second.code, 1);
    assert.match(second.output, new RegExp(`^ablate: error: study folder .*two-runners is in use by ablate study run \\(pid ${first.child.pid} on host [^,]+, started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\)\\. Only one runner`));
    assert.doesNotMatch(second.output, /\n\s+at /, 'a message, not a stack');

    const done = await first.done;
    assert.equal(done.code, 75, done.output);
    assert.match(done.output, /resnet20-cifar-seed0: interrupted — .*training process killed by SIGKILL/);
    assert.match(done.output, /1 run did not finish \(resnet20-cifar-seed0\): run the same command again to resume it/);
    const st = statusOf(a);
    assert.equal(st.status, 'interrupted');
    assert.equal(st.reason, 'training process killed by SIGKILL');
    assert.equal(locked(a), false);
    assert.equal(existsSync(join(a, 'lock')), false, 'the dead worker\'s lock was cleared');
    // The other run, untouched by the second runner, finished as if alone.
    assert.equal(statusOf(b).status, 'ok');
    assert.deepEqual(result(b), reference.get(RUNS[1]!));

    const again = await runCli(args('two-runners', 2)); // no extra flag
    assert.equal(again.code, 0, again.output);
    assert.match(again.output, /1 already finished, 1 to run/);
    assert.equal(statusOf(a).status, 'ok');
    assert.deepEqual(result(a), reference.get(RUNS[0]!), 'resumed after SIGKILL, identical to the uninterrupted run');
  });

  test('disk full: the runner names the run and the error, starts nothing more; with space again the same command ends identically', async (t) => {
    const mnt = join(root, 'small-disk');
    mkdirSync(mnt);
    // 1 MiB: room for the study's small files, not for a checkpoint (ResNet-20's weights alone are 1.1 MB).
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) {
      t.skip(`cannot mount a small tmpfs here (${(m.stderr || m.error?.message || 'mount failed').trim()}); the full-disk path is not exercised`);
      return;
    }
    t.after(() => spawnSync('umount', ['-l', mnt]));
    const out = join(mnt, 'study');
    const cmd = ['study', 'run', file, '--out', out, '--parallel', '1', '--threads', '2'];
    const full = await runCli(cmd);
    assert.equal(full.code, 75, full.output);
    assert.match(full.output, new RegExp(`Disk full — training ${out}/resnet20-cifar-seed0: .*(ENOSPC|no space left on device)`));
    assert.match(full.output, /free some space and run the same command again: finished runs are kept, the others resume/);
    const st = statusOf(join(out, RUNS[0]!));
    assert.equal(st.status, 'stopped', JSON.stringify(st));
    // The run records the file it could not write and the space it needed (src/util/atomic.ts).
    assert.match(String(st.reason), /^no space left on the device to write .*resnet20-cifar-seed0.*: it needs .* are free there \(ENOSPC/);
    assert.equal(existsSync(join(out, RUNS[1]!, 'status.json')), false, 'no further run was started on a full disk');
    assert.equal(locked(join(out, RUNS[0]!)), false);

    assert.equal(spawnSync('mount', ['-o', 'remount,size=64m', mnt]).status, 0);
    const again = await runCli(cmd);
    assert.equal(again.code, 0, again.output);
    for (const n of RUNS) assert.deepEqual(result(join(out, n)), reference.get(n), `${n} after the disk filled up and was freed`);
  });
});
