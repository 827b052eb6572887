// Importing ablate changes nothing process-wide: libtorch loads, and ablate sets its threads, ATen's kernel set and
// OpenBLAS's threads, only at init() — called by the first tensor operation or by the user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENTRY_POINTS = ['src/index.ts', 'src/tensor/index.ts', 'src/nn/index.ts', 'src/models/index.ts', 'src/data/index.ts', 'src/augment/index.ts', 'src/cli/main.ts'];

// Imports every entry point, records what changed, then runs init() twice around a setNumThreads() call.
const CHILD = `
import { readFileSync } from 'node:fs';
const loaded = () => /libtorch|ablate_native|openblas/i.test(readFileSync('/proc/self/maps', 'utf8'));
const env = { ...process.env };
const listeners = () => ['exit', 'SIGINT', 'SIGTERM', 'uncaughtException', 'unhandledRejection'].map((e) => process.listenerCount(e));
const before = listeners();
for (const m of ${JSON.stringify(ENTRY_POINTS.map((p) => './' + p))}) await import(m);
const t = await import('./src/tensor/index.js');
const changedEnv = Object.keys({ ...env, ...process.env }).filter((k) => env[k] !== process.env[k]);
const afterImport = { loaded: loaded(), engineLoaded: t.engineLoaded(), changedEnv, listenersChanged: String(listeners()) !== String(before) };
t.init();
const threadsAtInit = t.getNumThreads();
t.setNumThreads(1);
t.init();
const x = t.ones([2]).sum().item();
console.log(JSON.stringify({ afterImport, afterInit: { loaded: loaded(), engineLoaded: t.engineLoaded(), threadsAtInit, threadsAfterSecondInit: t.getNumThreads(), x,
  aten: process.env.ATEN_CPU_CAPABILITY ?? null, source: t.engineInfo().cpuCapabilitySource } }));
`;

function child(env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], { cwd: ROOT, encoding: 'utf8', timeout: 180_000, env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('importing every entry point loads no libtorch and changes no environment variable or process handler; init() then applies the defaults once', () => {
  const env: NodeJS.ProcessEnv = { ...process.env, ABLATE_THREADS: '3' };
  delete env.ATEN_CPU_CAPABILITY;
  delete env.ABLATE_CPU_CAPABILITY_SET;
  const r = child(env);
  assert.deepEqual(r.afterImport, { loaded: false, engineLoaded: false, changedEnv: [], listenersChanged: false });
  assert.equal(r.afterInit.loaded, true);
  assert.equal(r.afterInit.engineLoaded, true);
  assert.equal(r.afterInit.threadsAtInit, 3, 'init() gives libtorch ABLATE_THREADS threads');
  assert.equal(r.afterInit.threadsAfterSecondInit, 1, 'a second init() keeps what the caller set since');
  assert.equal(r.afterInit.x, 2);
  // ATen's kernel set is chosen at init(), before the load: AVX-512 where the CPU has it, else left to libtorch.
  if (r.afterInit.source === 'ablate') assert.equal(r.afterInit.aten, 'avx512');
  else assert.deepEqual([r.afterInit.source, r.afterInit.aten], ['libtorch', null]);
});

test('an addon that cannot load is reported at the first tensor operation, naming the file, not at import', () => {
  const bad = join(ROOT, 'no-such-dir', 'ablate_native.node');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
const t = await import('./src/index.js');
console.log('imported');
t.zeros([1]);`], { cwd: ROOT, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ABLATE_NATIVE_ADDON: bad } });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /^imported$/m);
  assert.ok(r.stderr.includes(`ablate's native addon (${bad}) failed to load`), r.stderr);
});
