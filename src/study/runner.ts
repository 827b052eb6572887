import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve, basename } from 'node:path';
import { availableParallelism } from 'node:os';
import { writeJsonAtomic } from '../util/atomic.js';
import { ensureOutDir } from '../util/out-dir.js';
import { readRunStatus, writeRunStatus, hostEnv, type RunStatus, type RunStatusFile } from '../train/run-state.js';
import { ablateVersion } from '../util/version.js';
import { inspectStudyFile, StudySpecError } from './spec.js';
import { checkRunConfig } from './validate-run.js';
import { expandStudy, type ExpandedStudy, type PlannedRun } from './spec-expand.js';
import { studyIndexFor, type StudyIndex } from './run-files.js';
import { writeStudyReport, type WrittenReport } from './report/index.js';
import { verdictTitle } from './report/model.js';
import { duration, pct } from './report/format.js';
import { LiveView, readProgress } from './live-view.js';

export interface StudyRunOptions {
  dataPath?: string;
  out?: string;
  parallel?: number;
  overrides?: string[];
  /** Threads in total, split between parallel variants. */
  threads?: number;
  device?: string;
  only?: string[];
  retryFailed?: boolean;
  log?: (line: string) => void;
  /** Where the child processes' progress goes in sequential mode ('inherit' shows their progress bars). */
  childOutput?: 'inherit' | 'quiet';
  signal?: AbortSignal;
  /** Skip the report at the end (tests that check it separately). */
  noReport?: boolean;
  /** Where the live view draws (default stderr). */
  liveStream?: { write(s: string): boolean; isTTY?: boolean };
}

export interface StudyRunResult {
  dir: string;
  study: ExpandedStudy;
  ran: string[];
  skipped: string[];
  failed: string[];
  report?: WrittenReport;
  interrupted: boolean;
}

const FINISHED = new Set(['ok', 'diverged']);

/** A damaged status.json (a disk filled up mid-write) reads as undefined: "not finished", never a crashed runner. */
function statusOf(runDir: string): RunStatusFile | undefined {
  return readRunStatus(runDir);
}

/** The status of a run whose process died before writing one (it could not start, or crashed while loading). */
function placeholderStatus(run: PlannedRun, threads: number): RunStatus {
  const data = (run.config.data ?? {}) as Record<string, unknown>;
  return {
    status: 'failed', epochsDone: 0, epochsPlanned: typeof run.config.epochs === 'number' ? run.config.epochs : 0,
    params: 0, trainableParams: 0, trainTimeS: 0,
    env: { ablateVersion: ablateVersion(), libtorchVersion: 'unknown', device: String(run.config.device ?? 'cpu'), threads, precision: String(run.config.precision ?? 'auto'), ...hostEnv() },
    dataset: { name: String(data.source ?? 'unknown'), split: String(data.split ?? ''), trainCount: 0, valCount: 0 },
  };
}

/** `resnet20-cifar-seed0: ok — best val 91.4% (epoch 4), 4 epochs in 52.1 s`. */
function outcomeLine(name: string, st: RunStatusFile | undefined, fallback: string): string {
  const state = st?.status ?? fallback;
  const parts: string[] = [];
  if (st?.bestValAccuracy !== undefined) parts.push(`best val ${pct(st.bestValAccuracy)}%${st.bestEpoch ? ` (epoch ${st.bestEpoch})` : ''}`);
  if (st && st.epochsDone > 0) parts.push(`${st.epochsDone}/${st.epochsPlanned} epochs in ${duration(st.trainTimeS)}`);
  if (st?.error) parts.push(st.error.split('\n').join(' '));
  return `${name}: ${state}${parts.length ? ` — ${parts.join(', ')}` : ''}`;
}

/** Where the worker script lives: next to this file, as .ts under tsx or .js once compiled. */
function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return here.replace(/runner\.(ts|js)$/, (_m, ext: string) => `worker.${ext}`);
}

/**
 * Load, expand and check a study without running anything: every run's config is checked by every
 * layer that will read it (training config, data spec, augmentation, model registry, files), and
 * all problems are thrown together as one StudySpecError.
 */
