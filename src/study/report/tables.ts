/** The report's tables as header + string rows, shared by the Markdown and HTML renderers. */
import { DASH, countMeanStd, duration, num, numMeanStd, pct, pctMeanStd, points, rate, si } from './format.js';
import { CORRECTION_NAME } from '../inference.js';
import { classShiftText } from './per-image.js';
import { prettyName } from './format.js';
import { type ReportModel, deltaCell, verdictTitle } from './model.js';
import { formatP } from './verdict.js';
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
  // Δ sits next to the accuracy it compares, so it is on screen whenever the accuracy is.
  const cols: [string, boolean, (v: ReportModel['variants'][number]) => string][] = [
    ['Variant', false, (v) => v.name],
    ...m.axisColumns.map((a): [string, boolean, (v: ReportModel['variants'][number]) => string] => [a, false, (v) => axisCell(v.axes[a])]),
    [`Final val acc (%, last ${k})`, true, (v) => pctMeanStd(v.final.mean, v.final.std, v.final.n)],
    [`Δ final (points, ${level}% CI)`, false, (v) => deltaCell(m, v.name)],
    ...(m.variants.some((v) => v.test.n > 0)
      ? [['Test acc (%, held out)', true, (v) => pctMeanStd(v.test.mean, v.test.std, v.test.n)] as [string, boolean, (v: ReportModel['variants'][number]) => string]] : []),
    ['Best val acc (%)', true, (v) => pctMeanStd(v.best.mean, v.best.std, v.best.n)],
    ['Final val loss', true, (v) => numMeanStd(v.valLoss.mean, v.valLoss.std, v.valLoss.n)],
    ['Best epoch', true, (v) => countMeanStd(v.bestEpoch.mean, v.bestEpoch.std, v.bestEpoch.n)],
    ['Params', true, (v) => si(v.params)],
    ['FLOPs', true, (v) => si(v.flops)],
    ['Train time', true, (v) => duration(v.trainTime.mean)],
    ['Images/s', true, (v) => rate(v.imagesPerS.mean)],
    ['Seeds', false, (v) => (v.runs.length === v.finished.length ? String(v.runs.length) : `${v.finished.length}/${v.runs.length}`)],
    ['Status', false, (v) => variantStatus(v)],
  ];
  return {
    header: cols.map((c) => c[0]),
    rows: m.variants.map((v) => cols.map((c) => c[2](v))),
    states: m.variants.map((v) => variantStatus(v).split(' ')[0]),
    numeric: cols.map((c) => c[1]),
  };
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

/** `p = 0.012` → `0.012`; `p < 0.001` → `< 0.001`. */
const pCell = (p: number | undefined): string => (p === undefined ? DASH : formatP(p).replace(/^= /, ''));

/** One row per comparison: the difference, its interval, raw and adjusted p-values and the verdict. */
export function comparisonsTable(m: ReportModel): Table {
  const level = Math.round(m.options.level * 100);
  const header = ['Comparison', 'Δ (points)', `${level}% CI (points)`, 'Seeds', 'p', `Adjusted p (${m.family.correction})`, 'Verdict'];
  const rows = m.verdicts.map((v) => [
    verdictTitle(v),
    v.difference === undefined ? DASH : points(v.difference),
    v.interval ? `${points(v.interval.low)} to ${points(v.interval.high)}${v.bounded ? ' (cut to ±100)' : ''}` : DASH,
    v.interval ? (v.interval.method === 'paired' ? `${v.interval.n[0]} paired` : `${v.interval.n[0]} vs ${v.interval.n[1]}`) : DASH,
    pCell(v.pValue),
    pCell(v.adjustedP),
    v.kind,
  ]);
  return { header, rows, numeric: [false, true, false, false, true, true, false] };
}

