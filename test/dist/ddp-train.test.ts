// Data-parallel training end to end through the CLI: ranks started as torchrun would (separate processes
// with RANK/WORLD_SIZE/MASTER_*), one killed with SIGKILL mid-run, the survivor failing by itself with a
// clear error, and both resumed to the same result as an uninterrupted 2-rank run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distributedSupport } from '../../src/tensor/index.js';
import { freeLocalPort } from '../../src/train/launch.js';
import { openDataset, writeWebDataset } from '../../src/data/index.js';
import { checkpointPath, loadTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { CLI_MAIN, historyMetrics, readJson, tinyConfig, TINY_GENERATED, writeConfig } from '../train/run-helpers.js';

const skip = distributedSupport().available ? false : 'the addon was built without Gloo (apt-get install libgloo-dev, then npm run setup)';

interface Exit { code: number | null; signal: NodeJS.Signals | null; stderr: string }

function rank(r: number, port: number, args: string[]): { proc: ChildProcess; exit: Promise<Exit> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI_MAIN, 'train', ...args], {
    env: { ...process.env, MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), RANK: String(r), WORLD_SIZE: '2', OMP_WAIT_POLICY: 'PASSIVE' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<Exit>((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 150_000);
    proc.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stderr });
    });
  });
  return { proc, exit };
}

async function pair(args: string[]): Promise<[Exit, Exit]> {
  const port = await freeLocalPort();
  return Promise.all([rank(0, port, args).exit, rank(1, port, args).exit]);
}

const config = () => tinyConfig({ epochs: 3, batchSize: 16, checkpoint: { everySteps: 2 } });

test('2-rank training: one run folder, global metrics, a rank killed mid-run, resumed to the uninterrupted result', { skip, timeout: 400_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-ddp-'));
  try {
    const cfgPath = writeConfig(dir, config());
    // Uninterrupted reference.
    const ref = join(dir, 'ref');
    const [a, b] = await pair([cfgPath, '--out', ref]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const refHistory = historyMetrics(ref);
    assert.equal(refHistory.length, 3);
    const status = readJson(join(ref, 'status.json'));
    assert.equal(status.status, 'ok');
    assert.equal(status.env.worldSize, 2);
    // Rank 1 writes no run files of its own, only its random state beside rank 0's checkpoints.
    assert.ok(readdirSync(join(ref, 'checkpoints')).some((f) => /^rank-1\.step-\d+\.json$/.test(f)));
    assert.equal(b.stderr.includes('Epoch 1'), false, 'rank 1 must not print progress');

    // Interrupted: SIGKILL rank 1 once epoch 1 is checkpointed and it has moved on.
    const run = join(dir, 'run');
    const port = await freeLocalPort();
    const r0 = rank(0, port, [cfgPath, '--out', run]);
    const r1 = rank(1, port, [cfgPath, '--out', run]);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        const h = join(run, 'history.jsonl');
        if ((existsSync(h) && readFileSync(h, 'utf8').includes('"epoch":1')) || r1.proc.exitCode !== null) {
          clearInterval(poll);
          setTimeout(resolve, 300);
        }
      }, 20);
    });
    r1.proc.kill('SIGKILL');
    const killedAt = Date.now();
    const [e0, e1] = await Promise.all([r0.exit, r1.exit]);
    assert.equal(e1.signal, 'SIGKILL');
    assert.notEqual(e0.code, 0, 'the surviving rank must fail, not finish alone');
    assert.ok(Date.now() - killedAt < 60_000, 'the surviving rank must stop within the collective timeout');
    assert.match(e0.stderr, /every rank of a data-parallel run must be restarted/);

    const [c, d] = await pair([cfgPath, '--out', run, '--resume']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(d.code, 0, d.stderr);
    assert.match(c.stderr, /resuming/);
    assert.deepEqual(historyMetrics(run), refHistory);
    assert.deepEqual(readFileSync(join(run, 'model.pth')), readFileSync(join(ref, 'model.pth')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function launcher(args: string[]): { proc: ChildProcess; exit: Promise<Exit> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI_MAIN, 'train', ...args], { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<Exit>((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 300_000);
    proc.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stderr });
    });
  });
  return { proc, exit };
}

