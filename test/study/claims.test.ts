// Claims for cooperating study workers: one winner per run, heartbeats, takeover of a stale claim by one
// worker only, and shard assignment from flags, Slurm or Kubernetes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunClaims, parseShard } from '../../src/study/claims.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'ablate-claims-'));

test('one worker claims a run; another sees who holds it; the owner renews and releases', () => {
  const dir = tmp();
  try {
    const a = new RunClaims(dir, 'A');
    const b = new RunClaims(dir, 'B');
    assert.deepEqual(a.tryClaim('r1'), { kind: 'claimed' });
    const seen = b.tryClaim('r1');
    assert.equal(seen.kind, 'held');
    assert.equal(seen.kind === 'held' && seen.by.worker, 'A');
    assert.equal(a.tryClaim('r1').kind, 'claimed', 'claiming again is idempotent for the owner');
    assert.equal(a.heartbeat('r1'), true);
    assert.equal(b.heartbeat('r1'), false);
    b.release('r1');
    assert.equal(b.tryClaim('r1').kind, 'held', 'release by a non-owner changes nothing');
    a.release('r1');
    assert.deepEqual(b.tryClaim('r1'), { kind: 'claimed' });
    assert.deepEqual(readdirSync(join(dir, 'r1')), ['claim.json'], 'no temporary files are left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a claim whose heartbeat stopped is taken over, and its old owner learns it on its next heartbeat', () => {
  const dir = tmp();
  try {
    let t = 1_000_000_000_000;
    const a = new RunClaims(dir, 'A', { staleMs: 1000, now: () => t });
    const b = new RunClaims(dir, 'B', { staleMs: 1000, now: () => t });
    assert.equal(a.tryClaim('r').kind, 'claimed');
    t += 900;
    assert.equal(b.tryClaim('r').kind, 'held');
    t += 200;
    const r = b.tryClaim('r');
    assert.equal(r.kind, 'claimed');
    assert.equal(r.kind === 'claimed' && r.takenOverFrom?.worker, 'A');
    assert.equal(a.heartbeat('r'), false, 'A must stop: its run is B\'s now');
    assert.equal(b.heartbeat('r'), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a torn claim file is a claim of unknown owner, taken over once stale', () => {
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'r'));
    writeFileSync(join(dir, 'r', 'claim.json'), '{"worker":"A","ho');
    const old = new Date(Date.now() - 10_000);
    utimesSync(join(dir, 'r', 'claim.json'), old, old);
    const b = new RunClaims(dir, 'B', { staleMs: 5000 });
    const r = b.tryClaim('r');
    assert.equal(r.kind, 'claimed');
    assert.match(r.kind === 'claimed' ? r.takenOverFrom!.worker : '', /torn/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('eight processes racing for twenty runs (fresh, then stale): every run has exactly one owner', { timeout: 60_000 }, async () => {
  const dir = tmp();
  try {
    const runs = Array.from({ length: 20 }, (_, i) => `run${i}`);
    const script = `
      import { RunClaims } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'study', 'claims.ts'))};
      const c = new RunClaims(process.argv[1], process.argv[2], { staleMs: Number(process.argv[3]) });
      const won = [];
      for (const r of ${JSON.stringify(runs)}) if (c.tryClaim(r).kind === 'claimed') won.push(r);
      console.log(JSON.stringify(won));`;
    const race = async (staleMs: number, round: string): Promise<string[][]> =>
      Promise.all(Array.from({ length: 8 }, (_, k) => new Promise<string[]>((resolve, reject) => {
        const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir, `W${k}-${round}`, String(staleMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        p.stdout.on('data', (d) => (out += d));
        p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`worker exited ${code}`))));
      })));
    const check = (wins: string[][]) => {
      const all = wins.flat().sort();
      assert.deepEqual(all, [...runs].sort(), 'each run claimed exactly once');
    };
    check(await race(60_000, 'a'));
    // Every claim's heartbeat stopped an hour ago: a second crowd takes each over exactly once (the new
    // claims are fresh, so the later racers see them held).
    const old = new Date(Date.now() - 3_600_000);
    for (const r of runs) utimesSync(join(dir, r, 'claim.json'), old, old);
    check(await race(60_000, 'b'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shards come from --shard, Slurm array variables or a Kubernetes completion index', () => {
  assert.equal(parseShard(undefined, {}), null);
  assert.deepEqual(parseShard('1/4', {}), { index: 1, count: 4 });
  assert.deepEqual(parseShard(undefined, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0' }), { index: 3, count: 4 });
  assert.deepEqual(parseShard(undefined, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '2' }), { index: 3, count: 4 });
  assert.deepEqual(parseShard(undefined, { JOB_COMPLETION_INDEX: '2', ABLATE_SHARDS: '3' }), { index: 2, count: 3 });
  assert.throws(() => parseShard('4/4', {}), /index 4 of 4/);
  assert.throws(() => parseShard('x', {}), /--shard I\/N/);
  assert.throws(() => parseShard(undefined, { JOB_COMPLETION_INDEX: '2' }), /ABLATE_SHARDS/);
});
