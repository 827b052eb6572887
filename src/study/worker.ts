// One study variant, in its own process: `node worker.js <runDir>` trains the config in
// <runDir>/request.json, resuming from its checkpoint. A crash here cannot stop the other variants,
// and the death of the study runner cannot make this process crash or train on as an orphan.
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runTraining } from '../train/run.js';
import { ProgressFile } from '../train/progress-file.js';
import { acquireRunLock, LOCK_HANDOVER_ENV, RunBusyError } from '../run/run-lock.js';
import { InterruptedError, interruptSignal } from '../util/interrupt.js';
import { isDiskFull, WORKER_EXIT, type WorkerMessage } from './worker-protocol.js';
import { launchRunRanks, rankFailureLine, readLaunchEnv } from '../train/launch.js';
import { localRanksOf } from '../run/plan.js';
import { readRegularFileSync } from '../util/regular-file.js';
import type { Provenance } from '../util/provenance.js';
import type { HParamValue } from '../train/tensorboard.js';
import { readRunRequest, type RunRequest } from '../run/run-folder.js';
import { runFolder } from '../run/folder.js';


/**
 * Set by a worker for the ranks it starts (a data-parallel run): its pid. A rank whose parent has it trains
 * under the worker's lock on the run folder instead of taking one.
 */
const RANKS_OF_ENV = 'ABLATE_RANKS_OF_WORKER';

/**
 * stderr that survives the runner: the runner reads it through a pipe (or shares its terminal). Once
 * that pipe breaks, writing to it would raise EPIPE; from then on the lines go to <runDir>/worker.log.
 */
class RunnerOutput {
  private lost: string | undefined;
  constructor(private readonly runDir: string) {}
  get isTTY(): boolean {
    return this.lost === undefined && Boolean(process.stderr.isTTY);
  }
  get columns(): number | undefined {
    return this.lost === undefined ? process.stderr.columns : undefined;
  }
  detach(why: string): void {
    if (this.lost !== undefined) return;
    this.lost = why;
    this.toFile(`[${new Date().toISOString()}] ${why}: output continues here\n`);
  }
  write(s: string): boolean {
    if (this.lost !== undefined) this.toFile(s);
    else process.stderr.write(s);
    return true;
  }
  readonly log = (line: string): void => void this.write(line + '\n');
  private toFile(s: string): void {
    try {
      appendFileSync(runFolder(this.runDir).workerLog, s);
    } catch { /* a full disk: the status file says what matters */ }
  }
}

/** The runner shows a worker's last error even when its stderr went straight to the terminal. */
function tellRunner(msg: WorkerMessage): Promise<void> {
  if (!process.send || !process.connected) return Promise.resolve();
  return new Promise((res) => {
    const timer = setTimeout(res, 2000);
    process.send!(msg, undefined, {}, () => {
      clearTimeout(timer);
      res();
    });
  });
}

function readDiff(runDir: string): Buffer | undefined {
  try {
    return readRegularFileSync(runFolder(runDir).provenanceDiff, { what: 'provenance diff' });
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const runDir = process.argv[2];
  if (!runDir) {
    process.stderr.write('usage: worker <runDir>\n');
    return 2;
  }
  const req = readRunRequest(runDir) as RunRequest & { provenance?: Provenance; hparams?: Record<string, HParamValue> };
  // The runner read the code's provenance once for the study and left a dirty tree's diff in the run folder.
  const provenance = req.provenance && { provenance: req.provenance, diff: readDiff(runDir) };
  const interrupt = interruptSignal();
  const out = new RunnerOutput(runDir);
  const parent = process.ppid;
  // If the study runner dies (kill -9, a crash), stop at the next step boundary with a checkpoint,
  // instead of crashing on the dead pipe or training on as an orphan that a re-run would race with.
  // (fit lets the event loop turn after every step, so these handlers run mid-epoch.)
  let gone = false;
  const runnerGone = (how: string) => {
    out.detach(`the study runner (pid ${parent}) is gone (${how})`);
    if (gone) return;
    gone = true;
    interrupt.request(`the study runner (pid ${parent}) is gone`);
  };
  process.on('disconnect', () => runnerGone('its IPC channel closed'));
  process.channel?.unref();
  for (const stream of [process.stderr, process.stdout]) {
    stream.on('error', (e: NodeJS.ErrnoException) => runnerGone(`writing to it failed with ${e.code ?? e.message}`));
  }
  setInterval(() => {
    if (process.ppid !== parent) runnerGone('this process was re-parented');
  }, 500).unref();

  const ranks = localRanksOf(req.config);
  const rank = readLaunchEnv()?.rank;
  // One rank of this worker's data-parallel run: the worker holds the folder for all of them.
  const asRank = rank !== undefined && Number(process.env[RANKS_OF_ENV]) === parent;
  let release: () => void = () => {};
  if (!asRank) {
    try {
      // Only from the runner that started this worker (our parent), never from anyone else.
      const from = Number(process.env[LOCK_HANDOVER_ENV]);
      release = await acquireRunLock(runDir, { role: 'study worker', ...(from === parent ? { handoverFrom: from } : {}) });
    } catch (e) {
      out.log(`error: ${(e as Error).message}`);
      return e instanceof RunBusyError ? WORKER_EXIT.busy : WORKER_EXIT.failed;
    }
  }
  if (ranks > 1 && rank === undefined) {
    // A data-parallel variant: this worker starts its ranks (each this script again, as `ablate train
    // --nproc-per-node` does), holds the run's lock for them, and asks them all to stop with a checkpoint
    // when the runner is gone. Rank 0 writes the run folder; the others only their random state.
    try {
      // A rank that fails has its end recorded in status.json (recordRankFailure); its code is this worker's.
      const r = await launchRunRanks(runDir, process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), runDir], {
        nproc: ranks, env: { ...process.env, [RANKS_OF_ENV]: String(process.pid) }, cleanCodes: [WORKER_EXIT.stopped], signal: interrupt.signal,
      });
      if (r.failure) {
        out.log(rankFailureLine(r.failure));
        if (r.failure.error) await tellRunner({ error: r.failure.error });
      }
      return r.exitCode;
    } finally {
      release();
    }
  }
  try {
    const r = await runTraining(req.config, { runDir, resume: req.resume, provenance, hparams: req.hparams, signal: interrupt.signal, callbacks: [new ProgressFile(runDir)], progress: out, log: rank ? () => {} : out.log });
    return r.status === 'stopped' ? WORKER_EXIT.stopped : WORKER_EXIT.done;
  } catch (e) {
    out.log(`error: ${(e as Error).message}`);
    // Interrupted before training began (opening or decoding the data): stopped, resumable, not failed.
    if (e instanceof InterruptedError) return WORKER_EXIT.stopped;
    await tellRunner({ error: (e as Error).message });
    return isDiskFull(e) ? WORKER_EXIT.diskFull : WORKER_EXIT.failed;
  } finally {
    release();
  }
}

process.exitCode = await main();
