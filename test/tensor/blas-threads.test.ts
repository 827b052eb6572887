// OpenBLAS's own threads (Debian's libtorch computes fp32 matrix products with it): ablate runs them on the calling
// thread unless OPENBLAS_NUM_THREADS says otherwise, so that no OpenBLAS worker spins beside libtorch's threads.
// The outcome is checked where it shows: the CPU time of the process's other threads while it multiplies matrices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLAS_THREAD_ENVS, engineInfo, init } from '../../src/tensor/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
init();
/** Whether this process has OpenBLAS loaded (through libtorch), from its memory map: the condition, not the answer. */
const openblasLoaded = /openblas/i.test(readFileSync('/proc/self/maps', 'utf8'));

// One libtorch thread, 40 forward + backward passes of a 512 → 1000 linear layer on 16 rows (a ResNet classifier's
// shape, large enough for OpenBLAS to use its threads), then the CPU time of the main thread and of all others.
const CHILD = `
import { readFileSync, readdirSync } from 'node:fs';
import { randn, setNumThreads, tidy, engineInfo, F } from './src/tensor/index.js';
setNumThreads(1);
const ticks = () => Object.fromEntries(readdirSync('/proc/self/task').map((t) => {
  const s = readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return [t, Number(f[11]) + Number(f[12])];
}));
const x = randn([16, 512]);
const w = randn([1000, 512]).requiresGrad_();
const pass = () => tidy(() => { const y = F.linear(x, w, null); y.mul(y).sum().backward(); w.grad = null; });
pass();
const a = ticks();
for (let i = 0; i < 40; i++) pass();
const end = Date.now() + 300;
while (Date.now() < end);  // the main thread keeps running while an OpenBLAS worker would still be spinning
const b = ticks();
const main = String(process.pid);
let others = 0;
for (const [t, v] of Object.entries(b)) if (t !== main) others += v - (a[t] ?? 0);
const e = engineInfo();
console.log(JSON.stringify({ mainMs: (b[main] - a[main]) * 10, othersMs: others * 10, blasThreads: e.blasThreads, source: e.blasThreadsSource }));
`;

function child(env: NodeJS.ProcessEnv): { mainMs: number; othersMs: number; blasThreads: number | null; source: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const clean = () => {
  const env = { ...process.env };
  for (const k of BLAS_THREAD_ENVS) delete env[k];
  return env;
};

test('OpenBLAS runs on the calling thread by default, and no worker of it spins beside libtorch', { skip: !openblasLoaded && 'libtorch here does not use OpenBLAS' }, () => {
  if (!BLAS_THREAD_ENVS.some((k) => (process.env[k] ?? '') !== '')) {
    assert.deepEqual({ threads: engineInfo().blasThreads, source: engineInfo().blasThreadsSource }, { threads: 1, source: 'ablate' });
  }
  const own = child(clean());
  assert.equal(own.blasThreads, 1);
  assert.equal(own.source, 'ablate');
  // Node's own helper threads (compiler, GC) take a few ms; a spinning OpenBLAS worker takes as much as the main thread.
  assert.ok(own.othersMs <= 0.25 * own.mainMs + 30, `other threads used ${own.othersMs} ms of CPU beside the main thread's ${own.mainMs} ms`);
});

test('OPENBLAS_NUM_THREADS set by the user is kept, and its threads do run', { skip: !openblasLoaded && 'libtorch here does not use OpenBLAS' }, () => {
  const theirs = child({ ...clean(), OPENBLAS_NUM_THREADS: '2' });
  assert.equal(theirs.blasThreads, 2);
  assert.equal(theirs.source, 'environment');
  // The contrast that shows the first test can fail: with two OpenBLAS threads a worker burns CPU of its own.
  assert.ok(theirs.othersMs > 30, `expected OpenBLAS's second thread to use CPU time, but other threads used ${theirs.othersMs} ms`);
});
