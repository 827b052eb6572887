import { runFolder } from './folder.js';
import { hostname } from 'node:os';
import { describeHolder, liveHolder, selfHolder, takeOverFrom, tryLock, type LockHolder } from '../util/process-lock.js';

/**
 * Set by a study runner for its worker: the pid of the runner, which claimed the run's lock before
 * writing into the folder. The worker takes the lock over from it (and from nobody else).
 */
export const LOCK_HANDOVER_ENV = 'ABLATE_RUN_LOCK_FROM';

export function runLockPath(runDir: string): string {
  return runFolder(runDir).lock;
}

/** The run folder belongs to another live process: nothing may be written into it. */
export class RunBusyError extends Error {
  constructor(readonly runDir: string, readonly holder: LockHolder) {
    super(`run folder ${runDir} is in use by ${holder.role ?? 'another process'} (${describeHolder(holder)}); ` +
      `nothing was written to it — wait for that process to finish or stop it (kill ${holder.pid}), then run this again`);
    this.name = 'RunBusyError';
  }
}

/** Who holds the run folder now; undefined when nobody alive does. */
export function runHolder(runDir: string): LockHolder | undefined {
  return liveHolder(runLockPath(runDir))?.holder;
}

/**
 * One process per run folder. A holder that is still alive (e.g. a worker finishing its last step after
 * its study runner died) is waited for up to `waitMs`, then RunBusyError; a lock left by a dead process
 * is taken over.
 */
export async function acquireRunLock(runDir: string, o: { waitMs?: number; role?: string; handoverFrom?: number } = {}): Promise<() => void> {
  const waitMs = o.waitMs ?? 10_000;
  const me = selfHolder(o.role ?? 'training process');
  const deadline = Date.now() + waitMs;
  for (;;) {
    const r = tryLock(runLockPath(runDir), me);
    if (r.ok) return r.release;
    if (o.handoverFrom !== undefined && r.holder.pid === o.handoverFrom && r.holder.host === hostname() && takeOverFrom(runLockPath(runDir), r.holder, me)) {
      const again = tryLock(runLockPath(runDir), me); // ours now: this returns its releaser
      if (again.ok) return again.release;
    }
    if (Date.now() >= deadline) throw new RunBusyError(runDir, r.holder);
    await new Promise((res) => setTimeout(res, 200));
  }
}
