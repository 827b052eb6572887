/** The report's figures as Vega-Lite specs, rendered to SVG by Vega (no browser) and to PNG by sharp. */
import { sharpLib } from '../../util/sharp-lib.js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { VariantSummary } from './summary.js';
import { parallelCoordinatesSpec, parallelRows } from './parallel-coordinates.js';

export interface PlotPanel {
  /** `train-loss`, `val-accuracy`, …: one chart of a figure, for pages that lay panels out themselves. */
  id: string;
  spec: vl.TopLevelSpec;
  /** A loss panel is drawn on a log scale; a page may switch its y encoding to this linear one. */
  linearY?: { title: string; scale: Record<string, unknown>; axis: Record<string, unknown> };
}

export interface Plot {
  /** File stem under plots/: `loss-accuracy` → plots/loss-accuracy.png */
  id: string;
  title: string;
  caption: string;
  /** The whole figure (panels side by side): the PNG and SVG files under plots/. */
  spec: vl.TopLevelSpec;
  /**
   * The same figure as separate, narrower charts with the legend below, so an HTML page can put them
   * side by side on a wide screen and stack them on a phone without shrinking the text.
   */
  panels: PlotPanel[];
}

export interface RenderedPlot extends Plot {
  svg: string;
  panelSvgs: string[];
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
export const CONFIG = {
  font: FONT,
  view: { stroke: '#ccc' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#e6e6e6' },
  // The legend takes its symbols from the first layer (the faint per-seed lines); show them solid.
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 260, symbolOpacity: 1, symbolType: 'stroke', symbolStrokeWidth: 3 },
  title: { fontSize: 13, fontWeight: 'bold', anchor: 'start' },
} as const;
export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
/** Panel width: with its axis and padding a panel fits a 390-px phone at nearly full size. */
const PANEL_WIDTH = 290;
/** Below the chart, two columns: a legend to the right would make a phone-sized panel twice as wide. */
const PANEL_LEGEND = { orient: 'bottom', columns: 2, direction: 'vertical' } as const;

interface EpochRow {
  variant: string;
  run: string;
  seed: number | null;
  epoch: number;
  loss: number | null;
  val_accuracy: number | null;
  val_loss: number | null;
}

type EpochField = 'loss' | 'val_accuracy' | 'val_loss';

function epochRows(variants: VariantSummary[]): EpochRow[] {
  const f = (x: number | undefined, scale = 1) => (x !== undefined && Number.isFinite(x) ? x * scale : null);
  return variants.flatMap((v) => v.runs.flatMap((r) => r.run.history.map((h) => ({
    variant: v.name,
    run: r.run.name,
    seed: r.run.seed ?? null,
    epoch: h.epoch,
    loss: f(h.loss),
    val_accuracy: f(h.val_accuracy, 100),
    val_loss: f(h.val_loss),
  }))));
}

function colorScale(variants: VariantSummary[]) {
  return { domain: variants.map((v) => v.name), scheme: variants.length <= 10 ? 'tableau10' : 'category20' };
}

/**
 * A loss axis that a diverged run (loss 1e9 or NaN) cannot flatten: the top is set by the
 * finished runs, and anything above is clamped to the edge.
 */
function lossDomainMax(rows: EpochRow[], field: 'loss' | 'val_loss', finishedRuns: Set<string>): number | undefined {
  const vals = rows.filter((r) => finishedRuns.has(r.run)).map((r) => r[field]).filter((x): x is number => x !== null);
  const all = rows.map((r) => r[field]).filter((x): x is number => x !== null);
  if (vals.length === 0 || all.length === 0) return undefined;
  const top = Math.max(...vals);
  return Math.max(...all) > 1.5 * top ? 1.2 * top : undefined;
}

interface PanelOptions {
  field: EpochField;
  title: string;
  yTitle: string;
  domainMax?: number;
  width: number;
  legend?: object;
}

/**
 * Round tick values for a log axis over [lo, hi]: the coarsest of 1, 1-2-5, 1-2-3-5 and 1…9 × 10^k
 * that leaves no stretch of more than ~40% of the axis without a label; on a very narrow range, evenly
 * spaced values (Vega's own log ticks would leave such an axis unlabelled).
 */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi > lo)) return [];
  const span = Math.log10(hi / lo);
  const pick = (ms: number[]) => {
    const out: number[] = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
      for (const m of ms) {
        const v = Number((m * 10 ** k).toPrecision(3));
        if (v >= lo && v <= hi) out.push(v);
      }
    }
    return out;
  };
  const widestGap = (t: number[]) => Math.max(...[lo, ...t, hi].slice(1).map((v, i) => Math.log10(v / [lo, ...t][i]!)));
  for (const ms of [[1], [1, 2, 5], [1, 2, 3, 5], [1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9]]) {
    const t = pick(ms);
    if (t.length >= 3 && widestGap(t) <= 0.4 * span) return t;
  }
  const fine = pick([1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9]);
  if (fine.length >= 2) return fine;
  // A narrow range (1.1 to 1.3): evenly spaced round values, as on a linear axis.
  const step = [1, 2, 5].map((m) => m * 10 ** Math.floor(Math.log10((hi - lo) / 4))).find((st) => (hi - lo) / st <= 5)!;
  const out: number[] = [];
  for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi * (1 + 1e-9); i++) out.push(Number((i * step).toPrecision(4)));
  return out;
}

