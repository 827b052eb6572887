import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspectRunConfig, localRanksOf, planHash, resolveRunPlan, readRunPlan, RunPlanError } from '../../src/run/plan.js';
import { runTraining } from '../../src/train/run.js';
import { runStudy } from '../../src/study/runner.js';
import { InterruptedError } from '../../src/util/interrupt.js';
import { tmpDir } from '../train/helpers.js';
import { CLI_MAIN, historyMetrics, spawnTs, writeConfig } from '../train/run-helpers.js';

/** Small enough that a run takes a second or two: 2 classes of 8×8 images. */
const SMALL = {
  model: 'resnet20-cifar',
  data: { source: 'generated', generated: { classes: 2, trainCount: 48, testCount: 16, size: 8, difficulty: 'easy' }, split: 'train', valSplit: 'test' },
  augment: 'cifar',
  epochs: 2,
  batchSize: 16,
  precision: 'fp32',
  threads: 1,
  seed: 3,
  optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 },
};

async function cli(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const c = spawnTs(CLI_MAIN, args);
  const { code } = await c.exit;
  return { code, stderr: c.stderr(), stdout: c.stdoutLines.join('\n') };
}

describe('run plan', () => {
  it('resolves every field: model switches, data per split with size and cache policy, canonical augment ops, normalisation', () => {
    const plan = resolveRunPlan(SMALL);
    assert.equal(plan.model.family, 'resnet');
    assert.equal(plan.model.preset, 'resnet20-cifar');
    assert.equal(plan.model.shortcut, 'zero-pad');
    assert.equal(plan.model.numClasses, 2, 'the generated spec fixes the class count');
    assert.deepEqual(plan.data.imageSize, [8, 8]);
    assert.equal(plan.data.cache, 'memory');
    assert.equal(plan.valData?.split, 'test');
    assert.equal((plan.data as Record<string, unknown>).valSplit, undefined);
    assert.deepEqual(plan.augment.map((o) => o.op), ['randomCrop', 'flip']);
    assert.equal(plan.normalization, 'unit');
    assert.equal(resolveRunPlan({ ...SMALL, pretrained: '/w.pth' }).normalization, 'imagenet');
  });

  it('is a config: resolving a plan gives it back unchanged', () => {
    for (const cfg of [
      SMALL,
      { ...SMALL, model: { preset: 'resnet20-cifar', shortcut: 'projection', preact: true, widthMultiplier: 2 }, augment: 'standard+cutmix' },
      { ...SMALL, model: { depth: 56, shortcut: 'projection' }, numClasses: 5, data: { path: '/some/folder', split: 'train[:80%]', valSplit: 'train[80%:]' } },
    ]) {
      const plan = resolveRunPlan(cfg);
      assert.deepEqual(resolveRunPlan(JSON.parse(JSON.stringify(plan))), plan);
    }
  });

  it('a dotted path under a preset name (--set model.shortcut=none) turns it into the object form', async () => {
    const dir = tmpDir('ablate-plan-');
    const file = writeConfig(dir, { ...SMALL, epochs: 1 });
    const out = join(dir, 'run');
    const r = await cli(['train', file, '--set', 'model.shortcut=none', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const plan = readRunPlan(out);
    assert.equal(plan.model.preset, 'resnet20-cifar');
    assert.equal(plan.model.shortcut, 'none');
    assert.deepEqual(plan.classNames?.length, 2);
  });

  it('every problem at once, each with path, expectation and value: config, model switches, data, augment', () => {
    const { plan, problems } = inspectRunConfig({
      model: { preset: 'resnet20-cifar', shortcut: 'sideways', preact: 'yes' },
      data: { source: 'generated', generated: { clases: 2 }, split: 'train[:x]' },
      augment: ['flip', { brightnes: 0.2 }],
      epochs: 0,
      seed: true,
      optimizer: { momentun: 0.9 },
      bogus: 1,
    });
    assert.equal(plan, undefined);
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    assert.match(byPath['model.preact']!, /received "yes"/);
    assert.match(byPath['model.shortcut']!, /expected .*"projection".*received "sideways"/);
    assert.match(byPath['data.generated.clases']!, /did you mean "classes"/);
    assert.match(byPath['data.split']!, /received/);
    assert.match(byPath['augment.1']!, /brightnes|brightness/);
    assert.match(byPath.epochs!, /expected number >= 1, received number 0/);
    assert.match(byPath.seed!, /expected number, received boolean true/, 'seed: true is rejected, not read as 0');
    assert.match(byPath['optimizer.momentun']!, /did you mean "momentum"/);
    assert.match(byPath.bogus!, /unknown key "bogus"/);
    assert.throws(() => resolveRunPlan({ model: 'resnet20-cifar', data: { source: 'generated' }, seed: 1.5, epochs: 'x' }),
      (e: unknown) => e instanceof RunPlanError && e.problems.length === 2 && /seed: expected integer/.test(e.message));
    assert.match(inspectRunConfig({ ...SMALL, model: 'resnet20-cifr' }).problems[0]!.message, /did you mean "resnet20-cifar"/);
  });

  it('distributed: the rank count and SyncBatchNorm in the plan, checked once with path, expectation and value', () => {
    const plan = resolveRunPlan({ ...SMALL, distributed: { nprocPerNode: 2 } });
    assert.deepEqual(plan.distributed, { nprocPerNode: 2, syncBatchNorm: false });
    assert.deepEqual(resolveRunPlan(JSON.parse(JSON.stringify(plan))), plan, 'still a config');
    assert.equal(localRanksOf(plan), 2);
    assert.equal(localRanksOf(SMALL), 1);
    assert.notEqual(planHash(plan), planHash(resolveRunPlan(SMALL)), 'the rank count changes results: a resume must match it');
    assert.notEqual(planHash(resolveRunPlan({ ...SMALL, distributed: { nprocPerNode: 2, syncBatchNorm: true } })), planHash(plan));
    const byPath = (cfg: unknown) => Object.fromEntries(inspectRunConfig(cfg).problems.map((p) => [p.path, p.message]));
    assert.match(byPath({ ...SMALL, distributed: { nprocPerNode: 0 } })['distributed.nprocPerNode']!, /expected number >= 1, received number 0/);
    assert.match(byPath({ ...SMALL, distributed: { nprocPerNode: 1.5 } })['distributed.nprocPerNode']!, /expected integer/);
    assert.match(byPath({ ...SMALL, distributed: { nprocPerNode: '2' } })['distributed.nprocPerNode']!, /expected number, received "2"/);
    assert.match(byPath({ ...SMALL, distributed: { nproc: 2 } })['distributed.nproc']!, /expected one of the keys nprocPerNode, syncBatchNorm, received unknown key "nproc"/);
    assert.match(byPath({ ...SMALL, device: 'cuda:1', distributed: { nprocPerNode: 2 } }).device!, /expected "cuda" or "cpu" with distributed.nprocPerNode 2 \(rank r trains on cuda:r\), received "cuda:1"/);
    assert.deepEqual(byPath({ ...SMALL, device: 'cuda:1', distributed: { nprocPerNode: 1 } }), {});
  });

  it('train <run>/config.json reproduces the run bit for bit', async () => {
    const dir = tmpDir('ablate-plan-');
    const first = join(dir, 'first');
    await runTraining(SMALL, { runDir: first, progress: false, log: () => {} });
    const second = join(dir, 'second');
    const r = await cli(['train', join(first, 'config.json'), '--out', second]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(join(second, 'model.pth')), readFileSync(join(first, 'model.pth')));
    assert.deepEqual(historyMetrics(second), historyMetrics(first));
    assert.equal(readFileSync(join(second, 'config.json'), 'utf8'), readFileSync(join(first, 'config.json'), 'utf8'), 'the same plan, the same text');
    const plan = readRunPlan(first);
    assert.deepEqual(plan.classNames, JSON.parse(readFileSync(join(first, 'config.json'), 'utf8')).classNames);
    assert.equal(plan.precision, 'fp32');
    assert.equal(plan.threads, 1);

    // eval reads normalisation, size and classes from the run; a bare checkpoint outside a run folder must be told.
    const copy = join(dir, 'weights.pth');
    await import('node:fs').then((fs) => fs.copyFileSync(join(first, 'model.pth'), copy));
    const bare = await cli(['eval', '--checkpoint', copy, '--model', 'resnet20-cifar', '--data', 'generated']);
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, /is not in a run folder, so its settings are unknown; pass --normalize imagenet\|unit/);
    const inRun = await cli(['eval', '--checkpoint', join(first, 'checkpoints', 'best.pth'), '--json']);
    assert.equal(inRun.code, 0, inRun.stderr);
    const j = JSON.parse(inRun.stdout);
    assert.equal(j.normalization, 'unit');
    assert.equal(j.n, 16, 'the run\'s validation split');
  });

  it('--resume without a config continues from the run folder\'s plan; an --out that is a file is a clear error', async () => {
    const dir = tmpDir('ablate-plan-');
    const run = join(dir, 'run');
    await runTraining({ ...SMALL, epochs: 1 }, { runDir: run, progress: false, log: () => {} });
    const again = await cli(['train', '--resume', '--out', run, '--epochs', '2']);
    // epochs changed: the plan differs, so the checkpoint is refused rather than silently mixed.
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /cannot resume .*planned with other settings \(epochs differ\)/);
    const same = await cli(['train', '--resume', '--out', run]);
    assert.equal(same.code, 0, same.stderr);
    const file = writeConfig(dir, SMALL, 'plain.json');
    const r = await cli(['train', file, '--out', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ablate: error: Expected a folder for the run folder but .*plain\.json is a file/m);
  });

  it('Ctrl-C before training starts: the run stops at the next stage as stopped, a study creates nothing', async () => {
    const dir = tmpDir('ablate-plan-');
    const ac = new AbortController();
    ac.abort();
    const run = join(dir, 'run');
    await assert.rejects(runTraining(SMALL, { runDir: run, progress: false, log: () => {}, signal: ac.signal }), (e: unknown) => e instanceof InterruptedError);
    assert.equal(JSON.parse(readFileSync(join(run, 'status.json'), 'utf8')).status, 'stopped');
    const study = join(dir, 'study.yaml');
    writeFileSync(study, JSON.stringify({ name: 's', base: SMALL }));
    const r = await runStudy(study, { out: join(dir, 'out'), signal: ac.signal, log: () => {} });
    assert.equal(r.interrupted, true);
    assert.equal(existsSync(join(dir, 'out')), false);
  });
});
