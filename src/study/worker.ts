// One study variant, in its own process: `node worker.js <runDir>` trains the config in
// <runDir>/request.json, resuming from its checkpoint. A crash here cannot stop the other variants.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTraining } from '../train/run.js';
import { ProgressFile } from '../train/progress-file.js';
import { acquireRunLock } from '../train/run-lock.js';
import { InterruptedError, interruptSignal } from '../util/interrupt.js';

async function main(): Promise<number> {
  const runDir = process.argv[2];
  if (!runDir) {
    process.stderr.write('usage: worker <runDir>\n');
    return 2;
  }
  const req = JSON.parse(readFileSync(join(runDir, 'request.json'), 'utf8')) as { config: unknown; resume: boolean };
  const interrupt = interruptSignal();
  // If the study runner is killed outright, stop at the next step boundary with a checkpoint instead
  // of training on as an orphan that a re-run would race with. (fit lets the event loop turn after
  // every step, so this timer and the signal handlers run mid-epoch.)
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) interrupt.request();
  }, 500).unref();
  const release = await acquireRunLock(runDir);
  try {
    const r = await runTraining(req.config, { runDir, resume: req.resume, signal: interrupt.signal, callbacks: [new ProgressFile(runDir)] });
    return r.status === 'stopped' ? 3 : 0;
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return e instanceof InterruptedError ? 3 : 1;
  } finally {
    release();
  }
}

process.exitCode = await main();
