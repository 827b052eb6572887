/**
 * The tuning stage in the report: per arm the chosen values, the tuning cost and the edge-of-range
 * warnings, and one figure per searched path (the metric of every trial against its value, one line
 * per arm), drawn like the report's other plots.
 */
import type * as vl from 'vega-lite';
import type { Plot } from '../report/plots.js';
import type { Table } from '../report/tables.js';
import { CONFIG, SCHEMA } from '../report/plots.js';
import type { TuningResult } from './select.js';

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const metricText = (t: TuningResult, v: number | undefined) => (v === undefined ? '—' : t.metric === 'val_accuracy' ? pct(v) : v.toFixed(4));
const metricName = (t: TuningResult) => (t.metric === 'val_accuracy' ? 'tuning val accuracy' : 'tuning val loss');
const duration = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);

/** The sentence under the ablation table of a tuned study. */
export function tuningTableNote(t: TuningResult): string {
  const paths = t.space.map((d) => d.path).join(', ');
  return `Each arm was compared at its own tuned settings: ${paths} chosen per arm by the same ${t.method === 'asha' ? 'successive-halving' : t.method} search on the same budget (see *Tuning*). The verdicts use the main runs only, never the tuning trials.`;
}

/** Per arm: the chosen values, the best trial's metric, the trials, epochs and time it cost, and the warnings. */
export function tuningRows(t: TuningResult): Table {
  const header = ['Arm', ...t.space.map((d) => `Chosen ${d.path}`), `Best ${metricName(t)}`, 'Trials', 'Tuning epochs', 'Tuning time'];
  const rows = t.arms.map((a) => [
    a.arm, ...t.space.map((d) => String(a.chosen[d.path]) + (a.atEdge.some((e) => e.path === d.path) ? ' ⚠' : '')),
    metricText(t, a.bestMetric), String(new Set(a.trials.map((x) => x.trial)).size), String(a.epochs), duration(a.seconds),
  ]);
  return { header, rows, numeric: header.map((_, i) => i > t.space.length) };
}

/** Edge-of-range warnings, one line each. */
export function tuningWarnings(t: TuningResult): string[] {
  return t.arms.flatMap((a) => a.atEdge.map((e) => `${a.arm}: the best ${e.path} (${e.value}) is the ${e.edge} value searched — widen the range; the true best may lie beyond it.`));
}

export function tuningIntro(t: TuningResult): string {
  const rungs = t.rungs.map((r) => `${r.trials} trials × ${r.epochs} epochs`).join(', then ');
  const how = t.method === 'asha'
    ? `synchronous successive halving (each rung keeps its best trials and trains them longer; rung by rung so the result does not depend on timing): ${rungs}`
    : `${t.method} search: ${rungs}`;
  return `Every arm searched the same points with the same budget — ${how}, seeds ${t.seeds.join(', ')} — and was then trained at its best values. Data: ${t.dataNote}. Total tuning: ${t.arms.reduce((s, a) => s + a.epochs, 0)} epochs, ${duration(t.arms.reduce((s, a) => s + a.seconds, 0))}.`;
}

/** One figure per searched path: the metric of every trial against its value, one line per arm, the chosen value ringed. */
export function tuningPlots(t: TuningResult): Plot[] {
  const lastEpochs = t.rungs[t.rungs.length - 1]?.epochs;
  const plots: Plot[] = [];
  t.space.forEach((d, i) => {
    const rows = t.arms.flatMap((a) => a.trials.filter((x) => x.metric !== undefined).map((x) => ({
      arm: a.arm, trial: x.trial, epochs: x.epochs, value: x.values[d.path], chosen: x.trial === a.bestTrial && x.epochs === lastEpochs,
      metric: t.metric === 'val_accuracy' ? x.metric! * 100 : x.metric!, last: x.epochs === lastEpochs,
    })));
    const numeric = rows.every((r) => typeof r.value === 'number');
    const x = numeric
      ? { field: 'value', type: 'quantitative' as const, title: d.path + (d.log ? ' (log scale)' : ''), scale: d.log ? { type: 'log' as const } : { zero: false } }
      : { field: 'value', type: 'nominal' as const, title: d.path };
    // A loss scale: one diverged trial (loss 30) must not flatten the others' curve.
    const logY = t.metric === 'val_loss' && rows.every((r) => r.metric > 0);
    const y = { field: 'metric', type: 'quantitative' as const, title: t.metric === 'val_accuracy' ? 'Tuning val accuracy (%)' : `Tuning val loss${logY ? ' (log scale)' : ''}`, scale: logY ? { type: 'log' as const } : { zero: false } };
    const color = { field: 'arm', type: 'nominal' as const, title: 'Arm', sort: t.arms.map((a) => a.arm) };
    const panel = (width: number) => ({
      width, height: 260,
      layer: [
        { transform: [{ filter: 'datum.last' }], mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { ...y, aggregate: 'mean' }, color, detail: { field: 'arm' } } },
        { mark: { type: 'point', filled: true, size: 40 }, encoding: { x, y, color, opacity: { condition: { test: 'datum.last', value: 1 }, value: 0.35 }, tooltip: [{ field: 'arm' }, { field: 'trial' }, { field: 'epochs' }, { field: 'value', title: d.path }, { field: 'metric', format: '.3f' }] } },
        { transform: [{ filter: 'datum.chosen' }], mark: { type: 'point', size: 220, strokeWidth: 2.5, filled: false }, encoding: { x, y, color } },
      ],
    });
    const spec = (width: number) => ({ $schema: SCHEMA, config: CONFIG, data: { values: rows }, ...panel(width) }) as vl.TopLevelSpec;
    plots.push({
      id: `tuning-${i + 1}`,
      title: `Tuning curve: ${metricName(t)} against ${d.path}`,
      caption: `Each point is one tuning trial (${t.rungs.length > 1 ? 'faint: an early rung with fewer epochs; ' : ''}mean over the tuning seeds), on data carved from the training split; the line joins each arm's ${t.rungs.length > 1 ? 'last-rung ' : ''}trials and the ring marks the value its main runs used.`,
      spec: spec(560),
      panels: [{ id: `tuning-${i + 1}`, spec: spec(290) }],
    });
  });
  return plots;
}
