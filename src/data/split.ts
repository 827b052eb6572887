import { invalidArg } from '../util/errors.js';

/** One `name[from:to]` term of a TFDS-style split string. */
export interface SplitPart {
  name: string;
  from?: Bound;
  to?: Bound;
}
export interface Bound {
  value: number;
  percent: boolean;
}

const PART = /^([A-Za-z_][A-Za-z0-9_-]*)(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?$/;

/**
 * Parse TFDS split syntax: `train`, `test`, `train[:80%]`, `train[80%:]`, `train[:1000]`,
 * `train[10%:20%]`, `train[-10%:]`, and unions `train[:10%]+test`.
 */
export function parseSplit(split: string): SplitPart[] {
  if (typeof split !== 'string' || split.trim() === '') {
    throw invalidArg('split', "a split string such as 'train', 'test' or 'train[:80%]'", split);
  }
  return split.split('+').map((raw) => {
    const m = PART.exec(raw.trim());
    if (!m) throw invalidArg('split', "'name', 'name[a:b]' with integer or percent bounds (e.g. 'train[:80%]')", split);
    const part: SplitPart = { name: m[1]! };
    if (m[2] !== undefined) part.from = parseBound(m[2], split);
    if (m[3] !== undefined) part.to = parseBound(m[3], split);
    return part;
  });
}

function parseBound(text: string, split: string): Bound {
  const percent = text.endsWith('%');
  const value = Number.parseInt(percent ? text.slice(0, -1) : text, 10);
  if (percent && Math.abs(value) > 100) throw invalidArg('split', 'percent bounds between -100% and 100%', split);
  return { value, percent };
}

/** Python's round(): half to even. TFDS computes percent boundaries with it ("closest" rounding). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function resolveBound(b: Bound | undefined, n: number, dflt: number): number {
  if (!b) return dflt;
  let v = b.percent ? roundHalfEven((b.value * n) / 100) : b.value;
  if (v < 0) v += n;
  return Math.min(Math.max(v, 0), n);
}

/** The [start, end) index range a part selects from a split of length n (Python slice semantics). */
export function resolveRange(part: SplitPart, n: number): [number, number] {
  const start = resolveBound(part.from, n, 0);
  const end = resolveBound(part.to, n, n);
  return [start, Math.max(start, end)];
}
