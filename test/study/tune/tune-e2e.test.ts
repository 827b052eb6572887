// A tuned study end to end on generated data: two arms whose best learning rates differ (plain SGD needs
// a high one, Adam a low one), each arm's main runs trained at its own best value, the report's tuning
// section; kill -9 during tuning and during the main runs, and two --worker processes, all ending with
// exactly the results of the uninterrupted study.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { historyOf, locked, runCli, spawnCli, statusOf, tmp, waitFor, writeStudy } from '../live-fixtures.js';

const ARMS = ['sgd', 'adam'];
const MAIN = ARMS.map((a) => `${a}-seed0`);
const TRIALS = ARMS.flatMap((a) => [`${a}-t0-seed0`, `${a}-t1-seed0`]);
const TIMING = new Set(['epoch_time_s', 'images_per_s', 'data_wait_fraction']);

/** A run's result: each epoch's metrics (timings aside) and the final weights' bytes. */
function result(runDir: string): { history: Record<string, unknown>[]; weights: string } {
  const history = historyOf(runDir).map((h) => Object.fromEntries(Object.entries(h).filter(([k]) => !TIMING.has(k))));
  return { history, weights: readFileSync(join(runDir, 'model.pth')).toString('base64') };
}

/** tune/tuning.json less the seconds the trials took. */
function tuning(out: string): unknown {
  return JSON.parse(readFileSync(join(out, 'tune', 'tuning.json'), 'utf8'), (k, v) => (k === 'seconds' ? undefined : v));
}

const lrOf = (runDir: string) => (JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as { optimizer: { lr: number } }).optimizer.lr;

