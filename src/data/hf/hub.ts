/**
 * The Hugging Face Hub, as `huggingface_hub` sees it: a revision resolved once to a commit through the
 * API, files fetched from `resolve/<commit>/<path>`, and everything kept in the Hub's own cache layout
 * (`hub/datasets--OWNER--NAME/{blobs,snapshots/<commit>,refs}`), so Python and ablate share one copy.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { ablateVersion } from '../../util/version.js';
import { isMissingFile, readRegularFileSync, readRegularTextSync } from '../../util/regular-file.js';
import { fetchFile, proxyDispatcher, type FetchOptions } from '../fetch/download.js';
import { describeNetworkError } from '../fetch/errors.js';

type Env = Record<string, string | undefined>;

/** `owner/name` (or a bare `name`, as old canonical datasets were), in the Hub's allowed characters. */
const REPO_ID = /^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
const COMMIT = /^[0-9a-f]{40}$/;
/** The API answer is JSON describing the repo; a few MB for the largest. Anything bigger is not the Hub. */
const MAX_API_BYTES = 64 << 20;

export class HubError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubError';
  }
}

export function checkRepoId(id: string): string {
  if (typeof id !== 'string' || !REPO_ID.test(id) || id.includes('..') || id.includes('--')) {
    throw new HubError(`Expected a Hugging Face dataset id such as 'ethz/food101' or 'beans' for data.name but received ${JSON.stringify(id)}`);
  }
  return id;
}

