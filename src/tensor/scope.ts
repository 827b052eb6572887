import { native } from './native.js';

interface Disposable {
  dispose(): void;
}

// A stack of open scopes; each records the tensors created while it was the innermost one.
const scopes: Set<Disposable>[] = [];

/** @internal Called by every Tensor constructor. */
export function track(t: Disposable): void {
  const top = scopes[scopes.length - 1];
  if (top !== undefined) top.add(t);
}

/**
 * Runs `fn` and disposes every tensor created inside it except those it returns (found anywhere in
 * the returned value: arrays, plain objects, Maps) and those passed to `keep()`. Returned tensors
 * move to the enclosing scope. Like tf.tidy, `fn` must be synchronous: a scope cannot span an await.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new Error('tidy(fn): fn returned a Promise; tidy only works with synchronous functions (dispose tensors explicitly across awaits)');
  }
  const survivors = new Set<Disposable>();
  collect(result, scope, survivors, new Set());
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

function collect(v: unknown, scope: Set<Disposable>, out: Set<Disposable>, seen: Set<unknown>): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (scope.has(v as Disposable)) {
    out.add(v as Disposable);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collect(x, scope, out, seen);
  else if (v instanceof Map) for (const x of v.values()) collect(x, scope, out, seen);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, scope, out, seen);
}

/** Exempts tensors from disposal by every enclosing tidy(); the caller now owns them. */
export function keep<T extends Disposable | Disposable[]>(t: T): T {
  const list = Array.isArray(t) ? t : [t];
  for (const x of list) for (const s of scopes) s.delete(x);
  return t;
}

/** Disposes every tensor found in a value (arrays, plain objects, Maps). */
export function disposeAll(v: unknown): void {
  if (v === null || typeof v !== 'object') return;
  if (typeof (v as Disposable).dispose === 'function' && !Array.isArray(v) && !(v instanceof Map)) {
    (v as Disposable).dispose();
    return;
  }
  const vals = Array.isArray(v) ? v : v instanceof Map ? [...v.values()] : Object.values(v);
  for (const x of vals) disposeAll(x);
}

/** Number of live tensor handles in the native addon (created and not yet disposed or collected). */
export function liveTensorCount(): number {
  return native.live_count() as number;
}
