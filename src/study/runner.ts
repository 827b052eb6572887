import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve, basename, dirname } from 'node:path';
import { availableParallelism } from 'node:os';
import { writeJsonAtomic } from '../util/atomic.js';
import { collectProvenance, saveProvenanceDiff } from '../util/provenance.js';
import { ensureOutDir } from '../util/out-dir.js';
import { hostEnv } from '../train/run-state.js';
import { readHistory, readRunStatus, recordedThreads, writeRunRequest, writeRunStatus, type RunStatus, type RunStatusFile, type RunStatusKind } from '../run/run-folder.js';
import { runFolder } from '../run/folder.js';
import { LOCK_HANDOVER_ENV, runHolder, runLockPath } from '../run/run-lock.js';
import { describeHolder, liveHolder, selfHolder, tryLock } from '../util/process-lock.js';
import { acquireStudyLock, studyDirFor, STUDY_LOCK, StudyBusyError } from './study-lock.js';
import { RunClaims, newWorkerId } from './claims.js';
import { isDiskFull, WORKER_EXIT, type WorkerMessage } from './worker-protocol.js';
import { ablateVersion } from '../util/version.js';
import { inspectStudyFile, StudySpecError } from './spec.js';
import { checkRunConfig } from './validate-run.js';
import { expandStudy, type ExpandedStudy, type PlannedRun } from './spec-expand.js';
import { STUDY_INDEX, studyIndexFor, type StudyIndex } from './run-files.js';
import { writeStudyReport, type WrittenReport } from './report/index.js';
import { verdictTitle } from './report/model.js';
import { duration, pct } from './report/format.js';
import { LiveView } from './live-view.js';
import { deviceForSlot, gpuSharingNote } from './gpu-slots.js';
import { preflightData } from './preflight-data.js';
import { SlotPool } from './slot-pool.js';
import { localRanksOf } from '../run/plan.js';
import { checkLocalRanks } from '../train/launch.js';
import { readRegularTextSync } from '../util/regular-file.js';
import { SIGNAL_EXIT, stopSignalOf } from '../util/interrupt.js';
import { planTuning, runTuning } from './tune/stage.js';
import { runAdaptive } from './adaptive-seeds.js';

/** Options of `runStudy`: data path, output folder, parallelism, overrides, variant selection. */
export interface StudyRunOptions {
  dataPath?: string;
  out?: string;
  parallel?: number;
  overrides?: string[];
  /**
   * Threads the study may use in total. Each run gets this ÷ the study's run count (at least 1), fixed
   * in study.json when the study first starts, so results never depend on `parallel`.
   */
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
  /**
   * Cooperating mode: any number of `--worker` processes, on any machines sharing the study folder, claim
   * unclaimed runs one at a time, heartbeat while training, and take over runs whose worker stopped
   * heartbeating (resuming from the checkpoint). The last worker to finish writes the report.
   */
  worker?: boolean;
  /** Only the runs k with k mod count = index (a scheduler's array task). */
  shard?: { index: number; count: number };
  /** Where the live view draws (default stderr). */
  liveStream?: { write(s: string): boolean; isTTY?: boolean };
  /** The run-count ceiling (`--max-runs`): overrides the study file's `maxRuns:` (default DEFAULT_MAX_RUNS). */
  maxRuns?: number;
}

/** How each run of a study ended, and where the report was written. */
export interface StudyRunResult {
  dir: string;
  study: ExpandedStudy;
  ran: string[];
  skipped: string[];
  failed: string[];
  /** Runs whose process died of a signal or was orphaned; the same command resumes them. */
  interruptedRuns: string[];
  /** Runs another live process owns: left untouched. */
  busy: string[];
  /** Set when the disk filled up: what could not be written. The study stopped starting runs. */
  diskFull?: string;
  report?: WrittenReport;
  interrupted: boolean;
}

const FINISHED = new Set(['ok', 'diverged']);

/** A damaged status.json (a disk filled up mid-write) reads as undefined: "not finished", never a crashed runner. */
function statusOf(runDir: string): RunStatusFile | undefined {
  return readRunStatus(runDir);
}

/** TensorBoard's HParams view of a study run: its axes (by config path) and its seed. */
function studyHParams(run: PlannedRun): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [path, v] of Object.entries(run.axes)) out[path] = v === null ? 'null' : v;
  out.seed = run.seed;
  return out;
}

