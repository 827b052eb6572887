// Run states that tell the truth in `ablate study run`: a refused resume and a worker that cannot start end
// `failed` with their reason (exit 1, never an endless "stopped … run the same command again"), SIGTERM is
// named SIGTERM and exits 143, and a killed worker's result line gives the time its epochs took.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { historyOf, locked, runCli, spawnCli, statusOf, tmp, waitFor, writeStudy } from './live-fixtures.js';

/** A variant slow enough (a few seconds) to be caught mid-run. */
const SLOW = { data: { generated: { trainCount: 384, size: 16 } }, epochs: 6 };
const RUN = 'slow-seed0';

function lockPid(runDir: string): number {
  return (JSON.parse(readFileSync(join(runDir, 'lock'), 'utf8')) as { pid: number }).pid;
}

/** A study of one slow run, started; resolves once `ready` holds for its run folder. */
async function startedStudy(ready: (run: string) => boolean): Promise<{ run: string; args: string[]; first: ReturnType<typeof spawnCli> }> {
  const root = tmp();
  const file = writeStudy(root, { variants: [{ name: 'slow', ...SLOW }], seeds: [0] });
  const run = join(root, 'out', RUN);
  const args = ['study', 'run', file, '--out', join(root, 'out'), '--threads', '1'];
  const first = spawnCli(args);
  await waitFor('the run to reach the point the test needs', () => ready(run), first);
  return { run, args, first };
}

/** A study of one slow run, its runner killed (-9) after the first epoch: the run is `stopped` with a checkpoint. */
async function killedStudy(): Promise<{ run: string; args: string[] }> {
  const { run, args, first } = await startedStudy((r) => historyOf(r).length >= 1);
  first.child.kill('SIGKILL');
  await first.done;
  await waitFor('the orphaned worker to let go of its run', () => !locked(run) && statusOf(run).status !== 'running', undefined, 60_000);
  assert.equal(statusOf(run).status, 'stopped');
  return { run, args };
}

describe('study run: runs that cannot continue end failed, with the reason', () => {
  test('a resume refused for other settings: failed with the reason and what to change, exit 1 every time; its own settings continue it', async () => {
    const { run, args } = await killedStudy();
    const epochs = statusOf(run).epochsDone;
    for (const attempt of [1, 2]) {
      const r = await runCli([...args, '--set', 'optimizer.lr=0.1']);
      assert.equal(r.code, 1, `attempt ${attempt}: ${r.output}`);
      assert.match(r.output, /slow-seed0: failed — .*cannot resume .*: it was planned with other settings \(optimizer differ\)/);
      assert.match(r.output, /1 run started with other settings than it was planned with \(slow-seed0\): drop the --set\/--data that changed its config to continue it where it stopped, or give the new settings their own study folder \(--out\)\./);
      assert.match(r.output, /1 run\(s\) failed: slow-seed0/);
      assert.doesNotMatch(r.output, /did not finish|run the same command again to resume|stopped — /);
      const st = statusOf(run);
      assert.equal(st.status, 'failed', JSON.stringify(st));
      assert.match(String(st.error), /^cannot resume .*planned with other settings \(optimizer differ\)/);
      assert.equal(st.resumeRefused, true);
      assert.equal(st.epochsDone, epochs, 'the run\'s own progress is kept');
    }
    const r = await runCli(args);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /resuming .* at epoch/);
    assert.equal(statusOf(run).status, 'ok');
    assert.equal(historyOf(run).length, 6);
  });

  test('a worker that cannot start leaves the run failed with its error (not stopped or interrupted for ever)', async () => {
    const { run, args } = await killedStudy();
    // The worker refuses the device before it writes anything: status.json still says `stopped`.
    const r = await runCli([...args, '--device', 'cuda:99']);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /slow-seed0: failed — .*training process exited with code 1: .*device "cuda:99" requested but/);
    assert.doesNotMatch(r.output, /did not finish|run the same command again to resume/);
    const st = statusOf(run);
    assert.equal(st.status, 'failed', JSON.stringify(st));
    assert.match(String(st.error), /device "cuda:99"/);
    assert.equal(st.reason, undefined, 'the stop reason of the earlier start is not kept beside the failure');
  });
});

describe('study run: SIGTERM, and a killed worker', () => {
  test('SIGTERM to the runner: the workers get SIGTERM, the status and messages say so, exit 143', async () => {
    const { run, first } = await startedStudy((r) => historyOf(r).length >= 1);
    first.child.kill('SIGTERM');
    const done = await first.done;
    assert.equal(done.code, 143, done.output);
    assert.match(done.output, /SIGTERM: stopping the study after the current step/);
    assert.match(done.output, /slow-seed0: preempted — .*preempted by SIGTERM/);
    assert.match(done.output, /Interrupted by SIGTERM — run the same command again to resume/);
    assert.doesNotMatch(done.output, /SIGINT/);
    // SIGTERM is a preemption by default (Slurm, Kubernetes): stopped with a checkpoint, status `preempted`.
    const st = statusOf(run);
    assert.equal(st.status, 'preempted');
    assert.equal(st.reason, 'preempted by SIGTERM');
  });

  test('a worker killed by SIGKILL: its result line gives the time its finished epochs took', async () => {
    // Once status.json counts the epoch (it does after the epoch's checkpoint).
    const { run, first } = await startedStudy((r) => (statusOf(r).epochsDone ?? 0) >= 1 && locked(r));
    process.kill(lockPid(run), 'SIGKILL');
    const done = await first.done;
    assert.equal(done.code, 75, done.output);
    const line = /slow-seed0: interrupted — (?:.*, )?(\d+)\/6 epochs in ([\d.]+) s, training process killed by SIGKILL/.exec(done.output);
    assert.ok(line, done.output);
    const took = historyOf(run).slice(0, Number(line[1])).reduce((s, h) => s + h.epoch_time_s, 0);
    assert.ok(Number(line[2]) > 0);
    assert.equal(line[2], took.toFixed(1), 'the finished epochs\' time from history.jsonl');
  });
});
