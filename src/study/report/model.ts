/** Everything the report says, computed once; markdown.ts and html.ts only lay it out. */
import type { StudyRecord } from '../run-files.js';
import { type TuningResult, readTuning } from '../tune/select.js';
import { tuningPlots } from '../tune/report.js';
import type { Comparison } from '../spec-expand.js';
import { type EnvironmentRow, environmentRows, provenanceProblems } from './environment.js';
import { DASH, points, prettyName } from './format.js';
import { type Plot, buildPlots } from './plots.js';
import { type ReportOptions, type VariantSummary, summariseVariants } from './summary.js';
import { type Family, type Verdict, judgeAll } from './verdict.js';
import { classCountProblems } from './class-counts.js';
import type { Correction } from '../inference.js';
import { type PerImageComparison, perImageComparisons } from './per-image.js';
import { type FactorialAnalysis, factorialAnalysis } from './factorial.js';
import type { SequentialResult } from '../sequential.js';
import { replayLooks } from '../adaptive-seeds.js';

export interface Problem {
  run: string;
  state: string;
  message: string;
}

export interface ReportModel {
  study: StudyRecord;
  title: string;
  description?: string;
  generatedAt: Date;
  version?: string;
  options: Required<ReportOptions>;
  variants: VariantSummary[];
  /** Axis columns worth showing (an axis that merely repeats the variant name is left out). */
  axisColumns: string[];
  verdicts: Verdict[];
  /** The multiple-comparison correction the verdicts used, and over how many comparisons. */
  family: Family;
  /** Per comparison, McNemar's test on the validation images of each seed both variants finished. */
  perImage: PerImageComparison[];
  /** Adaptive seeds: the looks replayed on the finished runs, and when each comparison was decided. */
  sequential?: SequentialResult;
  /** Main effects and interactions when two or more axes are crossed. */
  factorial?: FactorialAnalysis;
  environment: EnvironmentRow[];
  problems: Problem[];
  plots: Plot[];
  runCounts: string;
  /** The tuning stage of a tuned study (tune/tuning.json): each arm's chosen values and its trials. */
  tuning?: TuningResult;
}

/**
 * The study index's resolved pairs; failing those, every variant against `baseline` when it names a
 * variant, else against the first variant.
 */
export function comparisonsFor(study: StudyRecord, variants: VariantSummary[]): Comparison[] {
  if (study.index?.compare && study.index.compare.length > 0) return study.index.compare;
  const names = variants.map((v) => v.name);
  const ref = typeof study.index?.baseline === 'string' && names.includes(study.index.baseline) ? study.index.baseline : names[0];
  return names.filter((n) => n !== ref).map((n) => ({ variant: n, reference: ref }));
}

function axisColumns(study: StudyRecord, variants: VariantSummary[]): string[] {
  const keys = study.index ? Object.keys(study.index.axes) : [...new Set(variants.flatMap((v) => Object.keys(v.axes)))];
  return keys.filter((k) => !variants.every((v) => String(v.axes[k]) === v.name));
}

function problems(study: StudyRecord): Problem[] {
  const out: Problem[] = [];
  for (const r of study.runs) {
    if (r.status?.error) out.push({ run: r.name, state: r.state, message: r.status.error });
    else if (r.state === 'failed' || r.state === 'diverged') out.push({ run: r.name, state: r.state, message: 'no error message recorded' });
    else if ((r.state === 'stopped' || r.state === 'preempted' || r.state === 'interrupted') && r.status?.reason) out.push({ run: r.name, state: r.state, message: `${r.status.reason}; running the study again resumes it` });
    for (const w of r.warnings) out.push({ run: r.name, state: r.state, message: w });
  }
  for (const p of classCountProblems(study)) out.push({ ...p, state: '' });
  for (const w of study.warnings) out.push({ run: '(study)', state: '', message: w });
  for (const w of provenanceProblems(study)) out.push({ run: '(study)', state: '', message: w });
  return out;
}

/** `perImage: false` skips reading every run's per-image predictions (the live dashboard, study diff). */
export function buildReportModel(study: StudyRecord, options: ReportOptions & { now?: Date; version?: string; correction?: Correction; perImage?: boolean } = {}): ReportModel {
  const opts: Required<ReportOptions> = { lastK: options.lastK ?? 3, noiseEpochs: options.noiseEpochs ?? 5, level: options.level ?? 0.95 };
  const variants = summariseVariants(study, opts);
  const stats = study.index?.statistics;
  const comparisons = comparisonsFor(study, variants);
  const correction = options.correction ?? stats?.correction ?? 'holm';
  const seeds = study.index?.seeds;
  const sequential = stats?.adaptiveSeeds && seeds
    ? replayLooks(comparisons, variants.flatMap((v) => v.runs), stats.adaptiveSeeds, seeds, { level: opts.level, correction })
    : undefined;
  const { verdicts, family } = judgeAll(comparisons, variants, opts, {
    correction,
    ...(stats?.expect ? { expect: stats.expect } : {}),
    ...(sequential ? { sequential, seeds } : {}),
  });
  const factorial = study.index ? factorialAnalysis(study.index.axes, variants, { correction: family.correction, level: opts.level }) : undefined;
  const generatedAt = options.now ?? new Date();
  const states = new Map<string, number>();
  for (const r of study.runs) states.set(r.state, (states.get(r.state) ?? 0) + 1);
  const runCounts = `${study.runs.length} run${study.runs.length === 1 ? '' : 's'}: ${[...states].map(([s, n]) => `${n} ${s}`).join(', ')}`;
  const name = study.index?.name ?? study.dir.split(/[\\/]/).pop() ?? 'study';
  const tuning = readTuning(study.dir);
  return {
    study,
    title: name,
    ...(study.index?.description ? { description: study.index.description } : {}),
    generatedAt,
    ...(options.version ? { version: options.version } : {}),
    options: opts,
    variants,
    axisColumns: axisColumns(study, variants),
    verdicts,
    family,
    ...(sequential ? { sequential } : {}),
    perImage: options.perImage === false ? [] : perImageComparisons(study, comparisons),
    ...(factorial ? { factorial } : {}),
    environment: environmentRows(study, generatedAt, options.version),
    problems: problems(study),
    plots: [...buildPlots(variants), ...(tuning ? tuningPlots(tuning) : [])],
    runCounts,
    ...(tuning ? { tuning } : {}),
  };
}

/**
 * The "Δ vs reference" cell of a variant: the first listed comparison where it is the variant side
 * (study files list the main comparison first; the cell names its reference, and every comparison
 * is in the verdicts).
 */
export function deltaCell(model: ReportModel, variant: string): string {
  const v = model.verdicts.find((x) => x.variant === variant && x.difference !== undefined);
  if (!v) return DASH;
  const d = points(v.difference!);
  if (v.interval) return `${d} [${points(v.interval.low)}, ${points(v.interval.high)}] vs ${v.reference}`;
  if (v.noiseThreshold !== undefined) return `${d} (noise ±${(100 * v.noiseThreshold).toFixed(1)}) vs ${v.reference}`;
  return `${d} vs ${v.reference}`;
}

export function verdictTitle(v: Verdict): string {
  return `${prettyName(v.variant)} vs ${prettyName(v.reference)}`;
}
