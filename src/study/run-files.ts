/**
 * Reading a study's output folder. The training layer writes these files; this module defines their
 * shape and reads them tolerantly, because a study folder is often looked at while a run is still
 * going, or after one was killed mid-write:
 *
 *   <study>/study.json        study index (written atomically by the runner)
 *   <run>/config.json         resolved training config
 *   <run>/history.jsonl       one line per finished epoch (appended; the last line may be torn)
 *   <run>/status.json         run state, sizes, timings, environment (written atomically)
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { formatPath } from './spec-issues.js';
import type { ExpandedStudy } from './spec-expand.js';

// The training layer owns the set of states; the study reader only reads them (more tolerantly).
import { RUN_STATUSES, type RunStatusKind } from '../train/run-state.js';
export { RUN_STATUSES };
export type RunState = RunStatusKind;

const axisValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const studyIndexSchema = z.looseObject({
  name: z.string(),
  description: z.string().optional(),
  specFile: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** A variant name, or an axis assignment (see spec.ts); informational once `compare` is resolved. */
  baseline: z.union([z.string(), z.record(z.string(), axisValue)]).optional(),
  /** Resolved comparison pairs (from expandStudy); when absent the report compares with `baseline` or the first variant. */
  compare: z.array(z.object({ variant: z.string(), reference: z.string() })).optional(),
  axes: z.record(z.string(), z.array(axisValue)),
  seeds: z.array(z.number().int()).optional(),
  runs: z.array(z.looseObject({
    name: z.string(),
    dir: z.string(),
    /** Seedless variant name; when absent it is the run name without its `-seed<N>` suffix. */
    variant: z.string().optional(),
    axes: z.record(z.string(), axisValue),
    seed: z.number().int(),
    status: z.enum(RUN_STATUSES),
  })),
});
export type StudyIndex = z.infer<typeof studyIndexSchema>;
export type StudyIndexRun = StudyIndex['runs'][number];

/** JSON has no NaN/Infinity; a diverged epoch arrives as null or as a string. Both read as NaN/±Infinity. */
// z.literal, not z.enum: an enum's declaration emits '-Infinity' as a computed key that strict consumers of the .d.ts reject.
const metric = z.union([z.number(), z.null(), z.literal(['NaN', 'Infinity', '-Infinity'])])
  .transform((v) => (v === null ? NaN : Number(v)));

export const historyRowSchema = z.looseObject({
  epoch: z.number().int().min(1),
  loss: metric,
  accuracy: metric,
  val_loss: metric.optional(),
  val_accuracy: metric.optional(),
  val_top5: metric.optional(),
  lr: metric,
  epoch_time_s: z.number().min(0),
  images_per_s: metric,
  data_wait_fraction: metric.optional(),
});
export type HistoryRow = z.infer<typeof historyRowSchema>;

export const runStatusSchema = z.looseObject({
  status: z.enum(RUN_STATUSES),
  error: z.string().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  epochsDone: z.number().int().min(0),
  epochsPlanned: z.number().int().min(0),
  bestEpoch: z.number().int().optional(),
  bestValAccuracy: metric.optional(),
  params: z.number().int().min(0),
  trainableParams: z.number().int().min(0),
  nonTrainableParams: z.number().int().min(0).optional(),
  macs: z.number().min(0).optional(),
  flops: z.number().min(0).optional(),
  trainTimeS: z.number().min(0),
  imagesPerS: metric.optional(),
  env: z.looseObject({
    ablateVersion: z.string(),
    libtorchVersion: z.string(),
    device: z.string(),
    threads: z.number().int(),
    precision: z.string(),
    node: z.string(),
    os: z.string(),
    cpu: z.string(),
  }).partial(),
  dataset: z.looseObject({
    name: z.string(),
    split: z.string(),
    valSplit: z.string().optional(),
    trainCount: z.number().int(),
    valCount: z.number().int(),
    skipped: z.number().int().optional(),
  }).partial(),
});
export type RunStatusFile = z.infer<typeof runStatusSchema>;

/** Everything readable about one run; whatever is missing or unreadable is noted in `warnings`. */
export interface RunRecord {
  name: string;
  dir: string;
  variant: string;
  axes: Record<string, string | number | boolean | null>;
  seed?: number;
  /** status.json when readable, else the index's status, else `pending` (or `running` once epochs exist). */
  state: RunState;
  config?: Record<string, unknown>;
  history: HistoryRow[];
  status?: RunStatusFile;
  warnings: string[];
}

export interface StudyRecord {
  dir: string;
  index?: StudyIndex;
  runs: RunRecord[];
  warnings: string[];
}

export const STUDY_INDEX = 'study.json';

