// Lock files that name their holder: one runner per study folder, one process per run folder.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { acquireStudyLock, StudyBusyError, STUDY_LOCK } from '../../src/study/study-lock.js';
import { acquireRunLock, RunBusyError, runHolder } from '../../src/run/run-lock.js';
import { selfHolder } from '../../src/util/process-lock.js';
import { tmp } from './live-fixtures.js';

/** A live process that is not this one, to stand in for another runner. */
function otherProcess(t: { after: (fn: () => void) => void }): number {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  return child.pid!;
}

async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

test('the study lock records its holder and is released', () => {
  const dir = tmp();
  const lock = acquireStudyLock(dir);
  const rec = JSON.parse(readFileSync(join(dir, STUDY_LOCK), 'utf8'));
  assert.equal(rec.pid, process.pid);
  assert.equal(rec.host, hostname());
  assert.equal(rec.mode, 'exclusive');
  assert.equal(rec.role, 'ablate study run');
  assert.ok(!Number.isNaN(Date.parse(rec.startedAt)));
  lock.release();
  assert.equal(existsSync(join(dir, STUDY_LOCK)), false);
});

test('a live holder is refused at once, named by pid, host and start time', (t) => {
  const dir = tmp();
  const pid = otherProcess(t);
  writeFileSync(join(dir, STUDY_LOCK), JSON.stringify({ pid, host: hostname(), startedAt: '2026-01-02T03:04:05.000Z', role: 'ablate study run', mode: 'exclusive' }));
  const started = Date.now();
  assert.throws(() => acquireStudyLock(dir), (e: unknown) => {
    assert.ok(e instanceof StudyBusyError);
    assert.match(e.message, new RegExp(`is in use by ablate study run \\(pid ${pid} on host ${hostname()}, started 2026-01-02 03:04:05 UTC\\)\\. Only one runner may work on a study folder: wait for it to finish, or stop it \\(kill ${pid}\\)`));
    return true;
  });
  assert.ok(Date.now() - started < 1000);
});

test('a dead holder on this host is taken over; so is a reused pid (another process start time)', async (t) => {
  const dir = tmp();
  const dead = await deadPid();
  writeFileSync(join(dir, STUDY_LOCK), JSON.stringify({ pid: dead, host: hostname(), startedAt: '2026-01-02T03:04:05.000Z' }));
  const lock = acquireStudyLock(dir);
  assert.equal(lock.tookOver?.pid, dead);
  assert.equal(JSON.parse(readFileSync(join(dir, STUDY_LOCK), 'utf8')).pid, process.pid);
  lock.release();

  // The pid is alive, but it is not the process that took the lock: its kernel start time differs.
  const pid = otherProcess(t);
  writeFileSync(join(dir, STUDY_LOCK), JSON.stringify({ pid, host: hostname(), startedAt: '2026-01-02T03:04:05.000Z', procStart: '1' }));
  if (existsSync(`/proc/${pid}/stat`)) {
    const again = acquireStudyLock(dir);
    assert.equal(again.tookOver?.pid, pid);
    again.release();
  }
});

test('a holder on another host is never overridden: the message says how to clear it', () => {
  const dir = tmp();
  writeFileSync(join(dir, STUDY_LOCK), JSON.stringify({ pid: 1234, host: 'elsewhere.example', startedAt: '2026-01-02T03:04:05.000Z' }));
  assert.throws(() => acquireStudyLock(dir), /locked by .*pid 1234 on host elsewhere\.example.*cannot be checked from this host\. If that process is no longer running, delete .*study\.lock/);
});

test('a damaged lock file is taken over once it is old, not crashed on', () => {
  const dir = tmp();
  const file = join(dir, STUDY_LOCK);
  writeFileSync(file, '{"pid": 12');
  const old = new Date(Date.now() - 60_000);
  utimesSync(file, old, old);
  const lock = acquireStudyLock(dir);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid);
  lock.release();
});

test('run locks: a live holder gives RunBusyError naming it; a legacy bare-pid lock of a dead process is taken over', async (t) => {
  const dir = tmp();
  const pid = otherProcess(t);
  writeFileSync(join(dir, 'lock'), JSON.stringify({ ...selfHolder('study worker'), pid, procStart: undefined }));
  assert.equal(runHolder(dir)?.pid, pid);
  await assert.rejects(acquireRunLock(dir, { waitMs: 300 }), (e: unknown) => {
    assert.ok(e instanceof RunBusyError);
    assert.match(e.message, new RegExp(`run folder .* is in use by study worker \\(pid ${pid} on host .*\\); nothing was written to it`));
    return true;
  });
  writeFileSync(join(dir, 'lock'), String(await deadPid()));
  assert.equal(runHolder(dir), undefined);
  const release = await acquireRunLock(dir, { waitMs: 0 });
  assert.equal(runHolder(dir)?.pid, process.pid);
  release();
  assert.equal(existsSync(join(dir, 'lock')), false);
});

test('hand-over: a worker takes its run from the runner that claimed it, and from nobody else', async (t) => {
  const dir = tmp();
  const runner = otherProcess(t);
  const stranger = otherProcess(t);
  writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: runner, host: hostname(), startedAt: '2026-01-02T03:04:05.000Z', role: 'ablate study run' }));
  await assert.rejects(acquireRunLock(dir, { waitMs: 0, handoverFrom: stranger }), RunBusyError);
  assert.equal(runHolder(dir)?.pid, runner, 'untouched');
  const release = await acquireRunLock(dir, { waitMs: 0, handoverFrom: runner, role: 'study worker' });
  assert.equal(runHolder(dir)?.pid, process.pid);
  assert.equal(runHolder(dir)?.role, 'study worker');
  release();
  assert.equal(existsSync(join(dir, 'lock')), false);
});
