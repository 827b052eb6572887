/**
 * A real HTTP server on 127.0.0.1 for download tests: serves in-memory files with Range support, and
 * misbehaves on request (cut the connection after N bytes, stall, redirect, fail with a status).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { DownloadError } from '../../../src/data/fetch/index.js';

export interface Served {
  body: Buffer;
  /** Close the socket after sending this many body bytes, for the first `cutTimes` requests (default 1). */
  cutAt?: number;
  cutTimes?: number;
  /** Ignore Range headers (a server that cannot resume). */
  noRanges?: boolean;
  /** Send headers, then stall this long before the body (ms). */
  stallMs?: number;
  /** Answer with this status instead of the file. */
  status?: number;
  /** Answer 302 to this path. */
  redirectTo?: string;
  /** Delay before the response headers (ms). */
  delayHeadersMs?: number;
  /** Answer the request itself (a hostile server: lies about sizes, trickles, resets). */
  handler?: (req: IncomingMessage, res: ServerResponse) => void;
}

export interface TestServer {
  base: string;
  files: Map<string, Served>;
  /** Every request: path and Range header. */
  requests: { path: string; range?: string }[];
  close(): Promise<void>;
}

export function fixtureBytes(n: number, seed = 1): Buffer {
  // Deterministic but not trivially compressible content.
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const randomName = (): string => randomBytes(4).toString('hex');

export async function startServer(files: Record<string, Served> = {}): Promise<TestServer> {
  const map = new Map(Object.entries(files));
  const requests: TestServer['requests'] = [];
  const cuts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ path, range: req.headers.range });
    const f = map.get(path);
    const go = () => (f?.handler ? f.handler(req, res) : serve(path, f, req, res, cuts));
    if (f?.delayHeadersMs) setTimeout(go, f.delayHeadersMs);
    else go();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    files: map,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function serve(path: string, f: Served | undefined, req: IncomingMessage, res: ServerResponse, cuts: Map<string, number>): void {
  if (!f) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  if (f.redirectTo) {
    res.writeHead(302, { location: f.redirectTo }).end();
    return;
  }
  if (f.status) {
    res.writeHead(f.status, { 'content-type': 'text/plain' }).end(`status ${f.status}`);
    return;
  }
  let start = 0;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m && !f.noRanges) {
    start = Number(m[1]);
    if (start >= f.body.length) {
      res.writeHead(416, { 'content-range': `bytes */${f.body.length}` }).end();
      return;
    }
    res.writeHead(206, { 'content-length': f.body.length - start, 'content-range': `bytes ${start}-${f.body.length - 1}/${f.body.length}`, 'accept-ranges': 'bytes' });
  } else {
    res.writeHead(200, { 'content-length': f.body.length, 'accept-ranges': f.noRanges ? 'none' : 'bytes' });
  }
  const body = f.body.subarray(start);
  const cutsSoFar = cuts.get(path) ?? 0;
  if (f.cutAt !== undefined && cutsSoFar < (f.cutTimes ?? 1)) {
    cuts.set(path, cutsSoFar + 1);
    const n = Math.max(0, f.cutAt - start);
    // Stall, then reset: the client has time to take in the bytes it got (a reset right away can make it
    // drop bytes still buffered), then the connection dies mid-file.
    res.write(body.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 250));
    return;
  }
  if (f.stallMs) {
    res.flushHeaders();
    setTimeout(() => res.end(body), f.stallMs);
    return;
  }
  res.end(body);
}

/** A forward proxy that only tunnels (CONNECT), as undici's ProxyAgent uses; records each target. */
export async function startProxy(): Promise<{ url: string; targets: string[]; close(): Promise<void> }> {
  const targets: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    targets.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream).add(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    targets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A test server and a scratch folder for one test file: made before its tests, removed after them. */
export function serverAndScratch(prefix: string): { server: TestServer; root: string } {
  const box = {} as { server: TestServer; root: string };
  before(async () => {
    box.server = await startServer();
    box.root = mkdtempSync(join(tmpdir(), prefix));
  });
  after(async () => {
    await box.server.close();
    rmSync(box.root, { recursive: true, force: true });
  });
  return box;
}

/** Awaits a download that must fail, and returns its DownloadError (anything else fails the test). */
export async function downloadFailure(p: Promise<unknown>): Promise<DownloadError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DownloadError, `expected a DownloadError, got ${(e as Error).stack}`);
    return e;
  }
  assert.fail('expected the download to fail');
}
