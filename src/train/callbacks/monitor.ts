import { invalidArg } from '../../util/errors.js';

export type MonitorMode = 'min' | 'max' | 'auto';

const LOWER_IS_BETTER = /(^|_)(loss|error|err|mse|mae|nll|perplexity|crossentropy)$/;
const HIGHER_IS_BETTER = /(^|_)(acc|accuracy|top\d+|auc|precision|recall|f1|fmeasure|iou|map)$/;

/**
 * Resolve `auto` from the metric name, the way Keras does for its built-in metrics
 * (`loss` → min, accuracy-like → max). Unknown names are an error rather than a guess,
 * because a wrong direction silently stops training at the worst epoch.
 */
export function resolveMode(monitor: string, mode: MonitorMode): 'min' | 'max' {
  if (mode === 'min' || mode === 'max') return mode;
  if (mode !== 'auto') throw invalidArg('mode', '"min", "max" or "auto"', mode);
  const name = monitor.replace(/^val_/, '');
  if (LOWER_IS_BETTER.test(name)) return 'min';
  if (HIGHER_IS_BETTER.test(name)) return 'max';
  throw new TypeError(
    `Cannot infer whether monitor "${monitor}" should be minimised or maximised; pass mode "min" or "max"`,
  );
}

export function checkMonitor(monitor: unknown): string {
  if (typeof monitor !== 'string' || monitor.length === 0) throw invalidArg('monitor', 'a metric name such as "val_loss"', monitor);
  return monitor;
}

export function checkNumber(name: string, value: unknown, opts: { min?: number; integer?: boolean; finite?: boolean } = {}): number {
  const { min, integer = false, finite = true } = opts;
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (!finite || Number.isFinite(value)) &&
    (!integer || Number.isInteger(value)) &&
    (min === undefined || value >= min);
  if (!ok) {
    const what = `${integer ? 'an integer' : 'a number'}${min !== undefined ? ` >= ${min}` : ''}`;
    throw invalidArg(name, what, value);
  }
  return value as number;
}

/**
 * A metric for log lines: 4 decimals in the usual range, 4 significant digits in exponent form for
 * exploding or tiny values, "inf"/"nan" as Python prints them (Keras users compare against those logs).
 */
export function formatMetric(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}