/** The status of a run whose process died before writing one (it could not start, or crashed while loading). */
function placeholderStatus(run: PlannedRun, threads: number, status: RunStatusKind): RunStatus {
  const data = (run.config.data ?? {}) as Record<string, unknown>;
  return {
    status, epochsDone: 0, epochsPlanned: typeof run.config.epochs === 'number' ? run.config.epochs : 0,
    params: 0, trainableParams: 0, trainTimeS: 0,
    env: {
      ablateVersion: ablateVersion(), libtorchVersion: 'unknown', device: String(run.config.device ?? 'cpu'), threads, precision: String(run.config.precision ?? 'auto'),
      worldSize: localRanksOf(run.config), ...hostEnv(),
    },
    dataset: { name: String(data.source ?? 'unknown'), split: String(data.split ?? ''), trainCount: 0, valCount: 0 },
  };
}

/**
 * A `failed` status the run did not cause — a killed process, or a full disk that kept the corrected status
 * from being written — is not the run's own error: such runs resume like interrupted ones instead of being skipped.
 */
function killedNotFailed(st: RunStatusFile): boolean {
  return st.status === 'failed' && (/^training process killed by SIG/.test(st.error ?? '') || isDiskFull({ message: st.error ?? '' }) || resumeRefused(st));
}

/** A run whose last start was refused for other settings than it was planned with: it failed this time, yet it continues once started with its own. */
function resumeRefused(st: RunStatusFile | undefined): boolean {
  return st?.status === 'failed' && (st as { resumeRefused?: unknown }).resumeRefused === true;
}

/**
 * Seconds the run's finished epochs took, from history.jsonl: a process killed mid-run never wrote its
 * training time into status.json (which says 0 until the run ends).
 */
function historySeconds(runDir: string, epochs: number): number | undefined {
  // Lines cut short by the kill are skipped by the tolerant reader.
  const done = readHistory(runDir).slice(0, epochs).filter((r) => Number.isFinite(r.epoch_time_s) && r.epoch_time_s >= 0);
  return done.length > 0 ? done.reduce((s, r) => s + r.epoch_time_s, 0) : undefined;
}

/** `resnet20-cifar-seed0: ok — best val 91.4% (epoch 4), 4 epochs in 52.1 s`. */
function outcomeLine(name: string, st: RunStatusFile | undefined, fallback: string, runDir?: string): string {
  const state = st?.status ?? fallback;
  const parts: string[] = [];
  if (st?.bestValAccuracy !== undefined) parts.push(`best val ${pct(st.bestValAccuracy)}%${st.bestEpoch ? ` (epoch ${st.bestEpoch})` : ''}`);
  if (st && st.epochsDone > 0) {
    const secs = st.trainTimeS > 0 ? st.trainTimeS : runDir ? historySeconds(runDir, st.epochsDone) : undefined;
    parts.push(`${st.epochsDone}/${st.epochsPlanned} epochs${secs !== undefined ? ` in ${duration(secs)}` : ''}`);
  }
  if (st?.error) parts.push(st.error.split('\n').join(' '));
  else if (st?.reason && (state === 'stopped' || state === 'preempted' || state === 'interrupted')) parts.push(st.reason);
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
  const { spec, issues, runsKnown } = inspectStudyFile(file, { maxRuns: o.maxRuns });
  if (!spec) throw new StudySpecError(file, issues);
  const study = expandStudy(spec, {
    dataPath: o.dataPath === undefined ? undefined : resolve(o.dataPath),
    overrides: o.overrides,
    validate: runsKnown ? (cfg) => checkRunConfig(cfg, { checkFiles: o.checkFiles }) : undefined,
    priorIssues: issues,
  });
  if (spec.tune) {
    const tuneIssues: typeof issues = [];
    study.tune = planTuning(study, spec.tune, tuneIssues, runsKnown ? (cfg) => checkRunConfig(cfg, { checkFiles: o.checkFiles }) : undefined);
    if (tuneIssues.length) throw new StudySpecError(file, tuneIssues);
  }
  const dir = o.out !== undefined ? studyDirFor(o.out, true) : studyDirFor(study.name, false);
  return { study, dir };
}

/**
 * Slots used at once, and the threads each slot (a run, or one rank of a data-parallel run) gets when the
 * study has not fixed its count yet: the cores split over the slots of all runs (capped by the cores),
 * never over --parallel, so results do not depend on it. `runs` counts slots (see slotsOf).
 */
export function threadsPerRunDefault(o: Pick<StudyRunOptions, 'parallel' | 'threads'>, runs: number): { parallel: number; threadsEach: number } {
  const parallel = Math.max(1, Math.min(o.parallel ?? 1, runs || 1));
  const totalThreads = o.threads ?? availableParallelism();
  return { parallel, threadsEach: Math.max(1, Math.floor(totalThreads / Math.max(1, Math.min(totalThreads, runs)))) };
}

/** The `--parallel` slots the runs take together: one per data-parallel rank. */
export function slotsOf(runs: readonly PlannedRun[]): number {
  return runs.reduce((n, r) => n + localRanksOf(r.config), 0);
}

