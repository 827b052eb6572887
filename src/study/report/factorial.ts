/**
 * Factorial analysis of a crossed study (two or more axes, every combination run): main effects of each
 * axis level against the axis's first level, averaged over the other axes, and two-way interactions
 * (does one axis's effect depend on another's level?). Each effect is a contrast of the cells' final
 * accuracies, computed per seed and tested with a one-sample t-interval over the seeds that every cell
 * finished; the effects' p-values are corrected among themselves with the study's method.
 */
import type { AxisValue } from '../spec.js';
import { type Correction, adjustPValues, tTestP } from '../inference.js';
import { mean, sampleStd, studentTQuantile } from '../stats.js';
import type { VariantSummary } from './summary.js';

export interface FactorialEffect {
  kind: 'main' | 'interaction';
  /** `augment: cutmix vs none`, or `augment: cutmix vs none × model: plain34 vs resnet34`. */
  label: string;
  /** Mean over seeds of the per-seed contrast, in accuracy fraction. */
  estimate: number;
  low?: number;
  high?: number;
  pValue?: number;
  adjustedP?: number;
  significant: boolean;
}

export interface FactorialAnalysis {
  axes: { path: string; levels: AxisValue[] }[];
  seeds: number[];
  effects: FactorialEffect[];
  correction: Correction;
  /** Why there is no analysis (an incomplete grid, too few axes), when there is none. */
  skipped?: string;
}

type Cell = Map<number, number>; // seed → final accuracy

const keyOf = (values: AxisValue[]) => JSON.stringify(values);

/** All combinations of the given axes' levels (first axis slowest). */
function combos(levels: AxisValue[][]): AxisValue[][] {
  return levels.reduce<AxisValue[][]>((acc, ls) => acc.flatMap((c) => ls.map((l) => [...c, l])), [[]]);
}

export function factorialAnalysis(axes: Record<string, AxisValue[]>, variants: VariantSummary[], o: { correction: Correction; level: number }): FactorialAnalysis | undefined {
  const crossed = Object.entries(axes).filter(([, v]) => v.length >= 2).map(([path, levels]) => ({ path, levels }));
  if (crossed.length < 2) return undefined;
  const base: FactorialAnalysis = { axes: crossed, seeds: [], effects: [], correction: o.correction };
  const cells = new Map<string, Cell>();
  for (const v of variants) {
    const k = keyOf(crossed.map((a) => v.axes[a.path] ?? null));
    if (cells.has(k)) return { ...base, skipped: `two variants share the levels ${k}: the axes do not identify one cell each` };
    cells.set(k, new Map(v.finished.filter((r) => r.run.seed !== undefined).map((r) => [r.run.seed!, r.finalValAcc!])));
  }
  const grid = combos(crossed.map((a) => a.levels));
  const missing = grid.filter((g) => !(cells.get(keyOf(g))?.size));
  if (missing.length > 0) return { ...base, skipped: `${missing.length} of ${grid.length} combinations have no finished run (e.g. ${crossed.map((a, i) => `${a.path}=${missing[0][i]}`).join(', ')}); a factorial analysis needs every one` };
  // The seeds every cell finished: contrasts are taken within a seed, as the paired verdicts are.
  const seeds = [...cells.get(keyOf(grid[0]))!.keys()].filter((s) => grid.every((g) => cells.get(keyOf(g))!.has(s))).sort((a, b) => a - b);
  if (seeds.length === 0) return { ...base, skipped: 'no seed was finished by every combination' };
  const acc = (g: AxisValue[], s: number) => cells.get(keyOf(g))!.get(s)!;

  /** Per seed, the mean over `rows` of Σ weight·acc(cell): a contrast's value. */
  const contrast = (terms: (r: AxisValue[]) => [AxisValue[], number][], rows: AxisValue[][]) =>
    seeds.map((s) => mean(rows.map((r) => terms(r).reduce((sum, [g, w]) => sum + w * acc(g, s), 0))));

  const raw: Omit<FactorialEffect, 'adjustedP' | 'significant'>[] = [];
  const test = (kind: FactorialEffect['kind'], label: string, values: number[]) => {
    const est = mean(values);
    if (values.length < 2) { raw.push({ kind, label, estimate: est }); return; }
    const se = sampleStd(values) / Math.sqrt(values.length);
    const df = values.length - 1;
    const half = studentTQuantile(1 - (1 - o.level) / 2, df) * se;
    raw.push({ kind, label, estimate: est, low: est - half, high: est + half, pValue: tTestP({ difference: est, standardError: se, df }) });
  };
  const others = (skip: number[]) => combos(crossed.map((a, i) => (skip.includes(i) ? [null] : a.levels)));
  const place = (r: AxisValue[], set: [number, AxisValue][]) => r.map((v, i) => set.find(([j]) => j === i)?.[1] ?? v);

  crossed.forEach((a, i) => {
    for (const level of a.levels.slice(1)) {
      const rows = others([i]);
      test('main', `${a.path}: ${level} vs ${a.levels[0]}`, contrast((r) => [[place(r, [[i, level]]), 1], [place(r, [[i, a.levels[0]]]), -1]], rows));
    }
  });
  for (let i = 0; i < crossed.length; i++) {
    for (let j = i + 1; j < crossed.length; j++) {
      const [A, B] = [crossed[i], crossed[j]];
      for (const la of A.levels.slice(1)) {
        for (const lb of B.levels.slice(1)) {
          const rows = others([i, j]);
          const [a0, b0] = [A.levels[0], B.levels[0]];
          test('interaction', `${A.path}: ${la} vs ${a0} × ${B.path}: ${lb} vs ${b0}`, contrast((r) => [
            [place(r, [[i, la], [j, lb]]), 1], [place(r, [[i, a0], [j, lb]]), -1], [place(r, [[i, la], [j, b0]]), -1], [place(r, [[i, a0], [j, b0]]), 1],
          ], rows));
        }
      }
    }
  }
  const tested = raw.filter((e) => e.pValue !== undefined);
  const adjusted = adjustPValues(tested.map((e) => e.pValue!), o.correction);
  const alpha = 1 - o.level;
  const effects = raw.map((e): FactorialEffect => {
    const k = tested.indexOf(e);
    return k < 0 ? { ...e, significant: false } : { ...e, adjustedP: adjusted[k], significant: adjusted[k] < alpha };
  });
  return { ...base, seeds, effects };
}
