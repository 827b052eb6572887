// Downloads from a hostile or broken server: sizes that lie, bodies that never end, trickles, resets and
// parts nobody asked for. Every case must end in a clear DownloadError, in bounded time and disk.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fetchFile, parseByteSize, type FetchOptions, type RemoteFile } from '../../../src/data/fetch/index.js';
import { downloadFailure, fixtureBytes, randomName, serverAndScratch, sha256, type Served } from './server.js';

const FAST: FetchOptions = { retries: 2, backoffMs: 10, maxBackoffMs: 20, timeoutMs: 2000, progress: false, log: () => undefined, env: {} };
const body = fixtureBytes(300_000, 11);
/** What a hostile server may send at most before the test stops it anyway (so an unfixed client fails, not hangs). */
const SERVER_CAP = 64 << 20;

const fx = serverAndScratch('ablate-hostile-');

function setup(served: Served, known: { size?: number } = {}): { file: RemoteFile; dir: string; path: string } {
  const name = `h-${randomName()}.bin`;
  fx.server.files.set(`/${name}`, served);
  const dir = mkdtempSync(join(fx.root, 'cache-'));
  return { file: { name, url: `${fx.server.base}/${name}`, sha256: sha256(body), ...known }, dir, path: `/${name}` };
}

const requestsFor = (path: string) => fx.server.requests.filter((r) => r.path === path).length;

