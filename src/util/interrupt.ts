export interface Interrupt {
  /** Aborted by the first SIGINT/SIGTERM, or by request(); `signal.reason` is a sentence saying why. */
  signal: AbortSignal;
  /** Treat a non-signal event (e.g. the parent process vanished) like the first Ctrl-C. */
  request: (reason?: string) => void;
  dispose: () => void;
}

/** The shell's code for a process ended by a signal: 128 + its number (SIGINT 130, SIGTERM 143). */
export const SIGNAL_EXIT: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = { SIGINT: 130, SIGTERM: 143 };

/** The signal that stopped work, read from an aborted signal's reason ("interrupted by SIGTERM"); SIGINT otherwise. */
export function stopSignalOf(signal: AbortSignal | undefined): 'SIGINT' | 'SIGTERM' {
  return /\bSIGTERM\b/.test(String(signal?.reason ?? '')) ? 'SIGTERM' : 'SIGINT';
}

/**
 * The exit code of a command stopped through this signal: 143 after SIGTERM, 130 after Ctrl-C (or another
 * request), as a shell reports a process killed by that signal, so schedulers see how it ended.
 */
export function interruptExitCode(signal: AbortSignal | undefined): number {
  return SIGNAL_EXIT[stopSignalOf(signal)];
}

/**
 * Ctrl-C handling for long training work: the first SIGINT/SIGTERM asks it to stop after the current
 * step and save a checkpoint; a later one exits at once (the last checkpoint stays) with that signal's
 * code (130 or 143). Ctrl-C can reach a process twice within moments (from the terminal and forwarded by
 * a study runner), so repeats in the first 2 s count as the same request.
 */
export function interruptSignal(onFirst?: (sig?: NodeJS.Signals) => void): Interrupt {
  const ac = new AbortController();
  let first = 0;
  const request = (reason = 'stopped on request', sig?: NodeJS.Signals) => {
    const now = Date.now();
    if (first === 0) {
      first = now;
      onFirst?.(sig);
      ac.abort(reason);
    } else if (now - first > 2000) {
      process.exit(sig === 'SIGTERM' ? SIGNAL_EXIT.SIGTERM : SIGNAL_EXIT.SIGINT);
    }
  };
  const onSignal = (sig: NodeJS.Signals) => request(`interrupted by ${sig}`, sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    request: (reason) => request(reason),
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
