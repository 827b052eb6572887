/** Matching a state dict against a model's: pure bookkeeping shared by tensor and checkpoint loading. */

export interface LoadStateDictOptions {
  /**
   * Default true: any missing, unexpected or mis-shaped key is an error and nothing is loaded.
   * With false, matching keys load and the rest are reported (unlike torch, mis-shaped keys are
   * skipped rather than fatal, so a 1000-class checkpoint loads into a 2-class model minus `fc`).
   */
  strict?: boolean;
}

export interface MisshapedKey {
  key: string;
  /** Shape in the model. */
  expected: number[];
  /** Shape in the state dict being loaded. */
  received: number[];
}

/** Which state-dict keys were loaded, missing, unexpected or mis-shaped. */
export interface LoadReport {
  /** Keys copied into the model. */
  loaded: string[];
  /** Model keys absent from the state dict (left unchanged). */
  missing: string[];
  /** State-dict keys the model does not have (ignored). */
  unexpected: string[];
  /** Keys present in both with different shapes (left unchanged). */
  mismatched: MisshapedKey[];
  /**
   * `num_batches_tracked` counters absent from the state dict, reset to 0. Like torch, which fills them
   * for checkpoints saved before they existed, this is not an error even when strict.
   */
  defaulted: string[];
}

interface Shaped {
  readonly shape: readonly number[];
}

export function isCleanLoad(r: LoadReport): boolean {
  return r.missing.length === 0 && r.unexpected.length === 0 && r.mismatched.length === 0;
}

/** Which keys of `incoming` can go into `own` and what is wrong with the rest. Touches no data. */
export function planStateDictLoad(own: ReadonlyMap<string, Shaped>, incoming: ReadonlyMap<string, Shaped>): LoadReport {
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [], defaulted: [] };
  for (const [key, t] of own) {
    const src = incoming.get(key);
    if (src === undefined) {
      (key.endsWith('.num_batches_tracked') || key === 'num_batches_tracked' ? report.defaulted : report.missing).push(key);
    } else if (!sameShape(t.shape, src.shape)) {
      report.mismatched.push({ key, expected: [...t.shape], received: [...src.shape] });
    } else {
      report.loaded.push(key);
    }
  }
  for (const key of incoming.keys()) if (!own.has(key)) report.unexpected.push(key);
  return report;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

const LIST_LIMIT = 20;
function list(keys: readonly string[]): string {
  const shown = keys.slice(0, LIST_LIMIT).join(', ');
  return keys.length > LIST_LIMIT ? `${shown}, … ${keys.length - LIST_LIMIT} more` : shown;
}

/** Every problem of a strict load at once, so a user sees the whole mismatch in one message. */
export class StateDictError extends Error {
  constructor(readonly report: LoadReport, target: string) {
    const lines = [`Cannot load the state dict into ${target} (strict):`];
    if (report.missing.length) lines.push(`  missing keys (${report.missing.length}): ${list(report.missing)}`);
    if (report.unexpected.length) lines.push(`  unexpected keys (${report.unexpected.length}): ${list(report.unexpected)}`);
    if (report.mismatched.length) {
      const shown = report.mismatched.slice(0, LIST_LIMIT).map((m) => `${m.key} expected [${m.expected.join(', ')}] but received [${m.received.join(', ')}]`);
      if (report.mismatched.length > LIST_LIMIT) shown.push(`… ${report.mismatched.length - LIST_LIMIT} more`);
      lines.push(`  mis-shaped keys (${report.mismatched.length}): ${shown.join('; ')}`);
    }
    lines.push('Pass { strict: false } to load only the keys that match.');
    super(lines.join('\n'));
    this.name = 'StateDictError';
  }
}
