// Successive halving in a real study: the second rung retrains exactly the best half of the first rung
// (by the trials' own histories), the stage trains exactly the planned epochs, and the main run uses the
// last rung's best value.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { historyOf, runCli, tmp, writeStudy } from '../live-fixtures.js';

describe('tuned study with method asha (synchronous successive halving)', () => {
  test('promotes the best half by the metric and spends exactly the planned epochs', { timeout: 600_000 }, async (ctx) => {
    const root = tmp('ablate-halving-');
    ctx.after(() => rmSync(root, { recursive: true, force: true }));
    const file = writeStudy(root, {
      name: 'halving',
      base: { data: { generated: { trainCount: 128, testCount: 16 } }, epochs: 1, optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 } },
      seeds: [0],
      tune: { space: { 'optimizer.lr': [0.001, 0.01, 0.1, 0.5] }, method: 'asha', eta: 2, minEpochs: 1, budget: { epochs: 2 }, metric: 'val_loss', valSplit: 0.25 },
    });
    const plan = await runCli(['study', 'plan', file, '--out', join(root, 'out'), '--no-measure']);
    assert.equal(plan.code, 0, plan.output);
    assert.match(plan.output, /tuning stage .*: synchronous successive halving \(eta 2\): 4 × 1 epoch, then 2 × 2 epochs, seed 0, metric val_loss/);
    assert.match(plan.output, /base: 4 trials, 6 runs, 8 epochs, 768 training images/);
    assert.match(plan.output, /then each arm's main runs train at its own best optimizer\.lr/);
    const r = await runCli(['study', 'run', file, '--out', join(root, 'out'), '--threads', '2']);
    assert.equal(r.code, 0, r.output);
    const tuneDir = join(root, 'out', 'tune');
    const trials = readdirSync(tuneDir).filter((n) => /-seed0$/.test(n)).sort();
    const rung0 = trials.filter((n) => /-t\d-e1-/.test(n));
    const rung1 = trials.filter((n) => /-t\d-e2-/.test(n));
    assert.equal(rung0.length, 4);
    assert.equal(rung1.length, 2);
    const bestLoss = (n: string) => Math.min(...historyOf(join(tuneDir, n)).map((h) => h.val_loss ?? Infinity));
    const ranked = [...rung0].sort((a, b) => bestLoss(a) - bestLoss(b)).slice(0, 2).map((n) => n.replace('-e1-', '-e2-')).sort();
    assert.deepEqual(rung1, ranked, 'the second rung is the first rung\'s best half');
    const epochs = trials.reduce((s, n) => s + historyOf(join(tuneDir, n)).length, 0);
    assert.equal(epochs, 4 * 1 + 2 * 2, 'exactly the planned budget');
    const t = JSON.parse(readFileSync(join(tuneDir, 'tuning.json'), 'utf8')) as { arms: { chosen: Record<string, number>; epochs: number }[] };
    assert.equal(t.arms[0]!.epochs, 8);
    const winner = [...rung1].sort((a, b) => bestLoss(a) - bestLoss(b))[0]!;
    const lrOf = (dir: string) => (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { optimizer: { lr: number } }).optimizer.lr;
    assert.equal(t.arms[0]!.chosen['optimizer.lr'], lrOf(join(tuneDir, winner)));
    assert.equal(lrOf(join(root, 'out', 'base-seed0')), lrOf(join(tuneDir, winner)), 'the main run trains at the chosen value');
    assert.match(readFileSync(join(root, 'out', 'report.md'), 'utf8'), /synchronous successive halving .*4 trials × 1 epochs, then 2 trials × 2 epochs/);
  });
});
