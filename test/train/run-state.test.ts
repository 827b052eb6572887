import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DivergenceGuard, hostEnv, isDivergedLoss } from '../../src/train/run-state.js';
import { readRunStatus, statusPath, updateRunStatus, writeRunStatus, type RunStatus } from '../../src/run/run-folder.js';
import { drive, tmpDir } from './helpers.js';

const status = (): RunStatus => ({
  status: 'running',
  startedAt: '2024-01-01T00:00:00.000Z',
  epochsDone: 0,
  epochsPlanned: 10,
  params: 21_797_672,
  trainableParams: 21_797_672,
  trainTimeS: 0,
  env: { ablateVersion: '0.1.0', libtorchVersion: '2.1.0', device: 'cpu', threads: 2, precision: 'fp32', ...hostEnv() },
  dataset: { name: 'synthetic', split: 'train[:80%]', valSplit: 'train[80%:]', trainCount: 800, valCount: 200 },
});

describe('status.json', () => {
  it('round-trips and updates atomically', () => {
    const dir = tmpDir();
    assert.equal(readRunStatus(dir), undefined);
    writeRunStatus(dir, status());
    assert.deepEqual(readRunStatus(dir), status());
    const next = updateRunStatus(dir, { status: 'ok', epochsDone: 10, bestEpoch: 7, bestValAccuracy: 0.91, trainTimeS: 123.4 });
    assert.equal(next.status, 'ok');
    assert.equal(readRunStatus(dir)!.bestEpoch, 7);
    updateRunStatus(dir, (s) => ({ ...s, epochsDone: s.epochsDone - 1 }));
    assert.equal(readRunStatus(dir)!.epochsDone, 9);
  });

  it('names every bad field', () => {
    const dir = tmpDir();
    assert.throws(() => writeRunStatus(dir, { ...status(), status: 'done' as never, epochsDone: -1 }), /Invalid run status to write:\n  status: expected "pending" \| "running" \| "ok" \| "diverged" \| "failed" \| "stopped" \| "preempted" \| "interrupted", received "done"\n  epochsDone: expected number >= 0, received number -1/);
    // Reading is tolerant: an unreadable file is undefined plus a warning saying why.
    const warnings: string[] = [];
    writeFileSync(statusPath(dir), '{"status":');
    assert.equal(readRunStatus(dir, warnings), undefined);
    assert.match(warnings[0]!, /^status\.json: unreadable \(/);
    writeFileSync(statusPath(dir), '{"status":"ok"}');
    assert.equal(readRunStatus(dir, warnings), undefined);
    assert.match(warnings[1]!, /epochsDone: expected number, received undefined/);
    assert.throws(() => updateRunStatus(dir, { status: 'ok' }), /Cannot update .*status\.json: status\.json: .*epochsDone/);
    assert.throws(() => updateRunStatus(tmpDir(), { status: 'ok' }), /has no status file yet/);
  });

  it('hostEnv fills node, os and cpu', () => {
    const env = hostEnv();
    assert.equal(env.node, process.version);
    assert.ok(env.os.length > 0 && env.cpu.length > 0);
  });
});

describe('DivergenceGuard', () => {
  it('stops on a non-finite batch loss and keeps the last good epoch', async () => {
    const guard = new DivergenceGuard();
    const r = await drive([guard], [{ loss: 2 }, { loss: 1.5 }, { loss: 1 }, { loss: 1 }], {
      stepsPerEpoch: 3,
      batchLogs: (e, b) => ({ loss: e === 2 && b === 1 ? NaN : 1 }),
    });
    assert.deepEqual(r.ran, [0, 1]);
    assert.equal(r.ctx.stopTraining, true);
    assert.deepEqual(guard.diverged, { epoch: 2, batch: 1, globalStep: 8, loss: NaN });
    assert.deepEqual(guard.lastGood, { epoch: 1, logs: { loss: 1.5 } });
    assert.deepEqual(guard.statusPatch(), { status: 'diverged', error: 'loss became NaN at epoch 3, batch 2 (step 8)', epochsDone: 2 });
  });

  it('reports nothing for a healthy run; isDivergedLoss checks its input', async () => {
    const guard = new DivergenceGuard();
    await drive([guard], [{ loss: 1 }, { loss: 0.5 }]);
    assert.equal(guard.statusPatch(), undefined);
    assert.equal(isDivergedLoss(Infinity), true);
    assert.equal(isDivergedLoss(0.3), false);
    assert.throws(() => isDivergedLoss('x'), /Expected a number for loss but received "x"/);
  });
});
