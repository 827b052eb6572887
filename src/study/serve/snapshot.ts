/**
 * What the dashboard shows, as one JSON object computed from the study folder: the report's model
 * (table, verdicts, plot specs) plus each run's live position from progress.json. Rebuilt whenever a
 * run file changes; every reader here tolerates half-written files.
 */
import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { readStudy, STUDY_INDEX, type RunRecord } from '../run-files.js';
import { readProgress } from '../../run/run-folder.js';
import { buildReportModel, type ReportModel } from '../report/model.js';
import { verdictTitle } from '../report/model.js';
import { ABLATION_KEYS, KIND_TAG, deltaColumn, keyColumns } from '../report/html.js';
import { runProgress } from '../report/status.js';
import { duration, pct, rate } from '../report/format.js';
import { ablationTable } from '../report/tables.js';
import type { PlotPanel } from '../report/plots.js';
import { ablateVersion } from '../../util/version.js';

export interface DashboardRun {
  name: string;
  variant: string;
  seed?: number;
  state: string;
  /** Why a run stopped, failed or diverged (status.json's `reason`, else its `error`). */
  reason?: string;
  epochsDone: number;
  epochsPlanned?: number;
  /** While running: the epoch being trained and how far into it (progress.json). */
  epoch?: number;
  batch?: number;
  batches?: number;
  etaS?: number;
  imagesPerS?: number;
  bestValAcc?: number;
  lastValAcc?: number;
  elapsedS?: number;
  /** When progress.json was last written: a stale one means the worker stalled or died. */
  progressAt?: string;
  /** URL of the run folder, relative to the page (absent when the run lives outside the study folder). */
  href?: string;
  warnings: string[];
  /** The numbers above as the report writes them (`12 m 04 s`, `87.3%`), so the page formats nothing. */
  text: { eta?: string; speed?: string; best?: string; last?: string; elapsed?: string };
}

export interface DashboardFigure {
  id: string;
  title: string;
  caption: string;
  /** Vega-Lite specs whose data is `{ name: 'epochs' | 'points' }`, filled from `datasets`. */
  panels: PlotPanel[];
}

export interface DashboardState {
  name: string;
  description?: string;
  dir: string;
  version?: string;
  generatedAt: string;
  runCounts: string;
  /** True while some run is pending or running. */
  active: boolean;
  links: { label: string; href: string }[];
  runs: DashboardRun[];
  variants: string[];
  verdicts: { title: string; kind: string; tag: string; text: string; notes: string[] }[];
  table: { header: string[]; rows: string[][]; numeric: boolean[]; statusColumn: number; keyColumns: number[]; wrapColumn: number };
  figures: DashboardFigure[];
  datasets: Record<string, unknown[]>;
  problems: { run: string; state: string; message: string }[];
  /** Set when the folder could not be read at all (deleted, permissions); the rest is then empty. */
  error?: string;
}

/** `files/a%20b/` for a path inside the study folder; undefined outside it. */
export function filesHref(studyDir: string, path: string, folder = false): string | undefined {
  const rel = relative(studyDir, path);
  if (rel.startsWith('..') || isAbsolute(rel)) return undefined;
  const parts = rel === '' ? [] : rel.split(sep);
  return `files/${parts.map(encodeURIComponent).join('/')}${folder && parts.length ? '/' : ''}`;
}

function liveRun(studyDir: string, r: RunRecord): DashboardRun {
  const p = runProgress(r);
  const st = r.status as (Record<string, unknown> & { error?: string }) | undefined;
  const reason = typeof st?.reason === 'string' ? st.reason : st?.error;
  const out: DashboardRun = {
    name: r.name, variant: r.variant, state: r.state, epochsDone: p.epochsDone, warnings: r.warnings, text: {},
    ...(r.seed !== undefined ? { seed: r.seed } : {}),
    ...(reason ? { reason } : {}),
    ...(p.epochsPlanned !== undefined ? { epochsPlanned: p.epochsPlanned } : {}),
    ...(p.bestValAcc !== undefined ? { bestValAcc: p.bestValAcc } : {}),
    ...(p.lastValAcc !== undefined ? { lastValAcc: p.lastValAcc } : {}),
    ...(p.elapsedS !== undefined ? { elapsedS: p.elapsedS } : {}),
  };
  const href = filesHref(studyDir, r.dir, true);
  if (href) out.href = href;
  if (r.state === 'running') {
    const prog = readProgress(r.dir);
    // progress.json of an earlier epoch (the run just wrote its history line) is not "in progress".
    if (prog && typeof prog.epoch === 'number' && prog.epoch > p.epochsDone) {
      out.epoch = prog.epoch;
      out.batch = prog.batch;
      out.batches = prog.batches;
      if (typeof prog.imagesPerS === 'number' && Number.isFinite(prog.imagesPerS)) out.imagesPerS = prog.imagesPerS;
      out.progressAt = prog.updatedAt;
    }
    const times = r.history.map((h) => h.epoch_time_s).filter((t) => Number.isFinite(t) && t > 0);
    // During the first epoch there is no epoch time yet: estimate one from the step rate so far.
    const batchSize = typeof r.config?.batchSize === 'number' ? r.config.batchSize : undefined;
    const firstEpochS = out.batches && out.imagesPerS && batchSize ? (out.batches * batchSize) / out.imagesPerS : undefined;
    const epochS = times.length > 0 ? times.reduce((a, b) => a + b, 0) / times.length : firstEpochS;
    if (p.epochsPlanned !== undefined && epochS !== undefined) {
      const partial = out.batch !== undefined && out.batches ? out.batch / out.batches : 0;
      out.etaS = Math.max(0, epochS * (p.epochsPlanned - p.epochsDone - partial));
    }
    if (out.imagesPerS === undefined) {
      const last = r.history[r.history.length - 1];
      if (last && Number.isFinite(last.images_per_s)) out.imagesPerS = last.images_per_s;
    }
  }
  const t = out.text;
  if (out.etaS !== undefined) t.eta = duration(out.etaS);
  if (out.imagesPerS !== undefined) t.speed = `${rate(out.imagesPerS)} img/s`;
  if (out.bestValAcc !== undefined) t.best = `${pct(out.bestValAcc)}%`;
  if (out.lastValAcc !== undefined) t.last = `${pct(out.lastValAcc)}%`;
  if (out.elapsedS !== undefined) t.elapsed = duration(out.elapsedS);
  return out;
}

