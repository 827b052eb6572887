import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadTrainingCheckpoint, removeStaleTemps } from '../../src/train/checkpoint.js';
import { readHistory } from '../../src/run/run-folder.js';
import { tmpDir } from './helpers.js';
import { CHILD_TRAIN, historyMetrics, readJson, runChildToEnd, spawnTs, tinyConfig, writeConfig } from './run-helpers.js';

interface Scenario {
  config: Record<string, unknown>;
  /** Arguments that make the first child freeze where it will be killed. */
  stall: string[];
  /** What the newest checkpoint must say at the moment of the kill. */
  expectCheckpoint: { epoch: number; batchInEpoch: number; globalStep: number };
  /** Epochs in history.jsonl at the moment of the kill. */
  expectHistoryAtKill: number;
}

/** Kill a freely running child as soon as it reports `afterStep`: wherever it is then (a step, a checkpoint write). */
interface FreeScenario {
  config: Record<string, unknown>;
  afterStep: number;
}

async function killFreeRunning(s: FreeScenario, runDir: string, cfgPath: string): Promise<void> {
  const first = spawnTs(CHILD_TRAIN, [runDir, cfgPath]);
  await first.waitForLine(new RegExp(`^step ${s.afterStep} `));
  first.proc.kill('SIGKILL');
  assert.equal((await first.exit).signal, 'SIGKILL');
  assert.equal(readJson(join(runDir, 'status.json')).status, 'running');
  const second = await runChildToEnd(CHILD_TRAIN, [runDir, cfgPath, '--resume']);
  assert.match(second.stderr(), /resuming /);
  assert.deepEqual(readdirSync(join(runDir, 'checkpoints')).filter((n) => n.endsWith('.tmp')), [], 'no temp file of the killed writer is left');
}

async function killStalled(s: Scenario, runDir: string, cfgPath: string): Promise<void> {
  const first = spawnTs(CHILD_TRAIN, [runDir, cfgPath, ...s.stall]);
  await first.waitForLine(/^stalled /);
  const ck = await loadTrainingCheckpoint(join(runDir, 'checkpoints', 'last.pth'));
  assert.equal(ck.state.epochComplete, false, 'the kill must come after a mid-epoch checkpoint');
  assert.deepEqual(
    { epoch: ck.state.epoch, batchInEpoch: ck.state.batchInEpoch, globalStep: ck.state.globalStep },
    s.expectCheckpoint,
  );
  assert.equal(readHistory(runDir).length, s.expectHistoryAtKill);
  first.proc.kill('SIGKILL');
  assert.equal((await first.exit).signal, 'SIGKILL');
  assert.equal(readJson(join(runDir, 'status.json')).status, 'running', 'a killed run cannot mark itself finished');

  const second = await runChildToEnd(CHILD_TRAIN, [runDir, cfgPath, '--resume']);
  assert.match(second.stderr(), new RegExp(`resuming .* at epoch ${s.expectCheckpoint.epoch + 1}, batch ${s.expectCheckpoint.batchInEpoch}`));
  const result = JSON.parse(second.stdoutLines.find((l) => l.startsWith('result '))!.slice('result '.length));
  assert.deepEqual(result.resumedFrom, { epoch: s.expectCheckpoint.epoch, batch: s.expectCheckpoint.batchInEpoch });
  // The resumed process re-trains exactly the steps after the checkpoint, no more.
  const firstResumedStep = Number(second.stdoutLines.find((l) => l.startsWith('step '))!.split(' ')[1]);
  assert.equal(firstResumedStep, s.expectCheckpoint.globalStep + 1);
}

/**
 * Trains an uninterrupted reference and, beside it, a run that is SIGKILLed and then resumed in a fresh
 * process; everything the run reports must come out identical.
 */
