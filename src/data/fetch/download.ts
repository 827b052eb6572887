import { existsSync, mkdirSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import { ablateVersion } from '../../util/version.js';
import { DownloadError, describeNetworkError, isTransient, type DownloadFailure } from './errors.js';
import { DownloadProgress, formatBytes, type DownloadProgressOptions } from './progress.js';
import { checkFile, describeExpected, digestMatches, sha256File, writeVerifiedStamp, type Expected } from './verify.js';

/** A file somewhere on the internet that we know exactly: where it lives, what it is called, what it hashes to. */
export interface RemoteFile extends Expected {
  /** The file's name in the cache and on a mirror (the original file name). */
  name: string;
  /** The official address. */
  url: string;
  /** Where a person can download it by hand (a landing page); defaults to `url`. */
  manualUrl?: string;
}

export interface FetchOptions {
  /** Fetch `<mirror>/<file name>` instead of the official URL; checksums are still enforced. */
  mirror?: string;
  /** No byte for this long (response headers or body) counts as a failure. Default $ABLATE_FETCH_TIMEOUT_S or 30 s. */
  timeoutMs?: number;
  /** Attempts after the first, for transient failures (network, timeout, 5xx, 429). Default $ABLATE_FETCH_RETRIES or 5. */
  retries?: number;
  /** First pause between attempts; doubled each time up to maxBackoffMs. Default 1 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** How long to wait for another process that is downloading the same file. Default 6 h. */
  lockWaitMs?: number;
  progress?: DownloadProgressOptions | false;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Where HTTP_PROXY / HTTPS_PROXY / NO_PROXY are read from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Socket options for undici's connector (tests inject a failing DNS lookup here). */
  connect?: Record<string, unknown>;
  /**
   * Remember a verified file in a stamp next to it so it is not hashed again (default true). Off for
   * folders that belong to someone else, such as PyTorch's checkpoint cache.
   */
  useStamp?: boolean;
  /** Extra request headers (a Hub token); dropped once a redirect leaves the first address's host. */
  headers?: Record<string, string>;
  /** The name progress shows, where the cache names the file by its hash (Hugging Face blobs). */
  label?: string;
}

export interface FetchResult {
  path: string;
  /** False when a verified copy was already there. */
  fetched: boolean;
  bytes: number;
  sha256: string;
  /** Where the bytes came from (after the mirror, before redirects). */
  url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/** ABLATE_FETCH_TIMEOUT_S and ABLATE_FETCH_RETRIES, for networks slower or flakier than the defaults assume. */
function envDefaults(env: Record<string, string | undefined>): { timeoutMs: number; retries: number } {
  const num = (name: string, fallback: number, min: number): number => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new TypeError(`Expected a number ≥ ${min} for ${name} but received ${JSON.stringify(v)}`);
    return n;
  };
  return { timeoutMs: num('ABLATE_FETCH_TIMEOUT_S', 30, 0.1) * 1000, retries: Math.floor(num('ABLATE_FETCH_RETRIES', 5, 0)) };
}

/** The address a file is fetched from: the official URL, or `<mirror>/<original file name>`. */
export function sourceUrl(file: RemoteFile, mirror?: string): string {
  if (!mirror) return file.url;
  return `${mirror.replace(/\/+$/, '')}/${encodeURIComponent(file.name)}`;
}

/** undici's dispatcher honouring HTTP_PROXY, HTTPS_PROXY and NO_PROXY (either case), read from `env`. */
export function proxyDispatcher(env: Record<string, string | undefined> = process.env, connect?: Record<string, unknown>): Dispatcher {
  // '' (not undefined) means "no proxy": undefined would make undici read process.env itself.
  return new EnvHttpProxyAgent({
    httpProxy: env.http_proxy ?? env.HTTP_PROXY ?? '',
    httpsProxy: env.https_proxy ?? env.HTTPS_PROXY ?? '',
    noProxy: env.no_proxy ?? env.NO_PROXY ?? '',
    ...(connect ? { connect } : {}),
  });
}

interface Ctx {
  file: RemoteFile;
  url: string;
  dest: string;
  partial: string;
  o: Required<Pick<FetchOptions, 'timeoutMs' | 'retries' | 'backoffMs' | 'maxBackoffMs' | 'lockWaitMs'>> & FetchOptions;
  log: (line: string) => void;
  dispatcher: Dispatcher;
}

interface FailExtra {
  status?: number;
  cause?: unknown;
  url?: string;
  retryable?: boolean;
}

function fail(ctx: Ctx, failure: DownloadFailure, detail: string, remedy: string, extra: FailExtra = {}): DownloadError {
  return new DownloadError({ failure, url: extra.url ?? ctx.url, file: ctx.dest, detail, remedy, manualUrl: ctx.file.manualUrl ?? ctx.file.url, ...extra });
}

const RETRY_LATER = 'run the same command again later (the download resumes where it stopped)';

function networkRemedy(ctx: Ctx): string {
  return `check the network connection (and HTTPS_PROXY / NO_PROXY if you are behind a proxy)${ctx.o.mirror ? ` and that the mirror ${ctx.o.mirror} is reachable` : ', or set ABLATE_MIRROR to a mirror that holds the file'}; then ${RETRY_LATER}`;
}

function networkError(ctx: Ctx, e: unknown, url: string, done: number): DownloadError {
  if (ctx.o.signal?.aborted) return fail(ctx, 'aborted', `interrupted after ${formatBytes(done)}`, RETRY_LATER, { url });
  const n = describeNetworkError(e);
  const failure: DownloadFailure = n.timeout ? 'timeout' : 'network';
  const detail = n.timeout ? `no data for ${ctx.o.timeoutMs / 1000} s: ${n.words}` : n.words;
  // A name that does not resolve is not retried: it is no network, a typo or a dead mirror.
  return fail(ctx, failure, `${detail}${done > 0 ? ` after ${formatBytes(done)}` : ''}`, networkRemedy(ctx), { cause: e, url, retryable: !n.fatal });
}

function statusWords(status: number): string {
  if (status === 404 || status === 410) return `the server answered ${status} ${status === 404 ? 'Not Found' : 'Gone'}: the file is not (or no longer) at this address`;
  if (status === 401 || status === 403) return `the server answered ${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'}: it refuses the download (it may need a login, or block this network)`;
  if (status === 429) return 'the server answered 429 Too Many Requests';
  if (status >= 500) return `the server answered ${status} (a server error)`;
  return `the server answered HTTP ${status}`;
}

function statusRemedy(ctx: Ctx, status: number): string {
  if (status >= 500 || status === 429) return RETRY_LATER;
  if (ctx.o.mirror) return `check that the mirror ${ctx.o.mirror} holds ${ctx.file.name} (files are fetched by their original name), or unset ABLATE_MIRROR / --mirror to use the official address`;
  return 'the official address may have moved: check for a newer ablate, or use a mirror (ABLATE_MIRROR=<base url>)';
}

/** GET with our own redirect loop, so every hop keeps the Range header and errors name the address that failed. */
async function openResponse(ctx: Ctx, offset: number): Promise<{ res: Dispatcher.ResponseData; url: string }> {
  let url = ctx.url;
  for (let hop = 0; ; hop++) {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: 'GET',
        dispatcher: ctx.dispatcher,
        headers: { ...(new URL(url).host === new URL(ctx.url).host ? ctx.o.headers : {}), 'user-agent': `ablate/${ablateVersion()}`, 'accept-encoding': 'identity', ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) },
        headersTimeout: ctx.o.timeoutMs,
        bodyTimeout: ctx.o.timeoutMs,
        signal: ctx.o.signal,
      });
    } catch (e) {
      throw networkError(ctx, e, url, offset);
    }
    if (!REDIRECTS.has(res.statusCode)) return { res, url };
    await res.body.dump().catch(() => undefined);
    const location = res.headers.location;
    if (typeof location !== 'string' || location === '') {
      throw fail(ctx, 'http-status', `the server answered ${res.statusCode} (a redirect) without saying where to`, statusRemedy(ctx, 404), { status: res.statusCode, url });
    }
    if (hop >= MAX_REDIRECTS) throw fail(ctx, 'http-status', `more than ${MAX_REDIRECTS} redirects (last to ${location})`, statusRemedy(ctx, 404), { status: res.statusCode, url });
    url = new URL(location, url).href;
  }
}

function partialSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

function diskError(ctx: Ctx, e: unknown, done: number): DownloadError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const dir = join(ctx.dest, '..');
  const need = ctx.file.size !== undefined ? ` (${formatBytes(Math.max(0, ctx.file.size - done))} still to write, ${formatBytes(ctx.file.size)} in all)` : '';
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return fail(ctx, 'disk', `the disk is full after ${formatBytes(done)} of the file${need}`,
      `free space in ${dir} or set ABLATE_DATA_DIR to a folder on a disk with room, then ${RETRY_LATER}`, { cause: e });
  }
  return fail(ctx, 'disk', `cannot write ${ctx.partial}: ${(e as Error).message}`, `make ${dir} writable or set ABLATE_DATA_DIR to a folder you can write to`, { cause: e });
}

/** One request: append what the server sends to the partial file. Returns when the body ended. */
async function transferOnce(ctx: Ctx, progress: DownloadProgress | undefined): Promise<void> {
  let offset = partialSize(ctx.partial);
  const size = ctx.file.size;
  if (size !== undefined && offset > size) {
    truncateSync(ctx.partial, 0);
    offset = 0;
  }
  if (size !== undefined && offset === size) return; // a previous attempt got every byte; only verification is left
  const { res, url } = await openResponse(ctx, offset);
  const status = res.statusCode;
  if (status === 416 && offset > 0) {
    // We asked past the end: either we already hold it all, or the partial file is from something else.
    await res.body.dump().catch(() => undefined);
    const total = Number(/\/(\d+)\s*$/.exec(String(res.headers['content-range'] ?? ''))?.[1]);
    if (total === offset) return;
    truncateSync(ctx.partial, 0);
    throw Object.assign(fail(ctx, 'network', "the partial download did not match the server's file; starting again", RETRY_LATER, { url }), { retryNow: true });
  }
  if (status !== 200 && status !== 206) {
    await res.body.dump().catch(() => undefined);
    throw fail(ctx, 'http-status', statusWords(status), statusRemedy(ctx, status), { status, url });
  }
  let start = 0;
  let total: number | undefined;
  if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
    if (!m || Number(m[1]) !== offset) {
      await res.body.dump().catch(() => undefined);
      truncateSync(ctx.partial, 0);
      throw Object.assign(fail(ctx, 'network', `the server resumed at the wrong place (Content-Range ${String(res.headers['content-range'])}, asked for byte ${offset})`, RETRY_LATER, { url }), { retryNow: true });
    }
    start = offset;
    total = m[3] === '*' ? undefined : Number(m[3]);
  } else {
    if (offset > 0) ctx.log(`${ctx.file.name}: the server does not resume downloads; starting again from the beginning`);
    const len = Number(res.headers['content-length']);
    total = Number.isFinite(len) && res.headers['content-length'] !== undefined ? len : undefined;
  }
  if (size !== undefined && total !== undefined && total !== size) {
    await res.body.dump().catch(() => undefined);
    throw fail(ctx, 'size', `the server offers ${total} bytes but ${ctx.file.name} has ${size}: it is not the expected file`, statusRemedy(ctx, 404), { url });
  }
  const expectedTotal = size ?? total;

  let fh;
  try {
    fh = await open(ctx.partial, start === 0 ? 'w' : 'a');
  } catch (e) {
    await res.body.dump().catch(() => undefined);
    throw diskError(ctx, e, start);
  }
  let done = start;
  progress?.start(done, expectedTotal);
  try {
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        if (expectedTotal !== undefined && done + buf.length > expectedTotal) {
          throw fail(ctx, 'size', `the server sent more than the ${expectedTotal} bytes the file has`, statusRemedy(ctx, 404), { url });
        }
        try {
          await fh.write(buf);
        } catch (e) {
          throw diskError(ctx, e, done);
        }
        done += buf.length;
        progress?.update(done, expectedTotal);
      }
    } catch (e) {
      if (e instanceof DownloadError) throw e;
      throw networkError(ctx, e, url, done);
    }
  } finally {
    await fh.close().catch(() => undefined);
    progress?.interrupt();
  }
  if (expectedTotal !== undefined && done < expectedTotal) {
    throw fail(ctx, 'network', `the connection ended after ${done} of ${expectedTotal} bytes (a truncated transfer)`, networkRemedy(ctx), { url });
  }
}