/** The config a run's worker trains: the planned config with the runner's thread count and device. */
export function runConfig(run: PlannedRun, threads: number, device?: string): PlannedRun['config'] {
  return { ...run.config, threads, ...(device ? { device } : {}) };
}

function mergeIndex(dir: string, fresh: StudyIndex): StudyIndex {
  const path = join(dir, STUDY_INDEX);
  if (!existsSync(path)) return fresh;
  try {
    const old = JSON.parse(readRegularTextSync(path, { what: 'study index' })) as StudyIndex;
    const byName = new Map(old.runs.map((r) => [r.name, r]));
    return {
      ...fresh, createdAt: old.createdAt ?? fresh.createdAt,
      ...(Number.isInteger(old.threadsPerRun) ? { threadsPerRun: old.threadsPerRun } : {}),
      runs: fresh.runs.map((r) => ({ ...r, status: byName.get(r.name)?.status ?? r.status })),
    };
  } catch {
    return fresh; // a damaged index is rebuilt from the spec; the runs' own folders hold the truth
  }
}

/**
 * Runs every variant of a study, each in its own child process so that one crashing, diverging or
 * failing variant never takes the others down. Re-running the same command resumes: finished runs
 * are skipped and stopped or interrupted ones continue from their last checkpoint. One runner per
 * study folder: a second one refuses at once (StudyBusyError) and names the first.
 */
export async function runStudy(file: string, o: StudyRunOptions = {}): Promise<StudyRunResult> {
  const { study, dir } = planStudy(file, o);
  // Ctrl-C while the study was being read and checked: stop before anything is created.
  if (o.signal?.aborted) return { dir, study, ran: [], skipped: [], failed: [], interruptedRuns: [], busy: [], interrupted: true };
  ensureOutDir(dir, 'study folder');
  if (o.worker || o.shard) {
    // Cooperating workers share the folder through per-run claims and locks; they never take the
    // exclusive runner's lock, and refuse to start beside a live exclusive runner.
    const exclusive = liveHolder(join(dir, STUDY_LOCK));
    if (exclusive) throw new StudyBusyError(dir, exclusive.holder, exclusive.state === 'alive');
    return runStages(file, study, dir, o);
  }
  const lock = acquireStudyLock(dir);
  try {
    if (lock.tookOver) (o.log ?? ((l: string) => process.stderr.write(l + '\n')))(`note: took over ${dir} from an earlier runner that is gone (${describeHolder(lock.tookOver)})`);
    return await runStages(file, study, dir, o);
  } finally {
    lock.release();
  }
}

/** A tuned study runs its tuning stage (tune/stage.ts) first, then its main runs with each arm's chosen values. */
async function runStages(file: string, study: ExpandedStudy, dir: string, o: StudyRunOptions): Promise<StudyRunResult> {
  if (!study.tune) return runMain(file, study, dir, o);
  const tuneOptions: StudyRunOptions = { ...o, noReport: true, only: undefined };
  const t = await runTuning(study, study.tune, dir, {
    log: o.log ?? ((l: string) => process.stderr.write(l + '\n')), signal: o.signal, shared: !!(o.worker || o.shard),
    runStage: (s, d) => runLocked(file, s, d, tuneOptions),
  });
  if ('stopped' in t) {
    const r = t.stopped;
    (o.log ?? ((l: string) => process.stderr.write(l + '\n')))('the tuning stage did not finish: run the same command again to continue it (the main runs start once every arm is tuned)');
    return { dir, study, ran: r.ran, skipped: [], failed: r.failed, interruptedRuns: r.interruptedRuns, busy: r.busy, ...(r.diskFull ? { diskFull: r.diskFull } : {}), interrupted: r.interrupted };
  }
  const main = await runMain(file, t.study, dir, o);
  return { ...main, ran: [...t.ran, ...main.ran] };
}