async function killResumeCompare(s: Scenario | FreeScenario): Promise<void> {
  const dir = tmpDir('ablate-resume-');
  const cfgPath = writeConfig(dir, s.config);
  const refDir = join(dir, 'reference');
  const runDir = join(dir, 'killed');

  const reference = runChildToEnd(CHILD_TRAIN, [refDir, cfgPath]);
  try {
    if ('afterStep' in s) await killFreeRunning(s, runDir, cfgPath);
    else await killStalled(s, runDir, cfgPath);
  } finally {
    await reference.catch(() => {}); // its own failure is reported below
  }
  await reference;

  const epochs = s.config.epochs as number;
  const got = historyMetrics(runDir);
  const want = historyMetrics(refDir);
  assert.equal(want.length, epochs);
  assert.deepEqual(got.map((h) => h.epoch), want.map((h) => h.epoch), 'each epoch exactly once in history.jsonl');
  assert.deepEqual(got, want, 'per-epoch loss/accuracy/val metrics equal the uninterrupted run');
  // metrics.csv holds no timings, so the two files are byte for byte the same (no duplicated epoch rows).
  assert.equal(readFileSync(join(runDir, 'metrics.csv'), 'utf8'), readFileSync(join(refDir, 'metrics.csv'), 'utf8'));
  assert.deepEqual(readFileSync(join(runDir, 'model.pth')), readFileSync(join(refDir, 'model.pth')), 'final weights identical');
  const st = readJson(join(runDir, 'status.json'));
  assert.equal(st.status, 'ok');
  assert.equal(st.epochsDone, epochs);
  assert.equal(st.trainTimeS > 0, true);
}

describe('checkpoint temp files', () => {
  it('the next start removes temp files of writers that died mid-write, in the run folder and checkpoints/, and only those', async () => {
    const dir = tmpDir('ablate-resume-');
    mkdirSync(join(dir, 'checkpoints'));
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const names = [`.last.pth.${dead}.1700000000000.tmp`, `.last.pth.${process.pid}.1700000000001.tmp`, 'last.pth', 'notes.tmp'];
    for (const n of names) writeFileSync(join(dir, 'checkpoints', n), 'x');
    writeFileSync(join(dir, `.model.pth.${dead}.1700000000002.tmp`), 'x');
    writeFileSync(join(dir, `.status.json.${process.pid}.1700000000003.tmp`), 'x');
    assert.deepEqual(removeStaleTemps(dir).sort(), [`.model.pth.${dead}.1700000000002.tmp`, join('checkpoints', names[0]!)].sort());
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), names.slice(1).sort());
    assert.deepEqual(readdirSync(dir).sort(), [`.status.json.${process.pid}.1700000000003.tmp`, 'checkpoints']);
  });
});

describe('resume after kill -9 (child processes)', () => {
  it('mid-epoch: SGD with momentum, killed one step after a checkpoint', async () => {
    await killResumeCompare({
      config: tinyConfig({ epochs: 3, checkpoint: { everySteps: 2 } }),
      // 8 steps per epoch: step 13 is epoch 2, batch 5; the checkpoint before it is step 12.
      stall: ['--stall-step', '13'],
      expectCheckpoint: { epoch: 1, batchInEpoch: 4, globalStep: 12 },
      expectHistoryAtKill: 1,
    });
  });

  it('mid-epoch with standard+cutmix augmentation (generator state restored)', async () => {
    await killResumeCompare({
      config: tinyConfig({ epochs: 3, augment: 'standard+cutmix', checkpoint: { everySteps: 2 } }),
      stall: ['--stall-step', '11'],
      expectCheckpoint: { epoch: 1, batchInEpoch: 2, globalStep: 10 },
      expectHistoryAtKill: 1,
    });
  });

  it('killed wherever it happens to be (checkpoint every step, so often mid-write)', async () => {
    await killResumeCompare({ config: tinyConfig({ epochs: 3, checkpoint: { everySteps: 1 } }), afterStep: 12 });
  });

  it('killed after the epoch was logged but before its checkpoint: Adam, cosine, best-weight snapshot; no duplicate rows', async () => {
    await killResumeCompare({
      config: tinyConfig({
        epochs: 3,
        optimizer: { name: 'adam', lr: 0.002 },
        schedule: { name: 'cosine', warmupEpochs: 1 },
        // The snapshot EarlyStopping holds must survive the kill for the final weights to match.
        earlyStopping: { monitor: 'val_loss', patience: 5, restoreBestWeights: true },
        checkpoint: { everySteps: 3 },
      }),
      // End of epoch 2 (index 1): history and metrics.csv already hold it; the newest checkpoint is step 15.
      stall: ['--stall-epoch-end', '1'],
      expectCheckpoint: { epoch: 1, batchInEpoch: 7, globalStep: 15 },
      expectHistoryAtKill: 2,
    });
  });
});
