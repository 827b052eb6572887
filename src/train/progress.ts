import { invalidArg } from '../util/errors.js';
import { formatDuration } from '../util/format-duration.js';
import { Callback, type Logs } from './callbacks/base.js';
import { formatMetric } from './callbacks/monitor.js';

/** The part of a Writable the bar needs; `process.stdout` / `process.stderr` fit. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  /** Default process.stdout. */
  stream?: ProgressStream;
  /** Override TTY detection (tests, `--no-progress`-style flags). */
  tty?: boolean;
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
  /** Minimum time between TTY redraws. Default 100 ms (≤ 10 Hz). */
  redrawMs?: number;
  /** Non-TTY: a line every this fraction of the epoch... Default 0.1. */
  logEveryFraction?: number;
  /** ...or after this long without a line, whichever comes first. Default 30 s. */
  logEveryMs?: number;
  /** Used when the stream does not report its width. Default 100. */
  defaultColumns?: number;
}

/** Metrics shown while the epoch runs, in this order, with these labels. */
const LIVE_METRICS: ReadonlyArray<[key: string, label: string]> = [
  ['loss', 'loss'],
  ['accuracy', 'acc'],
  ['top5', 'top5'],
];
const FINAL_EXTRA: ReadonlyArray<[key: string, label: string]> = [
  ['val_loss', 'val_loss'],
  ['val_accuracy', 'val_acc'],
  ['val_top5', 'val_top5'],
  ['lr', 'lr'],
];
const MIN_BAR = 10;
const MAX_BAR = 30;

export { formatDuration };


/** `[=====>......]`, Keras style: '=' done, '>' the head, '.' to go. */
export function renderBar(done: number, total: number, width: number): string {
  const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.floor(frac * width);
  if (filled >= width) return `[${'='.repeat(width)}]`;
  const head = filled > 0 ? '>' : '';
  const body = '='.repeat(Math.max(0, filled - 1)) + head;
  return `[${body}${'.'.repeat(width - body.length)}]`;
}

/**
 * Per-epoch progress: redrawn in place on a TTY, periodic plain lines otherwise, and one final line
 * per epoch with the validation metrics. Driven either directly (`startEpoch` / `update` / `endEpoch`)
 * or as a callback through `ProgressCallback`.
 */
