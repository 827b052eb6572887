import { join } from 'node:path';
import { readProgress } from '../run/run-folder.js';

interface Stream {
  write(s: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

/**
 * One line per running variant, redrawn in place on a terminal (every second) or printed as plain
 * lines every 30 s otherwise. Reads each run's progress.json, so it works for any number of workers.
 */
export class LiveView {
  private readonly active = new Map<string, string>();
  private drawn = 0;
  private timer: NodeJS.Timeout;
  // A log file gets its first progress lines after one interval, not a block of "starting…" at once.
  private lastPlain = Date.now();

  constructor(private readonly studyDir: string, private readonly out: Stream, private readonly quiet = false, private readonly plainEveryMs = 30_000) {
    this.timer = setInterval(() => this.render(), 1000);
    this.timer.unref();
  }
  add(name: string): void {
    this.active.set(name, '');
  }
  /** A line printed above the live block (which is redrawn below it). */
  print(line: string): void {
    this.clear();
    this.out.write(`${line}\n`);
  }
  remove(name: string): void {
    this.active.delete(name);
    this.render();
  }
  stop(): void {
    clearInterval(this.timer);
    this.clear();
  }

  line(name: string, width = Math.max(...[...this.active.keys()].map((n) => n.length), name.length)): string {
    const p = readProgress(join(this.studyDir, name));
    if (!p) return `${name.padEnd(width)}  starting…`;
    const w = 20;
    const filled = Math.round((p.batch / Math.max(1, p.batches)) * w);
    const bar = `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${'.'.repeat(w - filled)}]`;
    const m = (k: string, v?: number, d = 4) => (v === undefined || v === null ? '' : ` ${k} ${v.toFixed(d)}`);
    return `${name.padEnd(width)}  epoch ${p.epoch}/${p.epochs} ${bar} ${p.batch}/${p.batches}${m('loss', p.loss)}${m('acc', p.accuracy)}${p.imagesPerS ? ` ${p.imagesPerS.toFixed(1)} img/s` : ''}`;
  }

  private clear(): void {
    if (this.out.isTTY && this.drawn > 0) {
      this.out.write(`\x1b[${this.drawn}A\x1b[J`);
      this.drawn = 0;
    }
  }

  /** Redraw now (a timer also does it every second). */
  render(): void {
    if (this.active.size === 0) return this.clear();
    const lines = [...this.active.keys()].map((n) => this.line(n));
    if (this.out.isTTY) {
      // A line that wraps would take two rows and throw off the cursor-up count of the next redraw.
      const cols = this.out.columns ?? 0;
      if (cols > 0) lines.forEach((l, i) => { lines[i] = l.length >= cols ? l.slice(0, cols - 2) + '…' : l; });
      this.clear();
      this.out.write(lines.join('\n') + '\n');
      this.drawn = lines.length;
    } else if (!this.quiet && Date.now() - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = Date.now();
      this.out.write(lines.join('\n') + '\n');
    }
  }
}
