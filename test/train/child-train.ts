/**
 * Child process for the resume tests: trains one config into a run folder, reporting each finished step
 * on stdout, and can freeze at a chosen point so the parent kills it (SIGKILL) at a known position.
 *
 *   node --import tsx test/train/child-train.ts <runDir> <config.json> [--resume] [--stall-step N] [--stall-epoch-end E]
 *
 * --stall-step N       freeze after global step N, once every callback (checkpointing included) has run for it
 * --stall-epoch-end E  freeze at the end of 0-based epoch E after history.jsonl and metrics.csv got the epoch
 *                      but before the end-of-epoch checkpoint is written (the worst moment for duplicates)
 */
import { readFileSync } from 'node:fs';
import { runTraining } from '../../src/train/run.js';
import { Callback, type Logs } from '../../src/train/callbacks/base.js';

const [runDir, configFile, ...rest] = process.argv.slice(2);
if (!runDir || !configFile) {
  process.stderr.write('usage: child-train.ts <runDir> <config.json> [--resume] [--stall-step N] [--stall-epoch-end E]\n');
  process.exit(64);
}
const flag = (name: string): number | undefined => {
  const i = rest.indexOf(name);
  return i >= 0 ? Number(rest[i + 1]) : undefined;
};
const stallStep = flag('--stall-step');
const stallEpochEnd = flag('--stall-epoch-end');

function stall(what: string): Promise<never> {
  process.stdout.write(`stalled ${what}\n`);
  // Keeps the event loop alive until the parent kills us.
  return new Promise<never>(() => setInterval(() => {}, 1 << 30));
}

class StepReporter extends Callback {
  // After ModelCheckpoint (order 100), so a reported step's checkpoint is already on disk.
  override readonly order = 200;
  override async onBatchEnd(batch: number): Promise<void> {
    process.stdout.write(`step ${this.ctx.globalStep} batch ${batch}\n`);
    if (stallStep !== undefined && this.ctx.globalStep === stallStep) await stall(`step ${stallStep}`);
  }
}

class EpochEndStaller extends Callback {
  // Between the loggers (order 0) and ModelCheckpoint (order 100).
  override readonly order = 50;
  override async onEpochEnd(epoch: number, _logs?: Logs): Promise<void> {
    if (epoch === stallEpochEnd) await stall(`epoch-end ${epoch}`);
  }
}

const config: unknown = JSON.parse(readFileSync(configFile, 'utf8'));
const r = await runTraining(config, {
  runDir,
  resume: rest.includes('--resume'),
  progress: false,
  log: (l) => process.stderr.write(l + '\n'),
  callbacks: [new StepReporter(), new EpochEndStaller()],
});
process.stdout.write(`result ${JSON.stringify({ status: r.status, epochsDone: r.epochsDone, globalStep: r.globalStep, resumedFrom: r.resumedFrom ?? null })}\n`);
