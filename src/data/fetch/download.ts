import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
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
  /**
   * When `size` is unknown: the most bytes this file may have (pretrained weights: torchvision's listed size,
   * or their parameters as float32 plus a margin), so a hostile server cannot fill the disk. Default
   * FetchOptions.maxBytes.
   */
  maxBytes?: number;
  /** Why `maxBytes` is what it is, for the error message ("torchvision lists it as 97.781 MiB"). */
  maxBytesWhy?: string;
}

export interface FetchOptions {
  /** Fetch `<mirror>/<file name>` instead of the official URL; checksums are still enforced. */
  mirror?: string;
  /** No byte for this long (response headers or body) counts as a failure. Default $ABLATE_FETCH_TIMEOUT_S or 30 s. */
  timeoutMs?: number;
  /**
   * Attempts after the first, for transient failures (network, timeout, 5xx, 429). Default $ABLATE_FETCH_RETRIES
   * or 5. An attempt that brought at least 1 MiB gives the budget back (a flaky line, not a dead one).
   */
  retries?: number;
  /** The most bytes a file of unknown size may have, unless it sets maxBytes. Default $ABLATE_FETCH_MAX_BYTES or 2 GiB. */
  maxBytes?: number;
  /** One file's whole download, every attempt and pause included. Default $ABLATE_FETCH_DEADLINE_S or 2 h. */
  deadlineMs?: number;
  /** Slower than this (bytes/s) over speedWindowMs fails the attempt. Default $ABLATE_FETCH_MIN_SPEED or 1000. */
  minBytesPerS?: number;
  /** The window for minBytesPerS. Default 60 s. */
  speedWindowMs?: number;
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
  /**
   * The file bytes arrive in until verified (default `<dest>.part`): the Hub cache uses huggingface_hub's
   * `blobs/<etag>.incomplete`, so a download either of them left off is resumed by the other.
   */
  partialPath?: string;
  /** The lock (a folder) held while downloading (default `<dest>.lock`). */
  lockPath?: string;
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

const KIB = 1024;
const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: KIB, m: 1e6, mb: 1e6, mib: KIB ** 2, g: 1e9, gb: 1e9, gib: KIB ** 3, t: 1e12, tb: 1e12, tib: KIB ** 4 };

/** `2147483648`, `500MB`, `4GiB`, `1.5 G` → bytes; undefined when it is not a size. */
export function parseByteSize(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : undefined;
}

/** The most bytes a file of unknown size may have when neither it nor ABLATE_FETCH_MAX_BYTES says otherwise: 2 GiB. */
export const DEFAULT_MAX_BYTES = 2 * KIB ** 3;
/** One file's download, every attempt and pause included, unless ABLATE_FETCH_DEADLINE_S says otherwise: 2 h. */
export const DEFAULT_DEADLINE_S = 2 * 3600;
/** Bytes per second below which (over a minute) an attempt fails, unless ABLATE_FETCH_MIN_SPEED says otherwise. */
export const DEFAULT_MIN_SPEED = 1000;
/** Progress that gives the retry budget back: a byte-then-reset server must not be retried forever. */
const PROGRESS_RESETS_RETRIES = KIB ** 2;

type Defaults = Required<Pick<FetchOptions, 'timeoutMs' | 'retries' | 'maxBytes' | 'deadlineMs' | 'minBytesPerS'>>;

/** The ABLATE_FETCH_* variables, for networks slower or flakier (or files bigger) than the defaults assume. */
function envDefaults(env: Record<string, string | undefined>): Defaults {
  const num = (name: string, fallback: number, min: number, what = 'a number'): number => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = what === 'a size' ? parseByteSize(v) : Number(v);
    if (n === undefined || !Number.isFinite(n) || n < min) {
      throw new TypeError(`Expected ${what} ≥ ${min}${what === 'a size' ? ' (bytes, or with a unit: 500MB, 4GiB)' : ''} for ${name} but received ${JSON.stringify(v)}`);
    }
    return n;
  };
  return {
    timeoutMs: num('ABLATE_FETCH_TIMEOUT_S', 30, 0.1) * 1000,
    retries: Math.floor(num('ABLATE_FETCH_RETRIES', 5, 0)),
    maxBytes: num('ABLATE_FETCH_MAX_BYTES', DEFAULT_MAX_BYTES, 1, 'a size'),
    deadlineMs: num('ABLATE_FETCH_DEADLINE_S', DEFAULT_DEADLINE_S, 1) * 1000,
    minBytesPerS: num('ABLATE_FETCH_MIN_SPEED', DEFAULT_MIN_SPEED, 0, 'a size'),
  };
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

