// Preemption: SIGUSR1 (Slurm's --signal=B:USR1@90) or SIGTERM (Slurm's preemption, Kubernetes) makes a run or a
// study stop at the next step with a checkpoint and status `preempted`; under Slurm with --requeue (or
// ABLATE_REQUEUE=1) `scontrol requeue <job>` is called (a fake scontrol on PATH records it), and the same command
// finishes byte-identical to an uninterrupted run.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { preemptSignals } from '../../src/util/interrupt.js';
import { slurmJobOf } from '../../src/util/requeue.js';
import { historyMetrics, spawnTs, CLI_MAIN, tinyConfig, writeConfig } from '../train/run-helpers.js';
import { historyOf, runCli, spawnCli, statusOf, tmp, waitFor, writeStudy } from './live-fixtures.js';

/** A folder with an `scontrol` that appends its arguments to `calls` and succeeds. */
function fakeScontrol(root: string): { bin: string; calls: string } {
  const bin = join(root, 'bin');
  mkdirSync(bin, { recursive: true });
  const calls = join(root, 'scontrol-calls');
  writeFileSync(join(bin, 'scontrol'), `#!/bin/sh\necho "$@" >> '${calls}'\n`);
  chmodSync(join(bin, 'scontrol'), 0o755);
  return { bin, calls };
}

const slurmEnv = (bin: string, extra: Record<string, string> = {}) => ({ PATH: `${bin}:${process.env.PATH}`, SLURM_JOB_ID: '4242', ...extra });

describe('preemption of ablate train', () => {
  test('SIGUSR1 with --requeue: preempted, scontrol requeue called, exit 138; the same command finishes byte-identical', async () => {
    const root = tmp('ablate-preempt-');
    const cfg = tinyConfig({ epochs: 2 });
    const reference = join(root, 'reference');
    assert.equal((await runTraining(cfg, { runDir: reference, progress: false, log: () => {} })).status, 'ok');

    const { bin, calls } = fakeScontrol(root);
    const file = writeConfig(root, cfg);
    const runDir = join(root, 'run');
    const args = ['train', file, '--out', runDir, '--resume', '--requeue'];
    const c = spawnTs(CLI_MAIN, args, { env: slurmEnv(bin) });
    await c.waitForStderr(/Epoch 2\/2\n[\s\S]*?\n\s*2\/8 /);
    c.proc.kill('SIGUSR1');
    const { code } = await c.exit;
    const err = c.stderr();
    assert.equal(code, 138, err);
    assert.match(err, /SIGUSR1: stopping the training after the current step/);
    assert.match(err, /requeued Slurm job 4242 \(scontrol requeue 4242\)/);
    assert.equal(readFileSync(calls, 'utf8'), 'requeue 4242\n');
    const st = JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8'));
    assert.equal(st.status, 'preempted');
    assert.equal(st.reason, 'preempted by SIGUSR1');
    assert.equal(existsSync(join(runDir, 'model.pth')), false);

    // The requeued job runs the same command again.
    const again = spawnTs(CLI_MAIN, args, { env: slurmEnv(bin) });
    const end = await again.exit;
    assert.equal(end.code, 0, again.stderr());
    assert.equal(JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8')).status, 'ok');
    assert.deepEqual(historyMetrics(runDir), historyMetrics(reference));
    assert.ok(readFileSync(join(runDir, 'model.pth')).equals(readFileSync(join(reference, 'model.pth'))), 'model.pth byte-identical');
    assert.equal(readFileSync(calls, 'utf8'), 'requeue 4242\n', 'a run that finishes requeues nothing');
  });

  test('ABLATE_PREEMPT_SIGNALS=SIGUSR1 keeps SIGTERM a plain stop; without --requeue nothing is requeued', async () => {
    const root = tmp('ablate-preempt-');
    const { bin, calls } = fakeScontrol(root);
    const runDir = join(root, 'run');
    const c = spawnTs(CLI_MAIN, ['train', writeConfig(root, tinyConfig({ epochs: 3 })), '--out', runDir], { env: slurmEnv(bin, { ABLATE_PREEMPT_SIGNALS: 'SIGUSR1' }) });
    await c.waitForStderr(/Epoch 1\/3\n[\s\S]*?\n\s*2\/8 /);
    c.proc.kill('SIGTERM');
    assert.equal((await c.exit).code, 143, c.stderr());
    const st = JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8'));
    assert.deepEqual([st.status, st.reason], ['stopped', 'interrupted by SIGTERM']);
    assert.equal(existsSync(calls), false);
  });

  test('a bad ABLATE_PREEMPT_SIGNALS is refused naming the variable; the Slurm job of an array task is <array>_<task>', () => {
    assert.throws(() => preemptSignals({ ABLATE_PREEMPT_SIGNALS: 'SIGKILL' }), /Expected SIGUSR1, SIGTERM or none \(comma-separated\) in ABLATE_PREEMPT_SIGNALS but received "SIGKILL"/);
    assert.deepEqual([...preemptSignals({ ABLATE_PREEMPT_SIGNALS: 'usr1' })], ['SIGUSR1']);
    assert.deepEqual([...preemptSignals({ ABLATE_PREEMPT_SIGNALS: 'none' })], []);
    assert.deepEqual([...preemptSignals({})].sort(), ['SIGTERM', 'SIGUSR1']);
    assert.equal(slurmJobOf({ SLURM_JOB_ID: '10', SLURM_ARRAY_JOB_ID: '9', SLURM_ARRAY_TASK_ID: '3' }), '9_3');
    assert.equal(slurmJobOf({}), undefined);
  });
});

describe('preemption of ablate study run', () => {
  test('SIGUSR1 to the runner: its run is preempted, the job requeued; the same command finishes identical to an uninterrupted study', async () => {
    const root = tmp('ablate-preempt-study-');
    const file = writeStudy(root, { seeds: [0], base: { epochs: 3, data: { generated: { trainCount: 384, size: 16 } } } });
    const ref = join(root, 'ref');
    const r0 = await runCli(['study', 'run', file, '--out', ref, '--threads', '1']);
    assert.equal(r0.code, 0, r0.output);

    const { bin, calls } = fakeScontrol(root);
    const out = join(root, 'out');
    const args = ['study', 'run', file, '--out', out, '--threads', '1'];
    const run = join(out, 'base-seed0');
    const first = spawnCli(args, { env: slurmEnv(bin, { ABLATE_REQUEUE: '1' }) });
    await waitFor('the first epoch', () => historyOf(run).length >= 1, first);
    first.child.kill('SIGUSR1');
    const done = await first.done;
    assert.equal(done.code, 138, done.output);
    assert.match(done.output, /base-seed0: preempted — .*preempted by SIGUSR1/);
    assert.match(done.output, /requeued Slurm job 4242/);
    assert.equal(statusOf(run).status, 'preempted');
    assert.equal(readFileSync(calls, 'utf8'), 'requeue 4242\n');

    const second = await runCli(args, { env: slurmEnv(bin, { ABLATE_REQUEUE: '1' }) });
    assert.equal(second.code, 0, second.output);
    assert.equal(statusOf(run).status, 'ok');
    assert.deepEqual(historyMetrics(run), historyMetrics(join(ref, 'base-seed0')));
    assert.ok(readFileSync(join(run, 'model.pth')).equals(readFileSync(join(ref, 'base-seed0', 'model.pth'))), 'model.pth byte-identical');
  });
});
