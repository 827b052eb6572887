// Data-parallel training on CUDA with NCCL (c10d's ProcessGroupNCCL beside Gloo, as PyTorch's DDP uses them).
// Needs a GPU and an addon built with NCCL, and skips otherwise (CI); ABLATE_CUDA_TESTS=require (scripts/gpu-check.sh)
// turns a skip into a failure. NCCL allows one rank per GPU: with one GPU the whole NCCL path runs at world size 1
// (broadcast, DDP's Reducer, sync batch norm, collectives, shutdown); with two or more, two ranks really exchange
// gradients. The refusals (no NCCL, no GPU) are checked on every machine by test/dist/nccl.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cudaAvailable, cudaDeviceCount, distributedSupport, engineInfo, ProcessGroup, randn, zeros, type Tensor } from '../../src/tensor/index.js';
import { DataParallel } from '../../src/train/data-parallel.js';
import { freeLocalPort } from '../../src/train/launch.js';
import { CLI_MAIN, historyMetrics, tinyConfig, writeConfig } from '../train/run-helpers.js';

const required = process.env.ABLATE_CUDA_TESTS === 'require';
const support = distributedSupport();
const gpus = cudaAvailable() ? cudaDeviceCount() : 0;
const why = gpus === 0 ? `no CUDA device (libtorch ${engineInfo().libtorch}, CUDA ${engineInfo().cudaBuilt ? 'built in' : 'not built in'})`
  : !support.nccl ? 'the addon was built without NCCL (node native/find-nccl.cjs check says why)' : false;
if (required && why) throw new Error(`ABLATE_CUDA_TESTS=require but ${why}`);
const skip = why;
const skip2 = why || (gpus < 2 ? `NCCL needs a GPU per rank and ${gpus} is visible (the world-size-1 tests cover one GPU)` : false);

const CHILD = join(import.meta.dirname, '..', 'dist', 'dp-child.ts');
interface Out { code: number | null; stdout: string; stderr: string }
function child(env: Record<string, string>, script = CHILD, args: string[] = []): Promise<Out> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env: { ...process.env, OMP_NUM_THREADS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 240_000);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}
const jsonLines = (s: string) => s.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
const steps = (o: Out) => jsonLines(o.stdout).filter((l) => 'step' in l);
const sums = (o: Out) => jsonLines(o.stdout).find((l) => 'sums' in l)?.sums;

test('NCCL at world size 1 on cuda:0: broadcast, DDP Reducer and sync batch norm follow the same steps without a group', { skip, timeout: 300_000 }, async () => {
  const port = String(await freeLocalPort());
  const common = { DEVICE: 'cuda', STEPS: '4', BN: 'sync', WORLD_SIZE: '1', RANK: '0' };
  const withGroup = await child({ ...common, GROUP: '1', BACKEND: 'nccl', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port });
  const alone = await child(common);
  assert.equal(withGroup.code, 0, withGroup.stderr);
  assert.equal(alone.code, 0, alone.stderr);
  const [a, b] = [steps(withGroup), steps(alone)];
  assert.equal(a.length, 4);
  assert.ok(a[0]!.buckets >= 2, `the reducer made buckets (${a[0]!.buckets})`);
  for (let k = 0; k < 4; k++) {
    // Averaging over one rank changes nothing; kernels may differ in the last bits run to run on a GPU.
    assert.ok(Math.abs(a[k]!.loss - b[k]!.loss) <= 1e-5 * Math.abs(b[k]!.loss), `step ${k}: loss ${a[k]!.loss} vs ${b[k]!.loss}`);
    a[k]!.sample.forEach((v: number, i: number) => { assert.ok(Math.abs(v - b[k]!.sample[i]) <= 1e-5, `step ${k}: weight ${v} vs ${b[k]!.sample[i]}`); });
  }
  // CPU tensors go to Gloo, CUDA ones to NCCL, in the same group.
  assert.deepEqual(sums(withGroup), { cpu: [1, 0.5], device: [1, 2], deviceName: 'cuda:0', backend: 'nccl' });
});

