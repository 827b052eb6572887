import { native } from './native.js';

/** Runs fn with gradient tracking off (evaluation, weight updates). Works for async functions too. */
export function noGrad<T>(fn: () => T): T {
  const prev = native.set_grad_enabled(false) as boolean;
  let restoreNow = true;
  try {
    const r = fn();
    if (r instanceof Promise) {
      restoreNow = false;
      return r.finally(() => native.set_grad_enabled(prev)) as T;
    }
    return r;
  } finally {
    if (restoreNow) native.set_grad_enabled(prev);
  }
}
export function isGradEnabled(): boolean {
  return native.is_grad_enabled() as boolean;
}
export function setGradEnabled(on: boolean): boolean {
  return native.set_grad_enabled(on) as boolean;
}
