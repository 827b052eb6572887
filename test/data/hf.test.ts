import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { openDataset, parseDataSpec, type Dataset } from '../../src/data/index.js';
import { listHubCache } from '../../src/data/hf/hub.js';
import { splitFiles } from '../../src/data/hf/source.js';
import { parseCard } from '../../src/data/hf/card.js';
import { CLASSES, COLOURS, foodFixture, parquetShard, sha256, startHub, type Fixture, type HubServer } from './hf-fixture.js';

const ID = 'tiny/food';
const C1 = 'a'.repeat(40);
const C2 = 'b'.repeat(40);
let fx: Fixture;
let hub: HubServer;
let root: string;
const saved = { ...process.env };

/** A fresh HF_HOME per test: what one test fetched must not help the next. */
function freshHome(): string {
  const home = mkdtempSync(join(root, 'hf-'));
  process.env.HF_HOME = home;
  return home;
}
const repo = (home: string) => join(home, 'hub', 'datasets--tiny--food');

async function open(spec: Record<string, unknown>): Promise<Dataset> {
  return openDataset({ source: 'hf', name: ID, ...spec }, { log: () => undefined, progress: false });
}

async function pixel(ds: Dataset, i: number): Promise<number[]> {
  const item = await ds.read(i);
  assert.equal(item.kind, 'encoded');
  const { data } = await sharp(item.kind === 'encoded' ? item.bytes : Buffer.alloc(0)).raw().toBuffer({ resolveWithObject: true });
  return [data[0]!, data[1]!, data[2]!];
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ablate-hf-'));
  fx = await foodFixture();
  hub = await startHub({ commits: new Map([[C1, fx.files]]), refs: new Map([['main', C1]]) });
  process.env.HF_ENDPOINT = hub.base;
  process.env.ABLATE_FETCH_RETRIES = '3';
  for (const k of ['HF_TOKEN', 'HF_HUB_OFFLINE', 'HF_HUB_CACHE', 'HF_TOKEN_PATH', 'HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) delete process.env[k];
});
after(async () => {
  process.env = saved;
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});
beforeEach(() => {
  hub.requests.length = 0;
  hub.state.token = undefined;
  hub.state.cut = undefined;
  hub.state.corrupt = undefined;
  hub.state.refs.set('main', C1);
  delete process.env.HF_HUB_OFFLINE;
  delete process.env.HF_TOKEN;
});

describe('source hf: Parquet datasets from the Hugging Face Hub', () => {
  test('the spec needs a dataset id, takes Hub fields only with source hf', () => {
    assert.throws(() => parseDataSpec({ source: 'hf' }), /data\.name: expected a Hub dataset id/);
    assert.throws(() => parseDataSpec({ source: 'hf', name: '../etc/passwd' }), /data\.name: Expected a Hugging Face dataset id/);
    assert.throws(() => parseDataSpec({ source: 'hf', name: 'a/b', path: '/x' }), /data\.path: not used by source hf/);
    assert.throws(() => parseDataSpec({ path: '/x', name: 'a/b' }), /data\.name: only valid with source 'hf'/);
    assert.equal(parseDataSpec({ source: 'hf', name: 'ethz/food101', split: 'train[:80%]' }).name, 'ethz/food101');
  });

  test('split files: the Hub\'s parquet conversion layout, card globs with **, and refused configs', () => {
    const files = ['plain/train/0000.parquet', 'plain/train/0001.parquet', 'plain/partial-test/0000.parquet', 'fancy/train/0000.parquet', 'README.md'].map((path) => ({ path }));
    const names = (m: Map<string, { path: string }[]>) => Object.fromEntries([...m].map(([k, v]) => [k, v.map((f) => f.path)]));
    const noCard = parseCard('no front matter');
    assert.deepEqual(names(splitFiles(files, noCard, 'plain').splits), { test: ['plain/partial-test/0000.parquet'], train: ['plain/train/0000.parquet', 'plain/train/0001.parquet'] });
    assert.deepEqual(names(splitFiles(files, noCard, 'fancy').splits), { train: ['fancy/train/0000.parquet'] });
    assert.throws(() => splitFiles(files, noCard, 'nope'), /Expected Parquet files under 'nope\/' .* configs present: fancy, plain/);
    assert.throws(() => splitFiles(files, noCard, undefined), /Expected data\.config to name one of the dataset's configs \(fancy, plain\) but received none/);
    const card = parseCard('---\nconfigs:\n- config_name: all\n  default: true\n  data_files:\n  - split: train\n    path: "**/train/*.parquet"\n---\n');
    assert.deepEqual(names(splitFiles(files, card, undefined).splits), { train: ['fancy/train/0000.parquet', 'plain/train/0000.parquet', 'plain/train/0001.parquet'] });
    assert.deepEqual(parseCard('---\n: [broken\n---\n'), { features: new Map(), configs: [] }, 'broken YAML says nothing');
  });

  test('fetches the split\'s shards into the Hub cache layout and reads every image and label in dataset order', async () => {
    const home = freshHome();
    const ds = await open({ split: 'train' });
    try {
      assert.deepEqual(ds.classNames, CLASSES);
      assert.equal(ds.length, fx.rows.train!.length);
      assert.deepEqual([...ds.labels()], fx.rows.train!.map((r) => r.label));
      for (let i = 0; i < ds.length; i++) {
        const item = await ds.read(i);
        assert.ok(item.kind === 'encoded' && Buffer.compare(Buffer.from(item.bytes), fx.rows.train![i]!.bytes) === 0, `image ${i} is the one written`);
      }
      const px = await pixel(ds, 3);
      const want = COLOURS[fx.rows.train![3]!.label]!;
      assert.ok(Math.abs(px[1]! - want[1]) < 6 && Math.abs(px[2]! - want[2]) < 6, `decoded colour ${px} is class ${want}`);
      assert.match(ds.description, new RegExp(`hf:tiny/food@${C1.slice(0, 12)}`));
      assert.equal(ds.itemName(7), 'data/train-00001-of-00002.parquet#1');
    } finally {
      await ds.close();
    }
    // huggingface_hub's layout: refs/main holds the commit; snapshot entries are relative links to blobs named by SHA-256.
    assert.equal(readFileSync(join(repo(home), 'refs', 'main'), 'utf8'), C1);
    const link = join(repo(home), 'snapshots', C1, 'data', 'train-00000-of-00002.parquet');
    assert.ok(lstatSync(link).isSymbolicLink());
    const shard = fx.files.find((f) => f.path === 'data/train-00000-of-00002.parquet')!;
    assert.equal(readlinkSync(link), `../../../blobs/${sha256(shard.body)}`);
    assert.ok(lstatSync(join(repo(home), 'snapshots', C1, 'README.md')).isSymbolicLink());
    // Only what the split needs: validation was not fetched.
    assert.equal(existsSync(join(repo(home), 'snapshots', C1, 'data', 'validation-00000-of-00001.parquet')), false);
    assert.deepEqual(readdirSync(join(repo(home), 'blobs')).filter((n) => n.endsWith('.part') || n.endsWith('.lock')), []);
    assert.deepEqual(listHubCache().map((d) => [d.id, d.refs.main, d.snapshots]), [['tiny/food', C1, [C1]]]);
  });

  test('a renamed dataset (food → tiny/food) is followed through the Hub\'s redirect', async () => {
    const home = freshHome();
    hub.state.renamed = new Map([['food', 'tiny/food']]);
    try {
      const ds = await openDataset({ source: 'hf', name: 'food', split: 'validation' }, { log: () => undefined, progress: false });
      assert.deepEqual([...ds.labels()], fx.rows.validation!.map((r) => r.label));
      await ds.close();
      assert.ok(hub.requests.some((r) => r.path === '/api/datasets/food/revision/main'));
      assert.equal(readFileSync(join(home, 'hub', 'datasets--food', 'refs', 'main'), 'utf8'), C1, 'cached under the name asked for, as huggingface_hub does');
    } finally {
      hub.state.renamed = undefined;
    }
  });

  test('slices and unions work as for TFDS names', async () => {
    freshHome();
    const ds = await open({ split: 'train[:50%]+validation[-2:]' });
    try {
      assert.equal(ds.length, 6 + 2);
      assert.deepEqual([...ds.labels()], [...fx.rows.train!.slice(0, 6), ...fx.rows.validation!.slice(4)].map((r) => r.label));
    } finally {
      await ds.close();
    }
  });

  test('a branch is resolved to its commit once; a pinned commit reads the same bytes after main moves, with no request', async () => {
    freshHome();
    const first = await open({ split: 'validation' });
    const labels = [...first.labels()];
    await first.close();
    // main moves to a commit whose validation split differs.
    const other = await foodFixture({ train: 4, validation: 3 });
    hub.state.commits.set(C2, other.files);
    hub.state.refs.set('main', C2);
    hub.requests.length = 0;
    const pinned = await open({ split: 'validation', revision: C1 });
    try {
      assert.deepEqual([...pinned.labels()], labels);
      assert.deepEqual(hub.requests, [], 'a commit already in the cache needs no request');
      await pinned.close();
      const moved = await open({ split: 'validation', revision: 'main' });
      assert.deepEqual([...moved.labels()], other.rows.validation!.map((r) => r.label));
      assert.match(moved.description, new RegExp(`@${C2.slice(0, 12)}`));
      assert.equal(readFileSync(join(repo(process.env.HF_HOME!), 'refs', 'main'), 'utf8'), C2);
      await moved.close();
    } finally {
      hub.state.commits.delete(C2);
    }
  });

  test('a cut connection resumes with a Range request and ends with the right bytes', async () => {
    const home = freshHome();
    const shard = fx.files.find((f) => f.path === 'data/validation-00000-of-00001.parquet')!;
    hub.state.cut = new Map([[`/cdn/${sha256(shard.body)}`, Math.floor(shard.body.length / 2)]]);
    const ds = await openDataset({ source: 'hf', name: ID, split: 'validation' }, { log: () => undefined, progress: false });
    await ds.close();
    const ranged = hub.requests.filter((r) => r.path.startsWith('/cdn/') && r.range);
    assert.equal(ranged.length, 1, JSON.stringify(hub.requests));
    assert.equal(ranged[0]!.range, `bytes=${Math.floor(shard.body.length / 2)}-`);
    assert.equal(sha256(readFileSync(join(repo(home), 'blobs', sha256(shard.body)))), sha256(shard.body));
  });

  test('a download in progress is blobs/<etag>.incomplete, as huggingface_hub names it, and one Python left off is resumed', async () => {
    const home = freshHome();
    const shard = fx.files.find((f) => f.path === 'data/validation-00000-of-00001.parquet')!;
    const etag = sha256(shard.body);
    const half = Math.floor(shard.body.length / 2);
    // A cut with no retries left: the bytes so far stay under huggingface_hub's name, nothing under ablate's own.
    hub.state.cut = new Map([[`/cdn/${etag}`, half]]);
    process.env.ABLATE_FETCH_RETRIES = '0';
    try {
      await assert.rejects(open({ split: 'validation' }));
    } finally {
      process.env.ABLATE_FETCH_RETRIES = '3';
    }
    const blobs = join(repo(home), 'blobs');
    assert.deepEqual(readdirSync(blobs).filter((n) => n.startsWith(etag)), [`${etag}.incomplete`]);
    assert.equal(readFileSync(join(blobs, `${etag}.incomplete`)).length, half);
    // What Python's hf_hub_download leaves when killed: a third of the blob under the same name.
    const third = Math.floor(shard.body.length / 3);
    writeFileSync(join(blobs, `${etag}.incomplete`), shard.body.subarray(0, third));
    hub.requests.length = 0;
    const ds = await open({ split: 'validation' });
    await ds.close();
    const ranged = hub.requests.filter((r) => r.path === `/cdn/${etag}`);
    assert.deepEqual(ranged.map((r) => r.range), [`bytes=${third}-`], 'resumed from the partial file, not fetched again');
    assert.deepEqual(readFileSync(join(blobs, etag)), shard.body);
    assert.deepEqual(readdirSync(blobs).filter((n) => n.startsWith(etag)), [etag], 'no .incomplete, .part or lock left in blobs/');
  });

  test('a gated dataset without a token fails naming HF_TOKEN; with HF_TOKEN every Hub request carries it', async () => {
    freshHome();
    hub.state.token = 'hf_secret';
    await assert.rejects(open({ split: 'validation' }), (e: Error) => {
      assert.match(e.message, /refused tiny\/food \(HTTP 401\) without a token/);
      assert.match(e.message, /set HF_TOKEN/);
      return true;
    });
    process.env.HF_TOKEN = 'hf_wrong';
    await assert.rejects(open({ split: 'validation' }), /with the token in HF_TOKEN: .* this token has no access/);
    process.env.HF_TOKEN = 'hf_secret';
    hub.requests.length = 0;
    const ds = await open({ split: 'validation' });
    await ds.close();
    assert.ok(hub.requests.length >= 3);
    assert.ok(hub.requests.every((r) => r.auth === 'Bearer hf_secret'));
  });

  test('wrong bytes (same size, or another size) are refused and nothing is left to trust', async () => {
    const home = freshHome();
    const shard = fx.files.find((f) => f.path === 'data/validation-00000-of-00001.parquet')!;
    const bad = Buffer.from(shard.body);
    bad[100] ^= 0xff;
    hub.state.corrupt = new Map([[shard.path, bad]]);
    await assert.rejects(open({ split: 'validation' }), /SHA-256 is [0-9a-f]{64}, but expected SHA-256 [0-9a-f]{64}; the download was deleted/);
    const blobs = readdirSync(join(repo(home), 'blobs'));
    assert.ok(!blobs.some((n) => n.startsWith(sha256(shard.body))), `no blob or partial file: ${blobs}`);
    assert.equal(existsSync(join(repo(home), 'snapshots', C1, shard.path)), false);

    hub.state.corrupt = new Map([[shard.path, Buffer.concat([shard.body, Buffer.from('extra')])]]);
    await assert.rejects(open({ split: 'validation' }), /the server offers \d+ bytes but .* has \d+: it is not the expected file/);
    assert.equal(existsSync(join(repo(home), 'snapshots', C1, shard.path)), false);
    // The card is not in LFS: its git blob id is checked instead.
    const card = fx.files.find((f) => f.path === 'README.md')!;
    hub.state.corrupt = new Map([[card.path, Buffer.from(card.body.toString().replace('baklava', 'BAKLAVA'))]]);
    rmSync(repo(home), { recursive: true, force: true });
    await assert.rejects(open({ split: 'validation' }), /Received README\.md of tiny\/food whose git blob id is [0-9a-f]{40}, but the Hub lists [0-9a-f]{40}; the download was deleted/);
    assert.equal(existsSync(join(repo(home), 'snapshots', C1, 'README.md')), false);
    assert.deepEqual(readdirSync(join(repo(home), 'blobs')), []);
    // The good server afterwards: fetched cleanly.
    hub.state.corrupt = undefined;
    const ds = await open({ split: 'validation' });
    assert.equal(ds.length, fx.rows.validation!.length);
    await ds.close();
  });

  test('HF_HUB_OFFLINE=1 reads only the cache, and says what to do when the dataset is not there', async () => {
    freshHome();
    const online = await open({ split: 'train' });
    const labels = [...online.labels()];
    await online.close();
    process.env.HF_HUB_OFFLINE = '1';
    hub.requests.length = 0;
    const offline = await open({ split: 'train' });
    assert.deepEqual([...offline.labels()], labels);
    await offline.close();
    assert.deepEqual(hub.requests, []);
    // validation was never fetched: offline cannot get it.
    await assert.rejects(open({ split: 'validation' }), /HF_HUB_OFFLINE is set and split 'validation' of tiny\/food@main is not in the Hub cache \(the snapshot holds train\)/);
    freshHome();
    await assert.rejects(open({ split: 'train' }), (e: Error) => {
      assert.match(e.message, /HF_HUB_OFFLINE is set and tiny\/food@main is not in the Hub cache \(.*datasets--tiny--food has no refs\/main with a snapshot\)/);
      assert.match(e.message, /ablate data get hf:tiny\/food/);
      return true;
    });
    assert.deepEqual(hub.requests, []);
  });

  test('a cache written by hand in huggingface_hub\'s layout is used without any request', async () => {
    const home = freshHome();
    const r = repo(home);
    for (const f of fx.files) {
      const blob = f.lfs ? sha256(f.body) : `git-${f.path.replace(/\W/g, '')}`;
      mkdirSync(join(r, 'blobs'), { recursive: true });
      writeFileSync(join(r, 'blobs', blob), f.body);
      const link = join(r, 'snapshots', C1, f.path);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(`${'../'.repeat(f.path.split('/').length + 1)}blobs/${blob}`, link);
    }
    mkdirSync(join(r, 'refs'), { recursive: true });
    writeFileSync(join(r, 'refs', 'main'), C1);
    const ds = await open({ split: 'validation', revision: C1 });
    try {
      assert.deepEqual([...ds.labels()], fx.rows.validation!.map((x) => x.label));
      assert.deepEqual(ds.classNames, CLASSES);
    } finally {
      await ds.close();
    }
    assert.deepEqual(hub.requests, []);
  });

  test('without a card, features come from the Parquet metadata; columns can be named; missing shards and bad files are refused', async () => {
    const home = freshHome();
    const rows = fx.rows.validation!;
    const C3 = 'c'.repeat(40);
    hub.state.commits.set(C3, [
      { path: 'data/train-00000-of-00001.parquet', body: parquetShard(rows, { labelName: 'fine' }), lfs: true },
      { path: 'other/test-00000-of-00002.parquet', body: parquetShard(rows, { embedFeatures: false }), lfs: true },
    ]);
    try {
      const ds = await open({ split: 'train', revision: C3 });
      assert.deepEqual(ds.classNames, CLASSES, 'ClassLabel names from the embedded huggingface metadata');
      assert.deepEqual([...ds.labels()], rows.map((x) => x.label));
      await ds.close();
      await assert.rejects(open({ split: 'test', revision: C3 }), /Expected all 2 shards of split 'test' but 1 are missing/);
      await assert.rejects(open({ split: 'train', revision: C3, labelColumn: 'nope' }), /Expected a label column 'nope' .* its columns are image, fine; name it with data\.labelColumn/);
      await assert.rejects(open({ split: 'nosuch', revision: C3 }), /Expected split 'nosuch' in tiny\/food@cccccccccccc .* but it has 'train', 'test'/);
      await assert.rejects(open({ split: 'train', revision: C1, config: 'x' }), /Expected data\.config to be one of 'default' .* but received 'x'/);
      const C4 = 'd'.repeat(40);
      hub.state.commits.set(C4, [{ path: 'data/train.parquet', body: Buffer.from('PAR1 not really a parquet file, 1234PAR1'), lfs: true }]);
      await assert.rejects(open({ split: 'train', revision: C4 }), /Expected a Parquet file at .*data\/train\.parquet but its footer claims \d+ bytes/);
      assert.ok(existsSync(home));
    } finally {
      hub.state.commits.delete(C3);
    }
  });
});
