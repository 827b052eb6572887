// The torchrun environment contract and the local launcher (--nproc-per-node).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readLaunchEnv, launchLocalRanks, LaunchEnvError, checkLocalRanks, LocalRanksError } from '../../src/train/launch.js';
import { SlotPool } from '../../src/study/slot-pool.js';
import { distributedSupport } from '../../src/tensor/index.js';

test('a single process has no launch environment', () => {
  assert.equal(readLaunchEnv({}), null);
  assert.equal(readLaunchEnv({ WORLD_SIZE: '1', RANK: '0' }), null);
});

test('torchrun variables are read; LOCAL_* default from the global ones', () => {
  assert.deepEqual(readLaunchEnv({ MASTER_ADDR: 'node1', MASTER_PORT: '29500', RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2' }), {
    masterAddr: 'node1', masterPort: 29500, rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2,
  });
  assert.deepEqual(readLaunchEnv({ MASTER_ADDR: 'h', MASTER_PORT: '1234', RANK: '1', WORLD_SIZE: '2' }), {
    masterAddr: 'h', masterPort: 1234, rank: 1, worldSize: 2, localRank: 1, localWorldSize: 2,
  });
});

test("srun's variables stand in for torchrun's", () => {
  assert.deepEqual(readLaunchEnv({ MASTER_ADDR: 'n0', MASTER_PORT: '29500', SLURM_NTASKS: '2', SLURM_PROCID: '1', SLURM_LOCALID: '0', SLURM_NTASKS_PER_NODE: '1' }), {
    masterAddr: 'n0', masterPort: 29500, rank: 1, worldSize: 2, localRank: 0, localWorldSize: 1,
  });
  assert.deepEqual(readLaunchEnv({ MASTER_ADDR: 'n0', MASTER_PORT: '29500', SLURM_NTASKS: '4', SLURM_PROCID: '3', SLURM_LOCALID: '1', SLURM_TASKS_PER_NODE: '2(x2)' }), {
    masterAddr: 'n0', masterPort: 29500, rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2,
  });
});

test('an incomplete or wrong environment lists every problem with what was received', () => {
  let err: unknown;
  try {
    readLaunchEnv({ WORLD_SIZE: '2', RANK: '2', MASTER_PORT: 'x' });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof LaunchEnvError);
  const m = (err as Error).message;
  assert.match(m, /RANK: expected an integer in \[0, 1\] but received "2"/);
  assert.match(m, /MASTER_PORT: expected an integer in \[1, 65535\] but received "x"/);
  assert.match(m, /MASTER_ADDR: .* received nothing \(unset\)/);
  assert.match(m, /--nproc-per-node/);
});

const skip = distributedSupport().available ? false : 'the addon was built without Gloo';
const CHILD = join(import.meta.dirname, 'dp-child.ts');

test('launchLocalRanks starts N ranks that meet and finish; a failing rank stops the others', { skip, timeout: 120_000 }, async () => {
  const ok = await launchLocalRanks(process.execPath, ['--import', 'tsx', CHILD], { nproc: 2, env: { ...process.env, STEPS: '2', OMP_NUM_THREADS: '1' } });
  assert.deepEqual(ok, { exitCode: 0 });
  // Rank 1 stalls forever after one step; rank 0 is told to fail fast by a short collective timeout, and
  // the launcher must then end rank 1 too rather than wait on it.
  const t0 = Date.now();
  const bad = await launchLocalRanks(process.execPath, ['--import', 'tsx', '-e', "if (process.env.RANK === '1') setInterval(() => {}, 1000); else process.exit(3);"], { nproc: 2, graceMs: 2000 });
  assert.equal(bad.exitCode, 3);
  assert.deepEqual(bad.failed, { rank: 0, code: 3, signal: null });
  assert.ok(Date.now() - t0 < 30_000);
});

test('local ranks: one GPU each on CUDA (refused beyond the GPUs), a warning beyond the cores on CPU', () => {
  assert.deepEqual(checkLocalRanks(1, 'cuda', { cores: 1, gpus: 0 }), {});
  assert.deepEqual(checkLocalRanks(2, 'cuda', { cores: 2, gpus: 2 }), {});
  assert.throws(() => checkLocalRanks(4, 'cuda', { cores: 64, gpus: 2 }),
    (e: unknown) => e instanceof LocalRanksError && /Expected distributed.nprocPerNode to be at most the 2 visible GPUs on device cuda \(one rank per GPU\) but received 4/.test((e as Error).message));
  // An addon without NCCL (or a machine without a GPU for it) is refused first, with backendProblem's message.
  assert.throws(() => checkLocalRanks(2, 'cuda', { cores: 2, gpus: 2, ncclProblem: 'Expected an addon built with NCCL' }),
    (e: unknown) => e instanceof LocalRanksError && e.message === 'Expected an addon built with NCCL');
  assert.deepEqual(checkLocalRanks(2, 'cpu', { cores: 2, gpus: 0, ncclProblem: 'not asked on the CPU' }), {});
  assert.deepEqual(checkLocalRanks(2, 'cpu', { cores: 2, gpus: 0 }), {});
  assert.match(checkLocalRanks(4, 'cpu', { cores: 2, gpus: 0 }).warning!, /4 ranks on 2 CPU cores: the ranks share cores \(slower, the same results\)/);
});

test('study slots: a run takes one per rank, requests are served in order, a run wider than the pool takes it all', async () => {
  const pool = new SlotPool(3);
  const order: string[] = [];
  const a = await pool.acquire(2);
  assert.deepEqual(a, [0, 1]);
  const b = pool.acquire(2).then((s) => (order.push('b'), s));
  const c = pool.acquire(1).then((s) => (order.push('c'), s));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], 'c waits behind b although one slot is free');
  pool.release(a);
  assert.deepEqual(await b, [0, 1]);
  assert.deepEqual(await c, [2]);
  assert.deepEqual(order, ['b', 'c']);
  pool.release([0, 1, 2]);
  assert.deepEqual(await pool.acquire(5), [0, 1, 2]);
});

test('launchLocalRanks: clean codes besides 0 stop no rank and give rank 0\'s code; aborting asks every rank to stop', { timeout: 120_000 }, async () => {
  const stopped = await launchLocalRanks(process.execPath, ['-e', 'setTimeout(() => process.exit(3), Number(process.env.RANK) * 300)'], { nproc: 2, cleanCodes: [3] });
  assert.deepEqual(stopped, { exitCode: 3 });
  // Each rank says when its SIGINT handler is in place (node can take seconds to start on a loaded machine).
  const dir = mkdtempSync(join(tmpdir(), 'ablate-launch-'));
  const ac = new AbortController();
  const asked = launchLocalRanks(process.execPath, ['-e', "process.on('SIGINT', () => process.exit(3)); require('fs').writeFileSync(process.env.READY_DIR + '/' + process.env.RANK, ''); setInterval(() => {}, 1000)"],
    { nproc: 2, cleanCodes: [3], signal: ac.signal, env: { ...process.env, READY_DIR: dir } });
  while (readdirSync(dir).length < 2) await new Promise((r) => setTimeout(r, 50));
  ac.abort();
  assert.deepEqual(await asked, { exitCode: 3 });
  rmSync(dir, { recursive: true, force: true });
});