/**
 * The y scale of a loss panel: log, over the data's own range (a "nice" log domain would stretch to
 * whole decades and waste half the panel), with a few round tick values.
 */
function logY(rows: EpochRow[], field: 'loss' | 'val_loss', domainMax: number | undefined) {
  const vals = rows.map((r) => r[field]).filter((x): x is number => x !== null && x > 0);
  if (vals.length === 0) return { scale: { type: 'log' as const }, axis: {} };
  const lo = Math.min(...vals) / 1.12;
  const hi = (domainMax ?? Math.max(...vals)) * 1.12;
  const values = logTicks(lo, hi);
  return { scale: { type: 'log' as const, domain: [lo, hi], clamp: true }, axis: values.length ? { values } : {} };
}

function linearScale(domainMax: number | undefined) {
  return { zero: false, ...(domainMax !== undefined ? { domainMax, clamp: true } : {}) };
}

/** One line per variant (the mean over seeds), with each seed as a faint line behind it when there are several. */
function perEpochPanel(variants: VariantSummary[], o: PanelOptions & { logY?: ReturnType<typeof logY> }) {
  const multiSeed = variants.some((v) => v.runs.length > 1);
  const y = {
    field: o.field, type: 'quantitative' as const, title: o.logY ? `${o.yTitle} (log scale)` : o.yTitle,
    scale: o.logY ? o.logY.scale : linearScale(o.domainMax),
    // `~` drops trailing zeros: a flat curve's single tick reads 50, not 50.000000.
    axis: o.logY ? o.logY.axis : { format: '.4~r' },
  };
  const x = { field: 'epoch', type: 'quantitative' as const, title: 'Epoch', axis: { tickMinStep: 1, format: 'd' } };
  const color = { field: 'variant', type: 'nominal' as const, title: 'Variant', scale: colorScale(variants), sort: variants.map((v) => v.name), ...(o.legend ? { legend: o.legend } : {}) };
  const digits = o.field === 'val_accuracy' ? '.2f' : '.4f';
  const layers: object[] = [];
  if (multiSeed) {
    // Named so that a page can hide the single seeds (see serve/page/dashboard.js).
    layers.push({
      name: 'seeds',
      mark: { type: 'line', strokeWidth: 1, opacity: 0.3 },
      encoding: { x, y, color, detail: { field: 'run', type: 'nominal' } },
    });
  }
  layers.push({
    mark: { type: 'line', strokeWidth: 2.2, point: { size: 28, filled: true } },
    encoding: {
      x, y: { ...y, aggregate: 'mean' }, color,
      tooltip: [
        { field: 'variant', type: 'nominal', title: 'Variant' },
        { field: 'epoch', type: 'quantitative', title: 'Epoch' },
        { field: o.field, type: 'quantitative', aggregate: 'mean', title: multiSeed ? `${o.yTitle}, mean over seeds` : o.yTitle, format: digits },
      ],
    },
  });
  // A log scale cannot show 0 (a loss of exactly 0 is not a training curve anyway).
  const filter = o.logY ? `isValid(datum.${o.field}) && datum.${o.field} > 0` : `isValid(datum.${o.field})`;
  return { ...(o.title ? { title: o.title } : {}), width: o.width, height: 260, transform: [{ filter }], layer: layers };
}

