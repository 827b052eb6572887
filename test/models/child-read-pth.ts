/**
 * Child process for the deflate-bomb test: reads one .pth and reports how long it took, the peak RSS
 * of this whole process and the error, as one JSON line.
 *
 *   node --import tsx test/models/child-read-pth.ts <file.pth>
 */
import { readCheckpoint } from '../../src/models/pth/index.js';

const t0 = performance.now();
let error: string | undefined;
try {
  await readCheckpoint(process.argv[2]!);
} catch (e) {
  error = `${(e as Error).name}: ${(e as Error).message}`;
}
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ms, maxRssMiB: process.resourceUsage().maxRSS / 1024, error }) + '\n');
