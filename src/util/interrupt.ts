export interface Interrupt {
  /** Aborted by the first SIGINT/SIGTERM, or by request(); `signal.reason` is a sentence saying why. */
  signal: AbortSignal;
  /** Treat a non-signal event (e.g. the parent process vanished) like the first Ctrl-C. */
  request: (reason?: string) => void;
  dispose: () => void;
}

/** The shell's code for a process ended by a signal: 128 + its number (SIGINT 130, SIGUSR1 138, SIGTERM 143). */
export const SIGNAL_EXIT: Readonly<Record<StopSignal, number>> = { SIGINT: 130, SIGUSR1: 138, SIGTERM: 143 };
export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGUSR1';

/** The signal that stopped work, read from an aborted signal's reason ("interrupted by SIGTERM"); SIGINT otherwise. */
export function stopSignalOf(signal: AbortSignal | undefined): StopSignal {
  const reason = String(signal?.reason ?? '');
  return /\bSIGTERM\b/.test(reason) ? 'SIGTERM' : /\bSIGUSR1\b/.test(reason) ? 'SIGUSR1' : 'SIGINT';
}

/**
 * The signals that mean "the cluster is taking the machine back" (Slurm's `--signal=USR1@90`, its SIGTERM on
 * preemption, Kubernetes' SIGTERM): work stops at the next step with a checkpoint and status `preempted`.
 * `ABLATE_PREEMPT_SIGNALS` lists them (default `SIGUSR1,SIGTERM`; `SIGUSR1` alone keeps SIGTERM a plain stop).
 */
export function preemptSignals(env: NodeJS.ProcessEnv = process.env): Set<StopSignal> {
  const raw = env.ABLATE_PREEMPT_SIGNALS;
  if (raw === undefined || raw.trim() === '') return new Set(['SIGUSR1', 'SIGTERM']);
  const out = new Set<StopSignal>();
  for (const part of raw.split(',').map((x) => x.trim().toUpperCase()).filter((x) => x !== '' && x !== 'NONE')) {
    const name = part.startsWith('SIG') ? part : `SIG${part}`;
    if (name !== 'SIGUSR1' && name !== 'SIGTERM') {
      throw new TypeError(`Expected SIGUSR1, SIGTERM or none (comma-separated) in ABLATE_PREEMPT_SIGNALS but received ${JSON.stringify(raw)}`);
    }
    out.add(name);
  }
  return out;
}

/** Whether work stopped because the machine is being taken back (see preemptSignals): its reason says "preempted". */
export function wasPreempted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && /^preempted\b/.test(String(signal.reason ?? ''));
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
      process.exit(SIGNAL_EXIT[(sig ?? 'SIGINT') as StopSignal] ?? SIGNAL_EXIT.SIGINT);
    }
  };
  const preempt = preemptSignals();
  const onSignal = (sig: NodeJS.Signals) => request(`${preempt.has(sig as StopSignal) ? 'preempted' : 'interrupted'} by ${sig}`, sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGUSR1', onSignal);
  return {
    signal: ac.signal,
    request: (reason) => request(reason),
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGUSR1', onSignal);
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
