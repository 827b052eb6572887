import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { studyRunCommand } from './study.js';

/** Where the bundled demo study lives: studies/ at the package root, from src/ (tsx) or dist/src (compiled). */
export function demoStudyFile(): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const candidates = [join(root, 'studies', 'demo.yaml'), join(root, '..', 'studies', 'demo.yaml')];
  const file = candidates.find((p) => existsSync(p));
  if (!file) throw new Error(`the bundled demo study is missing (looked for ${candidates.join(', ')})`);
  return file;
}

/**
 * `ablate demo`: the bundled demo study (generated data, no download), then its report. Two
 * variants train at once with one thread each: for nets this small, two single-threaded processes
 * get more done on 2 cores than one process with two threads.
 */
export async function demoCommand(f: { out?: string; threads?: string; parallel?: string }): Promise<void> {
  const parallel = f.parallel ?? String(Math.min(2, availableParallelism()));
  await studyRunCommand(demoStudyFile(), { out: f.out ?? 'runs/demo', threads: f.threads, parallel });
}
