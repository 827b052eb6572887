/** `ablate study status <dir>`: one line of progress per run, as a plain-text table. */
import { type RunRecord, type RunState, readStudy } from '../run-files.js';
import { mean } from '../stats.js';
import { DASH, duration, pct } from './format.js';

export interface RunProgress {
  name: string;
  variant: string;
  seed?: number;
  state: RunState;
  epochsDone: number;
  epochsPlanned?: number;
  bestValAcc?: number;
  lastValAcc?: number;
  elapsedS?: number;
  /** Estimated time left for a running run: mean epoch time × epochs left. */
  etaS?: number;
  error?: string;
}

export interface StudyStatusSummary {
  name: string;
  dir: string;
  runs: RunProgress[];
  counts: Partial<Record<RunState, number>>;
  warnings: string[];
  text: string;
}

/** One run's progress line, from what its files say (shared with the dashboard). */
export function runProgress(r: RunRecord): RunProgress {
  const h = r.history;
  const val = h.map((x) => x.val_accuracy).filter((x): x is number => x !== undefined && Number.isFinite(x));
  const planned = r.status?.epochsPlanned ?? (typeof r.config?.epochs === 'number' ? r.config.epochs : undefined);
  const done = Math.max(h.length, r.status?.epochsDone ?? 0);
  const epochTimes = h.map((x) => x.epoch_time_s);
  const elapsed = r.status?.trainTimeS || (epochTimes.length ? epochTimes.reduce((a, b) => a + b, 0) : undefined);
  const p: RunProgress = { name: r.name, variant: r.variant, state: r.state, epochsDone: done };
  if (r.seed !== undefined) p.seed = r.seed;
  if (planned !== undefined) p.epochsPlanned = planned;
  if (val.length) { p.bestValAcc = Math.max(...val); p.lastValAcc = val[val.length - 1]; }
  if (elapsed !== undefined) p.elapsedS = elapsed;
  if (r.state === 'running' && planned !== undefined && epochTimes.length > 0) p.etaS = mean(epochTimes) * Math.max(0, planned - done);
  if (r.status?.error) p.error = r.status.error;
  else if (r.status?.reason && (r.state === 'stopped' || r.state === 'preempted' || r.state === 'interrupted')) p.error = `${r.status.reason}; run the study again to resume it`;
  return p;
}

/** Progress of every run of a study folder (what `ablate study status` shows). */
export function studyStatus(studyDir: string): StudyStatusSummary {
  const study = readStudy(studyDir);
  const runs: RunProgress[] = study.runs.map(runProgress);
  const counts: Partial<Record<RunState, number>> = {};
  for (const r of runs) counts[r.state] = (counts[r.state] ?? 0) + 1;
  const name = study.index?.name ?? study.dir;
  const warnings = [...study.warnings, ...study.runs.flatMap((r) => r.warnings.map((w) => `${r.name}: ${w}`))];
  return { name, dir: study.dir, runs, counts, warnings, text: formatStudyStatus(name, runs, counts, warnings) };
}

function bar(done: number, planned: number | undefined, width = 10): string {
  if (!planned) return ' '.repeat(width + 2);
  const filled = Math.min(width, Math.round((done / planned) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function formatStudyStatus(name: string, runs: RunProgress[], counts: Partial<Record<RunState, number>>, warnings: string[] = []): string {
  const header = ['RUN', 'STATUS', 'EPOCHS', '', 'BEST VAL', 'LAST VAL', 'TIME', 'ETA'];
  const rows = runs.map((r) => [
    r.name,
    r.state,
    r.epochsPlanned !== undefined ? `${r.epochsDone}/${r.epochsPlanned}` : String(r.epochsDone),
    bar(r.epochsDone, r.epochsPlanned),
    r.bestValAcc === undefined ? DASH : `${pct(r.bestValAcc)}%`,
    r.lastValAcc === undefined ? DASH : `${pct(r.lastValAcc)}%`,
    duration(r.elapsedS),
    r.etaS === undefined ? '' : duration(r.etaS),
  ]);
  const right = [false, false, true, false, true, true, true, true];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const summary = Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ');
  const out = [`Study ${name}: ${runs.length} run${runs.length === 1 ? '' : 's'} (${summary || 'none'})`, '', line(header), ...rows.map(line)];
  const errors = runs.filter((r) => r.error);
  if (errors.length) out.push('', ...errors.map((r) => `${r.name} (${r.state}): ${r.error!.split('\n')[0]}`));
  if (warnings.length) out.push('', ...warnings.map((w) => `warning: ${w}`));
  return out.join('\n');
}