/** What a file of unknown exact size may weigh at most, and how to say so when a server sends more. */
interface Ceiling {
  bytes: number;
  why: string;
  remedy: string;
}

interface Ctx {
  file: RemoteFile;
  url: string;
  dest: string;
  partial: string;
  o: Required<Pick<FetchOptions, 'timeoutMs' | 'retries' | 'backoffMs' | 'maxBackoffMs' | 'lockWaitMs' | 'maxBytes' | 'deadlineMs' | 'minBytesPerS' | 'speedWindowMs'>> & FetchOptions;
  log: (line: string) => void;
  dispatcher: Dispatcher;
  /** Undefined when the exact size is known (then that is enforced). */
  ceiling?: Ceiling;
  /** Aborted when the overall deadline passes. */
  deadline: AbortController;
}

/** One request's own abort: the caller's signal, the deadline, or the speed watchdog (which says why in `slow`). */
interface Attempt {
  ac: AbortController;
  slow?: string;
  unlink: () => void;
}

function newAttempt(ctx: Ctx): Attempt {
  const ac = new AbortController();
  const sources = [ctx.o.signal, ctx.deadline.signal].filter((x): x is AbortSignal => x !== undefined);
  const onAbort = () => ac.abort();
  for (const sig of sources) {
    if (sig.aborted) ac.abort();
    else sig.addEventListener('abort', onAbort, { once: true });
  }
  return { ac, unlink: () => sources.forEach((sig) => { sig.removeEventListener('abort', onAbort); }) };
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

function deadlineError(ctx: Ctx, url: string, done: number): DownloadError {
  return fail(ctx, 'timeout', `not finished within the deadline of ${formatSeconds(ctx.o.deadlineMs)} for one download (${formatBytes(done)} received)`,
    `on a slow network raise it with ABLATE_FETCH_DEADLINE_S=<seconds>, then ${RETRY_LATER}`, { url, retryable: false });
}

function networkError(ctx: Ctx, e: unknown, url: string, done: number, attempt?: Attempt): DownloadError {
  if (ctx.o.signal?.aborted) return fail(ctx, 'aborted', `interrupted after ${formatBytes(done)}`, RETRY_LATER, { url });
  if (ctx.deadline.signal.aborted) return deadlineError(ctx, url, done);
  if (attempt?.slow) {
    return fail(ctx, 'timeout', `${attempt.slow} (${formatBytes(done)} received)`,
      `${networkRemedy(ctx)}; on a very slow network lower the minimum with ABLATE_FETCH_MIN_SPEED=<bytes per second> (now ${ctx.o.minBytesPerS})`, { url });
  }
  const n = describeNetworkError(e);
  const failure: DownloadFailure = n.timeout ? 'timeout' : 'network';
  const detail = n.timeout ? `no data for ${ctx.o.timeoutMs / 1000} s: ${n.words}` : n.words;
  // A name that does not resolve is not retried: it is no network, a typo or a dead mirror.
  return fail(ctx, failure, `${detail}${done > 0 ? ` after ${formatBytes(done)}` : ''}`, networkRemedy(ctx), { cause: e, url, retryable: !n.fatal });
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${Number.isInteger(s) ? s : s.toFixed(s < 10 ? 1 : 0)} s`;
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
async function openResponse(ctx: Ctx, offset: number, attempt: Attempt): Promise<{ res: Dispatcher.ResponseData; url: string }> {
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
        signal: attempt.ac.signal,
      });
    } catch (e) {
      throw networkError(ctx, e, url, offset, attempt);
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

/** A failure whose bytes must not be built on: the partial file is deleted before it is reported. */
function discardPartial(ctx: Ctx): void {
  rmSync(ctx.partial, { force: true });
}

function tooBig(ctx: Ctx, c: Ceiling, what: string, url: string): DownloadError {
  return Object.assign(fail(ctx, 'size', `${what}, but ${ctx.file.name} may have at most ${c.bytes} bytes (${formatBytes(c.bytes)}: ${c.why}); nothing of it was kept`, c.remedy, { url }), { discard: true });
}

/** One request: append what the server sends to the partial file. Returns when the body ended. */
async function transferOnce(ctx: Ctx, progress: DownloadProgress | undefined): Promise<void> {
  let offset = partialSize(ctx.partial);
  const size = ctx.file.size;
  const limit = size ?? ctx.ceiling!.bytes;
  if (offset > limit) {
    discardPartial(ctx); // left by an older run, or before the ceiling was lowered: not this file
    offset = 0;
  }
  if (size !== undefined && offset === size) return; // a previous attempt got every byte; only verification is left
  const attempt = newAttempt(ctx);
  try {
    await transferBody(ctx, progress, offset, attempt);
  } finally {
    attempt.unlink();
  }
}

async function transferBody(ctx: Ctx, progress: DownloadProgress | undefined, offset: number, attempt: Attempt): Promise<void> {
  const size = ctx.file.size;
  const { res, url } = await openResponse(ctx, offset, attempt);
  const status = res.statusCode;
  const retryNow = (detail: string) => Object.assign(fail(ctx, 'network', detail, RETRY_LATER, { url }), { retryNow: true });
  if (status === 416 && offset > 0) {
    // We asked past the end: either we already hold it all, or the partial file is from something else.
    await res.body.dump().catch(() => undefined);
    const total = Number(/\/(\d+)\s*$/.exec(String(res.headers['content-range'] ?? ''))?.[1]);
    if (total === offset) return;
    discardPartial(ctx);
    throw retryNow("the partial download did not match the server's file; starting again");
  }
  if (status !== 200 && status !== 206) {
    await res.body.dump().catch(() => undefined);
    throw fail(ctx, 'http-status', statusWords(status), statusRemedy(ctx, status), { status, url });
  }
  const contentLength = res.headers['content-length'] !== undefined && /^\d+$/.test(String(res.headers['content-length'])) ? Number(res.headers['content-length']) : undefined;
  let start = 0;
  let total: number | undefined;
  if (status === 206) {
    const range = String(res.headers['content-range'] ?? '');
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range);
    if (!m || Number(m[1]) !== offset) {
      // Only a resumed request may get a part; anything else (or the wrong part) is started again from zero.
      await res.body.dump().catch(() => undefined);
      discardPartial(ctx);
      throw retryNow(`the server sent a part the download did not ask for (206 with Content-Range ${JSON.stringify(range)}, ${offset > 0 ? `asked for byte ${offset} on` : 'asked for the whole file'}); starting again from the beginning`);
    }
    start = offset;
    total = m[3] === '*' ? undefined : Number(m[3]);
    if (total === undefined && contentLength !== undefined) total = start + contentLength;
  } else {
    if (offset > 0) ctx.log(`${ctx.file.name}: the server does not resume downloads; starting again from the beginning`);
    total = contentLength;
  }
  if (size !== undefined && total !== undefined && total !== size) {
    await res.body.dump().catch(() => undefined);
    throw Object.assign(fail(ctx, 'size', `the server offers ${total} bytes but ${ctx.file.name} has ${size}: it is not the expected file`, statusRemedy(ctx, 404), { url }), { discard: true });
  }
  if (size === undefined && total !== undefined && total > ctx.ceiling!.bytes) {
    await res.body.dump({ limit: 0 }).catch(() => undefined);
    throw tooBig(ctx, ctx.ceiling!, `the server announced ${total} bytes (${formatBytes(total)})`, url);
  }
  const expectedTotal = size ?? total;
  const limit = size ?? Math.min(total ?? Infinity, ctx.ceiling!.bytes);

  let fh;
  try {
    fh = await open(ctx.partial, start === 0 ? 'w' : 'a');
  } catch (e) {
    await res.body.dump().catch(() => undefined);
    throw diskError(ctx, e, start);
  }
  let done = start;
  progress?.start(done, expectedTotal);
  // The speed watchdog: a server dripping a byte every few seconds never trips the no-data timeout.
  const windowMs = ctx.o.speedWindowMs;
  const minBytes = (ctx.o.minBytesPerS * windowMs) / 1000;
  let windowStart = Date.now();
  let windowBytes = 0;
  const watchdog = minBytes > 0 ? setInterval(() => {
    const now = Date.now();
    if (now - windowStart < windowMs) return;
    if (windowBytes < minBytes) {
      attempt.slow = `slower than the minimum of ${formatBytes(ctx.o.minBytesPerS)}/s: ${formatBytes(windowBytes)} in the last ${formatSeconds(now - windowStart)}`;
      attempt.ac.abort();
    }
    windowStart = now;
    windowBytes = 0;
  }, Math.max(20, Math.min(1000, windowMs / 4))) : undefined;
  try {
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        if (done + buf.length > limit) {
          if (size !== undefined || total !== undefined) {
            throw Object.assign(fail(ctx, 'size', `the server sent more than the ${limit} bytes ${size !== undefined ? 'the file has' : 'it announced'}`, size !== undefined ? statusRemedy(ctx, 404) : ctx.ceiling!.remedy, { url }), { discard: true });
          }
          throw tooBig(ctx, ctx.ceiling!, `the server sent more than ${limit} bytes`, url);
        }
        try {
          await fh.write(buf);
        } catch (e) {
          throw diskError(ctx, e, done);
        }
        done += buf.length;
        windowBytes += buf.length;
        progress?.update(done, expectedTotal);
      }
    } catch (e) {
      if (e instanceof DownloadError) throw e;
      throw networkError(ctx, e, url, done, attempt);
    }
  } finally {
    if (watchdog) clearInterval(watchdog);
    await fh.close().catch(() => undefined);
    progress?.interrupt();
    res.body.destroy();
  }
  if (attempt.slow || ctx.deadline.signal.aborted) throw networkError(ctx, undefined, url, done, attempt);
  if (expectedTotal !== undefined && done < expectedTotal) {
    throw fail(ctx, 'network', `the connection ended after ${done} of ${expectedTotal} bytes (a truncated transfer)`, networkRemedy(ctx), { url });
  }
}

/**
 * Transfer with retries and back-off, within the overall deadline. Only an attempt that brought real
 * progress (1 MiB) gives the retry budget back, so a byte-then-reset server runs out of attempts.
 */
async function transferWithRetries(ctx: Ctx, progress: DownloadProgress | undefined): Promise<void> {
  let failures = 0;
  for (;;) {
    const before = partialSize(ctx.partial);
    try {
      await transferOnce(ctx, progress);
      return;
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      if ((e as { discard?: boolean }).discard) discardPartial(ctx);
      const now = partialSize(ctx.partial);
      if ((e as { retryNow?: boolean }).retryNow && failures < ctx.o.retries && !ctx.deadline.signal.aborted) {
        failures++;
        continue;
      }
      if (now - before >= PROGRESS_RESETS_RETRIES) failures = 0; // it moved forward: a flaky line, not a dead one
      if (!isTransient(e) || failures >= ctx.o.retries || ctx.o.signal?.aborted || ctx.deadline.signal.aborted) {
        if (failures > 0 && (isTransient(e) || (e as { retryNow?: boolean }).retryNow)) {
          throw new DownloadError({ failure: e.failure, url: e.url, file: e.file, detail: `${e.detail} (gave up after ${failures + 1} attempts)`, remedy: e.remedy, manualUrl: e.manualUrl, status: e.status, cause: e });
        }
        throw e;
      }
      const wait = Math.min(ctx.o.maxBackoffMs, ctx.o.backoffMs * 2 ** failures);
      failures++;
      ctx.log(`${ctx.file.name}: ${e.detail}; retrying in ${(wait / 1000).toFixed(wait < 10_000 ? 1 : 0)} s (attempt ${failures + 1} of ${ctx.o.retries + 1})${now > 0 ? `, resuming at ${formatBytes(now)}` : ''}`);
      const attempt = newAttempt(ctx);
      try {
        await sleep(wait, undefined, { signal: attempt.ac.signal });
      } catch {
        throw ctx.o.signal?.aborted ? fail(ctx, 'aborted', `interrupted after ${formatBytes(now)}`, RETRY_LATER) : deadlineError(ctx, ctx.url, now);
      } finally {
        attempt.unlink();
      }
    }
  }
}

const lockPathOf = (ctx: Ctx): string => ctx.o.lockPath ?? `${ctx.dest}.lock`;

/** Take the per-file lock, waiting while another process holds it (it is downloading the same file). */
async function acquireLock(ctx: Ctx): Promise<() => Promise<void>> {
  // Imported here: proper-lockfile installs exit and signal handlers when it loads, which importing ablate must not.
  const { default: lockfile } = await import('proper-lockfile');
  const deadline = Date.now() + ctx.o.lockWaitMs;
  let told = false;
  for (;;) {
    try {
      return await lockfile.lock(ctx.dest, {
        realpath: false,
        lockfilePath: lockPathOf(ctx),
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
        throw fail(ctx, 'locked', `another process has been downloading it for over ${Math.round(ctx.o.lockWaitMs / 1000)} s (lock ${lockPathOf(ctx)})`, 'wait for it to finish, or stop it and run again');
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

/** The most bytes a file of unknown size may have: its own stated ceiling, else the default (ABLATE_FETCH_MAX_BYTES). */
function ceilingOf(file: RemoteFile, maxBytes: number): Ceiling | undefined {
  if (file.size !== undefined) return undefined;
  if (file.maxBytes !== undefined) {
    return { bytes: file.maxBytes, why: file.maxBytesWhy ?? 'the ceiling stated for this file', remedy: 'the server is not sending the expected file: check the address or the mirror (ABLATE_MIRROR / --mirror), or give the file its real size in ABLATE_CATALOGUE' };
  }
  return { bytes: maxBytes, why: 'the ceiling for files of unknown size, ABLATE_FETCH_MAX_BYTES', remedy: `if the file really is that big, raise the ceiling with ABLATE_FETCH_MAX_BYTES=<bytes, or e.g. 8GiB> (now ${maxBytes}), or give its size in ABLATE_CATALOGUE; otherwise the server is not sending the expected file` };
}

/**
 * Makes `<dir>/<file.name>` the verified file, downloading it if needed: streamed to `<name>.part`
 * (resumed with a Range request after an interruption), verified against its SHA-256, then renamed
 * into place, so the final name only ever holds a verified file. A verified copy already there is
 * never fetched again. Concurrent callers (other processes) wait on a lock and then find the file.
 * Bounded: a file never grows past its size (or ceiling), one download past its deadline, nor a trickle
 * below the minimum speed for a whole window.
 */
export async function fetchFile(file: RemoteFile, dir: string, options: FetchOptions = {}): Promise<FetchResult> {
  const o = { ...envDefaults(options.env ?? process.env), backoffMs: 1000, maxBackoffMs: 30_000, lockWaitMs: 6 * 3600_000, speedWindowMs: 60_000, ...options };
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const dest = join(dir, file.name);
  const url = sourceUrl(file, o.mirror);
  const expected = { sha256: file.sha256, sha256Prefix: file.sha256Prefix, size: file.size };
  const useStamp = o.useStamp !== false;
  const ctx: Ctx = { file, url, dest, partial: o.partialPath ?? `${dest}.part`, o, log, dispatcher: undefined as unknown as Dispatcher, ceiling: ceilingOf(file, o.maxBytes), deadline: new AbortController() };

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
    // Node's timers fire at once past 2^31 - 1 ms (24.8 days); a longer deadline is no deadline.
    const deadline = o.deadlineMs < 2 ** 31 ? setTimeout(() => ctx.deadline.abort(), o.deadlineMs) : undefined;
    try {
      await transferWithRetries(ctx, progress);
    } finally {
      clearTimeout(deadline);
    }

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
