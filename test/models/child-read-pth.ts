/**
 * Child process for the hostile-checkpoint tests: reads each .pth in turn and reports, one JSON line per file,
 * how long it took, the peak RSS of this whole process so far and the error.
 *
 *   node --import tsx test/models/child-read-pth.ts <file.pth>...
 */
import { readCheckpoint } from '../../src/models/pth/index.js';

for (const file of process.argv.slice(2)) {
  const t0 = performance.now();
  let error: string | undefined;
  try {
    await readCheckpoint(file);
  } catch (e) {
    error = `${(e as Error).name}: ${(e as Error).message}`;
  }
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ file, ms, maxRssMiB: process.resourceUsage().maxRSS / 1024, error }) + '\n');
}