export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly redrawMs: number;
  private readonly logEveryFraction: number;
  private readonly logEveryMs: number;
  private readonly defaultColumns: number;

  private total = 0;
  private startedAt = 0;
  private lastDrawAt = -Infinity;
  private lastLoggedBucket = 0;
  private drawnOnLine = false;
  /** Steps already done when this process began the epoch (a resumed run starts mid-epoch). */
  private stepOffset: number | undefined;

  constructor(opts: ProgressBarOptions = {}) {
    this.stream = opts.stream ?? process.stdout;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    this.now = opts.now ?? (() => performance.now());
    this.redrawMs = opts.redrawMs ?? 100;
    this.logEveryFraction = opts.logEveryFraction ?? 0.1;
    this.logEveryMs = opts.logEveryMs ?? 30_000;
    this.defaultColumns = opts.defaultColumns ?? 100;
  }

  private get columns(): number {
    const c = this.stream.columns;
    return typeof c === 'number' && c > 0 ? c : this.defaultColumns;
  }

  /** `title` replaces the "Epoch i/n" header line (other loops, e.g. prediction, reuse the bar). */
  startEpoch(epoch: number, epochs: number, totalSteps: number, title?: string): void {
    if (!Number.isInteger(totalSteps) || totalSteps < 1) throw invalidArg('totalSteps', 'a positive integer', totalSteps);
    this.total = totalSteps;
    this.startedAt = this.now();
    this.lastDrawAt = -Infinity;
    this.lastLoggedBucket = 0;
    this.drawnOnLine = false;
    this.stepOffset = undefined;
    this.stream.write(`${title ?? `Epoch ${epoch + 1}/${epochs}`}\n`);
  }

  /**
   * @param step steps finished in this epoch (1..total)
   * @param images images processed so far in this epoch, for the img/s figure
   */
  /** The epoch continues a killed run's: `stepsDone` steps happened before this process, so they don't count toward the ETA. */
  resumeAt(stepsDone: number): void {
    this.stepOffset = stepsDone;
  }

  update(step: number, metrics: Logs = {}, images?: number): void {
    const t = this.now();
    if (this.tty) {
      if (t - this.lastDrawAt < this.redrawMs && step < this.total) return;
      this.lastDrawAt = t;
      this.stream.write(`\r${this.line(step, metrics, images, t, false, [])}\x1b[K`);
      this.drawnOnLine = true;
      return;
    }
    // Integer buckets, so float error in step/total never prints the same 10% twice.
    const bucket = Math.floor(step / this.total / this.logEveryFraction + 1e-9);
    const dueByTime = t - Math.max(this.lastDrawAt, this.startedAt) >= this.logEveryMs;
    if ((bucket > this.lastLoggedBucket || dueByTime) && step < this.total) {
      this.lastDrawAt = t;
      this.lastLoggedBucket = bucket;
      this.stream.write(this.line(step, metrics, images, t, false, []) + '\n');
    }
  }

  /** The epoch's last line: full bar, elapsed time, train and validation metrics. */
  endEpoch(logs: Logs = {}, images?: number): void {
    const t = this.now();
    const text = this.line(this.total, logs, images, t, true, FINAL_EXTRA);
    this.stream.write(this.tty && this.drawnOnLine ? `\r${text}\x1b[K\n` : `${text}\n`);
    this.drawnOnLine = false;
  }

  private line(step: number, metrics: Logs, images: number | undefined, t: number, final: boolean, extra: typeof FINAL_EXTRA): string {
    const elapsed = (t - this.startedAt) / 1000;
    const counter = `${String(step).padStart(String(this.total).length)}/${this.total}`;
    const time = final
      ? formatDuration(elapsed)
      : `ETA ${step > (this.stepOffset ?? 0) ? formatDuration((elapsed / (step - (this.stepOffset ?? 0))) * (this.total - step)) : '?'}`;
    const parts: string[] = [];
    for (const [key, label] of [...LIVE_METRICS, ...extra]) {
      const v = metrics[key];
      if (typeof v === 'number') parts.push(`${label} ${formatMetric(v)}`);
    }
    // The fit loop's own figure excludes validation time, so it wins over ours at the end of an epoch.
    const rate = metrics.images_per_s ?? (images !== undefined && elapsed > 0 ? images / elapsed : undefined);
    if (rate !== undefined) parts.push(`${rate.toFixed(1)} img/s`);

    // Fit the terminal: shrink the bar first, then drop trailing metrics, so the line never wraps
    // (a wrapped line breaks in-place redraw).
    const max = this.columns - 1;
    const fixed = (barWidth: number, n: number) => [counter, renderBar(step, this.total, barWidth), time, ...parts.slice(0, n)].join(' ');
    let barWidth = MAX_BAR;
    let n = parts.length;
    while (fixed(barWidth, n).length > max && barWidth > MIN_BAR) barWidth--;
    while (fixed(barWidth, n).length > max && n > 0) n--;
    const text = fixed(barWidth, n);
    return text.length > max ? text.slice(0, max) : text;
  }
}

/** Drives a ProgressBar from the callback hooks (batch logs carry `size`, the batch's image count). */
export class ProgressCallback extends Callback {
  readonly bar: ProgressBar;
  private images = 0;
  private firstBatch = true;

  constructor(opts: ProgressBarOptions = {}) {
    super();
    this.bar = new ProgressBar(opts);
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.images = 0;
    this.firstBatch = true;
    this.bar.startEpoch(epoch, this.ctx.params.epochs, this.ctx.params.stepsPerEpoch);
  }

  override async onBatchEnd(batch: number, logs: Logs = {}): Promise<void> {
    if (this.firstBatch && batch > 0) this.bar.resumeAt(batch);
    this.firstBatch = false;
    this.images += logs.size ?? 0;
    this.bar.update(batch + 1, logs, this.images > 0 ? this.images : undefined);
  }

  override async onEpochEnd(_epoch: number, logs: Logs = {}): Promise<void> {
    this.bar.endEpoch(logs, this.images > 0 ? this.images : undefined);
  }
}
