import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.js';
import { invalidArg } from '../util/errors.js';
import { Callback, type Logs } from './callbacks/base.js';
import { readRegularTextSync } from '../util/regular-file.js';

/** Keras' CSVLogger header for a model compiled with `metrics=['accuracy']` plus a learning-rate entry. */
export const DEFAULT_CSV_COLUMNS: readonly string[] = ['accuracy', 'loss', 'val_accuracy', 'val_loss', 'lr'];

/** Options of the CSVLogger callback (Keras CSVLogger columns). */
export interface CSVLoggerOptions {
  /** Metric columns after `epoch`. Default DEFAULT_CSV_COLUMNS. */
  columns?: readonly string[];
  separator?: string;
}

export interface CsvLog {
  header: string[];
  rows: string[][];
}

/**
 * Keras-compatible CSV log (`epoch` 0-based, missing values "NA").
 * The whole file is rewritten atomically after every epoch — it is tiny — so a kill never leaves
 * a half row. On resume the rows are rebuilt from the epochs the checkpoint carries (`params.pastEpochs`);
 * without those (`params.initialEpoch > 0` only), rows for epochs ≥ initialEpoch, written by the killed
 * run after its last checkpoint, are dropped.
 */
export class CSVLogger extends Callback {
  readonly path: string;
  readonly separator: string;
  private header: string[];
  private rows: string[][] = [];

  constructor(path: string, opts: CSVLoggerOptions = {}) {
    super();
    if (typeof path !== 'string' || path.length === 0) throw invalidArg('path', 'a file path', path);
    const columns = opts.columns ?? DEFAULT_CSV_COLUMNS;
    if (!Array.isArray(columns) || columns.some((c) => typeof c !== 'string' || c.length === 0)) {
      throw invalidArg('columns', 'an array of metric names', columns);
    }
    this.path = path;
    this.separator = opts.separator ?? ',';
    this.header = ['epoch', ...columns];
  }

  override async onTrainBegin(): Promise<void> {
    const { initialEpoch, pastEpochs } = this.ctx.params;
    this.rows = [];
    if (pastEpochs) {
      this.rows = pastEpochs.map((e) => this.row(e.epoch, e.logs));
    } else if (initialEpoch > 0 && existsSync(this.path)) {
      const log = readCsvLog(this.path, this.separator);
      // Keep the file's own header so columns stay aligned even if the config changed.
      if (log.header.length > 0) this.header = log.header;
      this.rows = log.rows.filter((r) => Number(r[0]) < initialEpoch);
    }
    this.flush();
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    this.rows.push(this.row(epoch, logs));
    this.flush();
  }

  private row(epoch: number, logs: Logs): string[] {
    return this.header.map((col) => (col === 'epoch' ? String(epoch) : formatValue(logs[col])));
  }

  private flush(): void {
    const lines = [this.header, ...this.rows].map((r) => r.join(this.separator) + '\n');
    writeFileAtomic(this.path, lines.join(''));
  }
}

function formatValue(v: number | undefined): string {
  if (v === undefined) return 'NA';
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return String(v);
}

/** Reads a CSV log, dropping any row that does not have the header's number of fields or an integer epoch. */
export function readCsvLog(path: string, separator = ','): CsvLog {
  const lines = readRegularTextSync(path, { what: 'CSV log' }).split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) return { header: [], rows: [] };
  const header = lines[0]!.split(separator);
  const rows = lines
    .slice(1)
    .map((l) => l.split(separator))
    .filter((r) => r.length === header.length && /^\d+$/.test(r[0]!));
  return { header, rows };
}
