/**
 * A parallel-coordinates figure: one vertical axis per study axis and a last one for the final metric;
 * each variant is a line through its values, coloured by its final accuracy, so which settings the best
 * variants share shows at a glance. Axis values are placed evenly in the study's order (categorical and
 * numeric alike), the metric on its own range.
 */
import type * as vl from 'vega-lite';
import type { VariantSummary } from './summary.js';

const METRIC = 'Final val acc (%)';

interface Row {
  variant: string;
  dim: string;
  order: number;
  y: number;
  label: string;
  acc: number;
  /** Every value of this axis in order (its labels), so values no finished variant has are still written. */
  values: string[];
}

/** The axes that vary between the finished variants, in the study's order. */
function varyingAxes(variants: VariantSummary[]): string[] {
  const keys = [...new Set(variants.flatMap((v) => Object.keys(v.axes)))];
  // An axis whose value is the variant's name (a list of models) is kept only beside other axes.
  const varying = keys.filter((k) => new Set(variants.map((v) => String(v.axes[k]))).size > 1);
  return varying.some((k) => !variants.every((v) => String(v.axes[k]) === v.name)) ? varying : [];
}

/** The rows of the figure, or undefined when there is nothing to draw (no varying axis, fewer than two finished variants). */
export function parallelRows(variants: VariantSummary[]): Row[] | undefined {
  const done = variants.filter((v) => v.final.mean !== undefined && v.finished.length > 0);
  const axes = varyingAxes(done);
  if (done.length < 2 || axes.length === 0) return undefined;
  const accs = done.map((v) => 100 * v.final.mean!);
  const [lo, hi] = [Math.min(...accs), Math.max(...accs)];
  const rows: Row[] = [];
  for (const v of done) {
    const acc = 100 * v.final.mean!;
    axes.forEach((a, i) => {
      // Values in the order the variants list them (the study's axis order).
      const values = [...new Set(variants.map((x) => String(x.axes[a])))];
      const k = values.indexOf(String(v.axes[a]));
      rows.push({ variant: v.name, dim: a, order: i, y: values.length === 1 ? 0.5 : k / (values.length - 1), label: String(v.axes[a]), acc, values });
    });
    rows.push({ variant: v.name, dim: METRIC, order: axes.length, y: hi > lo ? (acc - lo) / (hi - lo) : 0.5, label: acc.toFixed(1), acc, values: [] });
  }
  return rows;
}

/** Each axis value's label at its place (values no finished variant has keep theirs), and the metric's two ends. */
function labelRows(rows: Row[]): { dim: string; y: number; label: string }[] {
  const out = new Map<string, { dim: string; y: number; label: string }>();
  for (const r of rows) {
    if (r.dim === METRIC) continue;
    for (const [k, label] of r.values.entries()) out.set(`${r.dim}\u0000${label}`, { dim: r.dim, y: r.values.length === 1 ? 0.5 : k / (r.values.length - 1), label });
  }
  const metric = rows.filter((r) => r.dim === METRIC).sort((a, b) => a.y - b.y);
  for (const r of [metric[0], metric[metric.length - 1]]) if (r) out.set(`${METRIC}\u0000${r.y}`, { dim: METRIC, y: r.y, label: r.label });
  return [...out.values()];
}

export function parallelCoordinatesSpec(rows: Row[], width: number, base: Record<string, unknown>): vl.TopLevelSpec {
  const dims = [...new Set(rows.map((r) => r.dim))];
  const x = { field: 'dim', type: 'ordinal', sort: dims, title: null, axis: { labelAngle: 0, domain: false, ticks: false, labelLimit: 140, orient: 'top' } };
  const y = { field: 'y', type: 'quantitative', scale: { domain: [0, 1] }, axis: null };
  const labels = labelRows(rows);
  return {
    ...base,
    width,
    height: 260,
    data: { values: rows },
    layer: [
      { mark: { type: 'rule', color: '#999' }, data: { values: dims.map((d) => ({ dim: d })) }, encoding: { x } },
      {
        mark: { type: 'line', strokeWidth: 2, opacity: 0.85 },
        encoding: {
          x, y, detail: { field: 'variant' },
          color: { field: 'acc', type: 'quantitative', title: METRIC, scale: { scheme: 'viridis' } },
          tooltip: [{ field: 'variant', title: 'Variant' }, { field: 'acc', title: METRIC, format: '.1f' }],
        },
      },
      { mark: { type: 'point', filled: true, size: 30, color: '#333' }, encoding: { x, y } },
      { mark: { type: 'text', align: 'left', dx: 5, fontSize: 10 }, data: { values: labels }, encoding: { x, y, text: { field: 'label' } } },
    ],
  } as vl.TopLevelSpec;
}
