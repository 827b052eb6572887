// A study worker whose runner vanishes without closing the IPC channel cleanly: the broken stderr pipe
// alone must make it stop with a checkpoint, not crash with EPIPE.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TINY_BASE, historyOf, locked, statusOf, tmp, waitFor } from './live-fixtures.js';

const WORKER = join(import.meta.dirname, '../../src/study/worker.ts');

test('EPIPE on the progress pipe: the worker stops at the next step with a checkpoint, logs to worker.log and lets go', async () => {
  const runDir = join(tmp(), 'run');
  mkdirSync(runDir);
  const config = { ...TINY_BASE, data: { ...TINY_BASE.data, generated: { ...TINY_BASE.data.generated, trainCount: 192 } }, epochs: 5, threads: 1 };
  writeFileSync(join(runDir, 'request.json'), JSON.stringify({ config, resume: true, name: 'run' }));
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, runDir], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  await waitFor('the worker to finish an epoch', () => historyOf(runDir).length >= 1, undefined, 90_000);
  assert.ok(locked(runDir), 'the worker holds its run');
  child.stderr!.destroy(); // the reading end goes away, as when the runner is killed

  const { code, signal } = await exited;
  assert.equal(signal, null, stderr);
  assert.equal(code, 3, 'exit code of a run stopped with a checkpoint');
  const st = statusOf(runDir);
  assert.equal(st.status, 'stopped');
  assert.match(String(st.reason), /^the study runner \(pid \d+\) is gone$/);
  assert.ok(historyOf(runDir).length < 5, 'stopped early');
  assert.ok(existsSync(join(runDir, 'checkpoints', 'last.pth')));
  assert.equal(locked(runDir), false);
  assert.match(readFileSync(join(runDir, 'worker.log'), 'utf8'), /gone \(writing to it failed with EPIPE\): output continues here\n(.*\n)*stopped at epoch \d+, batch \d+; a checkpoint was saved/);
});
