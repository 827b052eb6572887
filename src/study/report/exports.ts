/**
 * The report's numbers as data: summary.json (every number the report states, unrounded), table.csv
 * (the ablation table, one row per variant, for spreadsheets and plotting scripts) and report.tex (a
 * booktabs table for a paper). All three are laid out from the same ReportModel as report.md.
 */
import { CORRECTION_NAME } from '../inference.js';
import { prettyName } from './format.js';
import type { ReportModel } from './model.js';
import type { Spread, VariantSummary } from './summary.js';
import { variantStatus } from './summary.js';
import { looksJson } from './looks.js';
import type { Verdict } from './verdict.js';

/** Accuracy fraction → percent, unrounded (undefined stays undefined, so JSON leaves the field out). */
const pct = (x: number | undefined): number | undefined => (x === undefined || !Number.isFinite(x) ? undefined : 100 * x);
const finite = (x: number | undefined): number | undefined => (x === undefined || !Number.isFinite(x) ? undefined : x);
const spreadPct = (s: Spread) => ({ mean: pct(s.mean), std: pct(s.std), n: s.n });
const spreadOf = (s: Spread) => ({ mean: finite(s.mean), std: finite(s.std), n: s.n });

/** The comparison whose Δ the ablation table shows for a variant (see model.deltaCell). */
function tableVerdict(m: ReportModel, variant: string): Verdict | undefined {
  return m.verdicts.find((x) => x.variant === variant && x.difference !== undefined);
}

function comparisonJson(v: Verdict) {
  const iv = v.interval;
  return {
    variant: v.variant,
    reference: v.reference,
    kind: v.kind,
    significant: v.significant,
    differencePoints: pct(v.difference),
    ...(iv ? {
      interval: {
        method: iv.method, level: iv.level, seeds: iv.n, df: iv.df, t: iv.t,
        standardErrorPoints: 100 * iv.standardError, halfWidthPoints: 100 * iv.halfWidth,
        lowPoints: 100 * iv.low, highPoints: 100 * iv.high,
        ...(v.bounded ? { cutToFeasibleRange: { low: v.bounded.low, high: v.bounded.high, rawLowPoints: 100 * v.bounded.rawLow, rawHighPoints: 100 * v.bounded.rawHigh } } : {}),
      },
    } : {}),
    pValue: v.pValue,
    adjustedP: v.adjustedP,
    noiseThresholdPoints: pct(v.noiseThreshold),
    ...(v.sequential ? { decidedAtLook: v.sequential.decidedAt ?? null, lookSeeds: v.sequential.seeds } : {}),
    ...(v.expectation ? {
      expectation: {
        claim: v.expectation.claim.text, byPoints: v.expectation.claim.by, source: v.expectation.claim.source, outcome: v.expectation.outcome,
        differencePoints: pct(v.expectation.difference), lowPoints: pct(v.expectation.low), highPoints: pct(v.expectation.high), text: v.expectation.text,
      },
    } : {}),
    text: v.text,
    notes: v.notes,
  };
}

function variantJson(v: VariantSummary) {
  return {
    name: v.name,
    axes: v.axes,
    status: variantStatus(v),
    seeds: v.runs.length,
    seedsFinished: v.finished.length,
    finalValAccPct: spreadPct(v.final),
    bestValAccPct: spreadPct(v.best),
    testAccPct: spreadPct(v.test),
    finalValLoss: spreadOf(v.valLoss),
    bestEpoch: spreadOf(v.bestEpoch),
    trainTimeS: spreadOf(v.trainTime),
    imagesPerS: spreadOf(v.imagesPerS),
    params: v.params,
    flops: v.flops,
  };
}

