import { formatDuration } from '../../util/format-duration.js';

/** The part of a Writable the progress display needs; process.stderr fits. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/** `812.4 MB`, `1.2 GB`, `512 B` (decimal units, as download sites state sizes). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${Number.isInteger(v) ? v : v.toFixed(1)} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`; // a trickle's rate: 0.1 B/s
}

export interface DownloadProgressOptions {
  stream?: ProgressStream;
  /** Override TTY detection. */
  tty?: boolean;
  now?: () => number;
  /** Non-TTY: a line every this many milliseconds at most... Default 5 s. */
  lineEveryMs?: number;
}

/**
 * One file's progress: on a terminal a single line redrawn in place (bytes, percent, rate, ETA); in
 * logs and pipes a plain line every few seconds, so CI output and `2> log` stay readable.
 */
export class DownloadProgress {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly lineEveryMs: number;
  private startedAt = 0;
  /** False until start(): a file found complete on disk has no transfer rate to show. */
  private started = false;
  private startBytes = 0;
  private lastDraw = -Infinity;
  private drewInPlace = false;

  constructor(private readonly label: string, o: DownloadProgressOptions = {}) {
    this.stream = o.stream ?? process.stderr;
    this.tty = o.tty ?? this.stream.isTTY === true;
    this.now = o.now ?? Date.now;
    this.lineEveryMs = o.lineEveryMs ?? 5000;
  }

  /** `done` bytes are already on disk (a resumed download) when the transfer starts. */
  start(done: number, total: number | undefined): void {
    this.startedAt = this.now();
    this.started = true;
    this.startBytes = done;
    this.update(done, total, true);
  }

  update(done: number, total: number | undefined, force = false): void {
    const t = this.now();
    if (!force && t - this.lastDraw < (this.tty ? 100 : this.lineEveryMs)) return;
    this.lastDraw = t;
    const line = this.render(done, total, t);
    if (this.tty) {
      this.stream.write(`\r${line}\x1b[K`);
      this.drewInPlace = true;
    } else {
      this.stream.write(line + '\n');
    }
  }

  /** Final line: always printed, on its own line. */
  finish(done: number, total: number | undefined, note = ''): void {
    const line = this.render(done, total, this.now()) + (note ? ` ${note}` : '');
    this.stream.write(this.tty ? `\r${line}\x1b[K\n` : line + '\n');
    this.drewInPlace = false;
  }

  /** Ends an in-place line before something else is printed (an error, a retry notice). */
  interrupt(): void {
    if (this.drewInPlace) this.stream.write('\n');
    this.drewInPlace = false;
  }

  render(done: number, total: number | undefined, t: number): string {
    const secs = Math.max(1e-3, (t - this.startedAt) / 1000);
    const rate = (done - this.startBytes) / secs;
    const parts = [`${this.label}: ${formatBytes(done)}${total ? ` / ${formatBytes(total)} (${Math.floor((100 * done) / total)}%)` : ''}`];
    if (this.started && done > this.startBytes && t > this.startedAt) {
      parts.push(`${formatBytes(rate)}/s`);
      if (total && rate > 0) parts.push(`ETA ${formatDuration((total - done) / rate)}`);
    }
    return parts.join('  ');
  }
}
