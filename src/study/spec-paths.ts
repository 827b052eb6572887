/** Helpers for the dotted config paths that study axes and `--set` overrides use (`optimizer.lr`). */

export type PlainObject = Record<string, unknown>;

export function isPlainObject(v: unknown): v is PlainObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

const SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True for `model`, `optimizer.lr`, `data.imageSize`; false for `a..b`, `.x`, `a-b`. */
export function isDottedPath(path: string): boolean {
  return path.split('.').every((s) => SEGMENT.test(s));
}

/** Deep copy of JSON-like data, so variants never share nested objects with the base or each other. */
export function cloneJson<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

/**
 * Where setting `path` on `obj` would have to walk through a non-object (e.g. `optimizer.lr` when
 * `optimizer: sgd`), return the prefix that blocks it; undefined when the path can be set.
 */
export function blockedPrefix(obj: PlainObject, path: string): string | undefined {
  const parts = path.split('.');
  let cur: unknown = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = (cur as PlainObject)[parts[i]];
    if (cur === undefined || cur === null) return undefined;
    if (!isPlainObject(cur)) return parts.slice(0, i + 1).join('.');
  }
  return undefined;
}

export function getPath(obj: PlainObject, path: string): unknown {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** Set a dotted path in place, creating (or replacing null with) intermediate mappings. */
export function setPath(obj: PlainObject, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (!isPlainObject(cur[p])) cur[p] = {};
    cur = cur[p] as PlainObject;
  }
  cur[parts[parts.length - 1]] = cloneJson(value);
}

/**
 * Merge `over` into a copy of `base`: mappings merge key by key, everything else (lists included)
 * replaces, so an axis value `augment: [flip]` means exactly that list, not base's list plus flip.
 */
export function deepMerge(base: PlainObject, over: PlainObject): PlainObject {
  const out = cloneJson(base);
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as PlainObject, v) : cloneJson(v);
  }
  return out;
}

/** Do two dotted paths overlap (one equals or contains the other)? */
export function pathsOverlap(a: string, b: string): boolean {
  return a === b || a.startsWith(b + '.') || b.startsWith(a + '.');
}

/** Remove null-valued keys from mappings, at any depth (list items are kept as they are). */
export function dropNulls(obj: PlainObject): PlainObject {
  for (const [k, v] of Object.entries(obj)) {
    if (v === null) delete obj[k];
    else if (isPlainObject(v)) dropNulls(v);
  }
  return obj;
}
