// One study variant, in its own process: `node worker.js <runDir>` trains the config in
// <runDir>/request.json, resuming from its checkpoint. A crash here cannot stop the other variants.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTraining } from '../train/run.js';
import { ProgressFile } from '../train/progress-file.js';
import { acquireRunLock } from '../train/run-lock.js';

async function main(): Promise<number> {
  const runDir = process.argv[2];
  if (!runDir) {
    process.stderr.write('usage: worker <runDir>\n');
    return 2;
  }
  const req = JSON.parse(readFileSync(join(runDir, 'request.json'), 'utf8')) as { config: unknown; resume: boolean };
  const ac = new AbortController();
  let firstSignal = 0;
  const stop = () => {
    // First signal: finish the current step and checkpoint. A later one: leave at once (the last
    // checkpoint stays). Ctrl-C reaches us twice within moments (from the terminal and forwarded by
    // the study runner), so repeats in the first 2 s count as the same request.
    const now = Date.now();
    if (firstSignal === 0) {
      firstSignal = now;
      ac.abort();
    } else if (now - firstSignal > 2000) {
      process.exit(130);
    }
  };
  // If the study runner is killed outright, stop at the next step boundary with a checkpoint instead
  // of training on as an orphan that a re-run would race with. (fit lets the event loop turn after
  // every step, so this timer and the signal handlers run mid-epoch.)
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 500).unref();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const release = await acquireRunLock(runDir);
  try {
    const r = await runTraining(req.config, { runDir, resume: req.resume, signal: ac.signal, callbacks: [new ProgressFile(runDir)] });
    return r.status === 'stopped' ? 3 : 0;
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    release();
  }
}

process.exitCode = await main();
