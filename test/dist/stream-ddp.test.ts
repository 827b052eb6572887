// Data-parallel training that streams WebDataset shards: 2 ranks × 2 loader workers on CPU with Gloo, killed
// with SIGKILL mid-epoch and resumed, ends where the uninterrupted run ends, bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distributedSupport } from '../../src/tensor/index.js';
import { openDataset, writeWebDataset } from '../../src/data/index.js';
import { freeLocalPort } from '../../src/train/launch.js';
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
    const t = setTimeout(() => proc.kill('SIGKILL'), 200_000);
    proc.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stderr });
    });
  });
  return { proc, exit };
}

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
    const pair = async (out: string, extra: string[] = []): Promise<Exit[]> => {
      const port = await freeLocalPort();
      return Promise.all([rank(0, port, [cfgPath, '--out', out, ...extra]).exit, rank(1, port, [cfgPath, '--out', out, ...extra]).exit]);
    };
    const ref = join(dir, 'ref');
    for (const e of await pair(ref)) assert.equal(e.code, 0, e.stderr);
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

    const resumed = await pair(run, ['--resume']);
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