function readJson(path: string): { ok: true; value: unknown } | { ok: false; error: string } | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return { ok: true, value: JSON.parse(readFileSync(path, 'utf8')) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

function zodSummary(error: z.ZodError): string {
  return error.issues.slice(0, 3).map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`).join('; ') + (error.issues.length > 3 ? '; …' : '');
}

/**
 * Read history.jsonl. A torn last line (the process died mid-append) is skipped with a warning;
 * an epoch written twice (a resumed run redoing it) keeps its last version.
 */
export function readHistory(file: string, warnings: string[] = []): HistoryRow[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n');
  const byEpoch = new Map<number, HistoryRow>();
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const last = lines.slice(i + 1).every((l) => l.trim() === '');
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      warnings.push(last ? `history.jsonl: last line is incomplete (run stopped mid-write?); ignored it`
        : `history.jsonl line ${i + 1}: not valid JSON; ignored it`);
      return;
    }
    const r = historyRowSchema.safeParse(json);
    if (!r.success) {
      warnings.push(`history.jsonl line ${i + 1}: ${zodSummary(r.error)}; ignored it`);
      return;
    }
    byEpoch.set(r.data.epoch, r.data);
  });
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}

export function readRunStatus(file: string, warnings: string[] = []): RunStatusFile | undefined {
  const j = readJson(file);
  if (!j) return undefined;
  if (!j.ok) { warnings.push(`status.json: unreadable (${j.error})`); return undefined; }
  const r = runStatusSchema.safeParse(j.value);
  if (!r.success) { warnings.push(`status.json: ${zodSummary(r.error)}`); return undefined; }
  return r.data;
}

/** Read one run folder. `entry` (from the study index) supplies name, axes and seed when present. */
export function readRun(runDir: string, entry?: Partial<StudyIndexRun>): RunRecord {
  const warnings: string[] = [];
  const name = entry?.name ?? runDir.split(/[\\/]/).filter(Boolean).pop() ?? runDir;
  const history = readHistory(join(runDir, 'history.jsonl'), warnings);
  const status = readRunStatus(join(runDir, 'status.json'), warnings);
  let config: Record<string, unknown> | undefined;
  const c = readJson(join(runDir, 'config.json'));
  if (c?.ok && typeof c.value === 'object' && c.value !== null && !Array.isArray(c.value)) config = c.value as Record<string, unknown>;
  else if (c) warnings.push(`config.json: ${c.ok ? 'not a JSON object' : `unreadable (${c.error})`}`);

  let state: RunState = status?.status ?? entry?.status ?? 'pending';
  if (state === 'pending' && history.length > 0) state = 'running';
  const seed = entry?.seed ?? (typeof config?.seed === 'number' ? config.seed : undefined);
  return {
    name,
    dir: runDir,
    variant: entry?.variant ?? name.replace(/-seed\d+$/, ''),
    axes: entry?.axes ?? {},
    ...(seed !== undefined ? { seed } : {}),
    state,
    ...(config ? { config } : {}),
    history,
    ...(status ? { status } : {}),
    warnings,
  };
}

/**
 * Read a study folder. Without a (readable) study.json, every sub-folder holding run files is
 * taken as a run, so a report can still be made from a half-written study.
 */
export function readStudy(studyDir: string): StudyRecord {
  const dir = resolve(studyDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TypeError(`Expected a study folder for studyDir but received ${JSON.stringify(studyDir)} (no such folder)`);
  const warnings: string[] = [];
  const j = readJson(join(dir, STUDY_INDEX));
  let index: StudyIndex | undefined;
  if (j?.ok) {
    const r = studyIndexSchema.safeParse(j.value);
    if (r.success) index = r.data;
    else warnings.push(`study.json: ${zodSummary(r.error)}; reading run folders directly`);
  } else if (j) {
    warnings.push(`study.json: unreadable (${j.error}); reading run folders directly`);
  } else {
    warnings.push('study.json: missing; reading run folders directly');
  }
  const runs = index
    ? index.runs.map((e) => readRun(resolve(dir, e.dir), e))
    : readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && ['status.json', 'history.jsonl', 'config.json'].some((f) => existsSync(join(dir, d.name, f))))
      .map((d) => d.name).sort()
      .map((n) => readRun(join(dir, n)));
  return { dir, ...(index ? { index } : {}), runs, warnings };
}

/** The study index a runner writes before training anything; statuses start `pending`. */
export function studyIndexFor(study: ExpandedStudy, options: { specFile?: string; now?: Date; runDir?: (name: string) => string } = {}): StudyIndex {
  const now = (options.now ?? new Date()).toISOString();
  return {
    name: study.name,
    ...(study.description !== undefined ? { description: study.description } : {}),
    ...(options.specFile !== undefined ? { specFile: options.specFile } : {}),
    createdAt: now,
    updatedAt: now,
    ...(typeof study.baseline === 'string' || study.baseline ? { baseline: study.baseline } : {}),
    compare: study.comparisons,
    axes: study.axes,
    seeds: study.seeds,
    runs: study.runs.map((r) => ({
      name: r.name,
      dir: options.runDir ? options.runDir(r.name) : r.name,
      variant: r.variant,
      axes: r.axes,
      seed: r.seed,
      status: 'pending' as const,
    })),
  };
}
