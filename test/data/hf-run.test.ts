// A training run on `source: hf` through the real run path, and the CLI's `--data hf:`, `data get` and `data list`.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataset } from '../../src/data/index.js';
import { runTraining } from '../../src/train/run.js';
import { preflightData } from '../../src/study/preflight-data.js';
import { CLI_MAIN, spawnTs } from '../train/run-helpers.js';
import { foodFixture, startHub, type HubServer } from './hf-fixture.js';

const C1 = '1'.repeat(40);
let hub: HubServer;
let root: string;
const saved = { ...process.env };

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ablate-hf-run-'));
  const fx = await foodFixture({ train: 24, validation: 9 });
  hub = await startHub({ commits: new Map([[C1, fx.files]]), refs: new Map([['main', C1]]) });
  process.env.HF_ENDPOINT = hub.base;
  process.env.HF_HOME = join(root, 'hf');
  process.env.ABLATE_CACHE_DIR = join(root, 'images');
  for (const k of ['HF_TOKEN', 'HF_HUB_OFFLINE', 'HF_HUB_CACHE', 'HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) delete process.env[k];
});
after(async () => {
  process.env = saved;
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});

const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

describe('training on a Hub dataset', () => {
  test('runTraining on source hf: trains, validates, and pins main to the commit in config.json and status.json', async () => {
    const runDir = join(root, 'run');
    const cfg = {
      model: 'resnet20-cifar',
      data: { source: 'hf', name: 'tiny/food', split: 'train', valSplit: 'validation', imageSize: 16 },
      epochs: 1, batchSize: 8, precision: 'fp32', threads: 1, seed: 3,
      optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 },
    };
    await runTraining(cfg, { runDir, progress: false, log: () => undefined });
    const plan = readJson(join(runDir, 'config.json'));
    assert.equal(plan.data.source, 'hf');
    assert.equal(plan.data.revision, C1, 'the branch is recorded as the commit read');
    assert.deepEqual(plan.classNames, ['apple_pie', 'baby_back_ribs', 'baklava']);
    const status = readJson(join(runDir, 'status.json'));
    assert.equal(status.status, 'ok');
    assert.equal(status.dataset.revision, C1);
    assert.equal(status.dataset.trainCount, 24);
    assert.equal(status.dataset.valCount, 9);
  });

  test('a study pins a Hub branch once, before any run: every run of it reads the commit checked then', async () => {
    const data = () => ({ source: 'hf', name: 'tiny/food', split: 'train', valSplit: 'validation', imageSize: 16 });
    const runs = ['a', 'b'].map((name) => ({ name, config: { model: 'resnet20-cifar', epochs: 1, data: data() } as Record<string, unknown> }));
    runs.push({ name: 'other', config: { model: 'resnet20-cifar', epochs: 1, data: { ...data(), name: 'tiny/nosuch' } } });
    await assert.rejects(preflightData(runs, { log: () => undefined, progress: false }), /training data of other \(hf:tiny\/nosuch, split 'train'\): The Hub at .* has no dataset tiny\/nosuch at revision 'main'/);
    runs.pop();
    assert.equal(await preflightData(runs, { log: () => undefined, progress: false }), 2, 'train and validation of one dataset');
    assert.deepEqual(runs.map((r) => (r.config.data as { revision?: string }).revision), [C1, C1]);
  });

  test('ablate data get hf:… fetches into HF_HOME and prints the snapshot; data list shows it; --data hf: trains', async () => {
    const env = { HF_HOME: join(root, 'cli-hf'), HF_ENDPOINT: hub.base };
    const get = spawnTs(CLI_MAIN, ['data', 'get', 'hf:tiny/food', '--split', 'validation'], { env });
    const g = await get.exit;
    assert.equal(g.code, 0, get.stderr());
    const snapshot = join(root, 'cli-hf', 'hub', 'datasets--tiny--food', 'snapshots', C1);
    assert.deepEqual(get.stdoutLines.filter((l) => l), [snapshot]);
    assert.match(get.stderr(), new RegExp(`tiny/food@main = commit ${C1} \\(config default\\): validation 9 images`));
    assert.ok(existsSync(join(snapshot, 'data', 'validation-00000-of-00001.parquet')));

    const list = spawnTs(CLI_MAIN, ['data', 'list'], { env });
    assert.equal((await list.exit).code, 0, list.stderr());
    assert.match(list.stdoutLines.join('\n'), new RegExp(`hf:tiny/food\\s+[\\d.]+ kB\\s+1 snapshot\\s+main=${C1.slice(0, 12)}`));

    const bad = spawnTs(CLI_MAIN, ['data', 'get', 'hf:tiny/food', '--split', 'nosuch'], { env });
    assert.equal((await bad.exit).code, 1);
    assert.match(bad.stderr(), /Expected split 'nosuch' in tiny\/food@111111111111 \(config 'default'\) but it has 'train', 'validation'/);

    // Any source to WebDataset: the Hub split, sample for sample.
    const shards = join(root, 'cli-shards');
    const shard = spawnTs(CLI_MAIN, ['data', 'shard', 'hf:tiny/food', '--out', shards, '--split', 'validation', '--samples-per-shard', '4'], { env: { ...env, HF_HUB_OFFLINE: '1' } });
    assert.equal((await shard.exit).code, 0, shard.stderr());
    assert.deepEqual(shard.stdoutLines.filter((l) => l), [`${shards}/validation-{000000..000002}.tar`]);
    const saved = process.env.HF_HOME;
    process.env.HF_HOME = env.HF_HOME;
    const [a, b] = [await openDataset({ source: 'hf', name: 'tiny/food', split: 'validation', revision: C1 }), await openDataset({ source: 'webdataset', path: shards, split: 'validation' })];
    process.env.HF_HOME = saved;
    try {
      assert.deepEqual([...b.labels()], [...a.labels()]);
      assert.deepEqual(b.classNames, a.classNames);
      for (let i = 0; i < a.length; i++) {
        const [x, y] = [await a.read(i), await b.read(i)];
        assert.ok(x.kind === 'encoded' && y.kind === 'encoded' && Buffer.compare(Buffer.from(x.bytes), Buffer.from(y.bytes)) === 0, `sample ${i}`);
      }
    } finally {
      await a.close();
      await b.close();
    }

    const runDir = join(root, 'cli-run');
    const train = spawnTs(CLI_MAIN, ['train', '--data', 'hf:tiny/food', '--model', 'resnet20-cifar', '--epochs', '1', '--batch-size', '8',
      '--threads', '1', '--out', runDir, '--set', 'data.valSplit=validation', 'data.imageSize=16'], { env: { ...env, HF_HUB_OFFLINE: '0' } });
    const t = await train.exit;
    assert.equal(t.code, 0, train.stderr());
    assert.equal(readJson(join(runDir, 'config.json')).data.revision, C1);
  });
});
