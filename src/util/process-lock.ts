/**
 * Lock files that name their holder: one process per run folder, one runner per study folder.
 *
 * A lock is a small JSON file created atomically (written to a temp file, then hard-linked into place,
 * so nobody ever reads a half-written lock). It records who holds it: pid, host, when it started, and
 * the kernel's start time of that pid, so a pid reused after a crash is not mistaken for the holder.
 * A lock whose holder is dead on this host is taken over; a holder on another host cannot be checked
 * from here and is reported, never overridden.
 */
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, rmdirSync, statSync, utimesSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isMissingFile, readRegularTextSync } from './regular-file.js';

/** A lock file holds one small JSON holder record; anything larger is not ours. */
const MAX_LOCK_BYTES = 64 * 1024;

export interface LockHolder {
  pid: number;
  host: string;
  /** ISO 8601, when the holder took the lock. */
  startedAt: string;
  /** The pid's start time in clock ticks since boot (Linux /proc), to tell a reused pid from the holder. */
  procStart?: string;
  /** Linux boot id: after a reboot every pid of the previous boot is dead. */
  bootId?: string;
  /** What holds it, e.g. "ablate study run" or "training worker". */
  role?: string;
  /** Free-form extras (the study lock records its mode). */
  [key: string]: unknown;
}

export type HolderState = 'alive' | 'dead' | 'unknown';

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces). */
function procStartOf(pid: number): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

const bootId = (): string | undefined => readProc('/proc/sys/kernel/random/boot_id')?.trim();

