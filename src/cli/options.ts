import { UsageError } from './errors.js';

export function parsePositiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`Expected a positive integer for ${name} but received "${v}"`);
  return n;
}
export function parseNumber(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`Expected a number for ${name} but received "${v}"`);
  return n;
}

/**
 * Ctrl-C handling for long commands: the first press asks training to stop after the current step
 * and save a checkpoint; a second press (after 2 s) exits at once.
 */
export function interruptSignal(what: string): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  let first = 0;
  const onSig = () => {
    const now = Date.now();
    if (first === 0) {
      first = now;
      process.stderr.write(`\nstopping the ${what} after the current step (a checkpoint is saved); press Ctrl-C again to quit at once\n`);
      ac.abort();
    } else if (now - first > 2000) {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  return { signal: ac.signal, dispose: () => { process.off('SIGINT', onSig); process.off('SIGTERM', onSig); } };
}
