import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DownloadProgress, fetchFile, type FetchOptions, type RemoteFile } from '../../../src/data/fetch/index.js';
import { downloadFailure, fixtureBytes, randomName, sha256, startProxy, startServer, type TestServer } from './server.js';

const FAST: FetchOptions = { retries: 2, backoffMs: 10, maxBackoffMs: 20, timeoutMs: 2000, progress: false, log: () => undefined, env: {} };
const body = fixtureBytes(300_000, 7);
const DIGEST = sha256(body);

let server: TestServer;
let root: string;
before(async () => {
  server = await startServer();
  root = mkdtempSync(join(tmpdir(), 'ablate-fetch-'));
});
after(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

/** A fresh file name on the server and a fresh cache folder, so tests do not share state. */
function setup(served: Partial<Parameters<TestServer['files']['set']>[1]> = {}, content = body): { file: RemoteFile; dir: string; path: string } {
  const name = `f-${randomName()}.bin`;
  server.files.set(`/${name}`, { body: content, ...served });
  const dir = mkdtempSync(join(root, 'cache-'));
  return { file: { name, url: `${server.base}/${name}`, size: content.length, sha256: sha256(content) }, dir, path: `/${name}` };
}

const requestsFor = (path: string) => server.requests.filter((r) => r.path === path);

const rejects = downloadFailure;

describe('fetchFile', () => {
  test('downloads, verifies and moves into place; a verified file is never fetched again', async () => {
    const { file, dir, path } = setup();
    const lines: string[] = [];
    const r = await fetchFile(file, dir, { ...FAST, log: (l) => lines.push(l) });
    assert.equal(r.fetched, true);
    assert.equal(r.sha256, DIGEST);
    assert.deepEqual(readFileSync(join(dir, file.name)), body);
    assert.deepEqual(readdirSync(dir).filter((n) => !n.startsWith('.')).sort(), [file.name], 'no .part or .lock left behind');
    assert.match(lines.join('\n'), new RegExp(`downloading ${file.url} \\(300\\.0 kB\\) to ${join(dir, file.name).replace(/[.]/g, '\\.')}`));
    const again = await fetchFile(file, dir, FAST);
    assert.equal(again.fetched, false);
    assert.equal(requestsFor(path).length, 1, 'the second call made no request');
  });

  test('resumes with a Range request after the server cuts the connection', async () => {
    const { file, dir, path } = setup({ cutAt: 100_000 });
    const r = await fetchFile(file, dir, FAST);
    assert.equal(r.sha256, DIGEST);
    const reqs = requestsFor(path);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]!.range, undefined);
    // Everything that arrived before the cut was kept (a slow reader may lose what undici still buffered).
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(reqs[1]!.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 100_000, `resumed at ${reqs[1]!.range}`);
  });

  test('a later run resumes the .part file that an interrupted run left', async () => {
    const { file, dir, path } = setup({ cutAt: 120_000 });
    const e = await rejects(fetchFile(file, dir, { ...FAST, retries: 0 }));
    assert.equal(e.failure, 'network');
    assert.match(e.message, /the connection was closed by the other side mid-transfer/);
    assert.ok(!existsSync(join(dir, file.name)), 'nothing at the final name');
    const kept = readFileSync(join(dir, `${file.name}.part`)).length;
    assert.ok(kept > 0 && kept <= 120_000, `kept ${kept} bytes`);
    const r = await fetchFile(file, dir, FAST);
    assert.equal(r.sha256, DIGEST);
    assert.equal(requestsFor(path).at(-1)!.range, `bytes=${kept}-`);
  });

  test('starts again from zero when the server ignores Range', async () => {
    const { file, dir } = setup({ cutAt: 50_000, noRanges: true });
    const lines: string[] = [];
    const r = await fetchFile(file, dir, { ...FAST, log: (l) => lines.push(l) });
    assert.equal(r.sha256, DIGEST);
    assert.ok(lines.some((l) => /does not resume downloads/.test(l)), lines.join('\n'));
  });

  test('follows a 302 redirect', async () => {
    const { file, dir } = setup();
    const alias = `/moved-${randomName()}.bin`;
    server.files.set(alias, { body, redirectTo: new URL(file.url).pathname });
    const r = await fetchFile({ ...file, url: `${server.base}${alias}` }, dir, FAST);
    assert.equal(r.sha256, DIGEST);
  });

  test('a wrong checksum is refused and nothing is kept', async () => {
    const { file, dir } = setup();
    const wrong = { ...file, sha256: 'ab'.repeat(32) };
    const e = await rejects(fetchFile(wrong, dir, FAST));
    assert.equal(e.failure, 'checksum');
    assert.match(e.message, new RegExp(`could not download ${file.url}`));
    assert.match(e.message, new RegExp(`SHA-256 is ${DIGEST}, but expected SHA-256 ${'ab'.repeat(32)}`));
    assert.match(e.message, /download it by hand from/);
    assert.deepEqual(readdirSync(dir).filter((n) => !n.endsWith('.lock')), [], 'neither the file nor a .part is left');
  });

  test('a file already at the final name that is not the expected one is moved aside and downloaded again', async () => {
    const { file, dir } = setup();
    writeFileSync(join(dir, file.name), fixtureBytes(body.length, 99));
    const r = await fetchFile(file, dir, FAST);
    assert.equal(r.fetched, true);
    assert.equal(sha256(readFileSync(join(dir, file.name))), DIGEST);
    assert.ok(existsSync(join(dir, `${file.name}.rejected`)));
  });

  test('404 names the URL, the file, the status and the manual route, without retrying', async () => {
    const { dir } = setup();
    const name = `missing-${randomName()}.bin`;
    const file = { name, url: `${server.base}/${name}`, size: 10, sha256: 'cd'.repeat(32), manualUrl: 'https://example.org/get-it' };
    const e = await rejects(fetchFile(file, dir, FAST));
    assert.equal(e.failure, 'http-status');
    assert.equal(e.status, 404);
    assert.match(e.message, new RegExp(`could not download ${server.base}/${name}\\n  to ${join(dir, name).replace(/[.]/g, '\\.')}: the server answered 404 Not Found`));
    assert.match(e.message, new RegExp(`download it by hand from https://example.org/get-it and put it at ${join(dir, name).replace(/[.]/g, '\\.')}`));
    assert.equal(requestsFor(`/${name}`).length, 1);
  });

  test('403 is not retried; 500 is retried with back-off, then reported with the attempt count', async () => {
    const forbidden = setup({ status: 403 });
    const e403 = await rejects(fetchFile(forbidden.file, forbidden.dir, FAST));
    assert.match(e403.message, /403 Forbidden: it refuses the download/);
    assert.equal(requestsFor(forbidden.path).length, 1);
    const broken = setup({ status: 500 });
    const lines: string[] = [];
    const e500 = await rejects(fetchFile(broken.file, broken.dir, { ...FAST, log: (l) => lines.push(l) }));
    assert.match(e500.message, /the server answered 500 \(a server error\) \(gave up after 3 attempts\)/);
    assert.equal(requestsFor(broken.path).length, 3);
    assert.equal(lines.filter((l) => /retrying in/.test(l)).length, 2);
  });

  test('a slow server times out (headers, and a stalled body) with a clear message', async () => {
    // undici checks its timeouts about once a second, so the server must be slower than that.
    const slow = setup({ delayHeadersMs: 4000 });
    const t0 = Date.now();
    const e = await rejects(fetchFile(slow.file, slow.dir, { ...FAST, timeoutMs: 200, retries: 0 }));
    assert.equal(e.failure, 'timeout');
    assert.match(e.message, /no data for 0\.2 s: the server sent no response in time/);
    assert.ok(Date.now() - t0 < 3000, 'gave up on the timeout, not on the server');
    const stalled = setup({ stallMs: 4000 });
    const e2 = await rejects(fetchFile(stalled.file, stalled.dir, { ...FAST, timeoutMs: 200, retries: 0 }));
    assert.equal(e2.failure, 'timeout');
    assert.match(e2.message, /the server stopped sending data/);
  });

  test('a truncated file on the server (fewer bytes than the catalogue says) is refused', async () => {
    const short = body.subarray(0, 1000);
    const { file, dir } = setup({}, short);
    const e = await rejects(fetchFile({ ...file, size: body.length, sha256: DIGEST }, dir, FAST));
    assert.equal(e.failure, 'size');
    assert.match(e.message, /the server offers 1000 bytes but .* has 300000: it is not the expected file/);
  });

  test('a DNS failure says so and is not retried', async () => {
    const { file, dir } = setup();
    let lookups = 0;
    const lookup = (_h: string, _o: unknown, cb: (e: Error) => void) => {
      lookups++;
      cb(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' }));
    };
    const e = await rejects(fetchFile({ ...file, url: 'http://nowhere.invalid/x.bin' }, dir, { ...FAST, connect: { lookup } }));
    assert.equal(e.failure, 'network');
    assert.match(e.message, /the host name could not be resolved \(DNS failure, or no network at all\) \(ENOTFOUND\)/);
    assert.match(e.message, /check the network connection/);
    assert.equal(lookups, 1);
  });

  test('a full disk is reported with the space needed and the .part kept for resuming', { skip: !existsSync('/dev/full') }, async () => {
    const { file, dir } = setup();
    symlinkSync('/dev/full', join(dir, `${file.name}.part`)); // every write fails with ENOSPC
    const e = await rejects(fetchFile(file, dir, FAST));
    assert.equal(e.failure, 'disk');
    assert.match(e.message, /the disk is full after 0 B of the file \(300\.0 kB still to write, 300\.0 kB in all\)/);
    assert.match(e.message, /set ABLATE_DATA_DIR to a folder on a disk with room/);
    assert.ok(!existsSync(join(dir, file.name)));
  });

  test('two fetches of one file at once in one process: one download, both get the verified file', async () => {
    const { file, dir, path } = setup();
    const [a, b] = await Promise.all([fetchFile(file, dir, FAST), fetchFile(file, dir, FAST)]);
    assert.equal(a.sha256, DIGEST);
    assert.equal(b.sha256, DIGEST);
    assert.equal([a, b].filter((r) => r.fetched).length, 1);
    assert.equal(requestsFor(path).length, 1);
  });

  test('two processes fetching one file at once do not corrupt it', async () => {
    const { file, dir, path } = setup({}, fixtureBytes(2_000_000, 3));
    server.files.get(path)!.stallMs = 300; // keep the first download in flight while the second starts
    const child = fileURLToPath(new URL('./child-fetch.ts', import.meta.url));
    const run = () => new Promise<{ code: number; out: string }>((res) => {
      const p = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify({ file, dir, options: { ...FAST, log: undefined } })], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('exit', (code) => res({ code: code ?? 1, out }));
    });
    const results = await Promise.all([run(), run()]);
    for (const r of results) assert.equal(r.code, 0, r.out);
    const parsed = results.map((r) => JSON.parse(r.out) as { sha256: string; fetched: boolean });
    assert.deepEqual(parsed.map((p) => p.sha256), [file.sha256, file.sha256]);
    assert.equal(sha256(readFileSync(join(dir, file.name))), file.sha256);
    assert.equal(requestsFor(path).length, 1, 'the second process waited and reused the first one\'s file');
  });

  test('a mirror serves every file by its original name; checksums still apply', async () => {
    const { file, dir, path } = setup();
    const mirrored = { ...file, url: 'https://official.invalid/somewhere/' + file.name };
    const r = await fetchFile(mirrored, dir, { ...FAST, mirror: server.base + '/' });
    assert.equal(r.url, `${server.base}/${file.name}`);
    assert.equal(requestsFor(path).length, 1);
    const bad = { ...mirrored, sha256: '00'.repeat(32) };
    const e = await rejects(fetchFile(bad, mkdtempSync(join(root, 'cache-')), { ...FAST, mirror: server.base }));
    assert.match(e.message, new RegExp(`the mirror ${server.base} holds a different ${file.name.replace('.', '\\.')}`));
  });

  test('HTTP_PROXY is used, and NO_PROXY bypasses it', async () => {
    const proxy = await startProxy();
    try {
      const a = setup();
      await fetchFile(a.file, a.dir, { ...FAST, env: { HTTP_PROXY: proxy.url } });
      assert.deepEqual(proxy.targets, [new URL(server.base).host]);
      const b = setup();
      await fetchFile(b.file, b.dir, { ...FAST, env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
      assert.equal(proxy.targets.length, 1, 'NO_PROXY host went direct');
    } finally {
      await proxy.close();
    }
  });

  test('an abort leaves the .part for the next run and says so', async () => {
    const { file, dir } = setup({ stallMs: 2000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const e = await rejects(fetchFile(file, dir, { ...FAST, signal: ac.signal }));
    assert.equal(e.failure, 'aborted');
    assert.match(e.message, /run the same command again later/);
  });
});

describe('DownloadProgress', () => {
  test('plain lines when not a terminal; one redrawn line on a terminal', () => {
    let t = 0;
    const out: string[] = [];
    const plain = new DownloadProgress('x.bin', { stream: { write: (s: string) => out.push(s) }, tty: false, now: () => t, lineEveryMs: 1000 });
    plain.start(0, 10_000_000);
    t = 500; plain.update(1_000_000, 10_000_000); // too soon for another line
    t = 2000; plain.update(4_000_000, 10_000_000);
    plain.finish(10_000_000, 10_000_000, 'verified');
    assert.equal(out.length, 3);
    assert.ok(out.every((l) => l.endsWith('\n') && !l.includes('\r')));
    assert.equal(out[1], 'x.bin: 4.00 MB / 10.0 MB (40%)  2.00 MB/s  ETA 0:03\n');
    const tty: string[] = [];
    t = 0;
    const bar = new DownloadProgress('x.bin', { stream: { write: (s: string) => tty.push(s) }, tty: true, now: () => t });
    bar.start(5_000_000, 10_000_000); // resumed at half
    t = 1000; bar.update(6_000_000, 10_000_000);
    assert.match(tty[1]!, /^\rx\.bin: 6\.00 MB \/ 10\.0 MB \(60%\)  1\.00 MB\/s  ETA 0:04\x1b\[K$/);
  });
});
