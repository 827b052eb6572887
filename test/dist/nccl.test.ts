// The NCCL backend's refusals, which every machine can check: a CUDA data-parallel run asked of an addon
// built without NCCL, or of one with NCCL on a machine without a GPU, fails before any rendezvous with a
// message that says what was expected, what this build has, and what to do (never a silent fall-back to
// Gloo, never a crash). test/cuda/nccl.test.ts trains with NCCL where a GPU is visible.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup, backendFor, backendProblem, cudaDeviceCount, distributedSupport, engineInfo } from '../../src/tensor/index.js';
import { DataParallel } from '../../src/train/data-parallel.js';
import { CLI_MAIN, tinyConfig, writeConfig } from '../train/run-helpers.js';

const support = distributedSupport();
const gpus = engineInfo().cudaBuilt ? cudaDeviceCount() : 0;
const skip = support.available ? false : 'the addon was built without Gloo (apt-get install libgloo-dev, then npm run setup)';
// Where NCCL can really run, the refusals below do not happen: test/cuda/nccl.test.ts covers that machine.
const refusal = skip || (support.nccl && gpus > 0 ? 'NCCL and a GPU are both here (test/cuda/nccl.test.ts trains with them)' : false);
// What this build must say: no NCCL compiled in, or NCCL without a GPU.
const expected = support.nccl
  ? /Expected a visible GPU for NCCL \(data-parallel training on CUDA\) but this machine shows none \(libtorch .* has CUDA and NCCL; .*\): run on a machine with a GPU per rank/
  : /Expected an addon built with NCCL for data-parallel training on CUDA \(PyTorch's backend for GPUs\) but this build of ablate has no NCCL \(libtorch [^,]+, a (CUDA|CPU-only) build; `node native\/find-nccl\.cjs check` says what was missing\)\. Rebuild against a CUDA libtorch with NCCL/;

test('the backend follows the device, as in PyTorch: NCCL on CUDA, Gloo on the CPU', () => {
  assert.equal(backendFor('cpu'), 'gloo');
  assert.equal(backendFor('cuda'), 'nccl');
  assert.equal(backendFor('cuda:1'), 'nccl');
  assert.equal(typeof support.nccl, 'boolean');
  // Without NCCL compiled in there is always a problem; with it, only the want of a GPU is one.
  if (!support.nccl) assert.notEqual(backendProblem('nccl'), null);
  else assert.equal(backendProblem('nccl') === null, gpus > 0);
  if (support.available) assert.equal(backendProblem('gloo'), null);
});

test('a process group on NCCL is refused before any rendezvous, with what to do', { skip: refusal }, () => {
  const t0 = Date.now();
  // No rank 1 exists and nothing listens on the port: a refusal must not wait for either.
  assert.throws(() => ProcessGroup.init({ masterAddr: '127.0.0.1', masterPort: 29581, rank: 0, worldSize: 2, timeoutMs: 60_000, backend: 'nccl' }), expected);
  assert.ok(Date.now() - t0 < 5000, `refused after ${Date.now() - t0} ms`);
  assert.equal(ProcessGroup.current(), null, 'no group is left behind');
  assert.equal(distributedSupport().initialized, false);
  assert.throws(() => ProcessGroup.init({ masterAddr: '127.0.0.1', masterPort: 29581, rank: 0, worldSize: 1, backend: 'mpi' as never }),
    /Expected backend to be 'gloo' or 'nccl' but received "mpi"/);
});

test("DataParallel.join on a CUDA device asks for NCCL and is refused the same way (no fall-back to Gloo)", { skip: refusal }, () => {
  const env = { masterAddr: '127.0.0.1', masterPort: 29582, rank: 0, worldSize: 2, localRank: 0, localWorldSize: 2 };
  assert.throws(() => DataParallel.join(env, 60_000, 'cuda:0'), expected);
  assert.equal(ProcessGroup.current(), null);
});

test('ablate train --device cuda --nproc-per-node 2 is refused once, before any rank starts or a run folder is made', { skip: refusal, timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-nccl-'));
  try {
    const cfg = writeConfig(dir, tinyConfig({ device: 'cuda' }));
    const out = join(dir, 'run');
    const r = spawnSync(process.execPath, ['--import', 'tsx', CLI_MAIN, 'train', cfg, '--out', out, '--nproc-per-node', '2'],
      { encoding: 'utf8', timeout: 50_000, env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
    assert.notEqual(r.status, 0, r.stderr);
    // A CPU-only libtorch has no NCCL either: the same refusal names it.
    assert.match(r.stderr, support.nccl ? /Expected a visible GPU for NCCL/ : /Expected an addon built with NCCL for data-parallel training on CUDA/);
    assert.equal((r.stderr.match(/Expected (an addon built with NCCL|a visible GPU for NCCL)/g) ?? []).length, 1, 'said once, not once per rank');
    assert.doesNotMatch(r.stderr, /rank \d+ of 2 (exited|was killed)/, 'no rank was started');
    assert.equal(existsSync(out), false, 'no run folder');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
