/** The report's environment block: what produced these numbers, gathered from every run's status.json. */
import type { StudyRecord } from '../run-files.js';
import { DASH, isoDate } from './format.js';

export interface EnvironmentRow {
  label: string;
  value: string;
}

/** One value when all runs agree; otherwise each value with how many runs had it. */
function distinct(values: (string | number | undefined)[]): string {
  const counts = new Map<string, number>();
  for (const v of values) if (v !== undefined && v !== '') counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
  if (counts.size === 0) return DASH;
  if (counts.size === 1) return [...counts.keys()][0];
  return [...counts].map(([v, n]) => `${v} (${n} run${n === 1 ? '' : 's'})`).join('; ');
}

function withCount(split: string | undefined, count: number | undefined): string | undefined {
  if (split === undefined) return undefined;
  return count !== undefined ? `${split} (${count.toLocaleString('en-US')} images)` : split;
}

export function environmentRows(study: StudyRecord, generatedAt: Date, reportVersion: string | undefined): EnvironmentRow[] {
  const st = study.runs.map((r) => r.status).filter((s) => s !== undefined);
  const env = st.map((s) => s.env);
  const ds = st.map((s) => s.dataset);
  const started = st.map((s) => s.startedAt).filter((x): x is string => !!x).sort();
  const finished = st.map((s) => s.finishedAt).filter((x): x is string => !!x).sort();
  const rows: EnvironmentRow[] = [
    { label: 'ablate version', value: distinct(env.map((e) => e.ablateVersion)) },
    { label: 'libtorch version', value: distinct(env.map((e) => e.libtorchVersion)) },
    { label: 'Device', value: distinct(env.map((e) => e.device)) },
    { label: 'Threads', value: distinct(env.map((e) => e.threads)) },
    { label: 'Precision', value: distinct(env.map((e) => e.precision)) },
    { label: 'CPU', value: distinct(env.map((e) => e.cpu)) },
    { label: 'OS', value: distinct(env.map((e) => e.os)) },
    { label: 'Node.js', value: distinct(env.map((e) => e.node)) },
    { label: 'Dataset', value: distinct(ds.map((d) => d.name)) },
    { label: 'Training split', value: distinct(ds.map((d) => withCount(d.split, d.trainCount))) },
    { label: 'Validation split', value: distinct(ds.map((d) => withCount(d.valSplit, d.valCount))) },
  ];
  const skipped = distinct(ds.map((d) => d.skipped));
  if (skipped !== DASH && skipped !== '0') rows.push({ label: 'Unreadable images skipped', value: skipped });
  if (study.index) {
    rows.push({ label: 'Study created', value: isoDate(study.index.createdAt) });
    rows.push({ label: 'Study last updated', value: isoDate(study.index.updatedAt) });
    if (study.index.specFile) rows.push({ label: 'Study file', value: study.index.specFile });
  }
  rows.push({ label: 'First run started', value: isoDate(started[0]) });
  rows.push({ label: 'Last run finished', value: isoDate(finished[finished.length - 1]) });
  rows.push({ label: 'Report generated', value: `${isoDate(generatedAt.toISOString())}${reportVersion ? ` by ablate ${reportVersion}` : ''}` });
  return rows;
}