/** summary.json: accuracies and differences in percent (points), unrounded; p-values as probabilities. */
export function summaryJson(m: ReportModel): string {
  const runs = m.variants.flatMap((v) => v.runs).map((r) => ({
    name: r.run.name, variant: r.run.variant, seed: r.run.seed, state: r.run.state, epochs: r.epochs, epochsPlanned: r.epochsPlanned,
    bestValAccPct: pct(r.bestValAcc), bestEpoch: r.bestEpoch, lastValAccPct: pct(r.lastValAcc), finalValAccPct: pct(r.finalValAcc), finalK: r.finalK,
    finalValLoss: finite(r.finalValLoss), noisePoints: pct(r.noise), testAccPct: pct(r.testAcc), trainTimeS: r.trainTimeS, imagesPerS: r.imagesPerS, params: r.params, flops: r.flops,
  }));
  return JSON.stringify({
    study: m.title,
    generatedAt: m.generatedAt.toISOString(),
    ...(m.version ? { ablateVersion: m.version } : {}),
    finalEpochs: m.options.lastK,
    noiseEpochs: m.options.noiseEpochs,
    level: m.options.level,
    correction: { method: m.family.correction, name: CORRECTION_NAME[m.family.correction], comparisons: m.family.size, alpha: m.family.alpha },
    variants: m.variants.map(variantJson),
    comparisons: m.verdicts.map(comparisonJson),
    ...(m.sequential ? { adaptiveSeeds: looksJson(m) } : {}),
    perImage: m.perImage,
    ...(m.factorial ? {
      factorial: {
        ...m.factorial,
        effects: m.factorial.effects.map((e) => ({ ...e, estimatePoints: 100 * e.estimate, lowPoints: pct(e.low), highPoints: pct(e.high), estimate: undefined, low: undefined, high: undefined })),
      },
    } : {}),
    runs,
    environment: Object.fromEntries(m.environment.map((r) => [r.label, r.value])),
  }, null, 2) + '\n';
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
function csvField(x: string | number | boolean | null | undefined): string {
  if (x === undefined || x === null) return '';
  const s = typeof x === 'number' ? (Number.isFinite(x) ? String(x) : '') : String(x);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** table.csv: the ablation table, one row per variant, numbers unrounded (accuracies in percent). */
export function tableCsv(m: ReportModel): string {
  const header = ['variant', ...m.axisColumns, 'final_val_acc_mean_pct', 'final_val_acc_std_pct', 'delta_reference', 'delta_points', 'delta_low_points', 'delta_high_points',
    'p_value', 'adjusted_p', 'correction', 'verdict', 'test_acc_mean_pct', 'test_acc_std_pct', 'best_val_acc_mean_pct', 'best_val_acc_std_pct', 'final_val_loss_mean', 'final_val_loss_std',
    'best_epoch_mean', 'params', 'flops', 'train_time_s', 'images_per_s', 'seeds', 'seeds_finished', 'status'];
  const rows = m.variants.map((v) => {
    const d = tableVerdict(m, v.name);
    return [
      v.name, ...m.axisColumns.map((a) => v.axes[a]), pct(v.final.mean), pct(v.final.std),
      d?.reference, pct(d?.difference), pct(d?.interval?.low), pct(d?.interval?.high),
      d?.pValue, d?.adjustedP, d?.adjustedP !== undefined ? m.family.correction : undefined, d?.kind,
      pct(v.test.mean), pct(v.test.std), pct(v.best.mean), pct(v.best.std), finite(v.valLoss.mean), finite(v.valLoss.std),
      finite(v.bestEpoch.mean), v.params, v.flops, finite(v.trainTime.mean), finite(v.imagesPerS.mean), v.runs.length, v.finished.length, variantStatus(v),
    ];
  });
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** Escapes LaTeX's special characters in text (names, axis values). */
export function texEscape(s: string): string {
  const map: Record<string, string> = {
    '\\': '\\textbackslash{}', '{': '\\{', '}': '\\}', '$': '\\$', '&': '\\&', '#': '\\#', '%': '\\%', '_': '\\_', '~': '\\textasciitilde{}', '^': '\\textasciicircum{}',
  };
  return s.replace(/[\\{}$&#%_~^]/g, (c) => map[c]);
}

/** `+4.1` / `$-$0.3` in points, one decimal. */
function texPoints(x: number): string {
  const s = (100 * Math.abs(x)).toFixed(1);
  return x >= 0 ? `+${s}` : `$-$${s}`;
}

/**
 * The variant to bold: the one with the highest final accuracy, and only when the study compared it
 * with the runner-up and that lead is significant after correction. Otherwise nothing is bold.
 */
export function boldVariant(m: ReportModel): { name?: string; why: string } {
  const ranked = m.variants.filter((v) => v.finished.length > 0 && v.final.mean !== undefined).sort((a, b) => b.final.mean! - a.final.mean!);
  if (ranked.length < 2) return { why: 'fewer than two variants finished' };
  const [top, second] = ranked;
  const v = m.verdicts.find((x) => (x.variant === top.name && x.reference === second.name) || (x.variant === second.name && x.reference === top.name));
  if (!v) return { why: `the best variant (${top.name}) was not compared with the runner-up (${second.name})` };
  if (!v.significant) return { why: `the best variant's lead over the runner-up (${second.name}) is not significant${m.family.size > 1 && m.family.correction !== 'none' ? ' after correction' : ''}` };
  return { name: top.name, why: `${top.name}'s lead over the runner-up (${second.name}) is significant${m.family.size > 1 && m.family.correction !== 'none' ? ` after ${m.family.correction === 'holm' ? 'Holm' : 'Benjamini--Hochberg'} correction` : ''}` };
}

/** report.tex: a booktabs table (needs \usepackage{booktabs}) of mean ± std over seeds and Δ with its interval. */
export function reportTex(m: ReportModel): string {
  const level = Math.round(m.options.level * 100);
  const bold = boldVariant(m);
  const meanStd = (s: Spread) => (s.mean === undefined ? '---' : s.n >= 2 && s.std !== undefined ? `${(100 * s.mean).toFixed(1)} $\\pm$ ${(100 * s.std).toFixed(1)}` : (100 * s.mean).toFixed(1));
  const hasTest = m.variants.some((v) => v.test.n > 0);
  const header = ['Variant', ...m.axisColumns.map(texEscape), `Final val acc (\\%)`, `$\\Delta$ (points) [${level}\\% CI]`, 'Adj.\\ $p$', ...(hasTest ? ['Test acc (\\%)'] : []), 'Seeds'];
  const rows = m.variants.map((v) => {
    const d = tableVerdict(m, v.name);
    const acc = meanStd(v.final);
    const delta = d ? `${texPoints(d.difference!)}${d.interval ? ` [${texPoints(d.interval.low)}, ${texPoints(d.interval.high)}]` : ''} vs ${texEscape(prettyName(d.reference))}` : '---';
    const p = d?.adjustedP === undefined ? '---' : d.adjustedP < 0.001 ? '$<$0.001' : d.adjustedP.toFixed(3);
    const seeds = v.runs.length === v.finished.length ? String(v.runs.length) : `${v.finished.length}/${v.runs.length}`;
    return [texEscape(prettyName(v.name)), ...m.axisColumns.map((a) => texEscape(String(v.axes[a] ?? '---'))), bold.name === v.name ? `\\textbf{${acc}}` : acc, delta, p,
      ...(hasTest ? [meanStd(v.test)] : []), seeds];
  });
  const corr = m.family.looks !== undefined
    ? `adaptive seeds (${m.sequential!.seeds.min} to ${m.sequential!.seeds.max}): $p$-values adjusted${m.family.correction === 'none' ? '' : ` by ${m.family.correction === 'holm' ? 'Holm' : 'Benjamini--Hochberg'} over ${m.family.size} comparisons`} and by $\\alpha$ spent over up to ${m.family.looks} looks; each $\\Delta$ uses the seeds of the look that decided it (or of its last look)`
    : m.family.size > 1 && m.family.correction !== 'none'
    ? `$p$-values adjusted by ${m.family.correction === 'holm' ? 'Holm' : 'Benjamini--Hochberg'} over ${m.family.size} comparisons`
    : m.family.size > 1 ? `$p$-values not adjusted for the ${m.family.size} comparisons` : '$p$-value of the one comparison with several seeds';
  const caption = `${texEscape(m.title)}: final validation accuracy (mean of the last ${m.options.lastK} epochs; mean $\\pm$ standard deviation over seeds) ` +
    `and its difference from the reference with a ${level}\\% confidence interval; ${corr}. ` +
    (hasTest ? 'Test accuracy: the held-out split, scored once after training; nothing was chosen on it. ' : '') +
    (bold.name ? `Bold: ${texEscape(bold.why)}.` : `Nothing is bold: ${texEscape(bold.why)}.`);
  const align = `l${'l'.repeat(m.axisColumns.length)}rlr${hasTest ? 'r' : ''}r`;
  return [
    `% Generated by ablate${m.version ? ` ${m.version}` : ''} from study "${m.title.replace(/[\r\n]/g, ' ')}" on ${m.generatedAt.toISOString().slice(0, 10)}.`,
    '% Needs \\usepackage{booktabs} in the preamble.',
    '\\begin{table}[t]',
    '\\centering',
    `\\caption{${caption}}`,
    `\\label{tab:${m.title.replace(/[^A-Za-z0-9:.-]/g, '-')}}`,
    `\\begin{tabular}{${align}}`,
    '\\toprule',
    `${header.join(' & ')} \\\\`,
    '\\midrule',
    ...rows.map((r) => `${r.join(' & ')} \\\\`),
    '\\bottomrule',
    '\\end{tabular}',
    '\\end{table}',
    '',
  ].join('\n');
}
