/**
 * `ablate study diff A B`: the verdicts of two study folders side by side (a re-run with more seeds,
 * another machine, a changed recipe). Per comparison: whether the verdict was kept or changed, and the
 * change in Δ with a Welch interval that treats the two studies' runs as independent.
 */
import { readStudy } from './run-files.js';
import { buildReportModel } from './report/model.js';
import { prettyName } from './report/format.js';
import type { Verdict } from './report/verdict.js';
import { type DifferenceInterval, studentTQuantile } from './stats.js';

/** What a verdict says, reduced to what a flip is: which side wins significantly, or neither. */
export type Finding = 'variant' | 'reference' | 'none';

export interface ComparisonDiff {
  variant: string;
  reference: string;
  /** Absent when the comparison is only in the other study. */
  a?: Verdict;
  b?: Verdict;
  status: 'kept' | 'changed' | 'flipped' | 'only-a' | 'only-b';
  /** Δ_B − Δ_A in accuracy fraction, and its interval when both sides have one. */
  change?: number;
  changeInterval?: { low: number; high: number; df: number; level: number };
}

export interface StudyDiff {
  a: string;
  b: string;
  comparisons: ComparisonDiff[];
  flips: number;
  /** Corrections of the two studies, when they differ (a flip may come from the correction alone). */
  corrections: [string, string];
}

export function findingOf(v: Verdict): Finding {
  if (!v.significant || v.difference === undefined) return 'none';
  return v.difference > 0 ? 'variant' : 'reference';
}

/** Welch interval for the difference of two independent estimates. */
function changeInterval(a: DifferenceInterval, b: DifferenceInterval, level: number): ComparisonDiff['changeInterval'] {
  const va = a.standardError ** 2;
  const vb = b.standardError ** 2;
  const se = Math.sqrt(va + vb);
  const df = se === 0 ? a.df + b.df : (va + vb) ** 2 / (va ** 2 / a.df + vb ** 2 / b.df);
  const t = studentTQuantile(1 - (1 - level) / 2, df);
  const d = b.difference - a.difference;
  return { low: d - t * se, high: d + t * se, df, level };
}

export function diffStudies(dirA: string, dirB: string, o: { level?: number } = {}): StudyDiff {
  const level = o.level ?? 0.95;
  const [sa, sb] = [dirA, dirB].map((dir, i) => {
    const s = readStudy(dir);
    if (s.runs.length === 0) throw new TypeError(`Expected a study folder with runs for ${i === 0 ? 'A' : 'B'} but ${dir} has none (give the output folder of \`ablate study run\`)`);
    return s;
  });
  const ma = buildReportModel(sa, { level, perImage: false });
  const mb = buildReportModel(sb, { level, perImage: false });
  const key = (v: { variant: string; reference: string }) => `${v.variant}\u0000${v.reference}`;
  const inA = new Map(ma.verdicts.map((v) => [key(v), v]));
  const inB = new Map(mb.verdicts.map((v) => [key(v), v]));
  const keys = [...new Set([...inA.keys(), ...inB.keys()])];
  const comparisons = keys.map((k): ComparisonDiff => {
    const a = inA.get(k);
    const b = inB.get(k);
    const [variant, reference] = k.split('\u0000');
    if (!a || !b) return { variant, reference, ...(a ? { a } : {}), ...(b ? { b } : {}), status: a ? 'only-a' : 'only-b' };
    const flipped = findingOf(a) !== findingOf(b);
    const out: ComparisonDiff = { variant, reference, a, b, status: flipped ? 'flipped' : a.kind === b.kind ? 'kept' : 'changed' };
    if (a.difference !== undefined && b.difference !== undefined) out.change = b.difference - a.difference;
    if (a.interval && b.interval) out.changeInterval = changeInterval(a.interval, b.interval, level);
    return out;
  });
  return { a: ma.study.dir, b: mb.study.dir, comparisons, flips: comparisons.filter((c) => c.status === 'flipped').length, corrections: [ma.family.correction, mb.family.correction] };
}

const pts = (x: number) => `${x >= 0 ? '+' : '\u2212'}${(100 * Math.abs(x)).toFixed(1)}`;

function said(v: Verdict | undefined): string {
  if (!v) return '(not compared)';
  if (v.difference === undefined) return v.kind;
  return `${v.kind} ${pts(v.difference)}${v.adjustedP !== undefined ? ` (adj. p ${v.adjustedP < 0.001 ? '< 0.001' : v.adjustedP.toFixed(3)})` : ''}`;
}

/** The diff as lines of text. */
export function formatStudyDiff(d: StudyDiff): string[] {
  const out = [`A: ${d.a}`, `B: ${d.b}`];
  if (d.corrections[0] !== d.corrections[1]) out.push(`note: A used correction ${d.corrections[0]}, B ${d.corrections[1]}; a verdict may change with the correction alone`);
  out.push('');
  for (const c of d.comparisons) {
    const title = `${prettyName(c.variant)} vs ${prettyName(c.reference)}`;
    const change = c.change === undefined ? '' : `; Δ changed by ${pts(c.change)} points${c.changeInterval ? ` (${Math.round(c.changeInterval.level * 100)}% CI ${pts(c.changeInterval.low)} to ${pts(c.changeInterval.high)}, the two studies' runs taken as independent)` : ''}`;
    out.push(`${c.status.toUpperCase().padEnd(7)} ${title}: A ${said(c.a)} → B ${said(c.b)}${change}`);
  }
  out.push('', `${d.comparisons.length} comparison${d.comparisons.length === 1 ? '' : 's'}: ${d.flips} flipped, ${d.comparisons.filter((c) => c.status === 'changed').length} changed kind, ${d.comparisons.filter((c) => c.status === 'kept').length} kept, ${d.comparisons.filter((c) => c.status.startsWith('only')).length} in one study only`);
  return out;
}
