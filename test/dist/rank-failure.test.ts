// A data-parallel run (2 local ranks) whose rank 1 fails by itself (ABLATE_TEST_FAULT, src/train/test-fault.ts)
// ends `failed` with rank 1's error — not `stopped` because rank 0 was stopped for it — through `ablate train
// --nproc-per-node` and through a study, whose next run leaves it alone; a full disk on rank 1 stops the run
// resumable; a rank killed by a signal leaves it interrupted, and the next study run finishes it; rank 0's own
// error stays its own.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { distributedSupport } from '../../src/tensor/index.js';
import { historyOf, runCli, statusOf, tmp, TINY_BASE, writeStudy } from '../study/live-fixtures.js';
import { writeConfig } from '../train/run-helpers.js';

const skip = distributedSupport().available ? false : 'the addon was built without Gloo (apt-get install libgloo-dev, then npm run setup)';

// 64 images, 16 per rank and step: 2 steps per epoch, 6 in all; a checkpoint every 2 steps. A fault at
// step 3 comes after epoch 1 and the checkpoint at step 2.
const BASE = { ...TINY_BASE, epochs: 3, threads: 1, checkpoint: { everySteps: 2 } };
const FAULT = (f: string) => ({ env: { ABLATE_TEST_FAULT: f, OMP_WAIT_POLICY: 'PASSIVE' } });
const QUIET = { env: { OMP_WAIT_POLICY: 'PASSIVE' } };

describe('a rank of a data-parallel run fails', { skip, timeout: 900_000 }, () => {
  let root: string;
  before(() => {
    root = tmp('ablate-rank-failure-');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  describe('ablate train --nproc-per-node 2', () => {
    let cfg: string;
    before(() => {
      cfg = writeConfig(root, BASE, 'train.json');
    });
    const train = (out: string, o: { env?: NodeJS.ProcessEnv }) => runCli(['train', cfg, '--nproc-per-node', '2', '--out', join(root, out)], o);

    test('rank 1 fails: status.json says failed with "rank 1 of 2: <its error>"; --resume continues it as any failed run, without the old error', async () => {
      const run = join(root, 'train-fails');
      const r = await train('train-fails', FAULT('1@3:error'));
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /error: rank 1 of 2: injected fault on rank 1 at step 3; the other ranks were stopped \(status: failed\)/);
      const st = statusOf(run);
      assert.equal(st.status, 'failed', JSON.stringify(st));
      assert.equal(st.error, 'rank 1 of 2: injected fault on rank 1 at step 3');
      assert.equal(st.reason, undefined);
      assert.equal(JSON.parse(readFileSync(join(run, 'rank-1.error.json'), 'utf8')).error, 'injected fault on rank 1 at step 3');

      const again = await runCli(['train', '--resume', '--out', run], QUIET);
      assert.equal(again.code, 0, again.output);
      assert.match(again.output, /resuming .* \(step 2\)/);
      const done = statusOf(run);
      assert.deepEqual([done.status, done.error, done.epochsDone], ['ok', undefined, 3]);
      assert.equal(existsSync(join(run, 'rank-1.error.json')), false, 'the next start removed the old error');
    });

    test('a full disk on rank 1 stops the run, resumable, and says so', async () => {
      const run = join(root, 'train-disk-full');
      const r = await train('train-disk-full', FAULT('1@3:enospc'));
      // 75 (EX_TEMPFAIL), as for a full disk in a single-process `ablate train` and in `study run`: nothing is wrong with the run.
      assert.equal(r.code, 75, r.output);
      const st = statusOf(run);
      assert.equal(st.status, 'stopped', JSON.stringify(st));
      assert.equal(st.error, undefined);
      assert.match(String(st.reason), /^rank 1 of 2: ENOSPC: no space left on device \(injected on rank 1 at step 3\)$/);
    });

    test("rank 0's own error is recorded by rank 0, as before", async () => {
      const run = join(root, 'train-rank0');
      const r = await train('train-rank0', FAULT('0@3:error'));
      assert.equal(r.code, 1, r.output);
      const st = statusOf(run);
      assert.equal(st.status, 'failed', JSON.stringify(st));
      assert.equal(st.error, 'injected fault on rank 0 at step 3');
    });
  });

  describe('a study variant with distributed.nprocPerNode 2', () => {
    let file: string;
    before(() => {
      file = writeStudy(root, { name: 'ddp', base: { ...BASE, distributed: { nprocPerNode: 2 } }, variants: [{ name: 'ddp' }], seeds: [0] });
    });
    const study = (out: string, o: { env?: NodeJS.ProcessEnv }) => runCli(['study', 'run', file, '--out', join(root, out), '--parallel', '2', '--threads', '2'], o);

    test('rank 1 fails: the run is failed with its error, the study says so, and the next study run does not resume it', async () => {
      const run = join(root, 'study-fails', 'ddp-seed0');
      const r = await study('study-fails', FAULT('1@3:error'));
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /ddp-seed0: failed — (.*, )?rank 1 of 2: injected fault on rank 1 at step 3$/m);
      assert.match(r.output, /1 run\(s\) failed: ddp-seed0/);
      const st = statusOf(run);
      assert.equal(st.status, 'failed', JSON.stringify(st));
      assert.equal(st.error, 'rank 1 of 2: injected fault on rank 1 at step 3');
      assert.match(readFileSync(join(root, 'study-fails', 'report.md'), 'utf8'), /rank 1 of 2: injected fault on rank 1 at step 3/);
      const history = historyOf(run);

      const again = await study('study-fails', QUIET);
      assert.equal(again.code, 0, again.output);
      assert.match(again.output, /1 already finished \(1 failed; --retry-failed runs them again\)/);
      assert.deepEqual(statusOf(run), st, 'left as it was');
      assert.deepEqual(historyOf(run), history);
    });

    test('rank 1 killed by a signal: the run is interrupted, naming rank and signal, and the next study run finishes it', async () => {
      const run = join(root, 'study-killed', 'ddp-seed0');
      const r = await study('study-killed', FAULT('1@3:SIGKILL'));
      assert.equal(r.code, 75, r.output);
      assert.match(r.output, /ddp-seed0: interrupted — (.*, )?rank 1 of 2 was killed by SIGKILL$/m);
      const st = statusOf(run);
      assert.deepEqual([st.status, st.reason, st.error], ['interrupted', 'rank 1 of 2 was killed by SIGKILL', undefined], JSON.stringify(st));

      const again = await study('study-killed', QUIET);
      assert.equal(again.code, 0, again.output);
      const done = statusOf(run);
      assert.deepEqual([done.status, done.epochsDone], ['ok', 3], JSON.stringify(done));
      assert.equal(historyOf(run).length, 3);
    });
  });
});