/** Points at (nearly) the same size — resnet20 and plain20 — get their labels on opposite sides. */
function labelSides(points: { params: number; acc: number }[]): ('left' | 'right')[] {
  const sides: ('left' | 'right')[] = points.map(() => 'right');
  const order = points.map((_, i) => i).sort((a, b) => points[a].params - points[b].params || points[b].acc - points[a].acc);
  let group: number[] = [];
  const flush = () => {
    group.sort((a, b) => points[b].acc - points[a].acc).forEach((i, k) => { sides[i] = k % 2 === 0 ? 'right' : 'left'; });
    group = [];
  };
  for (const i of order) {
    if (group.length > 0 && Math.abs(Math.log10(points[i].params / points[group[0]].params)) > 0.04) flush();
    group.push(i);
  }
  flush();
  return sides;
}

function accuracyVsParams(variants: VariantSummary[], width: number): vl.TopLevelSpec | undefined {
  // Only finished runs: a diverged or half-trained run's accuracy says nothing about model size.
  const raw = variants
    .filter((v) => v.params !== undefined && v.finished.length > 0)
    .map((v) => {
      const acc = v.finished.map((r) => 100 * r.finalValAcc!);
      const m = acc.reduce((a, b) => a + b, 0) / acc.length;
      const sd = acc.length > 1 ? Math.sqrt(acc.reduce((s, x) => s + (x - m) ** 2, 0) / (acc.length - 1)) : 0;
      return { variant: v.name, params: v.params!, acc: m, lo: m - sd, hi: m + sd, seeds: acc.length };
    });
  if (raw.length === 0) return undefined;
  const sides = labelSides(raw);
  const points = raw.map((p, i) => ({ ...p, side: sides[i] }));
  const color = { field: 'variant', type: 'nominal' as const, title: 'Variant', scale: colorScale(variants), legend: null };
  const x = { field: 'params', type: 'quantitative' as const, title: 'Parameters (log scale)', scale: { type: 'log' as const, nice: false, padding: 120 }, axis: { format: '.2~s' } };
  const y = { field: 'acc', type: 'quantitative' as const, title: 'Final val accuracy (%)', scale: { zero: false, padding: 24 }, axis: { format: '.4~r' } };
  const label = (side: 'left' | 'right') => ({
    transform: [{ filter: `datum.side == '${side}'` }],
    mark: { type: 'text', align: side === 'right' ? 'left' : 'right', dx: side === 'right' ? 9 : -9, fontSize: 11, baseline: 'middle' },
    encoding: { x, y: { field: 'acc', type: 'quantitative' }, text: { field: 'variant' }, color },
  });
  return {
    $schema: SCHEMA,
    config: CONFIG,
    width,
    height: 300,
    data: { values: points },
    layer: [
      // Open circles under the error bars, so a bar shorter than the dot still shows.
      {
        mark: { type: 'point', filled: false, size: 80, strokeWidth: 2 },
        encoding: {
          x, y, color,
          tooltip: [
            { field: 'variant', type: 'nominal', title: 'Variant' },
            { field: 'params', type: 'quantitative', title: 'Parameters', format: ',' },
            { field: 'acc', type: 'quantitative', title: 'Final val acc (%)', format: '.2f' },
            { field: 'seeds', type: 'quantitative', title: 'Seeds' },
          ],
        },
      },
      { mark: { type: 'errorbar', ticks: { size: 8 }, thickness: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'Final val accuracy (%)' }, y2: { field: 'hi' }, color } },
      label('right'),
      label('left'),
    ],
  } as vl.TopLevelSpec;
}

