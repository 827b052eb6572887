import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { planStudy, runStudy } from '../../study/runner.js';
import type { Dashboard } from '../../study/serve/index.js';
import { openDashboard, untilInterrupted } from './serve.js';
import { writeStudyReport, studyStatus } from '../../study/report/index.js';
import { UsageError } from '../errors.js';
import { StudySpecError } from '../../study/spec-issues.js';
import { parsePositiveInt, interruptSignal } from '../options.js';

export interface StudyRunFlags {
  data?: string;
  out?: string;
  parallel?: string;
  set?: string[];
  threads?: string;
  device?: string;
  only?: string[];
  retryFailed?: boolean;
  dashboard?: boolean;
  port?: string;
  host?: string;
}

export async function studyRunCommand(file: string, f: StudyRunFlags): Promise<void> {
  if (!existsSync(file)) throw new UsageError(`study file ${file} does not exist`);
  if (!f.dashboard && (f.port !== undefined || f.host !== undefined)) throw new UsageError('--port and --host set up the dashboard: add --dashboard (or use `ablate study serve <dir>` on the study folder)');
  const dashboard = f.dashboard ? await startRunDashboard(file, f) : undefined;
  const { signal, dispose } = interruptSignal('study');
  let completed = false;
  try {
    const r = await runStudy(file, {
      dataPath: f.data,
      out: f.out,
      parallel: parsePositiveInt('--parallel', f.parallel ?? '1'),
      overrides: f.set,
      threads: f.threads === undefined ? undefined : parsePositiveInt('--threads', f.threads),
      device: f.device,
      only: f.only,
      retryFailed: f.retryFailed,
      signal,
    }).catch((e: unknown) => {
      // A bad study file is the user's to fix: its message already lists every problem; no stack hint.
      throw e instanceof StudySpecError ? new UsageError(e.message) : e;
    });
    completed = !r.interrupted;
    if (r.interrupted) process.exitCode = 130;
    else if (r.failed.length) {
      process.stderr.write(`${r.failed.length} run(s) failed: ${r.failed.join(', ')} — see their status.json and the report\n`);
      process.exitCode = 1;
    }
  } finally {
    dispose();
    if (dashboard && completed) {
      // The user asked to watch: keep the finished study on screen until they are done with it.
      process.stdout.write(`Study finished; the dashboard stays up at ${dashboard.url} — press Ctrl-C to stop it.\n`);
      await untilInterrupted();
    }
    await dashboard?.close();
  }
}

/** The dashboard of the folder the study will write, started before any run so the page shows them from the first step. */
async function startRunDashboard(file: string, f: StudyRunFlags): Promise<Dashboard> {
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
  const r = await writeStudyReport(resolve(dir));
  console.log(`${r.html}\n${r.markdown}\n${r.plots.join('\n')}`);
}

export async function studyStatusCommand(dir: string, f: { watch?: boolean }): Promise<void> {
  if (!existsSync(dir)) throw new UsageError(`study folder ${dir} does not exist`);
  for (;;) {
    const s = studyStatus(resolve(dir));
    if (f.watch && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
    process.stdout.write(s.text.endsWith('\n') ? s.text : s.text + '\n');
    const busy = s.runs.some((r) => r.state === 'running' || r.state === 'pending');
    if (!f.watch || !busy) return;
    await new Promise((r) => setTimeout(r, 2000));
  }
}