/** "Holm correction over 3 comparisons at α = 0.05", or why there is nothing to correct. */
export function familySentence(m: ReportModel): string {
  const f = m.family;
  const alpha = `α = ${+f.alpha.toFixed(4)}`;
  if (f.size === 0) return 'No comparison has two or more finished seeds on each side, so no p-values were computed and no correction applies.';
  if (f.looks !== undefined && (f.size === 1 || f.correction === 'none')) {
    return `${f.size === 1 ? 'One comparison has a p-value' : `Correction over comparisons is off (\`correction: none\`) for the ${f.size} comparisons`}; with adaptive seeds, α = ${alpha.slice(4)} is spent over up to ${f.looks} looks, and a comparison is decided when its sequential adjusted p is below ${alpha.slice(4)} (see *Looks*).`;
  }
  if (f.size === 1) return `One comparison has a p-value, so there is nothing to correct for; it is significant when p < ${alpha.slice(4)}.`;
  if (f.correction === 'none') return `Multiple-comparison correction is off (\`correction: none\`): each of the ${f.size} comparisons is tested at ${alpha} on its own, so the chance of at least one false finding is higher than ${alpha.slice(4)}.`;
  const looks = f.looks !== undefined ? ` With adaptive seeds, the adjustment also spends α over up to ${f.looks} looks (see *Looks*).` : '';
  return `Multiple-comparison correction: **${CORRECTION_NAME[f.correction]}** over ${f.size} comparisons at ${alpha}; verdicts use the adjusted p-values (set \`correction:\` in the study file to holm, bh or none).${looks}`;
}

/** One row per comparison and seed with a per-image test: the discordant images, McNemar's p-values and the classes they fall in. */
export function perImageTable(m: ReportModel): Table {
  const header = ['Comparison', 'Seed', 'Images', 'Only variant right', 'Only reference right', 'McNemar exact p', 'χ² (p)', 'Classes gained', 'Classes lost'];
  const rows = m.perImage.flatMap((c) => c.seeds.map((s) => [
    `${prettyName(c.variant)} vs ${prettyName(c.reference)}`, String(s.seed), String(s.images), String(s.b), String(s.c),
    pCell(s.exactP), `${s.chi2.toFixed(2)} (${pCell(s.chi2P)})`, classShiftText(s.classes, 1), classShiftText(s.classes, -1),
  ]));
  return { header, rows, numeric: [false, true, true, true, true, true, true, false, false] };
}

export const PER_IMAGE_INTRO = 'For each comparison and each seed both variants finished: the validation images one model got right and the other wrong, ' +
  "McNemar's test on those counts (exact binomial, and χ² with continuity correction) and the classes where they fall (net images gained or lost by the variant). " +
  'This test takes the validation images as the sample: it says whether these two trained models differ, not whether the variants do across seeds — the verdicts answer that — and its p-values are not corrected for the number of comparisons.';

/** The factorial analysis's effects: estimate, interval, raw and adjusted p (empty when there is none). */
export function factorialTable(m: ReportModel): Table {
  const level = Math.round(m.options.level * 100);
  const f = m.factorial;
  const header = ['Effect', 'Kind', 'Estimate (points)', `${level}% CI (points)`, 'p', `Adjusted p (${f?.correction ?? m.family.correction})`, 'Significant'];
  const rows = (f?.effects ?? []).map((e) => [
    e.label, e.kind, points(e.estimate), e.low === undefined ? DASH : `${points(e.low)} to ${points(e.high!)}`,
    pCell(e.pValue), pCell(e.adjustedP), e.pValue === undefined ? DASH : e.significant ? 'yes' : 'no',
  ]);
  return { header, rows, numeric: [false, false, true, false, true, true, false] };
}

export function factorialIntro(m: ReportModel): string {
  const f = m.factorial!;
  if (f.skipped) return `No factorial analysis: ${f.skipped}.`;
  const seeds = f.seeds.length;
  return `The axes ${f.axes.map((a) => `\`${a.path}\``).join(', ')} are crossed, so each axis's **main effect** (a level against the axis's first level, averaged over the other axes) ` +
    `and each two-way **interaction** (how much one axis's effect changes with the other's level; 0 means the effects simply add up) can be estimated. ` +
    `Each is computed within each of the ${seeds} seed${seeds === 1 ? '' : 's'} every combination finished` +
    (seeds >= 2 ? `, with a t-interval over those seeds; the p-values are adjusted among these ${f.effects.length} effects (${f.correction}).` : '; with one seed there is no interval or test, only the estimates.');
}