export function buildPlots(variants: VariantSummary[]): Plot[] {
  const rows = epochRows(variants);
  const finishedRuns = new Set(variants.flatMap((v) => v.finished.map((r) => r.run.name)));
  const seedsNote = variants.some((v) => v.runs.length > 1) ? ' Thick lines: mean over seeds; thin lines: single seeds.' : '';
  const logNote = ' Losses are on a log scale, so a high first epoch does not flatten the later ones.';
  const plots: Plot[] = [];
  const hasVal = rows.some((r) => r.val_accuracy !== null);
  const base = { $schema: SCHEMA, config: CONFIG, data: { values: rows } };
  // Loss panels are on a log scale, so one seed's high first-epoch loss does not flatten every later epoch.
  const lossPanel = (field: 'loss' | 'val_loss', title: string, yTitle: string, width: number, legend?: object) => {
    const domainMax = lossDomainMax(rows, field, finishedRuns);
    return perEpochPanel(variants, { field, title, yTitle, domainMax, width, legend, logY: logY(rows, field, domainMax) });
  };
  const linearY = (field: 'loss' | 'val_loss', yTitle: string) => ({ title: yTitle, scale: linearScale(lossDomainMax(rows, field, finishedRuns)), axis: {} });
  const accPanel = (width: number, legend?: object) => perEpochPanel(variants, { field: 'val_accuracy', title: 'Validation accuracy', yTitle: 'Accuracy (%)', width, legend });

  plots.push({
    id: 'loss-accuracy',
    title: 'Training loss and validation accuracy per epoch',
    caption: `Training loss (first panel) and validation accuracy (second panel).${seedsNote}${logNote}`,
    spec: {
      ...base,
      hconcat: [lossPanel('loss', 'Training loss', 'Loss', 330), ...(hasVal ? [accPanel(330)] : [])],
      resolve: { scale: { color: 'shared' } },
    } as vl.TopLevelSpec,
    panels: [
      { id: 'train-loss', spec: { ...base, ...lossPanel('loss', 'Training loss', 'Loss', PANEL_WIDTH, PANEL_LEGEND) } as vl.TopLevelSpec, linearY: linearY('loss', 'Loss') },
      ...(hasVal ? [{ id: 'val-accuracy', spec: { ...base, ...accPanel(PANEL_WIDTH, PANEL_LEGEND) } as vl.TopLevelSpec }] : []),
    ],
  });

  if (rows.some((r) => r.val_loss !== null)) {
    plots.push({
      id: 'val-loss',
      title: 'Validation loss per epoch',
      caption: `A validation loss that rises while training loss falls is overfitting.${seedsNote}${logNote}`,
      spec: { ...base, ...lossPanel('val_loss', '', 'Validation loss', 560) } as vl.TopLevelSpec,
      panels: [{ id: 'val-loss', spec: { ...base, ...lossPanel('val_loss', 'Validation loss', 'Validation loss', PANEL_WIDTH, PANEL_LEGEND) } as vl.TopLevelSpec, linearY: linearY('val_loss', 'Validation loss') }],
    });
  }

  const scatter = accuracyVsParams(variants, 560);
  if (scatter) {
    plots.push({
      id: 'accuracy-vs-params',
      title: 'Final validation accuracy vs parameters',
      caption: 'Final validation accuracy (mean of the last epochs; bars: ± one standard deviation over seeds) against model size. Only finished runs are shown.',
      spec: scatter,
      panels: [{ id: 'accuracy-vs-params', spec: accuracyVsParams(variants, PANEL_WIDTH)! }],
    });
  }
  const parallel = parallelRows(variants);
  if (parallel) {
    const pc = (width: number) => parallelCoordinatesSpec(parallel, width, { $schema: SCHEMA, config: CONFIG });
    plots.push({
      id: 'parallel-coordinates',
      title: 'Parallel coordinates: the axes against final validation accuracy',
      caption: 'One line per finished variant through its value on each axis (values evenly spaced in the study\'s order) to its final validation accuracy (last axis, from the lowest to the highest variant mean), coloured by that accuracy.',
      spec: pc(560),
      panels: [{ id: 'parallel-coordinates', spec: pc(PANEL_WIDTH) }],
    });
  }
  return plots;
}

/**
 * Vega numbers clip paths `clip1`, `clip2`… per view; several SVGs inlined in one HTML page would
 * share those ids and clip each other, so each plot's ids get its own prefix.
 */
function prefixIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id) => `url(#${prefix}-${id})`)
    .replace(/href="#([^"]+)"/g, (_, id) => `href="#${prefix}-${id}"`);
}

async function toSvg(spec: vl.TopLevelSpec, idPrefix: string): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return prefixIds(await view.toSVG(), idPrefix);
  } finally {
    view.finalize();
  }
}

export async function renderPlot(plot: Plot): Promise<RenderedPlot> {
  const [svg, ...panelSvgs] = await Promise.all([toSvg(plot.spec, plot.id), ...plot.panels.map((p) => toSvg(p.spec, `${plot.id}-${p.id}`))]);
  return { ...plot, svg: svg!, panelSvgs };
}

/** PNG at twice the SVG's size, so it stays sharp on slides and in printed reports. */
export async function svgToPng(svg: string): Promise<Buffer> {
  const sharp = await sharpLib();
  return sharp(Buffer.from(svg), { density: 144 }).png({ compressionLevel: 9 }).toBuffer();
}
