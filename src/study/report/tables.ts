/** The report's tables as header + string rows, shared by the Markdown and HTML renderers. */
import { DASH, duration, num, numMeanStd, pct, pctMeanStd, rate, si } from './format.js';
import { type ReportModel, deltaCell } from './model.js';
import { variantStatus } from './summary.js';

export interface Table {
  header: string[];
  rows: string[][];
  /** Per row, the status word used to colour it in HTML. */
  states?: string[];
  /** Columns holding numbers (right-aligned). */
  numeric: boolean[];
}

function axisCell(v: string | number | boolean | null | undefined): string {
  return v === undefined ? DASH : v === null ? 'null' : String(v);
}

export function ablationTable(m: ReportModel): Table {
  const k = m.options.lastK;
  const level = Math.round(m.options.level * 100);
  const header = ['Variant', ...m.axisColumns, 'Params', 'FLOPs', 'Best val acc (%)', `Final val acc (%, last ${k})`, 'Final val loss',
    'Best epoch', 'Train time', 'Images/s', 'Seeds', 'Status', `Δ final (points, ${level}% CI)`];
  const rows = m.variants.map((v) => {
    const seeds = v.runs.length === v.finished.length ? String(v.runs.length) : `${v.finished.length}/${v.runs.length}`;
    return [
      v.name,
      ...m.axisColumns.map((a) => axisCell(v.axes[a])),
      si(v.params),
      si(v.flops),
      pctMeanStd(v.best.mean, v.best.std, v.best.n),
      pctMeanStd(v.final.mean, v.final.std, v.final.n),
      numMeanStd(v.valLoss.mean, v.valLoss.std, v.valLoss.n),
      v.bestEpoch.n >= 2 ? numMeanStd(v.bestEpoch.mean, v.bestEpoch.std, v.bestEpoch.n, 1) : v.bestEpoch.mean !== undefined ? String(v.bestEpoch.mean) : DASH,
      duration(v.trainTime.mean),
      rate(v.imagesPerS.mean),
      seeds,
      variantStatus(v),
      deltaCell(m, v.name),
    ];
  });
  const numeric = header.map((_, i) => i > m.axisColumns.length && i < header.length - 3);
  return { header, rows, states: m.variants.map((v) => variantStatus(v).split(' ')[0]), numeric };
}

export function runsTable(m: ReportModel): Table {
  const k = m.options.lastK;
  const header = ['Run', 'Seed', 'Status', 'Epochs', 'Best val acc (%)', 'Best epoch', 'Last val acc (%)', `Final val acc (%, last ${k})`,
    'Final val loss', 'Noise σ (points)', 'Train time', 'Images/s'];
  const runs = m.variants.flatMap((v) => v.runs);
  const rows = runs.map((r) => [
    r.run.name,
    r.run.seed === undefined ? DASH : String(r.run.seed),
    r.run.state,
    r.epochsPlanned !== undefined ? `${r.epochs}/${r.epochsPlanned}` : String(r.epochs),
    pct(r.bestValAcc),
    r.bestEpoch === undefined ? DASH : String(r.bestEpoch),
    pct(r.lastValAcc),
    pct(r.finalValAcc),
    num(r.finalValLoss),
    r.noise === undefined ? DASH : (100 * r.noise).toFixed(1),
    duration(r.trainTimeS),
    rate(r.imagesPerS),
  ]);
  return { header, rows, states: runs.map((r) => r.run.state), numeric: header.map((_, i) => i >= 3) };
}
