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

/** Ctrl-C handling for long commands, announcing on the first press what happens next. */
export function interruptSignal(what: string): { signal: AbortSignal; dispose: () => void } {
  return interruptOnce(() =>
    process.stderr.write(`\nstopping the ${what} after the current step (a checkpoint is saved); press Ctrl-C again to quit at once\n`),
  );
}
