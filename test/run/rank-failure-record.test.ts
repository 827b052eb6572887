// recordRankFailure on hand-made run folders: which rank's end speaks for a data-parallel run whichever
// order the ranks wrote their records in (test/dist/rank-failure.test.ts runs the real processes).
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PEER_HINT } from '../../src/tensor/peer-lost.js';
import { readRunStatus, recordRankFailure, removeRankErrors, writeRankError, writeRunStatus, type RunStatus } from '../../src/run/run-folder.js';
import { tmpDir } from '../train/helpers.js';

const root = tmpDir('ablate-rank-record-');
after(() => rmSync(root, { recursive: true, force: true }));

const SINCE = Date.parse('2026-01-01T00:00:00.000Z');
const at = (s: number) => new Date(SINCE + s * 1000).toISOString();
const PEER = `data-parallel backward failed on rank 0 of 2: Connection closed by peer${PEER_HINT}`;

let n = 0;
/** A run folder whose rank 0 wrote `status` (running, or ended `s` seconds after the launch). */
function runWith(status: Partial<RunStatus> & { endedAfter?: number }): string {
  const dir = join(root, `run-${n++}`);
  const { endedAfter, ...rest } = status;
  writeRunStatus(dir, {
    status: 'running', epochsDone: 1, epochsPlanned: 3, params: 10, trainableParams: 10, trainTimeS: 1,
    env: { ablateVersion: '0', libtorchVersion: '0', device: 'cpu', threads: 1, precision: 'fp32', worldSize: 2, node: 'v20', os: 'linux', cpu: 'cpu x2' },
    dataset: { name: 'generated', split: 'train', trainCount: 64, valCount: 32 },
    ...(endedAfter === undefined ? {} : { finishedAt: at(endedAfter) }),
    ...rest,
  });
  return dir;
}
const rank1 = (dir: string, error: string, s: number, diskFull = false) => writeRankError(dir, { rank: 1, worldSize: 2, error, diskFull, at: at(s) });
const end = (o: { rank?: number; code?: number | null; signal?: NodeJS.Signals | null; after?: number } = {}) =>
  ({ rank: o.rank ?? 1, worldSize: 2, code: o.code === undefined ? 1 : o.code, signal: o.signal ?? null, at: SINCE + (o.after ?? 2) * 1000 });

test('rank 1 failed, rank 0 was stopped for it (or lost its peer, even a moment earlier): failed with rank 1\'s error', () => {
  for (const rank0 of [{ status: 'stopped', reason: 'interrupted by SIGTERM', endedAfter: 3 }, { status: 'failed', error: PEER, endedAfter: 0.5 }] as const) {
    const dir = runWith(rank0);
    rank1(dir, 'bad data', 1);
    const r = recordRankFailure(dir, end({ rank: 0 }), SINCE);
    assert.deepEqual(r, { message: 'rank 1 of 2: bad data', error: 'rank 1 of 2: bad data', status: 'failed' });
    const st = readRunStatus(dir)!;
    assert.deepEqual([st.status, st.error, st.reason, st.finishedAt, st.epochsDone], ['failed', 'rank 1 of 2: bad data', undefined, at(1), 1]);
  }
});

test("rank 0's own error before rank 1 lost its peer stands; so does a run rank 0 finished", () => {
  const dir = runWith({ status: 'failed', error: 'its own', endedAfter: 1 });
  rank1(dir, PEER.replace('rank 0', 'rank 1'), 1.5);
  assert.deepEqual(recordRankFailure(dir, end(), SINCE), { message: 'rank 1 of 2 exited with code 1', status: 'failed' });
  assert.equal(readRunStatus(dir)!.error, 'its own');
  const ok = runWith({ status: 'ok', endedAfter: 1 });
  rank1(ok, 'late', 1.5);
  assert.equal(recordRankFailure(ok, end(), SINCE).status, 'ok');
});

test('a full disk on rank 1 stops the run (resumable); a signal leaves it interrupted, naming rank and signal', () => {
  const full = runWith({ status: 'failed', error: PEER, endedAfter: 2 });
  rank1(full, 'ENOSPC: no space left on device', 1, true);
  assert.equal(recordRankFailure(full, end({ code: 5 }), SINCE).status, 'stopped');
  const st = readRunStatus(full)!;
  assert.deepEqual([st.status, st.reason, st.error], ['stopped', 'rank 1 of 2: ENOSPC: no space left on device', undefined]);
  // Rank 0, its peer gone, exited first (its code 1 is what the launcher saw first): the full disk still speaks,
  // and says so, so `ablate train` exits 75 as for one process.
  const peerFirst = runWith({ status: 'failed', error: PEER, endedAfter: 0.5 });
  rank1(peerFirst, 'ENOSPC: no space left on device', 1, true);
  assert.deepEqual(recordRankFailure(peerFirst, end({ rank: 0, code: 1, after: 0.5 }), SINCE),
    { message: 'rank 1 of 2: ENOSPC: no space left on device', error: 'rank 1 of 2: ENOSPC: no space left on device', status: 'stopped', diskFull: true });

  const killed = runWith({ status: 'failed', error: PEER, endedAfter: 1 });
  const r = recordRankFailure(killed, end({ code: null, signal: 'SIGKILL', after: 1.2 }), SINCE);
  assert.deepEqual(r, { message: 'rank 1 of 2 was killed by SIGKILL', error: undefined, status: 'interrupted' });
  const k = readRunStatus(killed)!;
  assert.deepEqual([k.status, k.reason, k.error], ['interrupted', 'rank 1 of 2 was killed by SIGKILL', undefined]);
  const rank0Killed = runWith({});
  assert.equal(recordRankFailure(rank0Killed, end({ rank: 0, code: null, signal: 'SIGKILL' }), SINCE).status, 'interrupted');
  assert.equal(readRunStatus(rank0Killed)!.reason, 'rank 0 of 2 was killed by SIGKILL');
});

test('an error file of an earlier start is ignored, and removed at the next start; no status.json: nothing written', () => {
  const dir = runWith({});
  rank1(dir, 'old', -10);
  assert.deepEqual(recordRankFailure(dir, end(), SINCE), { message: 'rank 1 of 2 exited with code 1', status: 'running' });
  assert.equal(readRunStatus(dir)!.status, 'running');
  assert.deepEqual(removeRankErrors(dir), ['rank-1.error.json']);
  assert.equal(existsSync(join(dir, 'rank-1.error.json')), false);

  const bare = join(root, 'bare');
  rank1(bare, 'bad data', 1);
  assert.deepEqual(recordRankFailure(bare, end(), SINCE), { message: 'rank 1 of 2 exited with code 1' });
  assert.equal(existsSync(join(bare, 'status.json')), false);
});
