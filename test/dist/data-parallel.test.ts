// Two ranks on 127.0.0.1 (Gloo, one thread each) against one process on the whole batch: DDP's Reducer
// must leave identical weights on both ranks after every step, equal to the single process's within
// float tolerance, and a dead rank must end the other with a clear error, not a hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { distributedSupport } from '../../src/tensor/index.js';
import { freeLocalPort } from '../../src/train/launch.js';

const CHILD = join(import.meta.dirname, 'dp-child.ts');
const support = distributedSupport();
const skip = support.available ? false : 'the addon was built without Gloo (apt-get install libgloo-dev, then npm run setup)';

interface StepLine { step: number; loss: number; params: string; buckets: number; sample: number[]; running: number[] }

function start(env: Record<string, string>): { child: ChildProcess; out: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }> } {
  const t0 = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { ...process.env, OMP_NUM_THREADS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const out = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
  return { child, out };
}

const lines = (s: string): StepLine[] => s.split('\n').filter((l) => l.startsWith('{"step"')).map((l) => JSON.parse(l) as StepLine);

test('2 ranks: identical weights after every step, equal to one process on the concatenated batch', { skip, timeout: 120_000 }, async () => {
  const port = String(await freeLocalPort());
  const common = { MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, WORLD_SIZE: '2', STEPS: '5' };
  const [r0, r1] = [start({ ...common, RANK: '0' }), start({ ...common, RANK: '1' })];
  const single = start({ STEPS: '5', WORLD_SIZE: '1', RANK: '0' });
  const [a, b, s] = await Promise.all([r0.out, r1.out, single.out]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(s.code, 0, s.stderr);
  const [la, lb, ls] = [lines(a.stdout), lines(b.stdout), lines(s.stdout)];
  assert.equal(la.length, 5);
  assert.equal(lb.length, 5);
  assert.ok(la[0]!.buckets >= 2, `small bucket caps give several buckets (got ${la[0]!.buckets})`);
  for (let k = 0; k < 5; k++) {
    assert.equal(la[k]!.params, lb[k]!.params, `step ${k}: the two ranks' weights differ`);
    // Each rank's loss is the mean over its half; their mean is the full batch's mean loss.
    const dp = (la[k]!.loss + lb[k]!.loss) / 2;
    assert.ok(Math.abs(dp - ls[k]!.loss) <= 1e-5 * Math.abs(ls[k]!.loss), `step ${k}: loss ${dp} vs single process ${ls[k]!.loss}`);
    la[k]!.sample.forEach((v, i) => { assert.ok(Math.abs(v - ls[k]!.sample[i]!) <= 1e-5, `step ${k}: weight ${v} vs ${ls[k]!.sample[i]}`); });
  }
});

test('gradients as views of the buckets (DDP gradient_as_bucket_view) give the same bits as gradients of their own', { skip, timeout: 120_000 }, async () => {
  const port = String(await freeLocalPort());
  const common = { MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, WORLD_SIZE: '2', STEPS: '5' };
  const pairWith = (view: string) => Promise.all([start({ ...common, GRAD_VIEW: view, RANK: '0' }).out, start({ ...common, GRAD_VIEW: view, RANK: '1' }).out]);
  const [a, b] = await pairWith('1');
  common.MASTER_PORT = String(await freeLocalPort());
  const [c, d] = await pairWith('0');
  for (const r of [a, b, c, d]) assert.equal(r.code, 0, r.stderr);
  const [view, copy] = [lines(a.stdout), lines(c.stdout)];
  assert.equal(view.length, 5);
  assert.equal(copy.length, 5);
  assert.deepEqual(lines(b.stdout).map((l) => l.params), view.map((l) => l.params), 'the two ranks differ with gradients as bucket views');
  for (let k = 0; k < 5; k++) {
    assert.equal(view[k]!.params, copy[k]!.params, `step ${k}: weights differ between gradients as bucket views and copied gradients`);
    assert.equal(view[k]!.loss, copy[k]!.loss);
  }
});

test('SyncBatchNorm: 2 ranks follow one process on the concatenated batch (loss within 1e-5 relative); per-rank BN does not', { skip, timeout: 180_000 }, async () => {
  const steps = '6';
  const pairOf = async (bn: string) => {
    const port = String(await freeLocalPort());
    const common = { MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, WORLD_SIZE: '2', STEPS: steps, BN: bn };
    return Promise.all([start({ ...common, RANK: '0' }).out, start({ ...common, RANK: '1' }).out]);
  };
  const [[a, b], [s]] = await Promise.all([pairOf('sync'), Promise.all([start({ STEPS: steps, WORLD_SIZE: '1', RANK: '0', BN: 'local' }).out])]);
  for (const r of [a, b, s]) assert.equal(r.code, 0, r.stderr);
  const [la, lb, ls] = [lines(a.stdout), lines(b.stdout), lines(s.stdout)];
  assert.equal(la.length, Number(steps));
  for (let k = 0; k < la.length; k++) {
    assert.equal(la[k]!.params, lb[k]!.params, `step ${k}: the two ranks' weights differ`);
    const dp = (la[k]!.loss + lb[k]!.loss) / 2;
    assert.ok(Math.abs(dp - ls[k]!.loss) <= 1e-5 * Math.abs(ls[k]!.loss), `step ${k}: loss ${dp} vs single process ${ls[k]!.loss}`);
    la[k]!.sample.forEach((v, i) => { assert.ok(Math.abs(v - ls[k]!.sample[i]!) <= 1e-5, `step ${k}: weight ${v} vs ${ls[k]!.sample[i]}`); });
    // The running statistics are the global batch's on every rank (the unbiased variance, as torch keeps it).
    assert.deepEqual(la[k]!.running, lb[k]!.running);
    la[k]!.running.forEach((v, i) => { assert.ok(Math.abs(v - ls[k]!.running[i]!) <= 1e-5 * Math.max(1, Math.abs(v)), `step ${k}: running stat ${v} vs ${ls[k]!.running[i]}`); });
  }
  // The bar bites: each rank normalising its own half gives another trajectory.
  const [c, d] = await pairOf('local');
  assert.equal(c.code, 0, c.stderr);
  const lc = lines(c.stdout);
  const ld = lines(d.stdout);
  const worst = Math.max(...lc.map((l, k) => Math.abs((l.loss + ld[k]!.loss) / 2 - ls[k]!.loss) / Math.abs(ls[k]!.loss)));
  assert.ok(worst > 1e-4, `per-rank batch norm should differ from the global batch's (worst relative loss difference ${worst})`);
});

test('a rank killed mid-run ends the other with a clear error within the collective timeout', { skip, timeout: 120_000 }, async () => {
  const port = String(await freeLocalPort());
  const common = { MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, WORLD_SIZE: '2', STEPS: '50', DIST_TIMEOUT_MS: '8000' };
  const r0 = start({ ...common, RANK: '0' });
  const r1 = start({ ...common, RANK: '1', STALL_AFTER: '2' });
  // Kill rank 1 with SIGKILL (as the OOM killer would) once it has done two steps.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (r1.child.exitCode !== null) { clearInterval(poll); resolve(); }
    }, 50);
    r1.child.stdout!.on('data', (d: Buffer) => {
      if (String(d).includes('"stalled"')) { clearInterval(poll); r1.child.kill('SIGKILL'); resolve(); }
    });
  });
  const killedAt = Date.now();
  const [a, b] = await Promise.all([r0.out, r1.out]);
  assert.equal(b.signal, 'SIGKILL');
  assert.notEqual(a.code, 0, 'the surviving rank must fail, not report success');
  assert.ok(Date.now() - killedAt < 8000 + 10_000, `the surviving rank took ${Date.now() - killedAt} ms to stop`);
  assert.match(a.stderr, /(all-reduce|barrier|broadcast|ddp|prepare).*failed|failed/i);
  assert.match(a.stderr, /every rank of a data-parallel run must be restarted/);
  assert.ok(lines(a.stdout).length <= 3, 'rank 0 cannot complete steps alone');
});

test('without torchrun variables a process group refuses bad arguments clearly', { skip }, async () => {
  const { ProcessGroup } = await import('../../src/tensor/index.js');
  assert.throws(() => ProcessGroup.init({ masterAddr: '127.0.0.1', masterPort: 29500, rank: 2, worldSize: 2 }), /Expected rank to be an integer in \[0, 1\] but received 2/);
  assert.throws(() => ProcessGroup.init({ masterAddr: '127.0.0.1', masterPort: 70000, rank: 0, worldSize: 2 }), /masterPort/);
  assert.throws(() => ProcessGroup.init({ masterAddr: '', masterPort: 29500, rank: 0, worldSize: 1 }), /MASTER_ADDR/);
});