test('--nproc-per-node 2 is distributed.nprocPerNode: the plan records it, Ctrl-C stops the ranks together, --resume alone starts 2 again', { skip, timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-ddp-cli-'));
  try {
    // The reference: the rank count given in the config.
    const ref = join(dir, 'ref');
    const a = await launcher([writeConfig(dir, { ...config(), distributed: { nprocPerNode: 2 } }, 'dp.json'), '--out', ref]).exit;
    assert.equal(a.code, 0, a.stderr);
    assert.equal(readJson(join(ref, 'status.json')).env.worldSize, 2);
    assert.deepEqual(readJson(join(ref, 'config.json')).distributed, { nprocPerNode: 2, syncBatchNorm: false });

    // The same with the flag, stopped by Ctrl-C to the launcher after epoch 1.
    const run = join(dir, 'run');
    const first = launcher([writeConfig(dir, config()), '--nproc-per-node', '2', '--out', run]);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        const h = join(run, 'history.jsonl');
        if ((existsSync(h) && readFileSync(h, 'utf8').includes('"epoch":1')) || first.proc.exitCode !== null) {
          clearInterval(poll);
          resolve();
        }
      }, 20);
    });
    first.proc.kill('SIGINT');
    const b = await first.exit;
    assert.equal(b.code, 130, b.stderr);
    assert.doesNotMatch(b.stderr, /the other ranks were stopped/, 'the ranks stopped together, none failed');
    assert.equal(readJson(join(run, 'status.json')).status, 'stopped');
    assert.deepEqual(readJson(join(run, 'config.json')).distributed, { nprocPerNode: 2, syncBatchNorm: false });

    // No config and no flag: the run's plan says 2 ranks.
    const c = await launcher(['--resume', '--out', run]).exit;
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /resuming/);
    assert.equal(readJson(join(run, 'status.json')).env.worldSize, 2);
    assert.deepEqual(historyMetrics(run), historyMetrics(ref));
    assert.deepEqual(readFileSync(join(run, 'model.pth')), readFileSync(join(ref, 'model.pth')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Streaming WebDataset shards: 2 ranks × 2 loader workers, killed with SIGKILL mid-epoch and resumed.
test('2 ranks × 2 workers streaming WebDataset: kill -9 mid-epoch, resume, same history and weights as uninterrupted', { skip, timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-wds-ddp-'));
  try {
    const shards = join(dir, 'shards');
    for (const split of ['train', 'test'] as const) {
      const ds = await openDataset({ source: 'generated', generated: { ...TINY_GENERATED }, split });
      await writeWebDataset(ds, shards, { prefix: split, samplesPerShard: 32 }); // 8 training shards: 2 per worker
      await ds.close();
    }
    const cfgPath = writeConfig(dir, tinyConfig({
      epochs: 2, batchSize: 16, checkpoint: { everySteps: 2 },
      data: { source: 'webdataset', path: shards, split: 'train', valSplit: 'test', imageSize: 32, cacheDir: join(dir, 'cache'), stream: true, streamWorkers: 2, shuffleBuffer: 20 },
    }));
    const ref = join(dir, 'ref');
    for (const e of await pair([cfgPath, '--out', ref])) assert.equal(e.code, 0, e.stderr);
    const want = historyMetrics(ref);
    assert.equal(want.length, 2);
    assert.match(readFileSync(join(ref, 'config.json'), 'utf8'), /"stream": ?true/);
    assert.equal(readJson(join(ref, 'status.json')).dataset.trainCount, 256);

    // Killed once both ranks checkpointed step 12 of 16 (epoch 2, batch 4 of 8).
    const run = join(dir, 'run');
    const port = await freeLocalPort();
    const r = [rank(0, port, [cfgPath, '--out', run]), rank(1, port, [cfgPath, '--out', run])];
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(join(run, 'checkpoints', 'rank-1.step-12.json')) || r.some((x) => x.proc.exitCode !== null)) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    for (const x of r) x.proc.kill('SIGKILL');
    for (const x of r) assert.equal((await x.exit).signal, 'SIGKILL');
    const ck = await loadTrainingCheckpoint(checkpointPath(run, 'last'));
    assert.equal(ck.state.epochComplete, false, 'killed mid-epoch');
    // Where each rank's two streams stood: 16 samples a batch, taken from its two streams in turn.
    const own = readJson(join(run, 'checkpoints', `rank-1.step-${ck.state.globalStep}.json`)).loader as { batch: number; consumed: number[] };
    const main = ck.state.loader as { batch: number; consumed: number[] };
    for (const l of [main, own]) assert.deepEqual(l.consumed, [8 * l.batch, 8 * l.batch]);
    assert.equal(own.batch, main.batch);

    const resumed = await pair([cfgPath, '--out', run, '--resume']);
    for (const e of resumed) assert.equal(e.code, 0, e.stderr);
    assert.match(resumed[0]!.stderr, /resuming .* at epoch 2, batch [1-7] /);
    assert.deepEqual(historyMetrics(run), want);
    assert.deepEqual(readFileSync(join(run, 'model.pth')), readFileSync(join(ref, 'model.pth')), 'final weights identical');
    // Only validation was decoded into the cache; the training shards were streamed.
    assert.equal(readdirSync(join(dir, 'cache')).filter((f) => f.endsWith('.u8cache')).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
