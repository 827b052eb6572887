// A study whose variants train data-parallel (base.distributed.nprocPerNode: 2): each run is two ranks
// started by its worker, takes two --parallel slots, records worldSize 2, and a study whose runner is
// killed mid-run resumes to exactly the uninterrupted study's results.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { distributedSupport } from '../../src/tensor/index.js';
import { historyOf, locked, runCli, spawnCli, statusOf, tmp, waitFor, writeStudy } from '../study/live-fixtures.js';

const skip = distributedSupport().available ? false : 'the addon was built without Gloo (apt-get install libgloo-dev, then npm run setup)';
const RUNS = ['ddp-seed0', 'ddp-seed1'];
const TIMING = new Set(['epoch_time_s', 'images_per_s', 'data_wait_fraction']);

function result(runDir: string): { history: Record<string, unknown>[]; weights: string } {
  const history = historyOf(runDir).map((h) => Object.fromEntries(Object.entries(h).filter(([k]) => !TIMING.has(k))));
  return { history, weights: readFileSync(join(runDir, 'model.pth')).toString('base64') };
}

describe('a data-parallel study (2 ranks per run)', { skip, timeout: 900_000 }, () => {
  let root: string;
  let file: string;
  let reference: Map<string, ReturnType<typeof result>>;
  const args = (out: string) => ['study', 'run', file, '--out', join(root, out), '--parallel', '2', '--threads', '2'];

  before(async () => {
    root = tmp('ablate-study-ddp-');
    file = writeStudy(root, {
      name: 'ddp',
      base: { data: { generated: { trainCount: 192, size: 8 } }, epochs: 4, checkpoint: { everySteps: 2 }, distributed: { nprocPerNode: 2 } },
      variants: [{ name: 'ddp' }],
      seeds: [0, 1],
    });
    const r = await runCli(args('ref'));
    assert.equal(r.code, 0, r.output);
    // 2 runs × 2 ranks = 4 slots: the 2 threads of the study give each rank 1, and --parallel 2 trains one run at a time.
    assert.match(r.output, /2 runs? .*2 to run, 2 slots \(one per rank\) with 1 thread each/);
    reference = new Map(RUNS.map((n) => [n, result(join(root, 'ref', n))]));
  });

  test('each run trains with 2 ranks: worldSize 2 in status.json, the rank count in its plan, rank 1 state beside the checkpoints', () => {
    for (const n of RUNS) {
      const dir = join(root, 'ref', n);
      const st = statusOf(dir) as { status?: string; env?: { worldSize?: number; threads?: number } };
      assert.equal(st.status, 'ok', JSON.stringify(st));
      assert.equal(st.env?.worldSize, 2);
      assert.equal(st.env?.threads, 1);
      const plan = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { distributed?: { nprocPerNode: number; syncBatchNorm: boolean } };
      assert.deepEqual(plan.distributed, { nprocPerNode: 2, syncBatchNorm: false });
      assert.ok(readdirSync(join(dir, 'checkpoints')).some((f) => /^rank-1\.step-\d+\.json$/.test(f)), 'rank 1 saved its random state');
      assert.equal(historyOf(dir).length, 4);
    }
    const index = JSON.parse(readFileSync(join(root, 'ref', 'study.json'), 'utf8')) as { threadsPerRun: number };
    assert.equal(index.threadsPerRun, 1);
    const report = readFileSync(join(root, 'ref', 'report.md'), 'utf8');
    assert.match(report, /^\| Threads \| 1 \|$/m);
    assert.match(report, /^\| Ranks \(data parallel\) \| 2 \|$/m);
  });

  test('kill -9 of the runner mid-run: the ranks stop with a checkpoint, and the same command finishes identically', async () => {
    const out = join(root, 'killed');
    const first = spawnCli(args('killed'));
    const run0 = join(out, RUNS[0]!);
    await waitFor('the first run to finish an epoch', () => historyOf(run0).length >= 1, first, 300_000);
    first.child.kill('SIGKILL');
    assert.equal((await first.done).signal, 'SIGKILL');
    // The orphaned worker notices, asks its ranks to stop; they agree on a step, checkpoint and let go.
    await waitFor('the orphaned worker to let go of its run', () => !locked(run0) && statusOf(run0).status !== 'running', undefined, 120_000);
    const st = statusOf(run0);
    assert.equal(st.status, 'stopped', JSON.stringify(st));
    assert.ok(existsSync(join(run0, 'checkpoints', 'last.pth')));
    assert.ok(historyOf(run0).length < 4, 'the run was cut short');

    const again = await runCli(args('killed'));
    assert.equal(again.code, 0, again.output);
    for (const n of RUNS) {
      assert.equal(statusOf(join(out, n)).status, 'ok');
      assert.deepEqual(result(join(out, n)), reference.get(n), `${n}: killed and resumed equals uninterrupted`);
    }
  });

  test('study plan shows the ranks of each run', async () => {
    const r = await runCli(['study', 'plan', file, '--no-measure', '--parallel', '2']);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /Ranks/);
    assert.match(r.output, /^ddp\s.*\s2\s+—$/m);
  });
});
