/** The report's environment block: what produced these numbers, gathered from every run's status.json. */
import type { StudyRecord } from '../run-files.js';
import { DASH, isoDate } from './format.js';
import { formatClassCounts } from './class-counts.js';

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

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** `sgd lr 0.01, momentum 0.9, weight decay 0.0001, clipnorm 1`: only what differs from the defaults. */
function optimizerText(o: unknown): string | undefined {
  if (typeof o !== 'object' || o === null) return undefined;
  const { name, lr, momentum, nesterov, weightDecay, clipnorm, clipGlobalNorm } = o as Record<string, unknown>;
  const parts = [`${String(name ?? 'sgd')} lr ${String(lr)}`];
  if (typeof momentum === 'number' && momentum > 0 && name === 'sgd') parts.push(`momentum ${momentum}${nesterov ? ' (Nesterov)' : ''}`);
  if (typeof weightDecay === 'number' && weightDecay > 0) parts.push(`weight decay ${weightDecay}`);
  if (typeof clipnorm === 'number') parts.push(`clipnorm ${clipnorm}`);
  if (typeof clipGlobalNorm === 'number') parts.push(`global clip norm ${clipGlobalNorm}`);
  return parts.join(', ');
}

function scheduleText(s: unknown): string | undefined {
  if (typeof s === 'string') return s;
  if (typeof s !== 'object' || s === null) return undefined;
  const { name, ...rest } = s as Record<string, unknown>;
  // Zero/false settings (no warm-up, no floor) and the step granularity are defaults that only add noise.
  const args = Object.entries(rest).filter(([k, v]) => v !== 0 && v !== false && k !== 'granularity').map(([k, v]) => `${k} ${JSON.stringify(v)}`);
  return args.length ? `${String(name)} (${args.join(', ')})` : String(name);
}

type RunProvenance = NonNullable<NonNullable<StudyRecord['runs'][number]['status']>['env']['provenance']>;

/** `3f2a9c1d0b7e (clean)`, `3f2a9c1d0b7e + uncommitted edits (diff 5e1f0a2c)`, or why no commit is known. */
function codeText(p: RunProvenance | undefined): string | undefined {
  if (!p) return undefined;
  const g = p.git;
  if ('none' in g) return `no git commit (${g.none})`;
  const commit = g.commit ? g.commit.slice(0, 12) : 'no commit yet';
  if (!g.dirty) return `${commit} (clean)`;
  return `${commit} + uncommitted edits (${g.diffSha256 ? `diff ${g.diffSha256.slice(0, 8)}` : g.diffOmitted ?? 'no diff kept'})`;
}

function deterministicText(e: NonNullable<StudyRecord['runs'][number]['status']>['env']): string | undefined {
  if (e.deterministic === undefined) return undefined;
  if (!e.deterministic) return 'no (fastest GPU kernels: deterministic: auto)';
  return e.device?.startsWith('cpu') ? 'yes (CPU, same seed and threads)' : 'yes (deterministic kernels)';
}

/** Each value with the runs that had it, when the runs differ (`yes: a, b; no: c`). */
function perRun(study: StudyRecord, value: (s: NonNullable<StudyRecord['runs'][number]['status']>) => string | undefined): string {
  const by = new Map<string, string[]>();
  for (const r of study.runs) {
    const v = r.status ? value(r.status) : undefined;
    if (v !== undefined) by.set(v, [...(by.get(v) ?? []), r.name]);
  }
  if (by.size === 0) return DASH;
  if (by.size === 1) return [...by.keys()][0];
  return [...by].map(([v, runs]) => `${v}: ${runs.join(', ')}`).join('; ');
}

/**
 * Runs whose code differs: other commits, or the same commit with other uncommitted edits. Their
 * differences may come from the code rather than from the axes, so the report says so.
 */