/**
 * The panels' data goes out once, under `datasets`, not copied into every panel: a large study's
 * epoch rows would otherwise be sent three times per update.
 */
function shareData(model: ReportModel): { figures: DashboardFigure[]; datasets: Record<string, unknown[]> } {
  const datasets: Record<string, unknown[]> = {};
  const names = new Map<unknown, string>();
  const figures = model.plots.map((p) => ({
    id: p.id, title: p.title, caption: p.caption,
    panels: p.panels.map((panel) => {
      const spec = { ...(panel.spec as unknown as Record<string, unknown>) };
      const data = spec.data as { values?: unknown[] } | undefined;
      if (data?.values) {
        let name = names.get(data.values);
        if (!name) {
          name = p.id === 'accuracy-vs-params' ? 'points' : names.size === 0 ? 'epochs' : `data${names.size}`;
          names.set(data.values, name);
          datasets[name] = data.values;
        }
        spec.data = { name };
      }
      return { ...panel, spec: spec as unknown as PlotPanel["spec"] };
    }),
  }));
  return { figures, datasets };
}

/** Before the first epoch the page says "no epochs yet" instead of drawing empty axes. */
function figuresOnceThereAreEpochs(f: ReturnType<typeof shareData>): ReturnType<typeof shareData> {
  return (f.datasets.epochs ?? []).length > 0 ? f : { figures: [], datasets: {} };
}

function links(studyDir: string): { label: string; href: string }[] {
  const out: { label: string; href: string }[] = [];
  const add = (label: string, file: string) => {
    if (existsSync(join(studyDir, file))) out.push({ label, href: `files/${file}` });
  };
  add('Report (HTML)', 'report.html');
  add('Report (Markdown)', 'report.md');
  try {
    for (const f of readdirSync(join(studyDir, 'plots')).filter((f) => f.endsWith('.png')).sort()) out.push({ label: `plots/${f}`, href: `files/plots/${encodeURIComponent(f)}` });
  } catch { /* no plots yet */ }
  add(STUDY_INDEX, STUDY_INDEX);
  out.push({ label: 'Study folder', href: 'files/' });
  return out;
}

export function dashboardState(studyDir: string, now = new Date()): DashboardState {
  const version = ablateVersion();
  const empty = {
    name: studyDir.split(/[\\/]/).filter(Boolean).pop() ?? studyDir, dir: studyDir, generatedAt: now.toISOString(), runCounts: '', active: false,
    links: [], runs: [], variants: [], verdicts: [], table: { header: [], rows: [], numeric: [], statusColumn: -1, keyColumns: [], wrapColumn: -1 },
    figures: [], datasets: {}, problems: [], ...(version !== 'unknown' ? { version } : {}),
  };
  let model: ReportModel;
  try {
    model = buildReportModel(readStudy(studyDir), { now, perImage: false });
  } catch (e) {
    return { ...empty, error: `cannot read the study folder: ${(e as Error).message}` };
  }
  const table = ablationTable(model);
  const runs = model.study.runs.map((r) => liveRun(model.study.dir, r));
  return {
    ...empty,
    name: model.title,
    ...(model.description ? { description: model.description } : {}),
    dir: model.study.dir,
    runCounts: model.runCounts,
    active: runs.some((r) => r.state === 'running' || r.state === 'pending'),
    links: links(model.study.dir),
    runs,
    variants: model.variants.map((v) => v.name),
    verdicts: model.verdicts.map((v) => ({ title: verdictTitle(v), kind: v.kind, tag: KIND_TAG[v.kind], text: v.text, notes: v.notes })),
    table: { header: table.header, rows: table.rows, numeric: table.numeric, statusColumn: table.header.indexOf('Status'), keyColumns: keyColumns(table, ABLATION_KEYS), wrapColumn: deltaColumn(table) },
    ...figuresOnceThereAreEpochs(shareData(model)),
    problems: model.problems,
  };
}