/** Writes zeros as fast as the client takes them, up to SERVER_CAP; `sent()` says how many went out. */
function flood(res: ServerResponse): () => number {
  const chunk = Buffer.alloc(64 << 10);
  let sent = 0;
  const pump = () => {
    while (sent < SERVER_CAP && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  res.on('error', () => undefined);
  pump();
  return () => sent;
}

const leftovers = (dir: string) => readdirSync(dir).filter((n) => !n.endsWith('.lock'));

describe('downloads from a hostile server', () => {
  test('a claimed 10 GiB Content-Length is refused before anything is written', async () => {
    let sent = () => 0;
    const { file, dir } = setup({ body, handler: (_req, res) => {
      res.writeHead(200, { 'content-length': String(10 * 2 ** 30) });
      sent = flood(res);
    } });
    const e = await downloadFailure(fetchFile(file, dir, { ...FAST, maxBytes: 1_000_000 }));
    assert.equal(e.failure, 'size');
    assert.match(e.message, new RegExp(`could not download ${file.url.replace(/[.]/g, '\\.')}`));
    assert.match(e.message, /the server announced 10737418240 bytes \(10\.7 GB\), but h-\w+\.bin may have at most 1000000 bytes/);
    assert.match(e.message, /raise the ceiling with ABLATE_FETCH_MAX_BYTES=/);
    assert.deepEqual(leftovers(dir), [], 'no .part');
    assert.ok(sent() < 8 << 20, `the client stopped reading early (server sent ${sent()} bytes)`);
  });

  test('an endless chunked body stops at the ceiling and leaves no .part', async () => {
    let sent = () => 0;
    const { file, dir, path } = setup({ body, handler: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: chunked
      sent = flood(res);
    } });
    const e = await downloadFailure(fetchFile(file, dir, { ...FAST, maxBytes: 2_000_000 }));
    assert.equal(e.failure, 'size');
    assert.match(e.message, /the server sent more than 2000000 bytes, but h-\w+\.bin may have at most 2000000 bytes \(2\.00 MB: the ceiling for files of unknown size, ABLATE_FETCH_MAX_BYTES\)/);
    assert.deepEqual(leftovers(dir), [], 'the oversize .part was deleted');
    assert.equal(requestsFor(path), 1, 'an oversize file is not retried');
    assert.ok(sent() < 16 << 20, `server sent ${sent()} bytes`);
  });

  test('the ceiling comes from ABLATE_FETCH_MAX_BYTES (units allowed), and a bad value is refused', async () => {
    assert.equal(parseByteSize('4GiB'), 4 * 2 ** 30);
    assert.equal(parseByteSize('500MB'), 500e6);
    assert.equal(parseByteSize('1.5k'), 1500);
    assert.equal(parseByteSize('lots'), undefined);
    const { file, dir } = setup({ body, handler: (_req, res) => void res.writeHead(200, { 'content-length': '5000000' }).end() });
    const e = await downloadFailure(fetchFile(file, dir, { ...FAST, env: { ABLATE_FETCH_MAX_BYTES: '1MB' } }));
    assert.match(e.message, /announced 5000000 bytes .* at most 1000000 bytes/);
    await assert.rejects(fetchFile(file, dir, { ...FAST, env: { ABLATE_FETCH_MAX_BYTES: 'lots' } }),
      /Expected a size ≥ 1 \(bytes, or with a unit: 500MB, 4GiB\) for ABLATE_FETCH_MAX_BYTES but received "lots"/);
  });

  test('a file\'s own ceiling (maxBytes) wins over the default, and the message says why', async () => {
    const { file, dir } = setup({ body, handler: (_req, res) => void res.writeHead(200, { 'content-length': '700000' }).end() });
    const e = await downloadFailure(fetchFile({ ...file, maxBytes: 600_000, maxBytesWhy: 'the catalogue says so' }, dir, { ...FAST, maxBytes: 10_000_000 }));
    assert.match(e.message, /announced 700000 bytes \(700\.0 kB\), but h-\w+\.bin may have at most 600000 bytes \(600\.0 kB: the catalogue says so\)/);
    assert.match(e.message, /the server is not sending the expected file/);
    const ok = setup({ body, handler: (_req, res) => void res.writeHead(200, { 'content-length': String(body.length) }).end(body) });
    assert.equal((await fetchFile({ ...ok.file, maxBytes: body.length }, ok.dir, FAST)).sha256, sha256(body), 'a file exactly at its ceiling is fine');
  });

  test('a file of known size: more bytes than it has are refused and the .part deleted', async () => {
    const { file, dir } = setup({ body, handler: (_req, res) => {
      res.writeHead(200, {}); // chunked: the size is only found out while reading
      flood(res);
    } }, { size: body.length });
    const e = await downloadFailure(fetchFile(file, dir, FAST));
    assert.equal(e.failure, 'size');
    assert.match(e.message, /the server sent more than the 300000 bytes the file has/);
    assert.deepEqual(leftovers(dir), [], 'no .part of wrong bytes for a later run to resume');
  });

  test('a trickle (a byte every 100 ms) fails on the minimum speed, naming the URL', async () => {
    const timers = new Set<NodeJS.Timeout>();
    const { file, dir, path } = setup({ body, handler: (_req, res) => {
      res.writeHead(200, { 'content-length': String(body.length) });
      let i = 0;
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(body.subarray(i, ++i))), 100);
      timers.add(t);
    } }, { size: body.length });
    const t0 = Date.now();
    try {
      const e = await downloadFailure(fetchFile(file, dir, { ...FAST, retries: 1, minBytesPerS: 1000, speedWindowMs: 500 }));
      assert.equal(e.failure, 'timeout');
      assert.match(e.message, new RegExp(`could not download ${file.url.replace(/[.]/g, '\\.')}`));
      assert.match(e.message, /slower than the minimum of 1\.00 kB\/s: \d+ B in the last 0\.\d s \(\d+ B received\) \(gave up after 2 attempts\)/);
      assert.match(e.message, /ABLATE_FETCH_MIN_SPEED=<bytes per second> \(now 1000\)/);
      assert.equal(requestsFor(path), 2);
      assert.ok(Date.now() - t0 < 8000, `gave up in ${Date.now() - t0} ms`);
    } finally {
      for (const t of timers) clearInterval(t);
    }
  });

  test('the overall deadline ends a download that is slow but above the minimum speed', async () => {
    const timers = new Set<NodeJS.Timeout>();
    const { file, dir } = setup({ body, handler: (_req, res) => {
      res.writeHead(200, { 'content-length': String(body.length) });
      let i = 0;
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(body.subarray(i, (i += 1000)))), 20);
      timers.add(t);
    } }, { size: body.length });
    const t0 = Date.now();
    try {
      const e = await downloadFailure(fetchFile(file, dir, { ...FAST, deadlineMs: 1500 }));
      assert.equal(e.failure, 'timeout');
      assert.match(e.message, /not finished within the deadline of 1\.5 s for one download \(\d+\.\d+ kB received\)/);
      assert.match(e.message, /raise it with ABLATE_FETCH_DEADLINE_S=<seconds>/);
      assert.ok(Date.now() - t0 < 5000, `gave up in ${Date.now() - t0} ms`);
      assert.ok(existsSync(join(dir, `${file.name}.part`)), 'what arrived is kept for the next run to resume');
    } finally {
      for (const t of timers) clearInterval(t);
    }
  });

  test('the deadline also covers the pauses between attempts', async () => {
    const { file, dir, path } = setup({ body, status: 503 }, { size: body.length });
    const t0 = Date.now();
    const e = await downloadFailure(fetchFile(file, dir, { ...FAST, retries: 100, backoffMs: 400, maxBackoffMs: 400, deadlineMs: 1000 }));
    assert.match(e.message, /not finished within the deadline of 1 s/);
    assert.ok(Date.now() - t0 < 4000);
    assert.ok(requestsFor(path) <= 4, `${requestsFor(path)} requests`);
  });

  test('a deadline beyond what a timer can hold (ABLATE_FETCH_DEADLINE_S=1e9) is no deadline, not an instant one', async () => {
    const { file, dir } = setup({ body, handler: (_req, res) => void res.writeHead(200, { 'content-length': String(body.length) }).end(body) }, { size: body.length });
    const r = await fetchFile(file, dir, { ...FAST, env: { ABLATE_FETCH_DEADLINE_S: '1e9' } });
    assert.equal(r.sha256, sha256(body));
  });

  test('a server that sends one byte and resets runs out of attempts instead of being retried forever', async () => {
    const { file, dir, path } = setup({ body, handler: (req, res) => {
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      if (from > 0) res.writeHead(206, { 'content-length': String(body.length - from), 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` });
      else res.writeHead(200, { 'content-length': String(body.length) });
      res.write(body.subarray(from, from + 1), () => setTimeout(() => res.socket?.destroy(), 30));
    } }, { size: body.length });
    const e = await downloadFailure(fetchFile(file, dir, { ...FAST, retries: 3 }));
    assert.equal(e.failure, 'network');
    assert.match(e.message, /gave up after 4 attempts/);
    assert.equal(requestsFor(path), 4, 'each byte of progress did not buy another round of retries');
  });

  test('a 206 with a wrong Content-Range on the first request: a clear error naming the URL, no ENOENT, no .part', async () => {
    const { file, dir, path } = setup({ body, handler: (_req, res) => {
      res.writeHead(206, { 'content-length': '100', 'content-range': `bytes 100-199/${body.length}` });
      res.end(body.subarray(100, 200));
    } }, { size: body.length });
    const e = await downloadFailure(fetchFile(file, dir, FAST));
    assert.equal(e.failure, 'network');
    assert.doesNotMatch(e.message, /ENOENT/);
    assert.match(e.message, new RegExp(`could not download ${file.url.replace(/[.]/g, '\\.')}`));
    assert.match(e.message, /the server sent a part the download did not ask for \(206 with Content-Range "bytes 100-199\/300000", asked for the whole file\).*\(gave up after 3 attempts\)/);
    assert.equal(requestsFor(path), 3);
    assert.deepEqual(leftovers(dir), []);
  });

  test('a 206 for the whole file on the first request is accepted', async () => {
    const { file, dir } = setup({ body, handler: (_req, res) => {
      res.writeHead(206, { 'content-length': String(body.length), 'content-range': `bytes 0-${body.length - 1}/${body.length}` });
      res.end(body);
    } }, { size: body.length });
    const r = await fetchFile(file, dir, FAST);
    assert.equal(r.sha256, sha256(body));
  });

  test('a resume answered with the wrong part starts again from zero', async () => {
    let calls = 0;
    const { file, dir, path } = setup({ body, handler: (req, res) => {
      calls++;
      if (req.headers.range) {
        res.writeHead(206, { 'content-length': '10', 'content-range': `bytes 0-9/${body.length}` });
        return void res.end(body.subarray(0, 10));
      }
      res.writeHead(200, { 'content-length': String(body.length) }).end(body);
    } }, { size: body.length });
    writeFileSync(join(dir, `${file.name}.part`), body.subarray(0, 5000));
    const r = await fetchFile(file, dir, FAST);
    assert.equal(r.sha256, sha256(body));
    assert.equal(requestsFor(path), 2);
    assert.equal(calls, 2);
  });

  test('a .part bigger than the ceiling (left by an older run) is not resumed', async () => {
    const { file, dir, path } = setup({ body, handler: (req, res) => {
      assert.equal(req.headers.range, undefined, 'asked for the file from the start');
      res.writeHead(200, { 'content-length': String(body.length) }).end(body);
    } });
    writeFileSync(join(dir, `${file.name}.part`), Buffer.alloc(500_000));
    const r = await fetchFile(file, dir, { ...FAST, maxBytes: 400_000 });
    assert.equal(r.sha256, sha256(body));
    assert.equal(statSync(r.path).size, body.length);
    assert.equal(requestsFor(path), 1);
  });
});