/** $HF_ENDPOINT (a mirror) or the Hub. */
export function hfEndpoint(env: Env = process.env): string {
  const e = env.HF_ENDPOINT;
  if (!e) return 'https://huggingface.co';
  let u: URL;
  try {
    u = new URL(e);
  } catch {
    throw new HubError(`Expected an http(s) URL in HF_ENDPOINT but received ${JSON.stringify(e)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new HubError(`Expected an http(s) URL in HF_ENDPOINT but received ${JSON.stringify(e)}`);
  return e.replace(/\/+$/, '');
}

const expand = (p: string): string => resolve(p.replace(/^~(?=$|\/)/, homedir()));

/** HF_HOME as huggingface_hub computes it: $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(env: Env = process.env): string {
  if (env.HF_HOME) return expand(env.HF_HOME);
  return join(env.XDG_CACHE_HOME ? expand(env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'huggingface');
}

/** $HF_HUB_CACHE, else $HF_HOME/hub. */
export function hfHubCache(env: Env = process.env): string {
  return env.HF_HUB_CACHE ? expand(env.HF_HUB_CACHE) : join(hfHome(env), 'hub');
}

/** HF_HUB_OFFLINE as huggingface_hub reads it (1, true, yes, on). */
export function hfOffline(env: Env = process.env): boolean {
  return ['1', 'true', 'yes', 'on'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase());
}

/** $HF_TOKEN, else the token `huggingface-cli login` saved ($HF_HOME/token). */
export function hfToken(env: Env = process.env): string | undefined {
  if (env.HF_TOKEN) return env.HF_TOKEN.trim();
  const file = env.HF_TOKEN_PATH ? expand(env.HF_TOKEN_PATH) : join(hfHome(env), 'token');
  try {
    return readRegularTextSync(file, { what: 'Hugging Face token file', maxBytes: 4096 }).trim() || undefined;
  } catch (e) {
    if (isMissingFile(e)) return undefined;
    throw e;
  }
}

/** `<cache>/datasets--OWNER--NAME`, huggingface_hub's repo_folder_name. */
export function repoFolder(id: string, env: Env = process.env): string {
  return join(hfHubCache(env), `datasets--${id.split('/').join('--')}`);
}

/** One file of a revision: its path in the repo, and what the Hub says it is. */
export interface HubFile {
  path: string;
  size?: number;
  /** LFS files: the SHA-256 of the content, which is also the blob's name and the ETag. */
  sha256?: string;
  /** The git blob id: the ETag (and blob name) of a file not in LFS. */
  blobId?: string;
}

export interface HubRevision {
  id: string;
  /** What was asked for: a branch, tag or commit. */
  revision: string;
  commit: string;
  files: HubFile[];
  /** 'api': listed by the Hub now; 'cache': read from the local snapshot, no request made. */
  from: 'api' | 'cache';
}

export interface HubOptions {
  env?: Env;
  log?: (line: string) => void;
  progress?: FetchOptions['progress'];
  signal?: AbortSignal;
  timeoutMs?: number;
  retries?: number;
  backoffMs?: number;
}

const safeRev = (rev: string): boolean => rev !== '' && !rev.split('/').some((p) => p === '' || p === '.' || p === '..') && !/[\0\\]/.test(rev);

export function readRef(id: string, rev: string, env: Env = process.env): string | undefined {
  if (!safeRev(rev)) return undefined;
  const p = join(repoFolder(id, env), 'refs', ...rev.split('/'));
  try {
    const c = readRegularTextSync(p, { what: 'Hub cache ref', maxBytes: 100 }).trim();
    return COMMIT.test(c) ? c : undefined;
  } catch {
    return undefined; // absent or not a ref: resolved again (or reported missing offline)
  }
}

function writeRef(id: string, rev: string, commit: string, env: Env): void {
  if (rev === commit || !safeRev(rev)) return;
  const p = join(repoFolder(id, env), 'refs', ...rev.split('/'));
  mkdirSync(dirname(p), { recursive: true });
  const tmp = `${p}.${process.pid}.tmp`;
  writeFileSync(tmp, commit); // huggingface_hub writes the bare commit, no newline
  renameSync(tmp, p);
}

/** Files of a snapshot already in the cache (links to blobs, or plain files), relative paths with '/'. */
export function snapshotFiles(id: string, commit: string, env: Env = process.env): HubFile[] {
  const root = join(repoFolder(id, env), 'snapshots', commit);
  const out: HubFile[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 16) return;
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      let st;
      try {
        st = statSync(p); // follows the link to the blob: a dangling link is a file we do not have
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p, depth + 1);
      else if (st.isFile()) out.push({ path: relative(root, p).split('\\').join('/'), size: st.size });
    }
  };
  walk(root, 0);
  return out;
}

function gatedMessage(id: string, status: number, token: string | undefined, endpoint: string): string {
  const page = `${endpoint}/datasets/${id}`;
  if (token) {
    return `The Hub refused ${id} (HTTP ${status}) with the token in HF_TOKEN: the dataset is gated or private and this token has no access.\n` +
      `  Accept its conditions at ${page} with the account the token belongs to (or use a token of an account that has access), then run again.`;
  }
  return `The Hub refused ${id} (HTTP ${status}) without a token: the dataset is gated or private, or does not exist.\n` +
    `  Accept its conditions at ${page}, create a read token at ${endpoint}/settings/tokens and set HF_TOKEN to it (or run \`huggingface-cli login\`), then run again.`;
}

async function readBodyCapped(body: AsyncIterable<unknown>, cap: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = c as Buffer;
    n += b.length;
    if (n > cap) throw new HubError(`Expected ${what} of at most ${cap >> 20} MiB but the server sent more; it is not the Hugging Face Hub API (check HF_ENDPOINT)`);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/**
 * GET with redirects followed (a renamed dataset, `food101` → `ethz/food101`, answers 307), the token sent
 * only while the host stays the same.
 */
async function getFollowing(first: string, token: string | undefined, o: { dispatcher: ReturnType<typeof proxyDispatcher>; timeoutMs: number; signal?: AbortSignal }) {
  let url = first;
  for (let hop = 0; ; hop++) {
    const sameHost = new URL(url).host === new URL(first).host;
    const res = await request(url, {
      method: 'GET', dispatcher: o.dispatcher, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs, signal: o.signal,
      headers: { 'user-agent': `ablate/${ablateVersion()}`, accept: 'application/json', ...(token && sameHost ? { authorization: `Bearer ${token}` } : {}) },
    });
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(res.statusCode) || typeof location !== 'string' || hop >= 5) return res;
    await res.body.dump().catch(() => undefined);
    url = new URL(location, url).href;
  }
}

/** GET the API's JSON for a revision, retrying transient failures; 401/403 name HF_TOKEN. */
async function apiRevision(id: string, rev: string, o: HubOptions): Promise<{ json: unknown; commitHeader?: string }> {
  const env = o.env ?? process.env;
  const endpoint = hfEndpoint(env);
  const token = hfToken(env);
  const url = `${endpoint}/api/datasets/${id}/revision/${encodeURIComponent(rev)}?blobs=True`; // as huggingface_hub asks (files_metadata=True)
  const timeoutMs = o.timeoutMs ?? 30_000;
  const retries = o.retries ?? 3;
  const dispatcher = proxyDispatcher(env);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await getFollowing(url, token, { dispatcher, timeoutMs, signal: o.signal });
        if (res.statusCode === 401 || res.statusCode === 403) {
          await res.body.dump().catch(() => undefined);
          throw new HubError(gatedMessage(id, res.statusCode, token, endpoint));
        }
        if (res.statusCode === 404) {
          await res.body.dump().catch(() => undefined);
          throw new HubError(`The Hub at ${endpoint} has no dataset ${id} at revision '${rev}' (HTTP 404).\n  Check data.name and data.revision (a branch, tag or 40-hex commit), or set HF_TOKEN if the dataset is private.`);
        }
        if (res.statusCode >= 500 || res.statusCode === 429) {
          await res.body.dump().catch(() => undefined);
          throw Object.assign(new HubError(`The Hub at ${endpoint} answered HTTP ${res.statusCode} for ${url}; try again later`), { transient: true });
        }
        if (res.statusCode !== 200) {
          await res.body.dump().catch(() => undefined);
          throw new HubError(`Expected HTTP 200 with the file list of ${id}@${rev} from ${url} but received HTTP ${res.statusCode}`);
        }
        const raw = await readBodyCapped(res.body, MAX_API_BYTES, `the file list of ${id}`);
        let json: unknown;
        try {
          json = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new HubError(`Expected JSON with the file list of ${id}@${rev} from ${url} but received ${raw.length} bytes that are not JSON; check HF_ENDPOINT`);
        }
        const h = res.headers['x-repo-commit'];
        return { json, commitHeader: typeof h === 'string' ? h : undefined };
      } catch (e) {
        const transient = (e as { transient?: boolean }).transient === true || (!(e instanceof HubError) && !o.signal?.aborted && !describeNetworkError(e).fatal);
        if (!transient || attempt >= retries) {
          if (e instanceof HubError) throw e;
          if (o.signal?.aborted) throw new HubError(`Interrupted while asking ${endpoint} for ${id}@${rev}`);
          throw new HubError(`Could not reach the Hub at ${endpoint} for ${id}@${rev}: ${describeNetworkError(e).words}.\n` +
            `  Check the network (HTTPS_PROXY), set HF_ENDPOINT to a mirror, or set HF_HUB_OFFLINE=1 to use the files already in ${hfHubCache(env)}.`);
        }
        await sleep((o.backoffMs ?? 1000) * 2 ** attempt, undefined, { signal: o.signal }).catch(() => undefined);
      }
    }
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseSiblings(id: string, rev: string, json: unknown, commitHeader?: string): { commit: string; files: HubFile[] } {
  const bad = (what: string) => new HubError(`Expected the Hub's answer for ${id}@${rev} to hold ${what}; check HF_ENDPOINT points at a Hugging Face Hub`);
  if (!isObj(json)) throw bad('an object');
  const commit = typeof json.sha === 'string' ? json.sha : commitHeader;
  if (!commit || !COMMIT.test(commit)) throw bad(`a 40-hex commit in 'sha' (received ${JSON.stringify(json.sha)})`);
  if (!Array.isArray(json.siblings)) throw bad("a 'siblings' file list");
  const files: HubFile[] = [];
  for (const s of json.siblings) {
    if (!isObj(s) || typeof s.rfilename !== 'string') throw bad("siblings with an 'rfilename'");
    const path = s.rfilename;
    if (path === '' || path.startsWith('/') || path.split('/').some((p) => p === '..' || p === '.' || p === '') || path.includes('\\') || path.includes('\0')) {
      throw new HubError(`Refusing the file ${JSON.stringify(path)} listed for ${id}@${rev}: a repo path must stay inside the repo`);
    }
    const lfs = isObj(s.lfs) ? s.lfs : undefined;
    const sha256 = typeof lfs?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(lfs.sha256) ? lfs.sha256 : undefined;
    const size = typeof lfs?.size === 'number' ? lfs.size : typeof s.size === 'number' ? s.size : undefined;
    const blobId = typeof s.blobId === 'string' && /^[0-9a-f]{40}$/.test(s.blobId) ? s.blobId : undefined;
    files.push({ path, size, sha256, blobId });
  }
  return { commit, files };
}

/**
 * The commit and file list of `id@rev`. A 40-hex commit whose snapshot is in the cache needs no request
 * (reruns and pinned plans read the same bytes offline); HF_HUB_OFFLINE=1 reads only refs/ and snapshots/.
 */
export async function resolveRevision(id: string, rev: string, o: HubOptions = {}, askHub = false): Promise<HubRevision> {
  checkRepoId(id);
  const env = o.env ?? process.env;
  const cachedCommit = COMMIT.test(rev) ? rev : hfOffline(env) ? readRef(id, rev, env) : undefined;
  if (cachedCommit && !(askHub && !hfOffline(env))) {
    const files = snapshotFiles(id, cachedCommit, env);
    if (files.length > 0 || hfOffline(env)) {
      if (files.length === 0) throw offlineMissing(id, rev, env);
      return { id, revision: rev, commit: cachedCommit, files, from: 'cache' };
    }
  }
  if (hfOffline(env)) throw offlineMissing(id, rev, env);
  const { json, commitHeader } = await apiRevision(id, rev, o);
  const { commit, files } = parseSiblings(id, rev, json, commitHeader);
  writeRef(id, rev, commit, env);
  return { id, revision: rev, commit, files, from: 'api' };
}

export function offlineMissing(id: string, rev: string, env: Env, split?: { name: string; have: string[] }): HubError {
  if (split) {
    return new HubError(`HF_HUB_OFFLINE is set and split '${split.name}' of ${id}@${rev} is not in the Hub cache (the snapshot holds ${split.have.join(', ') || 'no split'}).\n` +
      `  Fetch it once with network (\`ablate data get hf:${id} --split ${split.name}\`), or unset HF_HUB_OFFLINE.`);
  }
  return new HubError(`HF_HUB_OFFLINE is set and ${id}@${rev} is not in the Hub cache (${repoFolder(id, env)} has no ${COMMIT.test(rev) ? `snapshots/${rev}` : `refs/${rev} with a snapshot`}).\n` +
    `  Fetch it once with network (\`ablate data get hf:${id}\`, or Python's datasets.load_dataset), or unset HF_HUB_OFFLINE.`);
}

/** The blob name huggingface_hub gives a file: the LFS SHA-256, else the git blob id (both are its ETag). */
export function blobName(f: HubFile): string | undefined {
  return f.sha256 ?? f.blobId;
}

/** `<snapshot>/<path>` pointing at `../../blobs/<etag>` relatively, as huggingface_hub links it. */
function linkSnapshot(id: string, commit: string, f: HubFile, blob: string, env: Env): string {
  const folder = repoFolder(id, env);
  const dest = join(folder, 'snapshots', commit, ...f.path.split('/'));
  mkdirSync(dirname(dest), { recursive: true });
  const target = posix.relative(posix.dirname(['snapshots', commit, ...f.path.split('/')].join('/')), `blobs/${blob}`);
  try {
    if (lstatSync(dest).isSymbolicLink() && readlinkSync(dest) === target) return dest;
    rmSync(dest, { force: true });
  } catch {
    /* absent */
  }
  const tmp = `${dest}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, dest);
  return dest;
}

/** A file outside LFS (the card) has no SHA-256 listed, but its git blob id is a SHA-1 of its content. */
function checkGitBlob(path: string, f: HubFile, id: string): void {
  const body = readRegularFileSync(path, { what: 'Hub file', maxBytes: 64 << 20 });
  const got = createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex');
  if (got !== f.blobId) {
    rmSync(path, { force: true });
    throw new HubError(`Received ${f.path} of ${id} whose git blob id is ${got}, but the Hub lists ${f.blobId}; the download was deleted. Run again, and check HF_ENDPOINT if it repeats`);
  }
}

/** Is the file at `p` (following links) the size the Hub lists? (Python's cache is trusted the same way.) */
function presentWithSize(p: string, size: number | undefined): boolean {
  try {
    const st = statSync(p);
    return st.isFile() && (size === undefined || st.size === size);
  } catch {
    return false;
  }
}

/**
 * Make `files` of a resolved revision present in the snapshot folder and return their local paths.
 * LFS files (the Parquet shards) are checked against their SHA-256 as they arrive; a blob already in
 * the cache (fetched by Python or an earlier run) is linked, not fetched again.
 */
export async function ensureHubFiles(rev: HubRevision, files: readonly HubFile[], o: HubOptions = {}): Promise<string[]> {
  const env = o.env ?? process.env;
  const folder = repoFolder(rev.id, env);
  const snap = (f: HubFile) => join(folder, 'snapshots', rev.commit, ...f.path.split('/'));
  const out: string[] = [];
  const token = hfToken(env);
  for (const f of files) {
    const local = snap(f);
    if (presentWithSize(local, f.size)) {
      out.push(local);
      continue;
    }
    if (rev.from === 'cache' || hfOffline(env)) throw offlineMissing(rev.id, rev.revision, env);
    const blob = blobName(f);
    if (!blob) throw new HubError(`The Hub listed ${f.path} of ${rev.id} without a blob id or SHA-256; cannot place it in the cache (check HF_ENDPOINT)`);
    const blobs = join(folder, 'blobs');
    if (!presentWithSize(join(blobs, blob), f.size)) {
      const url = `${hfEndpoint(env)}/datasets/${rev.id}/resolve/${rev.commit}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
      // huggingface_hub's names: the download in progress is blobs/<etag>.incomplete (either resumes the
      // other's), and locks live under .locks/ (ours beside Python's <etag>.lock, which is an OS file lock).
      const locks = join(hfHubCache(env), '.locks', basename(folder));
      mkdirSync(locks, { recursive: true });
      await fetchFile({ name: blob, url, size: f.size, sha256: f.sha256 }, blobs, {
        useStamp: false, label: f.path, log: o.log, progress: o.progress, signal: o.signal, env,
        partialPath: join(blobs, `${blob}.incomplete`), lockPath: join(locks, `${blob}.ablate-lock`),
        headers: token ? { authorization: `Bearer ${token}` } : undefined,
        ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
        ...(o.retries !== undefined ? { retries: o.retries } : {}),
        ...(o.backoffMs !== undefined ? { backoffMs: o.backoffMs } : {}),
      });
      if (!f.sha256 && f.blobId) checkGitBlob(join(blobs, blob), f, rev.id);
    }
    out.push(linkSnapshot(rev.id, rev.commit, f, blob, env));
  }
  return out;
}

