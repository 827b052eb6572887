import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureDataset, openDataset, parseDataSpec, knownDatasets, cachedState, findDataset } from '../../../src/data/index.js';
import { startServer, type TestServer } from './server.js';
import { catsVsDogsZip, cifar10TarGz, entryFor, stanfordDogsTars } from './fixtures.js';

const CLI = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
let server: TestServer;
let root: string;
const saved = { ...process.env };
const logs: string[] = [];
const quiet = { log: (l: string) => logs.push(l), progress: false as const };

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ablate-cat-'));
  const cats = await catsVsDogsZip();
  const cifar = await cifar10TarGz();
  const dogs = await stanfordDogsTars();
  server = await startServer(Object.fromEntries([cats, cifar, ...dogs].map((f) => [`/${f.name}`, { body: f.body }])));
  const catalogue = {
    datasets: {
      cats_vs_dogs: entryFor([cats], { source: 'cats_vs_dogs', title: 'fixture cats', open: 'file', homepage: 'https://example.org/cats' }),
      cifar10: entryFor([cifar], { source: 'cifar10', title: 'fixture cifar', open: 'extract', extracted: 'cifar-10-batches-bin' }),
      stanford_dogs: entryFor(dogs, { source: 'stanford_dogs', title: 'fixture dogs', open: 'folder' }),
      cifar100: { source: 'cifar100', open: 'extract', extracted: 'cifar-100-binary', files: [{ name: 'cifar-100-binary.tar.gz', url: 'https://official.invalid/cifar-100-binary.tar.gz' }] },
    },
  };
  writeFileSync(join(root, 'catalogue.json'), JSON.stringify(catalogue));
  // The data layer reads these, as a user's shell would set them.
  process.env.ABLATE_CATALOGUE = join(root, 'catalogue.json');
  process.env.ABLATE_DATA_DIR = join(root, 'data');
  process.env.ABLATE_MIRROR = server.base;
  delete process.env.HTTP_PROXY;
  delete process.env.HTTPS_PROXY;
  delete process.env.http_proxy;
  delete process.env.https_proxy;
});
after(async () => {
  process.env = saved;
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('datasets by name', () => {
  test('the built-in catalogue has an official URL, a size and a SHA-256 for every file', () => {
    const builtIn = knownDatasets({});
    assert.deepEqual(builtIn.map((e) => e.name), ['cats_vs_dogs', 'stanford_dogs', 'cifar10', 'cifar100']);
    for (const e of builtIn) for (const f of e.files) {
      assert.match(f.url, /^https?:\/\/(download\.microsoft\.com|vision\.stanford\.edu|www\.cs\.toronto\.edu)\//);
      assert.match(f.sha256 ?? '', /^[0-9a-f]{64}$/);
      assert.ok((f.size ?? 0) > 400_000, `${f.name} has a size`);
      assert.ok(f.url.endsWith('/' + f.name));
    }
  });

  test('a data spec may name a fetchable source without a path; others still need one', () => {
    assert.equal(parseDataSpec({ source: 'cifar10' }).path, undefined);
    assert.throws(() => parseDataSpec({ source: 'image-folder' }), /expected a path for source image-folder \(or a source ablate can fetch by name: cats_vs_dogs, stanford_dogs, cifar10, cifar100\)/);
  });

  test('cats_vs_dogs without a path: fetched from the mirror into the data cache, read in place, fetched once', async () => {
    const ds = await openDataset({ source: 'cats_vs_dogs' }, quiet);
    try {
      assert.equal(ds.length, 6);
      assert.deepEqual(ds.classNames, ['cat', 'dog']);
    } finally {
      await ds.close();
    }
    const dir = join(root, 'data', 'cats_vs_dogs');
    assert.deepEqual(readdirSync(dir).filter((n) => !n.startsWith('.')), ['kagglecatsanddogs_5340.zip'], 'the zip is read in place, not extracted');
    assert.ok(logs.some((l) => l.startsWith(`cats_vs_dogs is not in the data cache yet: fetching kagglecatsanddogs_5340.zip (`) && l.endsWith(`) from ${server.base} into ${dir}`)), logs.join('\n'));
    const before = server.requests.length;
    const again = await openDataset({ source: 'cats_vs_dogs', split: 'train[:50%]' }, quiet);
    await again.close();
    assert.equal(server.requests.length, before, 'a verified file is not fetched again');
    assert.deepEqual(cachedState(findDataset('cats_vs_dogs')!).map((s) => s.state), ['verified']);
  });

  test('cifar10: the .tar.gz is unpacked once into the cache', async () => {
    const r = await ensureDataset('cifar10', quiet);
    assert.equal(r.path, join(root, 'data', 'cifar10'));
    assert.ok(existsSync(join(r.path, 'cifar-10-batches-bin', 'data_batch_5.bin')));
    const ds = await openDataset({ source: 'cifar10', split: 'test' }, quiet);
    assert.equal(ds.length, 1);
    await ds.close();
    const n = logs.filter((l) => /unpacking cifar-10-binary\.tar\.gz/.test(l)).length;
    await ensureDataset('cifar10', quiet);
    assert.equal(logs.filter((l) => /unpacking/.test(l)).length, n, 'not unpacked twice');
    assert.deepEqual(readdirSync(r.path).filter((f) => f.startsWith('.extract-')), [], 'no work folder left');
  });

  test('stanford_dogs: images, annotations and lists fetched; images.tar read in place through its index', async () => {
    const ds = await openDataset({ source: 'stanford_dogs', split: 'train' }, quiet);
    try {
      assert.equal(ds.length, 6);
      assert.equal(ds.classNames.length, 2);
    } finally {
      await ds.close();
    }
    assert.deepEqual(readdirSync(join(root, 'data', 'stanford_dogs')).filter((n) => !n.startsWith('.')).sort(), ['annotation.tar', 'images.tar', 'lists.tar']);
  });

  test('a catalogue file without a checksum is refused, saying where to put a hand-downloaded copy', async () => {
    await assert.rejects(ensureDataset('cifar100', quiet), (e: Error) => {
      assert.match(e.message, /No checksum is known for cifar-100-binary\.tar\.gz of cifar100, and ablate does not download files it cannot verify/);
      assert.match(e.message, /give its location with data\.path \(--data\)/);
      return true;
    });
    await assert.rejects(ensureDataset('imagenet', quiet), /Unknown dataset "imagenet"; ablate can fetch: cats_vs_dogs, stanford_dogs, cifar10, cifar100/);
  });

  test('ablate data list / data get (CLI)', () => {
    const env = { ...process.env };
    const list = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'data', 'list'], { env, encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`data cache: ${join(root, 'data')}`));
    assert.match(list.stdout, /cats_vs_dogs .* cached +fixture cats/);
    assert.match(list.stdout, /kagglecatsanddogs_5340\.zip +\d+(\.\d+)? kB +verified/);
    const get = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'data', 'get', 'cats_vs_dogs', 'nope'], { env, encoding: 'utf8' });
    assert.equal(get.status, 1);
    assert.match(get.stderr, /Unknown dataset "nope"; ablate can fetch: cats_vs_dogs/);
    const ok = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'data', 'get', 'cats_vs_dogs'], { env, encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), join(root, 'data', 'cats_vs_dogs', 'kagglecatsanddogs_5340.zip'));
    assert.match(ok.stderr, /already in the cache, verified/);
    const offline = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'data', 'get', 'stanford_dogs', '--mirror', 'http://127.0.0.1:9/'],
      { env: { ...env, ABLATE_DATA_DIR: join(root, 'other'), ABLATE_FETCH_RETRIES: '1' }, encoding: 'utf8' });
    assert.equal(offline.status, 1);
    assert.match(offline.stderr, /ablate: error: could not download http:\/\/127\.0\.0\.1:9\/images\.tar\n  to .*images\.tar: the connection was refused/);
    assert.match(offline.stderr, /\(gave up after 2 attempts\)/);
    assert.match(offline.stderr, /or download it by hand from https:\/\/official\.invalid\/images\.tar and put it at .*other\/stanford_dogs\/images\.tar\n/);
    assert.doesNotMatch(offline.stderr, /--verbose/);
  });
});

/** The CLI in a child process, asynchronously: the test server lives in this process and must keep answering. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => res({ status: code ?? 1, stdout, stderr }));
  });
}

test('ablate train --data cats_vs_dogs --mirror …: fetched (said how big and where), trained, no validation said out loud', async () => {
  const out = join(root, 'run');
  const env = { ...process.env, ABLATE_MIRROR: '', ABLATE_DATA_DIR: join(root, 'train-data'), ABLATE_CACHE_DIR: join(root, 'images') };
  const r = await runCli(['train', '--data', 'cats_vs_dogs', '--model', 'resnet20-cifar', '--mirror', server.base,
    '--epochs', '1', '--batch-size', '4', '--threads', '1', '--precision', 'fp32', '--set', 'data.imageSize=8', '--out', out], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`cats_vs_dogs is not in the data cache yet: fetching kagglecatsanddogs_5340\\.zip \\([\\d.]+ kB\\) from ${server.base} into ${join(root, 'train-data', 'cats_vs_dogs')}`));
  assert.match(r.stderr, /no validation data: this run reports training metrics only/);
  assert.ok(existsSync(join(root, 'train-data', 'cats_vs_dogs', 'kagglecatsanddogs_5340.zip')));
});
