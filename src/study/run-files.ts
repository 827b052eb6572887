/**
 * Reading a study's output folder. The training layer writes these files; this module defines their
 * shape and reads them tolerantly, because a study folder is often looked at while a run is still
 * going, or after one was killed mid-write:
 *
 *   <study>/study.json        study index (written atomically by the runner)
 *   <run>/…                   a run folder: see src/run/run-folder.ts
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { formatPath } from './spec-issues.js';
import type { ExpandedStudy } from './spec-expand.js';
import { CORRECTIONS } from './inference.js';

// The training layer owns the run folder's files (schemas, tolerant readers); this module reads studies of them.
import { RUN_STATUSES, readHistory, readJson, readRunConfig, readRunStatus, type HistoryRow, type RunStatusFile, type RunStatusKind } from '../run/run-folder.js';
import { RUN_FILES } from '../run/folder.js';
export { RUN_STATUSES, type HistoryRow, type RunStatusFile };
import { runHolder } from '../run/run-lock.js';
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
  /** The study file's correction, noise, minEffect and expect (see spec.ts); an unreadable one is ignored. */
  statistics: z.looseObject({
    correction: z.enum(CORRECTIONS),
    noise: z.number().optional(),
    minEffect: z.number().optional(),
    expect: z.array(z.object({
      variant: z.string(), reference: z.string(), direction: z.enum(['greater', 'less']), by: z.number().optional(), source: z.string().optional(), text: z.string(),
    })).optional(),
    adaptiveSeeds: z.object({ min: z.number().int().min(2), max: z.number().int() }).refine((s) => s.max > s.min).optional(),
  }).optional().catch(undefined),
  seeds: z.array(z.number().int()).optional(),
  /** CPU threads of every run, fixed when the study first starts (results depend on it; `--parallel` must not). */
  threadsPerRun: z.number().int().min(1).optional(),
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

function zodSummary(error: z.ZodError): string {
  return error.issues.slice(0, 3).map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`).join('; ') + (error.issues.length > 3 ? '; …' : '');
}

/** Read one run folder. `entry` (from the study index) supplies name, axes and seed when present. */
export function readRun(runDir: string, entry?: Partial<StudyIndexRun>): RunRecord {
  const warnings: string[] = [];
  const name = entry?.name ?? runDir.split(/[\\/]/).filter(Boolean).pop() ?? runDir;
  const history = readHistory(runDir, warnings);
  const status = readRunStatus(runDir, warnings);
  const config = readRunConfig(runDir, warnings);

  let state: RunState = status?.status ?? entry?.status ?? 'pending';
  if (state === 'pending' && history.length > 0) state = 'running';
  if (status?.status === 'running' && !runHolder(runDir)) {
    // No live process holds the run: whoever was training it died (kill -9, a reboot). The same study command resumes it.
    state = 'interrupted';
    warnings.push('status.json says running, but no process holds the run any more (killed or orphaned); running the study again resumes it');
  }
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
      .filter((d) => d.isDirectory() && [RUN_FILES.status, RUN_FILES.history, RUN_FILES.config].some((f) => existsSync(join(dir, d.name, f))))
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
    statistics: { ...study.statistics },
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
