// Runs one fetchFile in its own process (for the two-processes-at-once test): argv[2] is JSON {file, dir, options}.
import { fetchFile } from '../../../src/data/fetch/index.js';

const { file, dir, options } = JSON.parse(process.argv[2]!);
try {
  const r = await fetchFile(file, dir, { ...options, progress: false, log: () => undefined });
  process.stdout.write(JSON.stringify(r));
} catch (e) {
  process.stdout.write(JSON.stringify({ error: (e as Error).message }));
  process.exitCode = 1;
}
