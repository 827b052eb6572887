import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { runStudy } from '../../study/runner.js';
import { writeStudyReport, studyStatus } from '../../study/report/index.js';
import { UsageError } from '../errors.js';
import { StudySpecError } from '../../study/spec-issues.js';
import { parsePositiveInt, interruptSignal } from '../options.js';
import { isDownloadable, resolveMirror } from '../../data/index.js';

export interface StudyRunFlags {
  data?: string;
  out?: string;
  parallel?: string;
  set?: string[];
  threads?: string;
  device?: string;
  only?: string[];
  retryFailed?: boolean;
  mirror?: string;
}

export async function studyRunCommand(file: string, f: StudyRunFlags): Promise<void> {
  if (!existsSync(file)) throw new UsageError(`study file ${file} does not exist`);
  // Workers inherit the environment, so the mirror reaches every variant.
  if (f.mirror !== undefined) process.env.ABLATE_MIRROR = resolveMirror(f.mirror) ?? '';
  // `--data cifar10`: a dataset name that is not a path here means "fetch it".
  const byName = f.data !== undefined && !existsSync(f.data) && isDownloadable(f.data);
  const { signal, dispose } = interruptSignal('study');
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
      signal,
    }).catch((e: unknown) => {
      // A bad study file is the user's to fix: its message already lists every problem; no stack hint.
      throw e instanceof StudySpecError ? new UsageError(e.message) : e;
    });
    if (r.interrupted) process.exitCode = 130;
    else if (r.failed.length) {
      process.stderr.write(`${r.failed.length} run(s) failed: ${r.failed.join(', ')} — see their status.json and the report\n`);
      process.exitCode = 1;
    }
  } finally {
    dispose();
  }
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
