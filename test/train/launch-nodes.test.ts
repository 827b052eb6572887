// Several nodes (torchrun's --nnodes/--node-rank/--master-addr): the ranks a node starts and their
// environment, the flags refused before anything starts, and how one node's killed rank reaches the run's
// status.json through the shared run folder (scripts/multinode-check.sh runs it over two namespaces).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkNodes, DEFAULT_MASTER_PORT, launchLocalRanks, launchRunRanks } from '../../src/train/launch.js';
import { readRunStatus, recordRankFailure, writeRankError, writeRunStatus } from '../../src/run/run-folder.js';
import { nodesOf } from '../../src/cli/commands/train.js';
import { UsageError } from '../../src/cli/errors.js';
import { tmpDir } from './helpers.js';

const root = tmpDir('ablate-launch-nodes-');
after(() => rmSync(root, { recursive: true, force: true }));

const ECHO_ENV = `const e=process.env;console.log(JSON.stringify({RANK:e.RANK,WORLD_SIZE:e.WORLD_SIZE,LOCAL_RANK:e.LOCAL_RANK,LOCAL_WORLD_SIZE:e.LOCAL_WORLD_SIZE,GROUP_RANK:e.GROUP_RANK,MASTER_ADDR:e.MASTER_ADDR,MASTER_PORT:e.MASTER_PORT}))`;

test("node 1 of 2 starts global ranks 2 and 3 with node 0's address and torchrun's default port", async () => {
  const lines: string[] = [];
  const { spawn } = await import('node:child_process');
  // launchLocalRanks inherits stdio; run it in a child that prints its ranks' environments.
  const script = `import('${join(import.meta.dirname, '..', '..', 'src', 'train', 'launch.ts')}').then(async (m) => {
    const r = await m.launchLocalRanks(process.execPath, ['-e', ${JSON.stringify(ECHO_ENV)}], { nproc: 2, nodes: { count: 2, rank: 1, masterAddr: '10.213.0.1' } });
    process.exitCode = r.exitCode;
  })`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  const envs = lines.map((l) => JSON.parse(l) as Record<string, string>).sort((a, b) => Number(a.RANK) - Number(b.RANK));
  assert.deepEqual(envs, [
    { RANK: '2', WORLD_SIZE: '4', LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '2', GROUP_RANK: '1', MASTER_ADDR: '10.213.0.1', MASTER_PORT: String(DEFAULT_MASTER_PORT) },
    { RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', GROUP_RANK: '1', MASTER_ADDR: '10.213.0.1', MASTER_PORT: String(DEFAULT_MASTER_PORT) },
  ]);
});

test('a failing rank is named by its global rank', async () => {
  const r = await launchLocalRanks(process.execPath, ['-e', 'process.exit(Number(process.env.LOCAL_RANK) === 1 ? 3 : 0)'], { nproc: 2, masterPort: 29999, nodes: { count: 3, rank: 2, masterAddr: 'n0' } });
  assert.equal(r.exitCode, 3);
  assert.deepEqual(r.failed, { rank: 5, code: 3, signal: null });
});

test('impossible placements are refused with what was received', () => {
  assert.throws(() => checkNodes({ count: 2, rank: 2, masterAddr: 'n0' }), /Expected --node-rank to be an integer in \[0, 1\] \(--nnodes 2\) but received 2/);
  assert.throws(() => checkNodes({ count: 0, rank: 0, masterAddr: 'n0' }), /Expected --nnodes to be an integer in \[1, 65536\] but received 0/);
  assert.throws(() => checkNodes({ count: 2, rank: 0, masterAddr: 'a b' }), /Expected --master-addr to be node 0's host name or address but received "a b"/);
  assert.throws(() => nodesOf({ out: 'x', nnodes: '2', masterAddr: 'n0' }), (e: unknown) => e instanceof UsageError && /--nnodes 2 needs --node-rank/.test(e.message));
  assert.throws(() => nodesOf({ out: 'x', nnodes: '2', nodeRank: '1' }), (e: unknown) => e instanceof UsageError && /--nnodes 2 needs --master-addr/.test(e.message));
  assert.throws(() => nodesOf({ out: 'x', nnodes: '2', nodeRank: '-1', masterAddr: 'n0' }), UsageError);
  assert.throws(() => nodesOf({ out: 'x', nnodes: '2', nodeRank: '0', masterAddr: 'n0', masterPort: '70000' }), /Expected --master-port to be a port in \[1, 65535\] but received 70000/);
  assert.deepEqual(nodesOf({ out: 'x' }), {});
  assert.deepEqual(nodesOf({ out: 'x', nnodes: '2', nodeRank: '1', masterAddr: 'n0' }), { nodes: { count: 2, rank: 1, masterAddr: 'n0' }, masterPort: undefined });
});

function runningRun(name: string): string {
  const dir = join(root, name);
  writeRunStatus(dir, {
    status: 'running', epochsDone: 1, epochsPlanned: 3, params: 10, trainableParams: 10, trainTimeS: 1,
    env: { ablateVersion: '0', libtorchVersion: '0', device: 'cpu', threads: 1, precision: 'fp32', worldSize: 4, node: 'v20', os: 'linux', cpu: 'cpu x2' },
    dataset: { name: 'generated', split: 'train', trainCount: 64, valCount: 32 },
  });
  return dir;
}

test("node 1's killed rank, left in the shared folder, outranks node 0's lost peer: interrupted, naming node and rank", () => {
  const since = Date.now() - 10_000;
  const dir = runningRun('killed');
  // What node 1's launcher leaves (rank 0 on node 0 never saw the signal)…
  writeRankError(dir, { rank: 2, worldSize: 4, error: 'was killed by SIGKILL', signal: 'SIGKILL', diskFull: false, at: new Date(since + 1000).toISOString() });
  // …then rank 0 fails because its peer is gone, and node 0's launcher records its own rank's exit.
  const st = readRunStatus(dir)!;
  writeRunStatus(dir, { ...st, status: 'failed', error: 'data-parallel backward failed on rank 0 of 4: Connection closed by peer; every rank of a data-parallel run must be restarted', finishedAt: new Date(since + 2000).toISOString() });
  const r = recordRankFailure(dir, { rank: 1, worldSize: 4, nprocPerNode: 2, code: 1, signal: null, at: since + 2500 }, since);
  assert.equal(r.status, 'interrupted');
  assert.equal(r.message, 'rank 2 of 4 (node 1) was killed by SIGKILL');
  const after = readRunStatus(dir)!;
  assert.deepEqual([after.status, after.reason, after.error], ['interrupted', 'rank 2 of 4 (node 1) was killed by SIGKILL', undefined]);
});

test("node 1's launcher leaves its killed rank for node 0 and records it itself", async () => {
  const dir = runningRun('node1');
  const r = await launchRunRanks(dir, process.execPath, ['-e', 'if (process.env.LOCAL_RANK === "0") process.kill(process.pid, "SIGKILL"); else setTimeout(() => {}, 60000)'], {
    nproc: 2, masterPort: 29998, graceMs: 2000, nodes: { count: 2, rank: 1, masterAddr: 'n0' },
  });
  assert.deepEqual(r.failed, { rank: 2, code: null, signal: 'SIGKILL' });
  assert.equal(r.failure?.message, 'rank 2 of 4 (node 1) was killed by SIGKILL');
  assert.equal(readRunStatus(dir)!.status, 'interrupted');
  const { readRankError } = await import('../../src/run/run-folder.js');
  assert.equal(readRankError(dir, 2)?.signal, 'SIGKILL');
});