/** Transfer with retries and back-off; failures that made progress do not use up attempts. */
async function transferWithRetries(ctx: Ctx, progress: DownloadProgress | undefined): Promise<void> {
  let failures = 0;
  for (;;) {
    const before = partialSize(ctx.partial);
    try {
      await transferOnce(ctx, progress);
      return;
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      const now = partialSize(ctx.partial);
      if ((e as { retryNow?: boolean }).retryNow && failures < ctx.o.retries) {
        failures++;
        continue;
      }
      if (now > before) failures = 0; // it moved forward: a flaky line, not a dead one
      if (!isTransient(e) || failures >= ctx.o.retries || ctx.o.signal?.aborted) {
        if (failures > 0 && isTransient(e)) {
          throw new DownloadError({ failure: e.failure, url: e.url, file: e.file, detail: `${e.detail} (gave up after ${failures + 1} attempts)`, remedy: e.remedy, manualUrl: e.manualUrl, status: e.status, cause: e });
        }
        throw e;
      }
      const wait = Math.min(ctx.o.maxBackoffMs, ctx.o.backoffMs * 2 ** failures);
      failures++;
      ctx.log(`${ctx.file.name}: ${e.detail}; retrying in ${(wait / 1000).toFixed(wait < 10_000 ? 1 : 0)} s (attempt ${failures + 1} of ${ctx.o.retries + 1})${now > 0 ? `, resuming at ${formatBytes(now)}` : ''}`);
      try {
        await sleep(wait, undefined, { signal: ctx.o.signal });
      } catch {
        throw fail(ctx, 'aborted', `interrupted after ${formatBytes(now)}`, RETRY_LATER);
      }
    }
  }
}