export function provenanceProblems(study: StudyRecord): string[] {
  const code = new Map<string, string[]>();
  for (const r of study.runs) {
    const t = codeText(r.status?.env.provenance);
    if (t !== undefined) code.set(t, [...(code.get(t) ?? []), r.name]);
  }
  if (code.size < 2) return [];
  const commits = new Set([...code.keys()].map((k) => k.split(' ')[0]));
  const what = commits.size > 1 ? `${commits.size} different commits` : 'the same commit with different uncommitted edits';
  return [`the runs came from ${what} (${[...code].map(([t, runs]) => `${t}: ${runs.join(', ')}`).join('; ')}); ` +
    'differences between them may come from the code, not the axes: re-run the older ones (delete their folders) from one commit'];
}

export function environmentRows(study: StudyRecord, generatedAt: Date, reportVersion: string | undefined): EnvironmentRow[] {
  const st = study.runs.map((r) => r.status).filter((s) => s !== undefined);
  const env = st.map((s) => s.env);
  const ds = st.map((s) => s.dataset);
  const started = st.map((s) => s.startedAt).filter((x): x is string => !!x).sort();
  const finished = st.map((s) => s.finishedAt).filter((x): x is string => !!x).sort();
  const rows: EnvironmentRow[] = [
    { label: 'ablate version', value: distinct(env.map((e) => e.ablateVersion)) },
    { label: 'Code (git commit)', value: perRun(study, (s) => codeText(s.env.provenance)) },
    { label: 'Lock file (sha256)', value: distinct(env.map((e) => e.provenance?.lockSha256?.slice(0, 16))) },
    { label: 'Command', value: distinct(env.map((e) => e.provenance?.command.slice(1).join(' '))) },
    { label: 'Environment variables', value: distinct(env.map((e) => e.provenance && (Object.entries(e.provenance.env).map(([k, v]) => `${k}=${v}`).join(' ') || 'none read'))) },
    { label: 'libtorch version', value: distinct(env.map((e) => e.libtorchVersion)) },
    { label: 'Device', value: distinct(env.map((e) => e.device)) },
    { label: 'Threads', value: distinct(env.map((e) => e.threads)) },
    // Data-parallel runs: the ranks that trained each (threads above are per rank).
    ...(env.some((e) => (e.worldSize ?? 1) > 1) ? [{ label: 'Ranks (data parallel)', value: distinct(env.map((e) => e.worldSize ?? 1)) }] : []),
    { label: 'Precision', value: distinct(env.map((e) => e.precision)) },
    { label: 'Deterministic (bit-identical reruns)', value: perRun(study, (s) => deterministicText(s.env)) },
    { label: 'CPU', value: distinct(env.map((e) => e.cpu)) },
    { label: 'OS', value: distinct(env.map((e) => e.os)) },
    { label: 'Node.js', value: distinct(env.map((e) => e.node)) },
    { label: 'Dataset', value: distinct(ds.map((d) => d.name)) },
    { label: 'Training split', value: distinct(ds.map((d) => withCount(d.split, d.trainCount))) },
    { label: 'Validation split', value: distinct(ds.map((d) => withCount(d.valSplit, d.valCount))) },
  ];
  // The training recipe, so "add epochs" can be judged against what was run.
  const configs = study.runs.map((r) => r.config).filter((c): c is Record<string, unknown> => c !== undefined);
  if (configs.length > 0) {
    rows.push({ label: 'Epochs', value: distinct(configs.map((c) => num(c.epochs))) });
    rows.push({ label: 'Batch size', value: distinct(configs.map((c) => num(c.batchSize))) });
    rows.push({ label: 'Optimizer', value: distinct(configs.map((c) => optimizerText(c.optimizer))) });
    rows.push({ label: 'Schedule', value: distinct(configs.map((c) => scheduleText(c.schedule))) });
  }
  const perClass = distinct(ds.map((d) => (d.classCounts && Object.keys(d.classCounts).length ? formatClassCounts(d.classCounts) : undefined)));
  if (perClass !== DASH) rows.push({ label: 'Images per class', value: perClass });
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
