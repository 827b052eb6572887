// `deterministic: true`: on the CPU a rerun with the same seed and thread count is bit-identical (as it is with
// `auto`); the run records that it was. The GPU half is in scripts/gpu-check.sh (two deterministic CUDA runs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTraining, explainNondeterministic } from '../../src/train/run.js';
import { readRunStatus } from '../../src/run/run-folder.js';
import { planHash, resolveRunPlan } from '../../src/run/plan.js';
import { tmpDir } from './helpers.js';
import { historyMetrics, tinyConfig } from './run-helpers.js';

const quiet = { progress: false as const, log: () => {} };

describe('deterministic', () => {
  it('true on the CPU: two runs give the same history and byte-identical weights, and say they were deterministic', async () => {
    const cfg = tinyConfig({ epochs: 1, threads: 2, deterministic: true });
    const a = tmpDir();
    const b = tmpDir();
    assert.equal((await runTraining(cfg, { runDir: a, ...quiet })).status, 'ok');
    assert.equal((await runTraining(cfg, { runDir: b, ...quiet })).status, 'ok');
    assert.deepEqual(historyMetrics(b), historyMetrics(a));
    assert.ok(readFileSync(join(a, 'model.pth')).equals(readFileSync(join(b, 'model.pth'))), 'model.pth byte-identical');
    assert.equal(readRunStatus(a)!.env.deterministic, true);
    assert.equal(JSON.parse(readFileSync(join(a, 'config.json'), 'utf8')).deterministic, true);
  });

  it('auto is the default and leaves the plan hash of runs planned before the field existed unchanged', () => {
    const plan = resolveRunPlan(tinyConfig());
    assert.equal(plan.deterministic, 'auto');
    const { deterministic: _d, ...older } = plan;
    assert.equal(planHash(older as typeof plan), planHash(plan));
    assert.notEqual(planHash(resolveRunPlan(tinyConfig({ deterministic: true }))), planHash(plan));
  });

  it('anything but auto, true or false is refused, naming the field', () => {
    assert.throws(() => resolveRunPlan(tinyConfig({ deterministic: 'yes' })), /deterministic/);
  });

  it("libtorch's error for an op without a deterministic kernel names the op and says what to change", () => {
    const msg = explainNondeterministic("adaptive_avg_pool2d_backward_cuda does not have a deterministic implementation, but you set 'torch.use_deterministic_algorithms(True)'.\nYou can turn off determinism just for this operation...");
    assert.match(msg, /^deterministic: true, but adaptive_avg_pool2d_backward_cuda has no deterministic kernel on this device: set deterministic: auto/);
    assert.equal(explainNondeterministic('out of memory'), 'out of memory');
  });
});