/** Take the per-file lock, waiting while another process holds it (it is downloading the same file). */
async function acquireLock(ctx: Ctx): Promise<() => Promise<void>> {
  const deadline = Date.now() + ctx.o.lockWaitMs;
  let told = false;
  for (;;) {
    try {
      return await lockfile.lock(ctx.dest, {
        realpath: false,
        lockfilePath: `${ctx.dest}.lock`,
        stale: 20_000,
        update: 5_000,
        retries: 0,
        // A lock taken over by someone else (our process was frozen for >20 s) must not crash us:
        // the download is verified and renamed atomically whoever finishes first.
        onCompromised: () => undefined,
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ELOCKED') throw diskError(ctx, e, 0);
      if (Date.now() > deadline) {
        throw fail(ctx, 'locked', `another process has been downloading it for over ${Math.round(ctx.o.lockWaitMs / 1000)} s (lock ${ctx.dest}.lock)`, 'wait for it to finish, or stop it and run again');
      }
      if (!told) ctx.log(`${ctx.file.name}: another process is downloading it; waiting for it to finish`);
      told = true;
      try {
        await sleep(250, undefined, { signal: ctx.o.signal });
      } catch {
        throw fail(ctx, 'aborted', 'interrupted while waiting for another download', RETRY_LATER);
      }
    }
  }
}

/**
 * Makes `<dir>/<file.name>` the verified file, downloading it if needed: streamed to `<name>.part`
 * (resumed with a Range request after an interruption), verified against its SHA-256, then renamed
 * into place, so the final name only ever holds a verified file. A verified copy already there is
 * never fetched again. Concurrent callers (other processes) wait on a lock and then find the file.
 */
export async function fetchFile(file: RemoteFile, dir: string, options: FetchOptions = {}): Promise<FetchResult> {
  const o = { ...envDefaults(options.env ?? process.env), backoffMs: 1000, maxBackoffMs: 30_000, lockWaitMs: 6 * 3600_000, ...options };
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const dest = join(dir, file.name);
  const url = sourceUrl(file, o.mirror);
  const expected = { sha256: file.sha256, sha256Prefix: file.sha256Prefix, size: file.size };
  const useStamp = o.useStamp !== false;
  const ctx: Ctx = { file, url, dest, partial: `${dest}.part`, o, log, dispatcher: undefined as unknown as Dispatcher };

  const present = await checkFile(dest, expected, { useStamp });
  if (present.ok) return { path: dest, fetched: false, bytes: statSync(dest).size, sha256: present.sha256, url };
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw diskError(ctx, e, 0);
  }
  const release = await acquireLock(ctx);
  ctx.dispatcher = proxyDispatcher(o.env, o.connect);
  try {
    const again = await checkFile(dest, expected, { useStamp }); // another process may have finished it meanwhile
    if (again.ok) return { path: dest, fetched: false, bytes: statSync(dest).size, sha256: again.sha256, url };
    if (existsSync(dest)) {
      renameSync(dest, `${dest}.rejected`);
      log(`${dest} is not the expected file (${again.ok ? '' : again.reason}); moved it to ${dest}.rejected and downloading it again`);
    }
    const resumed = partialSize(ctx.partial);
    log(`downloading ${url}${file.size !== undefined ? ` (${formatBytes(file.size)})` : ''} to ${dest}${resumed > 0 ? `, resuming at ${formatBytes(resumed)}` : ''}`);
    const progress = o.progress === false ? undefined : new DownloadProgress(o.label ?? file.name, o.progress);
    await transferWithRetries(ctx, progress);

    const got = partialSize(ctx.partial);
    if (got > 100e6) log(`${file.name}: verifying its SHA-256`); // a few seconds for the big archives
    const digest = await sha256File(ctx.partial);
    if (!digestMatches(digest, expected)) {
      rmSync(ctx.partial, { force: true }); // never kept: a resume must not build on bytes that are wrong
      throw fail(ctx, 'checksum', `received ${got} bytes whose SHA-256 is ${digest}, but expected ${describeExpected(expected)}; the download was deleted`,
        o.mirror ? `the mirror ${o.mirror} holds a different ${file.name}: replace it with the official file` : 'the file at the official address has changed or was corrupted on the way; run again, and if it repeats report it to ablate');
    }
    renameSync(ctx.partial, dest);
    if (useStamp) writeVerifiedStamp(dest, digest);
    progress?.finish(got, got, 'verified');
    return { path: dest, fetched: true, bytes: got, sha256: digest, url };
  } finally {
    await ctx.dispatcher.close().catch(() => undefined);
    await release().catch(() => undefined);
  }
}