test('DataParallel.join on cuda:0 picks NCCL: attach, backward, sums, buffer sync, close', { skip, timeout: 120_000 }, async () => {
  const env = { masterAddr: '127.0.0.1', masterPort: await freeLocalPort(), rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1 };
  const dp = DataParallel.join(env, 60_000, 'cuda:0');
  try {
    assert.equal(dp.backend, 'nccl');
    assert.equal(distributedSupport().backend, 'nccl');
    const w = randn([16, 8]).to({ device: 'cuda:0' }).requiresGrad_();
    const running = zeros([16]).to({ device: 'cuda:0' });
    const model = { parameters: (): Tensor[] => [w], stateDict: () => new Map<string, Tensor>([['w', w], ['running', running]]) };
    dp.attach(model);
    const x = randn([4, 16]).to({ device: 'cuda:0' });
    const loss = x.matmul(w).pow(2).mean();
    dp.backward(loss);
    const g = w.grad!;
    assert.equal(g.device, 'cuda:0');
    // One rank: the averaged gradient is this rank's own, 2/(4·8) · xᵀ(xw).
    const want = x.transpose(0, 1).matmul(x.matmul(w.detach())).mul(2 / 32);
    assert.ok(g.sub(want).abs().max().item() < 1e-4);
    assert.deepEqual(dp.sum([1, 2.5]), [1, 2.5]);
    dp.syncBuffers(model);
    dp.barrier();
  } finally {
    dp.close();
  }
  assert.equal(ProcessGroup.current(), null);
});

test('2 ranks on cuda:0 and cuda:1 with NCCL: identical weights every step, equal to one GPU on the whole batch', { skip: skip2, timeout: 300_000 }, async () => {
  const port = String(await freeLocalPort());
  const common = { DEVICE: 'cuda', STEPS: '5', BN: 'sync', WORLD_SIZE: '2', BACKEND: 'nccl', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port };
  const [r0, r1, one] = await Promise.all([child({ ...common, RANK: '0' }), child({ ...common, RANK: '1' }), child({ DEVICE: 'cuda', STEPS: '5', BN: 'local', WORLD_SIZE: '1', RANK: '0' })]);
  for (const r of [r0, r1, one]) assert.equal(r.code, 0, r.stderr);
  const [a, b, s] = [steps(r0), steps(r1), steps(one)];
  assert.equal(a.length, 5);
  for (let k = 0; k < 5; k++) {
    assert.equal(a[k]!.params, b[k]!.params, `step ${k}: the two ranks' weights differ`);
    const mean = (a[k]!.loss + b[k]!.loss) / 2;
    assert.ok(Math.abs(mean - s[k]!.loss) <= 1e-4 * Math.abs(s[k]!.loss), `step ${k}: loss ${mean} vs one GPU ${s[k]!.loss}`);
  }
  assert.deepEqual(sums(r0), { cpu: [3, 1], device: [2, 2], deviceName: 'cuda:0', backend: 'nccl' });
  assert.deepEqual(sums(r1), { cpu: [3, 1], device: [2, 2], deviceName: 'cuda:1', backend: 'nccl' });
});

test('ablate train --device cuda --nproc-per-node 2 trains with NCCL and records it', { skip: skip2, timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-nccl-train-'));
  try {
    const cfg = writeConfig(dir, tinyConfig({ device: 'cuda', epochs: 2 }));
    const out = join(dir, 'run');
    const r = await child({}, CLI_MAIN, ['train', cfg, '--out', out, '--nproc-per-node', '2']);
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(readFileSync(join(out, 'status.json'), 'utf8'));
    assert.equal(status.status, 'ok');
    assert.equal(status.env.worldSize, 2);
    assert.equal(status.env.distBackend, 'nccl');
    assert.match(status.env.device, /^cuda:0/);
    assert.equal(historyMetrics(out).length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
