/** The report's figures as Vega-Lite specs, rendered to SVG by Vega (no browser) and to PNG by sharp. */
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { VariantSummary } from './summary.js';

export interface Plot {
  /** File stem under plots/: `loss-accuracy` → plots/loss-accuracy.png */
  id: string;
  title: string;
  caption: string;
  spec: vl.TopLevelSpec;
}

export interface RenderedPlot extends Plot {
  svg: string;
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const CONFIG = {
  font: FONT,
  view: { stroke: '#ccc' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#e6e6e6' },
  // The legend takes its symbols from the first layer (the faint per-seed lines); show them solid.
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 260, symbolOpacity: 1, symbolType: 'stroke', symbolStrokeWidth: 3 },
  title: { fontSize: 13, fontWeight: 'bold', anchor: 'start' },
} as const;

interface EpochRow {
  variant: string;
  run: string;
  seed: number | null;
  epoch: number;
  loss: number | null;
  val_accuracy: number | null;
  val_loss: number | null;
}

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

/** One line per variant (the mean over seeds), with each seed as a faint line behind it when there are several. */
function perEpochPanel(variants: VariantSummary[], field: 'loss' | 'val_accuracy' | 'val_loss', title: string, yTitle: string, domainMax: number | undefined, width: number) {
  const multiSeed = variants.some((v) => v.runs.length > 1);
  const y = {
    field, type: 'quantitative' as const, title: yTitle,
    scale: { zero: false, ...(domainMax !== undefined ? { domainMax, clamp: true } : {}) },
  };
  const x = { field: 'epoch', type: 'quantitative' as const, title: 'Epoch', axis: { tickMinStep: 1, format: 'd' } };
  const color = { field: 'variant', type: 'nominal' as const, title: 'Variant', scale: colorScale(variants), sort: variants.map((v) => v.name) };
  const layers: object[] = [];
  if (multiSeed) {
    layers.push({
      mark: { type: 'line', strokeWidth: 1, opacity: 0.3 },
      encoding: { x, y, color, detail: { field: 'run', type: 'nominal' } },
    });
  }
  layers.push({
    mark: { type: 'line', strokeWidth: 2.2, point: { size: 28, filled: true } },
    encoding: { x, y: { ...y, aggregate: 'mean' }, color },
  });
  return { title, width, height: 260, transform: [{ filter: `datum.${field} != null` }], layer: layers };
}

export function buildPlots(variants: VariantSummary[]): Plot[] {
  const rows = epochRows(variants);
  const finishedRuns = new Set(variants.flatMap((v) => v.finished.map((r) => r.run.name)));
  const seedsNote = variants.some((v) => v.runs.length > 1) ? ' Thick lines: mean over seeds; thin lines: single seeds.' : '';
  const plots: Plot[] = [];
  const hasVal = rows.some((r) => r.val_accuracy !== null);

  plots.push({
    id: 'loss-accuracy',
    title: 'Training loss and validation accuracy per epoch',
    caption: `Left: training loss. Right: validation accuracy.${seedsNote}`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      config: CONFIG,
      data: { values: rows },
      hconcat: [
        perEpochPanel(variants, 'loss', 'Training loss', 'Loss', lossDomainMax(rows, 'loss', finishedRuns), 330),
        ...(hasVal ? [perEpochPanel(variants, 'val_accuracy', 'Validation accuracy', 'Accuracy (%)', undefined, 330)] : []),
      ],
      resolve: { scale: { color: 'shared' } },
    } as vl.TopLevelSpec,
  });

  if (rows.some((r) => r.val_loss !== null)) {
    plots.push({
      id: 'val-loss',
      title: 'Validation loss per epoch',
      caption: `A validation loss that rises while training loss falls is overfitting.${seedsNote}`,
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        config: CONFIG,
        data: { values: rows },
        ...perEpochPanel(variants, 'val_loss', '', 'Validation loss', lossDomainMax(rows, 'val_loss', finishedRuns), 560),
      } as vl.TopLevelSpec,
    });
  }

  // Only finished runs: a diverged or half-trained run's accuracy says nothing about model size.
  const points = variants
    .filter((v) => v.params !== undefined && v.finished.length > 0)
    .map((v) => {
      const acc = v.finished.map((r) => 100 * r.finalValAcc!);
      const m = acc.reduce((a, b) => a + b, 0) / acc.length;
      const sd = acc.length > 1 ? Math.sqrt(acc.reduce((s, x) => s + (x - m) ** 2, 0) / (acc.length - 1)) : 0;
      return { variant: v.name, params: v.params!, acc: m, lo: m - sd, hi: m + sd };
    });
  if (points.length > 0) {
    const color = { field: 'variant', type: 'nominal' as const, title: 'Variant', scale: colorScale(variants), legend: null };
    const x = { field: 'params', type: 'quantitative' as const, title: 'Parameters (log scale)', scale: { type: 'log' as const, nice: false, padding: 40 }, axis: { format: '.3s' } };
    plots.push({
      id: 'accuracy-vs-params',
      title: 'Final validation accuracy vs parameters',
      caption: 'Final validation accuracy (mean of the last epochs; bars: ± one standard deviation over seeds) against model size. Only finished runs are shown.',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        config: CONFIG,
        width: 560,
        height: 300,
        data: { values: points },
        layer: [
          { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'Final val accuracy (%)', scale: { zero: false, padding: 20 } }, y2: { field: 'hi' }, color } },
          { mark: { type: 'point', filled: true, size: 90 }, encoding: { x, y: { field: 'acc', type: 'quantitative' }, color } },
          { mark: { type: 'text', align: 'left', dx: 8, dy: -8, fontSize: 11 }, encoding: { x, y: { field: 'acc', type: 'quantitative' }, text: { field: 'variant' }, color } },
        ],
      } as vl.TopLevelSpec,
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

export async function renderPlot(plot: Plot): Promise<RenderedPlot> {
  const compiled = vl.compile(plot.spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return { ...plot, svg: prefixIds(svg, plot.id) };
  } finally {
    view.finalize();
  }
}

/** PNG at twice the SVG's size, so it stays sharp on slides and in printed reports. */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 144 }).png({ compressionLevel: 9 }).toBuffer();
}
