import type { z } from 'zod';
import { describe } from './errors.js';

/** One problem in a config object: dotted path ("optimizer.lr", "augment.0") and "expected X, received Y". */
export interface ConfigIssue {
  path: string;
  message: string;
}

type Issue = z.core.$ZodIssue;

function dotted(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

function quoteAll(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v))).join(' | ');
}

function bound(issue: { origin: string; inclusive?: boolean; minimum?: unknown; maximum?: unknown }, lower: boolean): string {
  const limit = String(lower ? issue.minimum : issue.maximum);
  const inclusive = issue.inclusive ?? true;
  switch (issue.origin) {
    case 'array':
    case 'set':
      return `${issue.origin} with ${lower ? 'at least' : 'at most'} ${limit} item(s)`;
    case 'string':
      return lower && limit === '1' ? 'non-empty string' : `string of ${lower ? 'at least' : 'at most'} ${limit} character(s)`;
    default:
      return `${issue.origin} ${lower ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<'} ${limit}`;
  }
}

const TYPE_NAMES: Record<string, string> = { int: 'integer', record: 'object', nan: 'NaN' };

/** A schema's own message that already reads "expected ..." is used as is. */
function own(message: string): string | undefined {
  return /^expected /.test(message) ? message : undefined;
}

/** What a branch of a failed union wanted, e.g. `"auto"` or `number`. */
function expectation(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      return TYPE_NAMES[issue.expected] ?? issue.expected;
    case 'invalid_value':
      return quoteAll(issue.values);
    case 'too_small':
      return bound(issue, true);
    case 'too_big':
      return bound(issue, false);
    default:
      return issue.message;
  }
}

/** The candidate within a small edit distance of `word` (typo hints), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/**
 * Turn zod issues (parse with `{ reportInput: true }` so each carries its input) into
 * "expected X, received Y" messages. `knownKeys(path)` lets unknown keys suggest the closest valid one.
 */
export function formatZodIssues(issues: readonly Issue[], knownKeys?: (path: readonly PropertyKey[]) => readonly string[] | undefined): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const received = describe(issue.input);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeys?.(issue.path) ?? [];
        for (const key of issue.keys) {
          const hint = closest(key, known);
          const expected = known.length > 0 ? `one of the keys ${known.join(', ')}` : 'no other keys';
          out.push({
            path: dotted([...issue.path, key]),
            message: `expected ${expected}, received unknown key ${JSON.stringify(key)}${hint ? ` (did you mean "${hint}"?)` : ''}`,
          });
        }
        break;
      }
      case 'invalid_union': {
        const disc = issue as Issue & { discriminator?: string; options?: unknown[] };
        if (disc.discriminator !== undefined) {
          const value = (issue.input as Record<string, unknown> | undefined)?.[disc.discriminator];
          out.push({ path: dotted(issue.path), message: `expected one of ${quoteAll(disc.options ?? [])}, received ${describe(value)}` });
        } else {
          const wanted = [...new Set(issue.errors.map((branch) => branch.map(expectation).join(' and ')))];
          out.push({ path: dotted(issue.path), message: `expected ${wanted.join(' or ')}, received ${received}` });
        }
        break;
      }
      case 'custom':
        // A nested validator's issue (params.complete) already says what it expected and received.
        if ((issue as { params?: { complete?: boolean } }).params?.complete) out.push({ path: dotted(issue.path), message: issue.message });
        else out.push({ path: dotted(issue.path), message: `${own(issue.message) ?? 'expected a valid value'}, received ${received}` });
        break;
      case 'invalid_format': {
        const expected = own(issue.message) ?? `expected ${issue.pattern ? `a string matching ${issue.pattern}` : issue.format}`;
        out.push({ path: dotted(issue.path), message: `${expected}, received ${received}` });
        break;
      }
      default:
        out.push({ path: dotted(issue.path), message: `expected ${expectation(issue)}, received ${received}` });
    }
  }
  return out;
}
