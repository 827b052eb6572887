// Cooperating study workers (`ablate study run FILE --worker`) meet in the study folder, on a filesystem
// they share: a run is claimed by creating `<run>/claim.json` with link(2), which fails when the file exists,
// so exactly one worker wins; the winner's heartbeat keeps the claim's mtime fresh; a claim whose heartbeat
// stopped (its machine died, its job was preempted) is replaced by one worker only — the one that holds an
// exclusive takeover file and still finds it stale — and the new owner resumes the run from its checkpoint.
import { closeSync, mkdirSync, openSync, rmSync, statSync, utimesSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createExclusiveFile } from '../util/process-lock.js';
import { isMissingFile, readRegularTextSync } from '../util/regular-file.js';
import { runFolder } from '../run/folder.js';

export interface Claim {
  worker: string;
  host: string;
  pid: number;
  claimedAt: string;
}

export interface ClaimOptions {
  /** A claim whose heartbeat is older than this is taken over. Default 90 s. */
  staleMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export type ClaimResult =
  | { kind: 'claimed'; takenOverFrom?: Claim }
  | { kind: 'held'; by: Claim; ageMs: number };

/** A worker's identity: host, pid and a random suffix (pids repeat across machines and restarts). */
export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export class RunClaims {
  readonly staleMs: number;
  private readonly now: () => number;

  constructor(
    readonly studyDir: string,
    readonly worker: string,
    o: ClaimOptions = {},
  ) {
    this.staleMs = o.staleMs ?? 90_000;
    this.now = o.now ?? Date.now;
  }

  claimPath(run: string): string {
    return runFolder(join(this.studyDir, run)).claim;
  }

  /** The current claim on `run`, or null; a torn claim file reads as a claim of unknown owner. */
  read(run: string): { claim: Claim; ageMs: number } | null {
    const path = this.claimPath(run);
    let text: string;
    let mtime: number;
    try {
      mtime = statSync(path).mtimeMs;
      text = readRegularTextSync(path, { what: 'claim file', maxBytes: 64 * 1024 });
    } catch (e) {
      if (isMissingFile(e)) return null;
      throw e;
    }
    let claim: Claim;
    try {
      claim = JSON.parse(text) as Claim;
    } catch {
      claim = { worker: 'unknown (torn claim file)', host: '?', pid: 0, claimedAt: new Date(mtime).toISOString() };
    }
    return { claim, ageMs: Math.max(0, this.now() - mtime) };
  }

  /** Claims `run` unless a live worker holds it; takes over a claim whose heartbeat is older than staleMs. */
  tryClaim(run: string): ClaimResult {
    mkdirSync(join(this.studyDir, run), { recursive: true });
    const mine: Claim = { worker: this.worker, host: hostname(), pid: process.pid, claimedAt: new Date(this.now()).toISOString() };
    if (this.#link(run, mine)) return { kind: 'claimed' };
    const cur = this.read(run);
    if (cur === null) return this.#link(run, mine) ? { kind: 'claimed' } : this.#held(run);
    if (cur.claim.worker === this.worker) {
      this.heartbeat(run);
      return { kind: 'claimed' };
    }
    if (cur.ageMs <= this.staleMs) return { kind: 'held', by: cur.claim, ageMs: cur.ageMs };
    // Stale. Replacing it is guarded by an exclusive takeover file, so that of several workers racing
    // here exactly one re-reads the claim, finds it still stale, and replaces it.
    const guard = `${this.claimPath(run)}.takeover`;
    try {
      closeSync(openSync(guard, 'wx'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A worker that died in the middle of a takeover leaves its guard behind: it expires like a claim.
      try {
        if (this.now() - statSync(guard).mtimeMs > this.staleMs) rmSync(guard, { force: true });
      } catch {}
      return this.#held(run);
    }
    try {
      const again = this.read(run);
      if (again === null) return this.#link(run, mine) ? { kind: 'claimed' } : this.#held(run);
      if (again.claim.worker !== cur.claim.worker || again.ageMs <= this.staleMs) return { kind: 'held', by: again.claim, ageMs: again.ageMs };
      rmSync(this.claimPath(run), { force: true });
      return this.#link(run, mine) ? { kind: 'claimed', takenOverFrom: cur.claim } : this.#held(run);
    } finally {
      rmSync(guard, { force: true });
    }
  }

  /**
   * Renews the claim; false when it is no longer this worker's (taken over after a long stall), in which
   * case the caller must stop the run without writing anything more into it.
   */
  heartbeat(run: string): boolean {
    const cur = this.read(run);
    if (cur === null || cur.claim.worker !== this.worker) return false;
    const t = new Date(this.now());
    utimesSync(this.claimPath(run), t, t);
    return true;
  }

  /** Drops the claim if it is still this worker's. */
  release(run: string): void {
    const cur = this.read(run);
    if (cur !== null && cur.claim.worker === this.worker) rmSync(this.claimPath(run), { force: true });
  }

  #held(run: string): ClaimResult {
    const cur = this.read(run);
    return cur ? { kind: 'held', by: cur.claim, ageMs: cur.ageMs } : { kind: 'held', by: { worker: 'unknown', host: '?', pid: 0, claimedAt: '' }, ageMs: 0 };
  }

  /** The claim appears whole or not at all, stamped with this worker's clock. */
  #link(run: string, claim: Claim): boolean {
    return createExclusiveFile(this.claimPath(run), JSON.stringify(claim), new Date(this.now()));
  }
}

/**
 * Which runs a scheduler's array task owns: `--shard I/N`, or Slurm's SLURM_ARRAY_TASK_ID/COUNT, or
 * Kubernetes' JOB_COMPLETION_INDEX with a shard count; run k belongs to shard k mod N.
 */
export function parseShard(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): { index: number; count: number } | null {
  let index: number;
  let count: number;
  let from: string;
  if (flag !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(flag.trim());
    if (!m) throw new RangeError(`Expected --shard I/N (e.g. 0/4) but received ${JSON.stringify(flag)}`);
    [index, count, from] = [Number(m[1]), Number(m[2]), '--shard'];
  } else if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const min = Number(env.SLURM_ARRAY_TASK_MIN ?? '0');
    index = Number(env.SLURM_ARRAY_TASK_ID) - min;
    count = Number(env.SLURM_ARRAY_TASK_COUNT ?? NaN);
    from = 'SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT';
  } else if (env.JOB_COMPLETION_INDEX !== undefined) {
    index = Number(env.JOB_COMPLETION_INDEX);
    count = Number(env.ABLATE_SHARDS ?? NaN);
    from = 'JOB_COMPLETION_INDEX/ABLATE_SHARDS (set ABLATE_SHARDS to the Job\'s completions)';
  } else return null;
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`Expected a shard index in [0, N) and N ≥ 1 from ${from} but received index ${index} of ${count}`);
  }
  return { index, count };
}