/** The study proper; adaptive seeds run it round by round, each round a pass over the runs the finished ones call for. */
function runMain(file: string, study: ExpandedStudy, dir: string, o: StudyRunOptions): Promise<StudyRunResult> {
  return study.statistics.adaptiveSeeds
    ? runAdaptive(study, o, dir, (round, ro) => runLocked(file, round, dir, ro))
    : runLocked(file, study, dir, o);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a run folder held by another live process (an orphaned worker finishing its step) is waited for. */
const BUSY_WAIT_MS = 10 * 60_000;

async function runLocked(file: string, study: ExpandedStudy, dir: string, o: StudyRunOptions): Promise<StudyRunResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  let diskFull: string | undefined;
  /** Writes by the runner itself; a full disk is recorded (with the path) instead of crashing the study. */
  /** Runs a writer of `path`; a full disk stops the study, another failure is a warning. */
  const save = (path: string, put: () => void): boolean => {
    try {
      put();
      return true;
    } catch (e) {
      const msg = (e as Error).message;
      const what = msg.includes(path) ? msg : `${path}: ${msg}`;
      if (isDiskFull(e)) diskFull ??= `could not write ${what}`;
      else log(`warning: could not write ${what}`);
      return false;
    }
  };
  const write = (path: string, value: unknown): boolean => save(path, () => writeJsonAtomic(path, value));
  let index = mergeIndex(dir, studyIndexFor(study, { specFile: resolve(file) }));
  // The code behind every run this runner starts: the study file's repository, read once. The default output
  // root (runs/) is ablate's own output, not an edit of the tree.
  const provenance = collectProvenance({ dir: dirname(resolve(file)), exclude: o.out !== undefined ? [dir] : [dir, dirname(dir)] });
  const saveIndex = () => {
    index = { ...index, updatedAt: new Date().toISOString() };
    write(join(dir, STUDY_INDEX), index);
  };
  const setRunStatus = (name: string, status: string) => {
    index = { ...index, runs: index.runs.map((r) => (r.name === name ? { ...r, status: status as never } : r)) };
    saveIndex();
  };

  if (o.only) {
    const unknown = o.only.filter((n) => !study.runs.some((r) => r.name === n || r.variant === n));
    if (unknown.length) throw new TypeError(`Expected names of runs or variants of this study for --only (${study.variants.join(', ')}, or a run such as ${study.runs[0]?.name}) but received ${unknown.map((u) => JSON.stringify(u)).join(', ')}`);
  }

  // Every run of a study trains with the same thread count, chosen once: results depend on it
  // (parallel reductions sum in another order), and must not depend on --parallel.
  const totalThreads = o.threads ?? availableParallelism();
  const started = study.runs.map((r) => recordedThreads(join(dir, r.name))).filter((t): t is number => t !== undefined);
  const threadsPerRun = index.threadsPerRun ?? started[0] ?? threadsPerRunDefault(o, slotsOf(study.runs)).threadsEach;
  const fixedBefore = index.threadsPerRun !== undefined || started.length > 0;
  index = { ...index, threadsPerRun };
  saveIndex();

  const todo: PlannedRun[] = [];
  const skipped: string[] = [];
  const finishedBefore = new Map<string, string>();
  for (const [k, run] of study.runs.entries()) {
    if (o.only && !o.only.includes(run.name) && !o.only.includes(run.variant)) continue;
    if (o.shard && k % o.shard.count !== o.shard.index) continue;
    const st = statusOf(join(dir, run.name));
    if (st && (FINISHED.has(st.status) || (st.status === 'failed' && !killedNotFailed(st) && !o.retryFailed))) {
      skipped.push(run.name);
      finishedBefore.set(run.name, st.status);
      continue;
    }
    todo.push(run);
  }
  // One write for all of them: a study of 1,000 finished runs rewrote its index 1,000 times.
  if (finishedBefore.size) {
    index = { ...index, runs: index.runs.map((r) => (finishedBefore.has(r.name) ? { ...r, status: finishedBefore.get(r.name) as never } : r)) };
    saveIndex();
  }
  if (todo.length) {
    const n = await preflightData(todo, { log, signal: o.signal });
    log(`data: ${n} distinct dataset split${n === 1 ? '' : 's'} opened and checked`);
  }
  // Runs another live process still holds (a worker of a killed runner finishing its step) go last.
  const held = new Set(todo.filter((r) => runHolder(join(dir, r.name))).map((r) => r.name));
  todo.sort((a, b) => Number(held.has(a.name)) - Number(held.has(b.name)));

  const failedBefore = skipped.filter((n) => finishedBefore.get(n) === 'failed');
  // --parallel counts slots, and a data-parallel run takes one per rank.
  const parallel = Math.max(1, Math.min(o.parallel ?? 1, slotsOf(todo) || 1));
  const dataParallel = todo.some((r) => localRanksOf(r.config) > 1);
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  log(`study ${study.name}: ${plural(study.runs.length, 'run')} in ${dir}` +
    (skipped.length ? ` — ${skipped.length} already finished${failedBefore.length ? ` (${failedBefore.length} failed; --retry-failed runs them again)` : ''}` : '') +
    (todo.length ? `, ${todo.length} to run, ${dataParallel ? `${plural(parallel, 'slot')} (one per rank)` : `${parallel} at a time`} with ${plural(threadsPerRun, 'thread')} each` : ''));
  if (todo.length) {
    const custom = todo.some((r) => typeof r.config.threads === 'number');
    if (!custom) log(`  every run uses ${plural(threadsPerRun, 'thread')}, ${fixedBefore ? 'as fixed when this study first started' : 'fixed now for this study'}, so results do not depend on --parallel`);
    if (o.threads !== undefined && fixedBefore && threadsPerRunDefault(o, slotsOf(study.runs)).threadsEach !== threadsPerRun) {
      log(`  note: --threads ${o.threads} does not change the thread count of a study that has started (results would differ between its runs)`);
    }
    const wide = [...new Set(todo.map((r) => localRanksOf(r.config)))].filter((n) => n > parallel);
    if (wide.length) log(`  note: a run of ${Math.max(...wide)} ranks needs ${Math.max(...wide)} slots and --parallel gives ${parallel}: it runs alone, its ranks sharing the cores`);
    if (parallel * threadsPerRun > totalThreads) log(`  note: ${parallel} at a time × ${plural(threadsPerRun, 'thread')} is more than the ${totalThreads} available: runs will share cores (slower, same results)`);
    else if (parallel < slotsOf(todo) && (parallel + 1) * threadsPerRun <= totalThreads) log(`  note: ${totalThreads - parallel * threadsPerRun} of ${totalThreads} threads stay idle: --parallel ${Math.min(slotsOf(todo), Math.floor(totalThreads / threadsPerRun))} would use them`);
  }
  if (diskFull) throw new Error(`disk full: ${diskFull}; free some space and run the same command again`);

  // GPUs are counted (loading libtorch) only when parallel runs ask for a plain `cuda`, or data-parallel
  // runs for any CUDA device (one GPU per rank).
  const studyDevice = o.device ?? (todo.every((r) => r.config.device === 'cuda') ? 'cuda' : undefined);
  const deviceOf = (r: PlannedRun) => String(o.device ?? r.config.device ?? 'cpu');
  const cudaRanks = todo.some((r) => localRanksOf(r.config) > 1 && deviceOf(r).startsWith('cuda'));
  const gpuCount = (parallel > 1 && studyDevice === 'cuda') || cudaRanks ? (await import('../tensor/index.js')).cudaDeviceCount() : 0;
  const ncclProblem = cudaRanks ? (await import('../tensor/index.js')).backendProblem('nccl') : null;
  // Refused before any run starts: a data-parallel run that cannot have NCCL and one GPU per rank.
  const rankNotes = new Set<string>();
  for (const r of todo) {
    const fit = checkLocalRanks(localRanksOf(r.config), deviceOf(r), { cores: totalThreads, gpus: gpuCount, ncclProblem });
    if (fit.warning) rankNotes.add(fit.warning);
  }
  for (const n of rankNotes) log(`  ${n}`);
  const gpuNote = gpuSharingNote(studyDevice, parallel, gpuCount);
  if (gpuNote) log(gpuNote);
  const ran: string[] = [];
  const failed: string[] = [];
  const interruptedRuns: string[] = [];
  const busy: string[] = [];
  /** Runs whose resume was refused: they were planned with other settings than this command gives. */
  const refused: string[] = [];
  const children = new Set<ChildProcess>();
  let interrupted = false;
  // Workers get the signal the runner got, so their status and messages name it (SIGTERM from a scheduler).
  const onAbort = () => {
    interrupted = true;
    for (const c of children) c.kill(stopSignalOf(o.signal));
  };
  o.signal?.addEventListener('abort', onAbort);
  if (o.signal?.aborted) interrupted = true;
  const liveStream = o.liveStream ?? process.stderr;
  const live = parallel > 1 || o.childOutput === 'quiet' ? new LiveView(dir, liveStream, o.childOutput === 'quiet') : undefined;
  // While a live block is redrawn on a terminal, lines go through it so they land above the block.
  const say = (l: string) => (live && liveStream.isTTY ? live.print(l) : log(l));

  const runnerHolder = selfHolder('ablate study run');
  /**
   * Write a run's status only while this runner holds the run's lock (taking it back from a worker that
   * died); a folder another live process owns is never written.
   */
  const record = (runDir: string, st: RunStatus | RunStatusFile): boolean => {
    const claim = tryLock(runLockPath(runDir), runnerHolder);
    if (!claim.ok) return false;
    try {
      return save(runFolder(runDir).status, () => writeRunStatus(runDir, st));
    } finally {
      if (!claimed.has(runDir)) claim.release();
    }
  };
  // ---- cooperating workers (--worker): claims with heartbeats ----
  const staleMs = Number(process.env.ABLATE_CLAIM_STALE_MS ?? '') || 90_000;
  const claims = o.worker ? new RunClaims(dir, newWorkerId(), { staleMs }) : undefined;
  const childOf = new Map<string, ChildProcess>();
  const mine = new Set<string>();
  const heartbeats = setInterval(() => {
    for (const name of mine) {
      if (claims!.heartbeat(name)) continue;
      // Another worker took the run over after our heartbeat lapsed (a long stall): stop at once and
      // write nothing more into it.
      mine.delete(name);
      say(`${name}: another worker took this run over; stopping it here without writing`);
      childOf.get(name)?.kill('SIGKILL');
    }
  }, Math.max(200, Math.floor(staleMs / 6)));
  heartbeats.unref();
  const isDone = (name: string): boolean => {
    const st = statusOf(join(dir, name));
    return !!st && (FINISHED.has(st.status) || (st.status === 'failed' && !killedNotFailed(st)));
  };
  const pending = [...todo];
  let position = 0;
  const pool = new SlotPool(parallel);
  /** Runs `f` once the run's slots (one per rank) are free; nothing when the study stopped meanwhile. */
  const withSlots = async (run: PlannedRun, f: (slots: number[]) => Promise<void>): Promise<void> => {
    const slots = await pool.acquire(localRanksOf(run.config));
    try {
      if (!interrupted && !diskFull) await f(slots);
    } finally {
      pool.release(slots);
    }
  };
  const claimLoop = async (c: RunClaims): Promise<void> => {
    while (!interrupted && !diskFull) {
      for (let i = pending.length - 1; i >= 0; i--) if (isDone(pending[i]!.name)) pending.splice(i, 1);
      if (pending.length === 0) return;
      let picked: { run: PlannedRun; takenOver: boolean } | undefined;
      for (const run of pending) {
        const r = c.tryClaim(run.name);
        if (r.kind !== 'claimed') continue;
        if (r.takenOverFrom) say(`${run.name}: taking over from worker ${r.takenOverFrom.worker} (no heartbeat for over ${Math.round(staleMs / 1000)} s)`);
        picked = { run, takenOver: r.takenOverFrom !== undefined };
        break;
      }
      if (!picked) {
        await sleep(Math.min(2000, Math.max(100, staleMs / 10)));
        continue;
      }
      pending.splice(pending.indexOf(picked.run), 1);
      mine.add(picked.run.name);
      try {
        const run = picked.run;
        const takenOver = picked.takenOver;
        await withSlots(run, (slots) => runOne(run, ++position, slots, takenOver));
      } finally {
        if (mine.delete(picked.run.name)) c.release(picked.run.name);
      }
    }
  };

  /** Run folders this runner holds until their worker takes them over. */
  const claimed = new Set<string>();

  const runOne = async (run: PlannedRun, position: number, slots: number[], takenOver?: boolean): Promise<void> => {
    const runDir = join(dir, run.name);
    const tag = `[${position}/${todo.length}] ${run.name}`;
    // The worker whose claim went stale may have died on another host, where its run lock cannot be
    // checked: its heartbeat stopping is the proof it is gone.
    if (takenOver) rmSync(runLockPath(runDir), { force: true });
    // Claim the run before writing anything into it. A folder another live process owns is waited for
    // (an orphaned worker stops at its next step), or left alone when its holder cannot be checked
    // from here or keeps it.
    mkdirSync(runDir, { recursive: true });
    let claim = tryLock(runLockPath(runDir), runnerHolder);
    if (!claim.ok) {
      const first = claim.holder;
      say(`${tag}: waiting for ${first.role ?? 'the process'} that holds it (${describeHolder(first)}) to let go…`);
      const until = Date.now() + BUSY_WAIT_MS;
      while (!claim.ok && claim.state === 'alive' && !interrupted && Date.now() < until) {
        await sleep(250);
        claim = tryLock(runLockPath(runDir), runnerHolder);
      }
      if (interrupted && claim.ok) claim.release();
      if (interrupted) return;
      if (!claim.ok) {
        busy.push(run.name);
        say(`${tag}: left alone — it is in use by ${claim.holder.role ?? 'another process'} (${describeHolder(claim.holder)})`);
        return;
      }
    }
    claimed.add(runDir);
    const releaseClaim = claim.release;
    try {
      await trainRun(run, runDir, tag, slots);
    } finally {
      claimed.delete(runDir);
      releaseClaim(); // only while still ours: the worker normally took the lock over and released it
    }
  };

  const trainRun = async (run: PlannedRun, runDir: string, tag: string, slots: number[]): Promise<void> => {
    mkdirSync(runDir, { recursive: true });
    // Per process: each rank of a data-parallel run has a slot's threads.
    const threads = recordedThreads(runDir) ?? (typeof run.config.threads === 'number' ? run.config.threads : threadsPerRun);
    const ranks = localRanksOf(run.config);
    // With several GPUs each parallel slot trains on its own. A data-parallel run's rank r takes cuda:r of
    // the GPUs its slots choose, made the only visible ones.
    const wanted = o.device ?? (run.config.device as string | undefined);
    const device = ranks > 1 ? wanted : deviceForSlot(wanted, slots[0]!, parallel, gpuCount);
    const gpus = ranks > 1 && wanted === 'cuda' && gpuCount > 1 ? slotGpus(slots, gpuCount) : undefined;
    const config = runConfig(run, threads, device);
    try {
      saveProvenanceDiff(runFolder(runDir).provenanceDiff, provenance.diff);
    } catch (e) {
      if (isDiskFull(e)) diskFull ??= `could not write ${runFolder(runDir).provenanceDiff}: ${(e as Error).message}`;
      else log(`warning: could not write ${runFolder(runDir).provenanceDiff}: ${(e as Error).message}`);
      return;
    }
    if (!save(runFolder(runDir).request, () => writeRunRequest(runDir, { config, resume: true, name: run.name, provenance: provenance.provenance, hparams: studyHParams(run) }))) return;
    const before = statusOf(runDir);
    if (before?.status === 'running') {
      // We hold its lock, so its process is gone: a runner or machine that died. It resumes now.
      record(runDir, { ...before, status: 'interrupted', reason: before.reason ?? 'its training process was gone (orphaned)' });
    }
    // What status.json held when the worker started: a worker that ends with an error without changing it
    // (it could not start, or died before its first write) did not record its failure.
    const statusBefore = JSON.stringify(statusOf(runDir) ?? null);
    setRunStatus(run.name, 'running');
    if (!live) log(`\n${tag}`);
    else say(`${tag}: started`);
    live?.add(run.name);
    let lastWords: string | undefined;
    const code = await new Promise<number | string>((res) => {
      const child = spawn(process.execPath, [...process.execArgv, workerEntry(), runDir], {
        // The IPC channel is how a worker learns that this runner is gone (see worker.ts).
        stdio: ['ignore', live ? 'ignore' : 'inherit', live ? 'pipe' : 'inherit', 'ipc'],
        env: {
          ...process.env,
          // The worker takes the run's lock over from this runner, which claimed it before writing request.json.
          [LOCK_HANDOVER_ENV]: String(process.pid),
          ABLATE_THREADS: String(threads),
          // Workers sharing the cores must not spin-wait in OpenMP: measured 5-14x slower steps when they
          // do. One worker alone keeps libgomp's default, which is faster on a quiet machine.
          ...((parallel > 1 || ranks > 1) && process.env.OMP_WAIT_POLICY === undefined ? { OMP_WAIT_POLICY: 'PASSIVE' } : {}),
          ...(gpus ? { CUDA_VISIBLE_DEVICES: gpus } : {}),
        },
      });
      children.add(child);
      childOf.set(run.name, child);
      let tail = '';
      child.stderr?.on('data', (d: Buffer) => {
        tail = (tail + d.toString()).slice(-4000);
      });
      let reported: string | undefined;
      child.on('message', (m: Partial<WorkerMessage>) => {
        if (typeof m?.error === 'string') reported = m.error.split('\n')[0];
      });
      child.on('error', (e) => res(`could not start: ${e.message}`));
      // 'close', not 'exit': by then its stderr and IPC messages have all arrived.
      child.on('close', (c, sig) => {
        children.delete(child);
        childOf.delete(run.name);
        lastWords = reported ?? tail.trim().split('\n').pop()?.replace(/^error: /, '');
        res(sig ? `killed by ${sig}` : (c ?? 1));
      });
    });
    live?.remove(run.name);
    ran.push(run.name);
    let st = statusOf(runDir);
    const now = new Date().toISOString();
    if (code === WORKER_EXIT.busy) {
      busy.push(run.name);
      setRunStatus(run.name, st?.status ?? 'pending');
      say(`${tag}: left alone — ${lastWords ?? 'another process owns its folder'}`);
      return;
    }
    if (code === WORKER_EXIT.diskFull) {
      diskFull ??= `training ${runDir}: ${lastWords ?? 'no space left on device'}`;
      if (!st || st.status === 'running' || st.status === 'failed') {
        st = { ...(st ?? placeholderStatus(run, threads, 'stopped')), status: 'stopped', reason: `disk full: ${lastWords ?? 'no space left on device'}`, error: undefined, finishedAt: now };
        record(runDir, st);
      }
    } else if (typeof code === 'string' && code.startsWith('killed by')) {
      // A signal (the OOM killer, a preempted node, kill -9) is not the run's own error: it resumes.
      if (!st || st.status === 'running') {
        st = { ...(st ?? placeholderStatus(run, threads, 'interrupted')), status: 'interrupted', reason: `training process ${code}`, finishedAt: now };
        record(runDir, st);
      }
    } else if (code !== 0 && (!st || st.status === 'running' || (code !== WORKER_EXIT.stopped && JSON.stringify(st) === statusBefore))) {
      // The child died without recording why (a native crash, an uncaught error, a worker that could not
      // start and left the status it found: `interrupted` or `stopped` would be resumed forever): say so here.
      // A second Ctrl-C or SIGTERM quits at once, with the signal's code; the last checkpoint stays.
      const hardStop = code === SIGNAL_EXIT.SIGINT ? 'Ctrl-C' : code === SIGNAL_EXIT.SIGTERM ? 'SIGTERM' : undefined;
      const why = (typeof code === 'string' ? `training process ${code}` : `training process exited with code ${code}`) + (lastWords ? `: ${lastWords}` : '');
      const { reason: _r, ...was } = st ?? placeholderStatus(run, threads, 'failed');
      st = hardStop
        ? { ...(st ?? placeholderStatus(run, threads, 'interrupted')), status: 'interrupted', reason: `stopped at once by a second ${hardStop}`, finishedAt: now }
        : { ...was, status: 'failed', error: why, finishedAt: now };
      record(runDir, st);
    }
    const final = st?.status ?? 'failed';
    setRunStatus(run.name, final);
    if (final === 'failed') failed.push(run.name);
    if (resumeRefused(st)) refused.push(run.name);
    if (final === 'interrupted' || ((final === 'stopped' || final === 'preempted') && !interrupted && !diskFull)) interruptedRuns.push(run.name);
    say(outcomeLine(tag, st, final, runDir));
  };

  try {
    if (claims) {
      await Promise.all(Array.from({ length: parallel }, () => claimLoop(claims)));
    } else {
      let next = 0;
      const workers = Array.from({ length: parallel }, async () => {
        while (next < todo.length && !interrupted && !diskFull) {
          const i = next++;
          await withSlots(todo[i]!, (slots) => runOne(todo[i]!, i + 1, slots));
        }
      });
      await Promise.all(workers);
    }
  } finally {
    clearInterval(heartbeats);
    o.signal?.removeEventListener('abort', onAbort);
    live?.stop();
  }

  let report: WrittenReport | undefined;
  // A worker writes the report only when the whole study is finished: the last one to finish does.
  const othersBusy = claims ? study.runs.filter((r) => !isDone(r.name)).map((r) => r.name) : [];
  if (othersBusy.length && !interrupted) log(`${plural(othersBusy.length, 'run')} not finished here (${othersBusy.join(', ')}); the worker that finishes the study writes the report (or run \`ablate study report ${dir}\`).`);
  if (!o.noReport && !diskFull && othersBusy.length === 0) {
    report = await writeStudyReport(dir);
    log('');
    log(`${report.model.runCounts}.`);
    const verdicts = report.model.verdicts;
    if (verdicts.length) log('Verdicts:');
    for (const v of verdicts) log(`  - ${verdictTitle(v)}: ${v.text}`);
    log(`Report: ${report.html}`);
    log(`        ${report.markdown}`);
  }
  if (interruptedRuns.length) log(`${plural(interruptedRuns.length, 'run')} did not finish (${interruptedRuns.join(', ')}): run the same command again to resume ${interruptedRuns.length === 1 ? 'it' : 'them'} from the last checkpoint.`);
  if (busy.length) log(`${plural(busy.length, 'run')} left alone because another live process owns ${busy.length === 1 ? 'its folder' : 'their folders'}: ${busy.join(', ')}.`);
  if (diskFull) log(`Disk full — ${diskFull}. The study stopped starting runs; free some space and run the same command again: finished runs are kept, the others resume from their last good checkpoint.`);
  if (refused.length) {
    log(`${plural(refused.length, 'run')} started with other settings than ${refused.length === 1 ? 'it was' : 'they were'} planned with (${refused.join(', ')}): ` +
      `drop the --set/--data that changed ${refused.length === 1 ? 'its' : 'their'} config to continue ${refused.length === 1 ? 'it' : 'them'} where ${refused.length === 1 ? 'it' : 'they'} stopped, ` +
      'or give the new settings their own study folder (--out).');
  }
  if (interrupted) log(`Interrupted${stopSignalOf(o.signal) !== 'SIGINT' ? ` by ${stopSignalOf(o.signal)}` : ''} — run the same command again to resume ${basename(dir)} (finished runs are kept; stopped runs continue from their checkpoint).`);
  return { dir, study, ran, skipped, failed, interruptedRuns, busy, ...(diskFull ? { diskFull } : {}), report, interrupted };
}


/** CUDA_VISIBLE_DEVICES for a data-parallel run on these slots: the GPUs they choose, through any the user made visible. */
function slotGpus(slots: readonly number[], gpuCount: number): string {
  const visible = process.env.CUDA_VISIBLE_DEVICES?.split(',').map((d) => d.trim()).filter((d) => d !== '');
  const ids = visible && visible.length >= gpuCount ? visible : Array.from({ length: gpuCount }, (_, k) => String(k));
  return slots.map((s) => ids[s % gpuCount]).join(',');
}
