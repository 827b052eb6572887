import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { studyRunCommand } from './study.js';

/** `ablate demo`: the bundled demo study (generated data, no download), then its report. */
export async function demoCommand(f: { out?: string; threads?: string }): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  // Works from src/ (tsx) and from dist/src (compiled): studies/ sits at the package root.
  const candidates = [join(root, 'studies', 'demo.yaml'), join(root, '..', 'studies', 'demo.yaml')];
  const { existsSync } = await import('node:fs');
  const file = candidates.find((p) => existsSync(p));
  if (!file) throw new Error(`the bundled demo study is missing (looked for ${candidates.join(', ')})`);
  await studyRunCommand(file, { out: f.out ?? 'runs/demo', threads: f.threads });
}