/** Datasets in the Hub cache: id, the commits held, refs, and bytes in blobs. */
export interface CachedHubDataset {
  id: string;
  folder: string;
  refs: Record<string, string>;
  snapshots: string[];
  bytes: number;
}

export function listHubCache(env: Env = process.env): CachedHubDataset[] {
  const cache = hfHubCache(env);
  let names: string[];
  try {
    names = readdirSync(cache).filter((n) => n.startsWith('datasets--')).sort();
  } catch {
    return [];
  }
  return names.map((n) => {
    const folder = join(cache, n);
    const id = n.slice('datasets--'.length).split('--').join('/');
    const refs: Record<string, string> = {};
    const walkRefs = (dir: string, prefix: string): void => {
      for (const e of (() => { try { return readdirSync(dir, { withFileTypes: true }); } catch { return []; } })()) {
        if (e.isDirectory()) walkRefs(join(dir, e.name), `${prefix}${e.name}/`);
        else {
          const c = readRef(id, `${prefix}${e.name}`, env);
          if (c) refs[`${prefix}${e.name}`] = c;
        }
      }
    };
    walkRefs(join(folder, 'refs'), '');
    const snapshots = existsSync(join(folder, 'snapshots')) ? readdirSync(join(folder, 'snapshots')).filter((c) => COMMIT.test(c)).sort() : [];
    let bytes = 0;
    try {
      for (const b of readdirSync(join(folder, 'blobs'))) {
        try {
          const st = lstatSync(join(folder, 'blobs', b));
          if (st.isFile()) bytes += st.size;
        } catch {
          /* removed meanwhile */
        }
      }
    } catch {
      /* no blobs yet */
    }
    return { id, folder, refs, snapshots, bytes };
  });
}
