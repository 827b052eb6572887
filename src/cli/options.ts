import { interruptSignal as interruptOnce } from '../util/interrupt.js';
import { UsageError } from './errors.js';

export function parsePositiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`Expected a positive integer for ${name} but received "${v}"`);
  return n;
}
export function parseNonNegativeInt(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`Expected a non-negative integer for ${name} but received "${v}"`);
  return n;
}
export function parseNumber(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`Expected a number for ${name} but received "${v}"`);
  return n;
}

/** Ctrl-C (or SIGTERM) handling for long commands, announcing on the first one what happens next. */
export function interruptSignal(what: string): { signal: AbortSignal; dispose: () => void } {
  return interruptOnce((sig) =>
    process.stderr.write(sig === 'SIGTERM'
      ? `\nSIGTERM: stopping the ${what} after the current step (a checkpoint is saved); a second SIGTERM quits at once\n`
      : `\nstopping the ${what} after the current step (a checkpoint is saved); press Ctrl-C again to quit at once\n`),
  );
}
