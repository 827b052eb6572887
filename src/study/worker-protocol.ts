/**
 * How a study worker tells its runner how it ended: the exit code. (The run's status.json says the
 * rest; the code matters when the worker could not write it: a busy run folder, a full disk.)
 */
export const WORKER_EXIT = {
  /** Finished: ok or diverged (status.json says which). */
  done: 0,
  /** The run's own work raised an error; status.json holds it. */
  failed: 1,
  /** Stopped at a step boundary with a checkpoint (Ctrl-C, runner gone); resumable. */
  stopped: 3,
  /** Another live process owns the run folder; nothing was written to it. */
  busy: 4,
  /** The disk filled up; the run resumes from its last good checkpoint once there is space. */
  diskFull: 5,
} as const;

/** Sent over the IPC channel before a worker exits with an error. */
export interface WorkerMessage {
  error: string;
}

/** True for "no space left on device" and the quota variant, whatever layer threw it. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || /\bENOSPC\b|no space left on device/i.test(String((e as Error | undefined)?.message ?? ''));
}
