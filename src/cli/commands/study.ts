import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Dashboard } from '../../study/serve/index.js';
import { parseShard } from '../../study/claims.js';
import { EXIT_TEMPFAIL, UsageError } from '../errors.js';
import { interruptExitCode, wasPreempted } from '../../util/interrupt.js';
import { requeueSlurmJob, requeueWanted } from '../../util/requeue.js';
import { isDiskFull } from '../../study/worker-protocol.js';
import { StudySpecError } from '../../study/spec-issues.js';
import { inspectStudyFile } from '../../study/spec.js';
import { acquireStudyLock, StudyBusyError, studyDirFor, type StudyLock } from '../../study/study-lock.js';
import { describeHolder } from '../../util/process-lock.js';
import { parsePositiveInt, interruptSignal } from '../options.js';
import { isDownloadable, parseHfArg, resolveMirror } from '../../data/index.js';

// The runner and the report load libtorch and the plotting stack (seconds on a busy machine): they are
// imported only once the study folder is known to be free, so a second runner is refused at once.

/** The array task's shard from --shard or the scheduler's variables; a malformed one is the user's to fix. */
function parseShardOrExit(flag: string | undefined): { index: number; count: number } | null {
  try {
    return parseShard(flag);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export interface StudyRunFlags {
  data?: string;
  out?: string;
  parallel?: string;
  set?: string[];
  threads?: string;
  device?: string;
  only?: string[];
  retryFailed?: boolean;
  worker?: boolean;
  shard?: string;
  mirror?: string;
  dashboard?: boolean;
  port?: string;
  host?: string;
  allowHost?: string[];
  maxRuns?: string;
  requeue?: boolean;
}

export async function studyRunCommand(file: string, f: StudyRunFlags): Promise<void> {
  if (!existsSync(file)) throw new UsageError(`study file ${file} does not exist`);
  // Workers inherit the environment, so the mirror reaches every variant.
  if (f.mirror !== undefined) process.env.ABLATE_MIRROR = resolveMirror(f.mirror) ?? '';
  // `--data cifar10`: a dataset name that is not a path here means "fetch it".
  const byName = f.data !== undefined && !existsSync(f.data) && isDownloadable(f.data);
  const hf = hfData(f.data, f.set);
  if (!f.dashboard && (f.port !== undefined || f.host !== undefined || f.allowHost !== undefined)) throw new UsageError('--port, --host and --allow-host set up the dashboard: add --dashboard (or use `ablate study serve <dir>` on the study folder)');
  // A folder that exists may have a runner: check before anything slow (runStudy takes the same lock again).
  let early: StudyLock | undefined;
  try {
    // A study that cannot be expanded at all (unreadable, nested too deep, more runs than its ceiling) is refused
    // here, before libtorch loads; without --out its name is needed now, so any problem of the file is reported.
    const read = inspectStudyFile(file, { maxRuns: maxRunsOf(f) });
    if (!read.spec || (f.out === undefined && read.issues.length > 0)) throw new StudySpecError(file, read.issues);
    const dir = studyDirFor(f.out ?? read.spec.name, f.out !== undefined);
    // Cooperating workers take no exclusive lock (runStudy refuses them beside a live exclusive runner).
    if (existsSync(dir) && !f.worker && parseShardOrExit(f.shard) === null) early = acquireStudyLock(dir);
    if (early?.tookOver) process.stderr.write(`note: took over ${dir} from an earlier runner that is gone (${describeHolder(early.tookOver)})\n`);
  } catch (e) {
    throw e instanceof StudySpecError || e instanceof StudyBusyError ? new UsageError(e.message) : e;
  }
  let dashboard: Dashboard | undefined;
  try {
    dashboard = f.dashboard ? await startRunDashboard(file, f) : undefined;
  } catch (e) {
    early?.release();
    throw e;
  }
  const { runStudy } = await import('../../study/runner.js');
  const { signal, dispose } = interruptSignal('study');
  let completed = false;
  try {
    const r = await runStudy(file, {
      dataPath: byName ? undefined : hf.dataPath,
      out: f.out,
      parallel: parsePositiveInt('--parallel', f.parallel ?? '1'),
      overrides: byName ? [`data.source=${f.data}`, ...(f.set ?? [])] : hf.overrides,
      threads: f.threads === undefined ? undefined : parsePositiveInt('--threads', f.threads),
      device: f.device,
      only: f.only,
      retryFailed: f.retryFailed,
      worker: f.worker,
      shard: f.worker ? undefined : parseShardOrExit(f.shard) ?? undefined,
      maxRuns: maxRunsOf(f),
      signal,
    }).catch((e: unknown) => {
      // A disk full before any run started (the study index could not be written): the same code as after runs.
      if (isDiskFull(e)) {
        process.stderr.write(`ablate: error: ${(e as Error).message}\n`);
        process.exitCode = EXIT_TEMPFAIL;
        return undefined;
      }
      // A bad study file or a busy study folder is the user's to act on: the message says how; no stack hint.
      throw e instanceof StudySpecError || e instanceof StudyBusyError ? new UsageError(e.message) : e;
    });
    if (!r) return;
    completed = !r.interrupted;
    if (r.interrupted) {
      process.exitCode = interruptExitCode(signal);
      if (wasPreempted(signal) && requeueWanted(f.requeue)) process.stderr.write(requeueSlurmJob().message + '\n');
    }
    else if (r.failed.length) {
      process.stderr.write(`${r.failed.length} run(s) failed: ${r.failed.join(', ')} — see their status.json and the report\n`);
      process.exitCode = 1;
    } else if (r.diskFull || r.interruptedRuns.length || r.busy.length) {
      // EX_TEMPFAIL: nothing is wrong with the study; running the same command again finishes it.
      process.exitCode = EXIT_TEMPFAIL;
    }
  } finally {
    dispose();
    early?.release();
    if (dashboard && completed) {
      // The user asked to watch: keep the finished study on screen until they are done with it.
      process.stdout.write(`Study finished; the dashboard stays up at ${dashboard.url} — press Ctrl-C to stop it.\n`);
      const { untilInterrupted } = await import('./serve.js');
      await untilInterrupted();
    }
    await dashboard?.close();
  }
}

/** `--data hf:OWNER/NAME[@REV]` as overrides of data.source/name/revision; any other --data stays a path. */
function hfData(data: string | undefined, set: string[] | undefined): { dataPath?: string; overrides?: string[] } {
  const hf = parseHfArg(data);
  if (!hf) return { dataPath: data, overrides: set };
  return { dataPath: undefined, overrides: ['data.source=hf', `data.name=${hf.name}`, ...(hf.revision ? [`data.revision=${hf.revision}`] : []), ...(set ?? [])] };
}

/** The dashboard of the folder the study will write, started before any run so the page shows them from the first step. */
async function startRunDashboard(file: string, f: StudyRunFlags): Promise<Dashboard> {
  const { planStudy } = await import('../../study/runner.js');
  const { openDashboard } = await import('./serve.js');
  let dir: string;
  try {
    dir = planStudy(file, { ...hfData(f.data, f.set), out: f.out, maxRuns: maxRunsOf(f) }).dir;
  } catch (e) {
    throw e instanceof StudySpecError ? new UsageError(e.message) : e;
  }
  mkdirSync(dir, { recursive: true });
  return openDashboard(dir, f);
}

export async function studyReportCommand(dir: string): Promise<void> {
  if (!existsSync(dir)) throw new UsageError(`study folder ${dir} does not exist`);
  const { writeStudyReport } = await import('../../study/report/index.js');
  const r = await writeStudyReport(resolve(dir));
  console.log([r.html, r.markdown, r.tex, r.csv, r.json, ...r.plots].join('\n'));
}

/** Exit status of `study diff` when a verdict flipped (1 is an error, as for every command). */
export const DIFF_FLIPPED_EXIT = 3;

export async function studyDiffCommand(a: string, b: string, f: { json?: boolean }): Promise<void> {
  for (const [name, dir] of [['A', a], ['B', b]]) if (!existsSync(dir)) throw new UsageError(`study folder ${name} ${dir} does not exist`);
  const { diffStudies, formatStudyDiff } = await import('../../study/diff.js');
  const d = diffStudies(resolve(a), resolve(b));
  if (f.json) console.log(JSON.stringify(d, null, 2));
  else console.log(formatStudyDiff(d).join('\n'));
  if (d.flips > 0) process.exitCode = DIFF_FLIPPED_EXIT;
}

export async function studyStatusCommand(dir: string, f: { watch?: boolean }): Promise<void> {
  if (!existsSync(dir)) throw new UsageError(`study folder ${dir} does not exist`);
  const { studyStatus } = await import('../../study/report/index.js');
  for (;;) {
    const s = studyStatus(resolve(dir));
    if (f.watch && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
    process.stdout.write(s.text.endsWith('\n') ? s.text : s.text + '\n');
    const busy = s.runs.some((r) => r.state === 'running' || r.state === 'pending');
    if (!f.watch || !busy) return;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

export interface StudyPlanFlags {
  data?: string;
  set?: string[];
  parallel?: string;
  threads?: string;
  device?: string;
  json?: boolean;
  /** commander's --no-measure */
  measure?: boolean;
  noiseFrom?: string;
  pilot?: boolean;
  pilotEpochs?: string;
  out?: string;
  maxRuns?: string;
}

/** `--max-runs N`: the study's run-count ceiling for this command (over the file's `maxRuns:`). */
function maxRunsOf(f: { maxRuns?: string }): number | undefined {
  return f.maxRuns === undefined ? undefined : parsePositiveInt('--max-runs', f.maxRuns);
}

/** `ablate study plan FILE`: the expanded runs, what each changes, and what the study costs, without training. */
export async function studyPlanCommand(file: string, f: StudyPlanFlags): Promise<void> {
  // A study that cannot be expanded at all (unreadable, nested too deep, more runs than its ceiling) is refused
  // before libtorch and the models load; other problems are reported together with every run's below.
  const early = inspectStudyFile(file, { maxRuns: maxRunsOf(f) });
  if (!early.spec) throw new UsageError(new StudySpecError(file, early.issues).message);
  const { planStudyCost } = await import('../../study/plan-cost.js');
  const { duration, si } = await import('../../study/report/format.js');
  const { NoiseSourceError, formatPowerPlan, planPower, readPreviousNoise } = await import('../../study/plan-power.js');
  if (f.pilot && f.noiseFrom !== undefined) throw new UsageError('--pilot measures the noise itself: give either --pilot or --noise-from, not both');
  const pilotEpochs = parsePositiveInt('--pilot-epochs', f.pilotEpochs ?? '2');
  // The noise source is checked before the (slow) plan, so a wrong folder is refused at once.
  let previous;
  try {
    previous = f.noiseFrom !== undefined ? readPreviousNoise(f.noiseFrom) : undefined;
  } catch (e) {
    throw e instanceof NoiseSourceError ? new UsageError(e.message) : e;
  }
  const r = await planStudyCost(file, {
    ...hfData(f.data, f.set),
    out: f.out,
    parallel: parsePositiveInt('--parallel', f.parallel ?? '1'),
    threads: f.threads === undefined ? undefined : parsePositiveInt('--threads', f.threads),
    device: f.device,
    measure: f.measure !== false,
    maxRuns: maxRunsOf(f),
    log: f.json ? () => {} : (l) => process.stderr.write(l + '\n'),
  }).catch((e: unknown) => {
    throw e instanceof StudySpecError ? new UsageError(e.message) : e;
  });
  if (f.pilot) {
    const { runPilot } = await import('../../study/pilot.js');
    const { signal, dispose } = interruptSignal('pilot');
    try {
      const p = await runPilot(r, {
        epochs: pilotEpochs, threads: f.threads === undefined ? undefined : parsePositiveInt('--threads', f.threads), device: f.device,
        parallel: parsePositiveInt('--parallel', f.parallel ?? '1'), signal, ...(f.json ? { log: () => {}, childOutput: 'quiet' as const } : {}),
      });
      previous = p.noise;
      if (!f.json) {
        process.stderr.write(`pilot: ${p.variant} for ${p.epochs} epoch${p.epochs === 1 ? '' : 's'} at seeds ${p.seeds.join(' and ')} in ${p.dir}: seed-to-seed σ ${(100 * p.noise.pooled.std).toFixed(2)} points — ` +
          'two short runs give only a rough estimate (short runs are usually noisier than finished ones); rerun the plan with --noise-from on a finished study to firm it up\n');
      }
    } finally {
      dispose();
    }
  }
  const power = planPower(r.study, previous ? { previous } : {});
  const { tuningCost, formatTuningCost } = await import('../../study/tune/cost.js');
  const tuning = r.study.tune ? tuningCost(r.study.tune, r.runs) : undefined;
  const { adaptivePlan, formatAdaptivePlan } = await import('../../study/adaptive-seeds.js');
  const costOf = new Map(r.runs.map((run) => [run.name, run.cost.estimatedS === undefined ? undefined : (run.cost.estimatedS * Math.min(run.cost.ranks, r.parallel)) / r.parallel]));
  const adaptive = adaptivePlan(r.study, (run) => costOf.get(run.name));
  if (f.json) {
    console.log(JSON.stringify({
      name: r.study.name, dir: r.dir, parallel: r.parallel, threadsEach: r.threadsEach, estimate: true,
      axes: r.study.axes, comparisons: r.study.comparisons, runs: r.runs, measurements: r.measurements, power,
      ...(adaptive ? { adaptiveSeeds: adaptive } : {}),
      ...(r.totalEstimatedS !== undefined ? { totalEstimatedS: r.totalEstimatedS } : {}),
      ...(tuning ? { tuning } : {}),
    }, null, 2));
    return;
  }
  const s = r.study;
  const variants = s.variants.length;
  console.log(`study ${s.name}: ${variants} variant${variants === 1 ? '' : 's'} × ${s.seeds.length} seed${s.seeds.length === 1 ? '' : 's'} = ${r.runs.length} runs → ${r.dir}`);
  console.log('(plan only: nothing is trained)\n');
  const seen = new Set<string>();
  // Data-parallel runs: how many ranks each trains with (the slots of --parallel it takes).
  const ranked = r.runs.some((run) => run.cost.ranks > 1);
  const rows = r.runs.filter((run) => !seen.has(run.variant) && seen.add(run.variant)).map((run) => {
    const changes = Object.entries(run.changes).map(([p, [a, b]]) => `${p}: ${show(a)} → ${show(b)}`).join(', ');
    const c = run.cost;
    return [
      run.variant,
      run.reference !== undefined ? `vs ${run.reference}: ${changes || 'no config change'}`
        : r.runs.some((o) => o.reference === run.variant) ? '(baseline)' : '(not compared)',
      si(c.params),
      si(c.flopsPerImage),
      `${c.imageSize[0]}×${c.imageSize[1]}`,
      `${c.trainImages.toLocaleString('en')} × ${c.epochs}`,
      ...(ranked ? [String(c.ranks)] : []),
      c.estimatedS === undefined ? '—' : duration(c.estimatedS),
    ];
  });
  const header = ['Variant', 'Changes', 'Params', 'FLOPs/img', 'Size', 'Images × epochs', ...(ranked ? ['Ranks'] : []), 'Est. time/run'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log('');
  for (const m of r.measurements) {
    console.log(`measured: ${m.model} at ${m.imageSize[0]}×${m.imageSize[1]}, batch ${m.batchSize}, ${m.precision}, ${m.threads} thread${m.threads === 1 ? '' : 's'}: ` +
      `${m.trainImagesPerS.toFixed(1)} train images/s, ${m.evalImagesPerS.toFixed(1)} eval images/s (${m.steps} steps)`);
  }
  if (r.totalEstimatedS !== undefined) {
    console.log(`estimated total: ${duration(r.totalEstimatedS)} for ${r.runs.length} runs, ${ranked ? `${r.parallel} slot${r.parallel === 1 ? '' : 's'} at a time (a run takes one per rank)` : `${r.parallel} at a time`} with ${r.threadsEach} thread${r.threadsEach === 1 ? '' : 's'} each — ` +
      (ranked ? 'data-parallel runs assume ideal scaling over their ranks; ' : '') +
      'an estimate from a few steps on random images at this machine\'s current load; decoding, augmentation and logging are not included');
  }
  if (tuning) {
    console.log(['', ...formatTuningCost(tuning, duration)].join('\n'));
    if (r.totalEstimatedS !== undefined && tuning.totalEstimatedS !== undefined) {
      console.log(`estimated total with tuning: ${duration(r.totalEstimatedS + tuning.totalEstimatedS / Math.max(1, r.parallel))} (tuning ${duration(tuning.totalEstimatedS / Math.max(1, r.parallel))} + main runs ${duration(r.totalEstimatedS)})`);
    }
  }
  if (adaptive) console.log(formatAdaptivePlan(adaptive, duration).join('\n'));
  if (power.comparisons.length > 0) console.log(['', ...formatPowerPlan(power)].join('\n'));
}

function show(v: unknown): string {
  return v === undefined ? '(unset)' : typeof v === 'string' ? v : JSON.stringify(v);
}