export function planStudy(file: string, o: StudyRunOptions & { checkFiles?: boolean } = {}): { study: ExpandedStudy; dir: string } {
  // One pass: the study file's own problems and every run's config problems are thrown together.
  const { spec, issues, runsKnown } = inspectStudyFile(file);
  if (!spec) throw new StudySpecError(file, issues);
  const study = expandStudy(spec, {
    dataPath: o.dataPath === undefined ? undefined : resolve(o.dataPath),
    overrides: o.overrides,
    validate: runsKnown ? (cfg) => checkRunConfig(cfg, { checkFiles: o.checkFiles }) : undefined,
    priorIssues: issues,
  });
  const dir = resolve(o.out ?? join('runs', study.name));
  return { study, dir };
}

/** Variants trained at once, and the threads each gets (the cores split between them). */
export function threadsPerRun(o: Pick<StudyRunOptions, 'parallel' | 'threads'>, runs: number): { parallel: number; threadsEach: number } {
  const parallel = Math.max(1, Math.min(o.parallel ?? 1, runs || 1));
  const totalThreads = o.threads ?? availableParallelism();
  return { parallel, threadsEach: Math.max(1, Math.floor(totalThreads / parallel)) };
}

/** The config a run's worker trains: the planned config with the runner's thread count and device. */
export function runConfig(run: PlannedRun, threads: number, device?: string): PlannedRun['config'] {
  return { ...run.config, threads, ...(device ? { device } : {}) };
}

function mergeIndex(dir: string, fresh: StudyIndex): StudyIndex {
  const path = join(dir, 'study.json');
  if (!existsSync(path)) return fresh;
  try {
    const old = JSON.parse(readFileSync(path, 'utf8')) as StudyIndex;
    const byName = new Map(old.runs.map((r) => [r.name, r]));
    return { ...fresh, createdAt: old.createdAt ?? fresh.createdAt, runs: fresh.runs.map((r) => ({ ...r, status: byName.get(r.name)?.status ?? r.status })) };
  } catch {
    return fresh; // a damaged index is rebuilt from the spec; the runs' own folders hold the truth
  }
}

/**
 * Runs every variant of a study, each in its own child process so that one crashing, diverging or
 * failing variant never takes the others down. Re-running the same command resumes: finished runs
 * are skipped and interrupted ones continue from their last checkpoint.
 */
