/**
 * Notices when a study's files change. Polling stat() twice a second is dependable where fs.watch is
 * not (run folders that appear later, network file systems, files replaced by atomic rename), and
 * costs a few stat calls per run.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_FILES } from '../../run/folder.js';
import { STUDY_INDEX } from '../run-files.js';

const WATCHED_RUN_FILES = [RUN_FILES.history, RUN_FILES.status, RUN_FILES.progress, RUN_FILES.config];
const STUDY_FILES = [STUDY_INDEX, 'report.html', 'report.md'];

function stamp(path: string): string {
  try {
    const s = statSync(path);
    return `${s.mtimeMs}:${s.size}`;
  } catch {
    return '-';
  }
}

/** A string that changes whenever any file the dashboard reads changes. `runDirs`: run folders outside the study folder's top level. */
export function studySignature(studyDir: string, runDirs: Iterable<string> = []): string {
  const dirs = new Set<string>(runDirs);
  try {
    for (const d of readdirSync(studyDir, { withFileTypes: true })) if (d.isDirectory()) dirs.add(join(studyDir, d.name));
  } catch {
    return 'unreadable';
  }
  const parts = STUDY_FILES.map((f) => stamp(join(studyDir, f)));
  for (const d of [...dirs].sort()) parts.push(d, ...WATCHED_RUN_FILES.map((f) => stamp(join(d, f))));
  return parts.join('|');
}

export class StudyWatcher {
  private timer?: NodeJS.Timeout;
  private last = '';

  constructor(private readonly studyDir: string, private readonly onChange: () => void, private readonly runDirs: () => Iterable<string>, private readonly everyMs = 500) {}

  start(): void {
    if (this.timer) return;
    this.last = studySignature(this.studyDir, this.runDirs());
    this.timer = setInterval(() => this.check(), this.everyMs);
    this.timer.unref();
  }

  /** True when something changed since the last check (and calls onChange). */
  check(): boolean {
    const now = studySignature(this.studyDir, this.runDirs());
    if (now === this.last) return false;
    this.last = now;
    this.onChange();
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