/** The record this process writes into a lock it takes. */
export function selfHolder(role: string, extra: Record<string, unknown> = {}): LockHolder {
  const procStart = procStartOf(process.pid);
  const boot = bootId();
  return {
    pid: process.pid, host: hostname(), startedAt: new Date().toISOString(),
    ...(procStart ? { procStart } : {}), ...(boot ? { bootId: boot } : {}), role, ...extra,
  };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the holder still runs: checked on this host, `unknown` for a holder on another host. */
export function holderState(h: LockHolder): HolderState {
  if (h.host !== hostname()) return 'unknown';
  if (h.bootId && bootId() && h.bootId !== bootId()) return 'dead';
  if (!pidAlive(h.pid)) return 'dead';
  if (h.procStart && procStartOf(h.pid) !== undefined && procStartOf(h.pid) !== h.procStart) return 'dead'; // pid reused
  return 'alive';
}

/** `pid 1234 on host box, started 2026-11-30 14:02:11 UTC`. */
export function describeHolder(h: LockHolder): string {
  const started = Number.isNaN(Date.parse(h.startedAt)) ? h.startedAt : new Date(h.startedAt).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return `pid ${h.pid} on host ${h.host}, started ${started}`;
}

export type LockRead = { kind: 'none' } | { kind: 'held'; holder: LockHolder } | { kind: 'unreadable'; detail: string; ageMs: number };

/** The lock's holder; a bare pid (the format before holders were recorded) is read as a holder on this host. */
export function readLock(path: string): LockRead {
  let text: string;
  let ageMs = 0;
  try {
    text = readRegularTextSync(path, { what: 'lock file', maxBytes: MAX_LOCK_BYTES });
    ageMs = Date.now() - statSync(path).mtimeMs;
  } catch (e) {
    if (isMissingFile(e)) return { kind: 'none' };
    return { kind: 'unreadable', detail: (e as Error).message, ageMs };
  }
  const t = text.trim();
  if (/^\d+$/.test(t)) return { kind: 'held', holder: { pid: Number(t), host: hostname(), startedAt: 'unknown' } };
  try {
    const j = JSON.parse(t) as LockHolder;
    if (Number.isInteger(j.pid) && j.pid > 0 && typeof j.host === 'string') return { kind: 'held', holder: j };
  } catch { /* reported below */ }
  return { kind: 'unreadable', detail: `not a lock record: ${JSON.stringify(t.slice(0, 80))}`, ageMs };
}

export type TryLock =
  | { ok: true; release: () => void; tookOver?: LockHolder }
  | { ok: false; holder: LockHolder; state: HolderState };

/**
 * Creates `path` holding `text`, or returns false when it exists: the text is written in full under a
 * private name and linked into place (link(2) fails when the target exists), so it appears whole or not
 * at all. `mtime` stamps it first (claims measure heartbeat age by mtime).
 */
export function createExclusiveFile(path: string, text: string, mtime?: Date): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx');
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  try {
    if (mtime) utimesSync(tmp, mtime, mtime);
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Create `path` holding `me`, failing with EEXIST when it exists; the content is complete the moment it appears. */
function createExclusive(path: string, me: LockHolder): boolean {
  return createExclusiveFile(path, JSON.stringify(me) + '\n');
}

/**
 * Replace a dead holder's lock. A short-lived mutex directory makes the read-check-replace step
 * atomic, so two processes that both find the same stale lock cannot both end up "holding" it.
 */
function takeOver(path: string, stale: LockHolder | undefined, me: LockHolder): boolean {
  const mutex = `${path}.takeover`;
  try {
    mkdirSync(mutex);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // A takeover that died half-way leaves its mutex behind; it is only ever held for microseconds.
    try {
      if (Date.now() - statSync(mutex).mtimeMs > 10_000) rmdirSync(mutex);
    } catch { /* someone else cleaned it */ }
    return false;
  }
  try {
    const now = readLock(path);
    const same = now.kind === 'none' || (now.kind === 'held' && stale !== undefined && now.holder.pid === stale.pid && now.holder.startedAt === stale.startedAt)
      || (now.kind === 'unreadable' && stale === undefined);
    if (!same) return false;
    rmSync(path, { force: true });
    return createExclusive(path, me);
  } finally {
    rmdirSync(mutex);
  }
}

/**
 * Take a lock that a live process hands over on purpose (a study runner claims a run before writing into
 * it, then its worker takes the run): replaced only if `from` still holds it.
 */
export function takeOverFrom(path: string, from: LockHolder, me: LockHolder): boolean {
  for (let attempt = 0; attempt < 50; attempt++) {
    const cur = readLock(path);
    if (cur.kind !== 'held' || cur.holder.pid !== from.pid || cur.holder.startedAt !== from.startedAt) return false;
    if (takeOver(path, from, me)) return true;
  }
  return false;
}

/**
 * One attempt to take the lock: it is ours, or here is who holds it. A dead holder on this host (or
 * an unreadable lock older than a few seconds) is taken over.
 */
export function tryLock(path: string, me: LockHolder): TryLock {
  for (let attempt = 0; attempt < 20; attempt++) {
    if (createExclusive(path, me)) return { ok: true, release: releaser(path, me) };
    const cur = readLock(path);
    if (cur.kind === 'none') continue; // released between our attempt and the read
    if (cur.kind === 'unreadable') {
      if (cur.ageMs > 5_000 && takeOver(path, undefined, me)) return { ok: true, release: releaser(path, me) };
      continue;
    }
    const h = cur.holder;
    if (h.pid === me.pid && h.host === me.host) return { ok: true, release: releaser(path, me) };
    const state = holderState(h);
    if (state !== 'dead') return { ok: false, holder: h, state };
    if (takeOver(path, h, me)) return { ok: true, release: releaser(path, me), tookOver: h };
  }
  const cur = readLock(path);
  if (cur.kind === 'held') return { ok: false, holder: cur.holder, state: holderState(cur.holder) };
  throw new Error(`could not take the lock ${path}: ${cur.kind === 'unreadable' ? cur.detail : 'it keeps changing hands'}`);
}

/** Removes the lock only while it is still ours (never a lock someone took over after us). */
function releaser(path: string, me: LockHolder): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const cur = readLock(path);
    if (cur.kind === 'held' && cur.holder.pid === me.pid && cur.holder.host === me.host) rmSync(path, { force: true });
  };
}

/** The holder of `path` when a live (or unverifiable) process holds it; undefined when free or stale. */
export function liveHolder(path: string): { holder: LockHolder; state: HolderState } | undefined {
  const cur = readLock(path);
  if (cur.kind !== 'held') return undefined;
  const state = holderState(cur.holder);
  return state === 'dead' ? undefined : { holder: cur.holder, state };
}