export async function runStudy(file: string, o: StudyRunOptions = {}): Promise<StudyRunResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const { study, dir } = planStudy(file, o);
  // Ctrl-C while the study was being read and checked: stop before anything is created.
  if (o.signal?.aborted) return { dir, study, ran: [], skipped: [], failed: [], interrupted: true };
  ensureOutDir(dir, 'study folder');
  let index = mergeIndex(dir, studyIndexFor(study, { specFile: resolve(file) }));
  const saveIndex = () => {
    index = { ...index, updatedAt: new Date().toISOString() };
    writeJsonAtomic(join(dir, 'study.json'), index);
  };
  const setRunStatus = (name: string, status: string) => {
    index = { ...index, runs: index.runs.map((r) => (r.name === name ? { ...r, status: status as never } : r)) };
    saveIndex();
  };
  saveIndex();

  if (o.only) {
    const unknown = o.only.filter((n) => !study.runs.some((r) => r.name === n || r.variant === n));
    if (unknown.length) throw new TypeError(`Expected names of runs or variants of this study for --only (${study.variants.join(', ')}, or a run such as ${study.runs[0]?.name}) but received ${unknown.map((u) => JSON.stringify(u)).join(', ')}`);
  }
  const todo: PlannedRun[] = [];
  const skipped: string[] = [];
  for (const run of study.runs) {
    if (o.only && !o.only.includes(run.name) && !o.only.includes(run.variant)) continue;
    const st = statusOf(join(dir, run.name));
    if (st && (FINISHED.has(st.status) || (st.status === 'failed' && !o.retryFailed))) {
      skipped.push(run.name);
      setRunStatus(run.name, st.status);
      continue;
    }
    todo.push(run);
  }
  const failedBefore = skipped.filter((n) => statusOf(join(dir, n))?.status === 'failed');
  const { parallel, threadsEach } = threadsPerRun(o, todo.length);
  log(`study ${study.name}: ${study.runs.length} run${study.runs.length === 1 ? '' : 's'} in ${dir}` +
    (skipped.length ? ` — ${skipped.length} already finished${failedBefore.length ? ` (${failedBefore.length} failed; --retry-failed runs them again)` : ''}` : '') +
    (todo.length ? `, ${todo.length} to run, ${parallel} at a time with ${threadsEach} thread${threadsEach === 1 ? '' : 's'} each` : ''));
  const ran: string[] = [];
  const failed: string[] = [];
  const children = new Set<ChildProcess>();
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    for (const c of children) c.kill('SIGINT');
  };
  o.signal?.addEventListener('abort', onAbort);
  if (o.signal?.aborted) interrupted = true;
  const liveStream = o.liveStream ?? process.stderr;
  const live = parallel > 1 || o.childOutput === 'quiet' ? new LiveView(dir, liveStream, o.childOutput === 'quiet') : undefined;
  // While a live block is redrawn on a terminal, lines go through it so they land above the block.
  const say = (l: string) => (live && liveStream.isTTY ? live.print(l) : log(l));

  const runOne = async (run: PlannedRun, position: number): Promise<void> => {
    const runDir = join(dir, run.name);
    mkdirSync(runDir, { recursive: true });
    const config = runConfig(run, threadsEach, o.device);
    writeJsonAtomic(join(runDir, 'request.json'), { config, resume: true, name: run.name });
    setRunStatus(run.name, 'running');
    if (!live) log(`\n[${position}/${todo.length}] ${run.name}`);
    else say(`[${position}/${todo.length}] ${run.name}: started`);
    live?.add(run.name);
    let lastWords: string | undefined;
    const code = await new Promise<number | string>((res) => {
      const child = spawn(process.execPath, [...process.execArgv, workerEntry(), runDir], {
        stdio: ['ignore', live ? 'ignore' : 'inherit', live ? 'pipe' : 'inherit'],
        env: {
          ...process.env,
          ABLATE_THREADS: String(threadsEach),
          // Workers sharing the cores must not spin-wait in OpenMP: measured 5-14x slower steps when they
          // do. One worker alone keeps libgomp's default, which is faster on a quiet machine.
          ...(parallel > 1 && process.env.OMP_WAIT_POLICY === undefined ? { OMP_WAIT_POLICY: 'PASSIVE' } : {}),
        },
      });
      children.add(child);
      let tail = '';
      child.stderr?.on('data', (d: Buffer) => {
        tail = (tail + d.toString()).slice(-4000);
      });
      child.on('error', (e) => res(`could not start: ${e.message}`));
      child.on('exit', (c, sig) => {
        children.delete(child);
        lastWords = tail.trim().split('\n').pop()?.replace(/^error: /, '');
        res(sig ? `killed by ${sig}` : (c ?? 1));
      });
    });
    live?.remove(run.name);
    let st = statusOf(runDir);
    if (code !== 0 && (!st || st.status === 'running')) {
      // The child died without recording why (a native crash, out of memory, a kill): say so here.
      const why = (typeof code === 'string' ? `training process ${code}` : `training process exited with code ${code}`) + (lastWords ? `: ${lastWords}` : '');
      st = { ...(st ?? placeholderStatus(run, threadsEach)), status: interrupted ? 'stopped' : 'failed', error: why, finishedAt: new Date().toISOString() };
      writeRunStatus(runDir, st);
    }
    const final = st?.status ?? 'failed';
    setRunStatus(run.name, final);
    if (final === 'failed') failed.push(run.name);
    ran.push(run.name);
    say(outcomeLine(`[${position}/${todo.length}] ${run.name}`, st, final));
  };

  try {
    let next = 0;
    const workers = Array.from({ length: parallel }, async () => {
      while (next < todo.length && !interrupted) {
        const i = next++;
        await runOne(todo[i]!, i + 1);
      }
    });
    await Promise.all(workers);
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    live?.stop();
  }

  let report: WrittenReport | undefined;
  if (!o.noReport) {
    report = await writeStudyReport(dir);
    log('');
    log(`${report.model.runCounts}.`);
    const verdicts = report.model.verdicts;
    if (verdicts.length) log('Verdicts:');
    for (const v of verdicts) log(`  - ${verdictTitle(v)}: ${v.text}`);
    log(`Report: ${report.html}`);
    log(`        ${report.markdown}`);
  }
  if (interrupted) log(`Interrupted — run the same command again to resume ${basename(dir)} (finished runs are kept; stopped runs continue from their checkpoint).`);
  return { dir, study, ran, skipped, failed, report, interrupted };
}

export { readProgress };
