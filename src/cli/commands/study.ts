import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Dashboard } from '../../study/serve/index.js';
import { parseShard } from '../../study/claims.js';
import { UsageError } from '../errors.js';
import { StudySpecError } from '../../study/spec-issues.js';
import { loadStudySpec } from '../../study/spec.js';
import { acquireStudyLock, StudyBusyError, studyDirFor, type StudyLock } from '../../study/study-lock.js';
import { describeHolder } from '../../util/process-lock.js';
import { parsePositiveInt, interruptSignal } from '../options.js';
import { isDownloadable, resolveMirror } from '../../data/index.js';

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
}

export async function studyRunCommand(file: string, f: StudyRunFlags): Promise<void> {
  if (!existsSync(file)) throw new UsageError(`study file ${file} does not exist`);
  // Workers inherit the environment, so the mirror reaches every variant.
  if (f.mirror !== undefined) process.env.ABLATE_MIRROR = resolveMirror(f.mirror) ?? '';
  // `--data cifar10`: a dataset name that is not a path here means "fetch it".
  const byName = f.data !== undefined && !existsSync(f.data) && isDownloadable(f.data);
  if (!f.dashboard && (f.port !== undefined || f.host !== undefined)) throw new UsageError('--port and --host set up the dashboard: add --dashboard (or use `ablate study serve <dir>` on the study folder)');
  // A folder that exists may have a runner: check before anything slow (runStudy takes the same lock again).
  let early: StudyLock | undefined;
  try {
    const dir = studyDirFor(f.out ?? loadStudySpec(file).name, f.out !== undefined);
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
      dataPath: byName ? undefined : f.data,
      out: f.out,
      parallel: parsePositiveInt('--parallel', f.parallel ?? '1'),
      overrides: byName ? [`data.source=${f.data}`, ...(f.set ?? [])] : f.set,
      threads: f.threads === undefined ? undefined : parsePositiveInt('--threads', f.threads),
      device: f.device,
      only: f.only,
      retryFailed: f.retryFailed,
      worker: f.worker,
      shard: f.worker ? undefined : parseShardOrExit(f.shard) ?? undefined,
      signal,
    }).catch((e: unknown) => {
      // A bad study file or a busy study folder is the user's to act on: the message says how; no stack hint.
      throw e instanceof StudySpecError || e instanceof StudyBusyError ? new UsageError(e.message) : e;
    });
    completed = !r.interrupted;
    if (r.interrupted) process.exitCode = 130;
    else if (r.failed.length) {
      process.stderr.write(`${r.failed.length} run(s) failed: ${r.failed.join(', ')} — see their status.json and the report\n`);
      process.exitCode = 1;
    } else if (r.diskFull || r.interruptedRuns.length || r.busy.length) {
      // EX_TEMPFAIL: nothing is wrong with the study; running the same command again finishes it.
      process.exitCode = 75;
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

/** The dashboard of the folder the study will write, started before any run so the page shows them from the first step. */
async function startRunDashboard(file: string, f: StudyRunFlags): Promise<Dashboard> {
  const { planStudy } = await import('../../study/runner.js');
  const { openDashboard } = await import('./serve.js');
  let dir: string;
  try {
    dir = planStudy(file, { dataPath: f.data, out: f.out, overrides: f.set }).dir;
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
  console.log(`${r.html}\n${r.markdown}\n${r.plots.join('\n')}`);
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
