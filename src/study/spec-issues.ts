import type { z } from 'zod';
import { describe } from '../util/errors.js';

/** One problem in a study file: where, what was expected, what was found. */
export interface SpecIssue {
  /** Dotted/bracketed location, e.g. `axes.model[2]` or `base.optimizer.lr`; empty for the whole file. */
  path: string;
  expected: string;
  /** A compact description of the value found there (`number -1`, `"sgdd"`, `undefined`). */
  received: string;
}

/** Every problem of a study file at once, so a user fixes them in one pass instead of one per run. */
export class StudySpecError extends Error {
  readonly issues: SpecIssue[];
  readonly source: string;

  constructor(source: string, issues: SpecIssue[]) {
    const lines = issues.map((i) => `  - ${i.path || '(file)'}: expected ${i.expected} but received ${i.received}`);
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super(`Study file ${source} has ${count}:\n${lines.join('\n')}`);
    this.name = 'StudySpecError';
    this.issues = issues;
    this.source = source;
  }
}

export function issue(path: string, expected: string, value: unknown): SpecIssue {
  return { path, expected, received: describe(value) };
}

/** `['axes', 'model', 2]` → `axes.model[2]`; keys that are not identifiers (dotted axis paths) are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(String(key))) out += (out ? '.' : '') + String(key);
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

export function joinPath(prefix: string, rest: string): string {
  if (!prefix) return rest;
  if (!rest) return prefix;
  return rest.startsWith('[') ? prefix + rest : `${prefix}.${rest}`;
}

const TYPE_WORDS: Record<string, string> = {
  int: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false', object: 'a mapping',
  array: 'a list', record: 'a mapping', null: 'null', nonoptional: 'a value',
};

function expectedOf(i: z.core.$ZodIssue): string {
  switch (i.code) {
    case 'invalid_type':
      return TYPE_WORDS[i.expected] ?? i.expected;
    case 'invalid_value':
      return `one of ${i.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small': {
      const min = Number(i.minimum);
      if (i.origin === 'array') return `a list with at least ${min} item${min === 1 ? '' : 's'}`;
      if (i.origin === 'string') return min === 1 ? 'a non-empty string' : `a string of at least ${min} characters`;
      return `a number ${i.inclusive ? '>=' : '>'} ${min}`;
    }
    case 'too_big': {
      const max = Number(i.maximum);
      if (i.origin === 'array') return `a list with at most ${max} items`;
      return `a number ${i.inclusive ? '<=' : '<'} ${max}`;
    }
    case 'invalid_format':
      return i.message.replace(/^Invalid [^:]*: ?/, '') || `a ${i.format}`;
    default:
      // Custom and union checks carry the expectation as their message (see spec.ts).
      return i.message;
  }
}

/** Flatten zod issues into SpecIssues; unknown keys become one issue each with a "did you mean". */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], prefix: string, knownKeys: (path: readonly PropertyKey[]) => string[]): SpecIssue[] {
  const out: SpecIssue[] = [];
  for (const i of issues) {
    const where = joinPath(prefix, formatPath(i.path));
    if (i.code === 'unrecognized_keys') {
      const known = knownKeys(i.path);
      for (const key of i.keys) {
        const guess = didYouMean(key, known);
        const expected = guess ? `no key "${key}" (did you mean "${guess}"?)` : `only the keys ${known.map((k) => `"${k}"`).join(', ')}`;
        const input = (i as { input?: unknown }).input as Record<string, unknown> | undefined;
        out.push({ path: joinPath(where, formatPath([key])), expected, received: describe(input?.[key]) });
      }
      continue;
    }
    out.push({ path: where, expected: expectedOf(i), received: describe((i as { input?: unknown }).input) });
  }
  return out;
}

/** The closest known word within a small edit distance, for typo hints. */
export function didYouMean(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestD) { bestD = d; best = k; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