describe('tuned study: each arm at its own best learning rate', () => {
  let root: string;
  let file: string;
  const args = (out: string, ...more: string[]) => ['study', 'run', file, '--out', join(root, out), '--threads', '2', ...more];

  before(async () => {
    root = tmp('ablate-tune-');
    file = writeStudy(root, {
      name: 'tuned',
      base: { data: { generated: { trainCount: 256, testCount: 32 } }, epochs: 2, optimizer: { name: 'sgd', lr: 0.05, momentum: null } },
      axes: { 'optimizer.name': ARMS },
      seeds: [0],
      tune: { space: { 'optimizer.lr': [0.001, 0.1] }, method: 'grid', metric: 'val_loss', valSplit: 0.25 },
    });
    const r = await runCli(args('ref'));
    assert.equal(r.code, 0, r.output);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('the arms get different best values, their main runs train at them, the report shows both curves', () => {
    const out = join(root, 'ref');
    const t = tuning(out) as { arms: { arm: string; chosen: Record<string, number>; trials: { values: Record<string, number>; metric: number }[] }[] };
    const chosen: Record<string, number | undefined> = Object.fromEntries(t.arms.map((a) => [a.arm, a.chosen['optimizer.lr']]));
    // The construction: plain SGD barely moves at 0.001 in 32 steps; Adam at 0.1 overshoots.
    assert.deepEqual({ ...chosen }, { sgd: 0.1, adam: 0.001 }, JSON.stringify(t.arms));
    for (const a of t.arms) {
      const best = Math.min(...a.trials.map((x) => x.metric));
      assert.equal(a.trials.find((x) => x.metric === best)!.values['optimizer.lr'], chosen[a.arm], `${a.arm}: the chosen value is the trial with the lowest val_loss`);
    }
    for (const arm of ARMS) assert.equal(lrOf(join(out, `${arm}-seed0`)), chosen[arm], `${arm}'s main run trains at its own best lr`);
    // The trials validate on the carved end of the training split, never on the study's test split.
    for (const n of TRIALS) {
      const cfg = JSON.parse(readFileSync(join(out, 'tune', n, 'config.json'), 'utf8')) as { data: { split: string } ; valData?: { split: string } };
      assert.equal(cfg.data.split, 'train[:75%]', n);
      assert.equal(cfg.valData?.split, 'train[75%:]', `${n}: ${JSON.stringify(cfg)}`);
      assert.equal(statusOf(join(out, 'tune', n)).status, 'ok', n);
    }
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /Each arm was compared at its own tuned settings: optimizer\.lr chosen per arm by the same grid search/);
    assert.match(md, /## Tuning[\s\S]*\| sgd \| 0\.1 ⚠ \|[\s\S]*\| adam \| 0\.001 ⚠ \|/);
    assert.match(md, /\*\*Warning:\*\* sgd: the best optimizer\.lr \(0\.1\) is the highest value searched — widen the range/);
    assert.match(md, /trials train on 'train\[:75%\]' and validate on 'train\[75%:\]'/);
    const svg = readFileSync(join(out, 'plots', 'tuning-1.svg'), 'utf8');
    for (const arm of ARMS) assert.match(svg, new RegExp(`>${arm}<`), `the tuning curve's legend names ${arm}`);
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<h2>Tuning<\/h2>[\s\S]*Tuning curve: tuning val loss against optimizer\.lr/);
    // The verdicts are on the main runs: the report's runs are the main runs only.
    assert.match(md, /2 runs: 2 ok/);
  });

  test('kill -9 during tuning, then during the main runs: the same command finishes identically', { timeout: 600_000 }, async () => {
    const out = join(root, 'killed');
    const first = spawnCli(args('killed'));
    await waitFor('a tuning trial to finish an epoch', () => TRIALS.some((n) => historyOf(join(out, 'tune', n)).length >= 1), first, 300_000);
    first.child.kill('SIGKILL');
    await first.done;
    await waitFor('the orphaned trial to let go', () => TRIALS.every((n) => !locked(join(out, 'tune', n))), undefined, 60_000);
    assert.equal(existsSync(join(out, 'tune', 'tuning.json')), false, 'killed before the tuning stage ended');
    const second = spawnCli(args('killed'));
    await waitFor('a main run to finish an epoch', () => MAIN.some((n) => historyOf(join(out, n)).length >= 1), second, 300_000);
    second.child.kill('SIGKILL');
    await second.done;
    await waitFor('the orphaned main run to let go', () => MAIN.every((n) => !locked(join(out, n))), undefined, 60_000);
    const last = await runCli(args('killed'));
    assert.equal(last.code, 0, last.output);
    assert.deepEqual(tuning(out), tuning(join(root, 'ref')), 'the same trials, metrics and choices');
    for (const n of TRIALS) assert.deepEqual(result(join(out, 'tune', n)).history, result(join(root, 'ref', 'tune', n)).history, n);
    for (const n of MAIN) assert.deepEqual(result(join(out, n)), result(join(root, 'ref', n)), `${n}: identical to the uninterrupted study`);
  });

  test('two --worker processes share the tuning stage and the main runs, each run done once', { timeout: 600_000 }, async () => {
    const out = join(root, 'coop');
    const a = spawnCli(args('coop', '--worker'));
    const b = spawnCli(args('coop', '--worker'));
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.equal(ra.code, 0, ra.output);
    assert.equal(rb.code, 0, rb.output);
    const finished = (name: string) => [ra.output, rb.output].join('\n').split('\n').filter((l) => new RegExp(`\\b${name}: ok —`).test(l)).length;
    for (const n of [...TRIALS, ...MAIN]) assert.equal(finished(n), 1, `${n} trained by exactly one worker`);
    assert.ok(TRIALS.some((n) => new RegExp(`\\b${n}: ok`).test(ra.output)) && TRIALS.some((n) => new RegExp(`\\b${n}: ok`).test(rb.output)), 'both workers trained trials');
    for (const n of TRIALS) {
      assert.equal(historyOf(join(out, 'tune', n)).length, 2, `${n}: one history line per epoch`);
      assert.deepEqual(result(join(out, 'tune', n)).history, result(join(root, 'ref', 'tune', n)).history, n);
    }
    for (const n of MAIN) assert.deepEqual(result(join(out, n)), result(join(root, 'ref', n)), n);
    assert.deepEqual(tuning(out), tuning(join(root, 'ref')));
    assert.ok(existsSync(join(out, 'report.md')));
    assert.deepEqual(readdirSync(join(out, 'tune')).filter((f) => f.endsWith('claim.json')), []);
  });

  test('--shard 0/2 and 1/2 each train their share of the trials, wait for each other, then their share of the main runs', { timeout: 600_000 }, async () => {
    const out = join(root, 'shards');
    const [ra, rb] = await Promise.all([runCli(args('shards', '--shard', '0/2')), runCli(args('shards', '--shard', '1/2'))]);
    assert.equal(ra.code, 0, ra.output);
    assert.equal(rb.code, 0, rb.output);
    const finished = (name: string) => [ra.output, rb.output].join('\n').split('\n').filter((l) => new RegExp(`\\b${name}: ok —`).test(l)).length;
    for (const n of [...TRIALS, ...MAIN]) assert.equal(finished(n), 1, `${n} trained by exactly one shard`);
    for (const n of MAIN) assert.deepEqual(result(join(out, n)), result(join(root, 'ref', n)), n);
    assert.deepEqual(tuning(out), tuning(join(root, 'ref')));
  });
});
