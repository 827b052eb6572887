import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { loadTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { tmpDir } from './helpers.js';
import { CLI_MAIN, historyMetrics, readJson, spawnTs, tinyConfig, writeConfig } from './run-helpers.js';

const cli = (args: string[]) => spawnTs(CLI_MAIN, args);

async function cliToEnd(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = cli(args);
  const { code } = await c.exit;
  return { code, stdout: c.stdoutLines.join('\n'), stderr: c.stderr() };
}

describe('ablate train: Ctrl-C', () => {
  it('SIGINT stops after the current step with a checkpoint, exits 130, says how to resume; --resume completes the same run', async () => {
    const dir = tmpDir('ablate-cli-');
    const cfg = tinyConfig({ epochs: 3 });
    const cfgPath = writeConfig(dir, cfg);
    const runDir = join(dir, 'run');
    const reference = join(dir, 'reference');
    const refDone = runTraining(cfg, { runDir: reference, progress: false, log: () => {} });

    const first = cli(['train', cfgPath, '--out', runDir]);
    // Not a TTY: the progress bar prints a line per step here (8 steps per epoch).
    await first.waitForStderr(/Epoch 2\/3\n[\s\S]*?\n\s*2\/8 /);
    first.proc.kill('SIGINT');
    const { code } = await first.exit;
    const err = first.stderr();
    assert.equal(code, 130, err);
    assert.match(err, /stopping the training after the current step/);
    assert.match(err, /stopped at epoch 2, batch \d; a checkpoint was saved/);
    const resumeLine = /resume with: ablate (train .* --resume)\n/.exec(err);
    assert.ok(resumeLine, err);
    assert.doesNotMatch(err, /ablate: error|\n\s+at /);
    assert.equal(readJson(join(runDir, 'status.json')).status, 'stopped');
    const ck = await loadTrainingCheckpoint(join(runDir, 'checkpoints', 'last.pth'));
    assert.equal(ck.state.epoch, 1);
    assert.equal(ck.state.epochComplete, false);
    const stoppedAt = Number(/stopped at epoch 2, batch (\d)/.exec(err)![1]);
    assert.equal(ck.state.batchInEpoch, stoppedAt);
    assert.equal(ck.state.globalStep, 8 + stoppedAt);

    // The printed command, as a user would paste it.
    const second = await cliToEnd(resumeLine[1]!.split(' '));
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, new RegExp(`resuming .* at epoch 2, batch ${stoppedAt}`));
    assert.equal(readJson(join(runDir, 'status.json')).status, 'ok');
    await refDone;
    assert.deepEqual(historyMetrics(runDir), historyMetrics(reference));
  });
});

describe('ablate train: bad input fails early and clearly', () => {
  it('a config with an unknown field and a wrong type lists every problem before any training', async () => {
    const dir = tmpDir('ablate-cli-');
    const bad = { ...tinyConfig(), epoch: 3, batchSize: 'big', optimizer: { lr: 0.1, weight_decay: 1e-4 } };
    const runDir = join(dir, 'run');
    await assert.rejects(runTraining(bad, { runDir, progress: false }), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^Invalid training config \(3 problems\):/);
      assert.match(e.message, /\n {2}batchSize: expected number, received "big"/);
      assert.match(e.message, /\n {2}epoch: expected one of the keys .*epochs.* received unknown key "epoch" \(did you mean "epochs"\?\)/);
      assert.match(e.message, /\n {2}optimizer\.weight_decay: .*did you mean "weightDecay"/);
      return true;
    });
    assert.equal(existsSync(runDir), false, 'no run folder for a config that cannot run');

    const r = await cliToEnd(['train', writeConfig(dir, bad), '--out', runDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ablate: error: Invalid training config \(3 problems\):\n {2}batchSize: expected number, received "big"\n/);
    assert.doesNotMatch(r.stderr, /\n\s+at |Epoch 1/);
  });

  it('an unknown model preset fails before any data is read', async () => {
    const dir = tmpDir('ablate-cli-');
    const r = await cliToEnd(['train', writeConfig(dir, tinyConfig({ model: 'resnet21' })), '--out', join(dir, 'run')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ablate: error: Invalid training config \(1 problem\):\n {2}model: expected a model preset \(.*resnet20-cifar.*\), received "resnet21"/);
    assert.doesNotMatch(r.stderr, /decoded|\n\s+at /);
  });

  it('a missing data path names the path', async () => {
    const dir = tmpDir('ablate-cli-');
    const missing = join(dir, 'no-such-dataset');
    const r = await cliToEnd(['train', '--model', 'resnet20-cifar', '--data', missing, '--epochs', '1', '--out', join(dir, 'run')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^ablate: error: .*${missing}`));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const st = readJson(join(dir, 'run', 'status.json'));
    assert.equal(st.status, 'failed');
    assert.match(st.error, /no-such-dataset/);
  });

  it('a damaged checkpoint on --resume is a clear error naming the file, and the run is marked failed', async () => {
    const dir = tmpDir('ablate-cli-');
    const cfgPath = writeConfig(dir, tinyConfig({ epochs: 1, data: { source: 'generated', generated: { classes: 4, trainCount: 64, testCount: 32, size: 32, difficulty: 'easy' }, split: 'train', valSplit: 'test' } }));
    const runDir = join(dir, 'run');
    await runTraining(readJson(cfgPath), { runDir, progress: false, log: () => {} });
    const last = join(runDir, 'checkpoints', 'last.pth');
    for (const damage of [(b: Buffer) => b.subarray(0, 2000), (_b: Buffer) => Buffer.from('not a checkpoint')]) {
      writeFileSync(last, damage(readFileSync(last)));
      const r = await cliToEnd(['train', cfgPath, '--out', runDir, '--resume']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`ablate: error: cannot resume ${runDir}: no undamaged checkpoint is left \\(checkpoints/last\\.pth is damaged: .+\\); remove ${runDir}/checkpoints to start this run over`));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.equal(readJson(join(runDir, 'status.json')).status, 'failed');
    }
  });
});
