/**
 * One runner per study folder. `ablate study run` holds `<study>/study.lock` for as long as it runs;
 * a second runner on the same folder refuses at once and names the holder.
 *
 * The lock records a `mode`. Today the only mode is `exclusive` (one runner schedules every run). A
 * cooperative mode (`study run --worker`, several processes sharing a study, issue 15) is meant to sit
 * beside it: cooperating workers would not take this file but register under `<study>/workers/` and
 * claim runs one by one through the runs' own locks (src/run/run-lock.ts), which already name their
 * holder; an exclusive runner refuses while live workers are registered, and a worker refuses while an
 * exclusive lock is held. Either way no process writes into a run that another live process owns.
 */
import { join, resolve } from 'node:path';
import { ablateVersion } from '../util/version.js';
import { describeHolder, selfHolder, tryLock, type LockHolder } from '../util/process-lock.js';

export const STUDY_LOCK = 'study.lock';

/** A study's output folder: `--out`, else runs/<study name> (relative to the working directory). */
export function studyDirFor(outOrName: string, isOut: boolean): string {
  return resolve(isOut ? outOrName : join('runs', outOrName));
}

export type StudyLockMode = 'exclusive';

export class StudyBusyError extends Error {
  constructor(readonly studyDir: string, readonly holder: LockHolder, readonly verifiable: boolean) {
    const who = `${String(holder.role ?? 'another ablate study run')} (${describeHolder(holder)})`;
    super(verifiable
      ? `study folder ${studyDir} is in use by ${who}. Only one runner may work on a study folder: wait for it to finish, ` +
        `or stop it (kill ${holder.pid}) and run this command again — it resumes where that one stopped.`
      : `study folder ${studyDir} is locked by ${who}, which cannot be checked from this host. If that process is no longer ` +
        `running, delete ${join(studyDir, STUDY_LOCK)} and run this command again.`);
    this.name = 'StudyBusyError';
  }
}

export interface StudyLock {
  release: () => void;
  /** The dead runner whose lock was taken over, if any. */
  tookOver?: LockHolder;
}

/** Take the study folder or throw StudyBusyError at once (no waiting: the holder may run for days). */
export function acquireStudyLock(studyDir: string, mode: StudyLockMode = 'exclusive'): StudyLock {
  const me = selfHolder('ablate study run', { mode, ablateVersion: ablateVersion(), argv: process.argv.slice(2).join(' ') });
  const r = tryLock(join(studyDir, STUDY_LOCK), me);
  if (!r.ok) throw new StudyBusyError(studyDir, r.holder, r.state === 'alive');
  return { release: r.release, ...(r.tookOver ? { tookOver: r.tookOver } : {}) };
}
