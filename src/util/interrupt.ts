export interface Interrupt {
  /** Aborted by the first SIGINT/SIGTERM, or by request(); `signal.reason` is a sentence saying why. */
  signal: AbortSignal;
  /** Treat a non-signal event (e.g. the parent process vanished) like the first Ctrl-C. */
  request: (reason?: string) => void;
  dispose: () => void;
}

/**
 * Ctrl-C handling for long training work: the first SIGINT/SIGTERM asks it to stop after the current
 * step and save a checkpoint; a later one exits at once (the last checkpoint stays). Ctrl-C can reach
 * a process twice within moments (from the terminal and forwarded by a study runner), so repeats in
 * the first 2 s count as the same request.
 */
export function interruptSignal(onFirst?: () => void): Interrupt {
  const ac = new AbortController();
  let first = 0;
  const request = (reason = 'stopped on request') => {
    const now = Date.now();
    if (first === 0) {
      first = now;
      onFirst?.();
      ac.abort(reason);
    } else if (now - first > 2000) {
      process.exit(130);
    }
  };
  const onSignal = (sig: NodeJS.Signals) => request(`interrupted by ${sig}`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    request,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Work stopped by Ctrl-C/SIGTERM before it had anything to checkpoint (e.g. while decoding images). */
export class InterruptedError extends Error {
  constructor(stage: string) {
    super(`interrupted while ${stage}; nothing was trained yet`);
    this.name = 'InterruptedError';
  }
}

/** Throws InterruptedError when the signal has fired: call between stages of long work. */
export function throwIfInterrupted(signal: AbortSignal | undefined, stage: string): void {
  if (signal?.aborted) throw new InterruptedError(stage);
}
