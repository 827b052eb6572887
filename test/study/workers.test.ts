// One study, two cooperating `--worker` processes, one killed with SIGKILL mid-run: the other takes its
// run over once the claim's heartbeat is stale, resumes it from the checkpoint, and every run is done
// exactly once (one history line per epoch) with the same results as a single runner; the last worker
// writes the report. An exclusive runner and a worker refuse to share a folder.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { historyOf, runCli, spawnCli, statusOf, tmp, waitFor, writeStudy } from './live-fixtures.js';

const RUNS = ['resnet20-cifar-seed0', 'resnet20-cifar-seed1', 'plain20-cifar-seed0', 'plain20-cifar-seed1'];
const TIMING = new Set(['epoch_time_s', 'images_per_s', 'data_wait_fraction']);
const metrics = (runDir: string) => historyOf(runDir).map((h) => Object.fromEntries(Object.entries(h).filter(([k]) => !TIMING.has(k))));

describe('cooperating study workers', () => {
  let root: string;
  let file: string;
  const args = (out: string, ...more: string[]) => ['study', 'run', file, '--out', join(root, out), '--threads', '4', ...more];

  before(async () => {
    root = tmp('ablate-workers-');
    file = writeStudy(root, { name: 'coop', base: { data: { generated: { trainCount: 128, size: 8 } }, epochs: 3 }, axes: { model: ['resnet20-cifar', 'plain20-cifar'] }, seeds: [0, 1] });
    const r = await runCli(args('ref'));
    assert.equal(r.code, 0, r.output);
  });

  test('two workers, one killed: every run once, identical results, one report', { timeout: 600_000 }, async () => {
    process.env.ABLATE_CLAIM_STALE_MS = '3000';
    try {
      const out = join(root, 'coop');
      const a = spawnCli(args('coop', '--worker'));
      // A claims a run and checkpoints an epoch of it before B starts: then A is killed like a preempted node.
      let victim = '';
      await waitFor('worker A to checkpoint a run', () => {
        victim = RUNS.find((n) => historyOf(join(out, n)).length >= 1) ?? '';
        return victim !== '';
      }, a, 300_000);
      const b = spawnCli(args('coop', '--worker'));
      a.child.kill('SIGKILL');
      await a.done;
      const rb = await b.done;
      assert.equal(rb.code, 0, rb.output);
      assert.match(rb.output, new RegExp(`${victim}: taking over from worker`));
      for (const n of RUNS) {
        const dir = join(out, n);
        assert.equal(statusOf(dir).status, 'ok', `${n}: ${JSON.stringify(statusOf(dir))}`);
        assert.equal(historyOf(dir).length, 3, `${n}: one history line per epoch`);
        assert.deepEqual(metrics(dir), metrics(join(root, 'ref', n)), `${n}: the same results as a single runner`);
        assert.equal(existsSync(join(dir, 'claim.json')), false, `${n}: its claim was released`);
      }
      assert.ok(existsSync(join(out, 'report.md')), 'the last worker wrote the report');
      // The ablation table, less its timing columns (Train time, Images/s), as the single runner's.
      const table = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l) => l.startsWith('| ')).slice(0, 4).map((l) => l.split(' | ').filter((_, k) => k !== 8 && k !== 9).join(' | '));
      assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /\| Train time \| Images\/s \|/);
      assert.deepEqual(table(join(out, 'report.md')), table(join(root, 'ref', 'report.md')), 'the same ablation table as the single runner');
    } finally {
      delete process.env.ABLATE_CLAIM_STALE_MS;
    }
  });

  test('a worker refuses to start beside a live exclusive runner', { timeout: 300_000 }, async () => {
    const runner = spawnCli(args('excl'));
    await waitFor('the runner to take the folder', () => existsSync(join(root, 'excl', 'study.lock')), runner);
    const w = await runCli(args('excl', '--worker'));
    runner.child.kill('SIGINT');
    await runner.done;
    assert.notEqual(w.code, 0);
    assert.match(w.output, /is in use by ablate study run \(pid \d+/);
  });

  test('--shard I/N trains only its share', { timeout: 300_000 }, async () => {
    const r = await runCli(args('shard', '--shard', '1/2'));
    assert.equal(r.code, 0, r.output);
    const order = (JSON.parse(readFileSync(join(root, 'shard', 'study.json'), 'utf8')) as { runs: { name: string }[] }).runs.map((x) => x.name);
    const trained = order.filter((n) => statusOf(join(root, 'shard', n)).status === 'ok');
    assert.deepEqual(trained, order.filter((_, k) => k % 2 === 1));
    assert.equal(trained.length, 2);
    const bad = await runCli(args('shard', '--shard', '2/2'));
    assert.notEqual(bad.code, 0);
    assert.match(bad.output, /Expected a shard index in \[0, N\)/);
  });
});
