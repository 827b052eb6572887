/**
 * Run states that tell the truth: `ablate train` exits 143 on SIGTERM and 75 on a full disk (as `study run`
 * does), a refused resume is recorded as failed with its reason, status.json never counts an epoch its
 * checkpoint lacks, and a complete checkpoint a kill left under its temp name is resumed from.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { checkpointPath, loadResumePoint } from '../../src/train/checkpoint.js';
import { readRunStatus } from '../../src/run/run-folder.js';
import { readZipDirectory } from '../../src/models/pth/zip-archive.js';
import { tmpDir } from './helpers.js';
import { CLI_MAIN, historyMetrics, mountTmpfs, readJson, spawnTs, stoppedRun, tinyConfig, writeConfig } from './run-helpers.js';

// 8 steps per epoch; a checkpoint every 4 steps and at each epoch end.
const CONFIG = tinyConfig({ epochs: 2, checkpoint: { everySteps: 4 } });

let root: string;
let reference: string;
/** Stopped at step 10: last.pth = step 10 (epoch 2, batch 2), previous.pth = step 8 (end of epoch 1). */
let stopped: string;
let copyOfStopped: () => string;

before(async () => {
  ({ root, reference, stopped, copy: copyOfStopped } = await stoppedRun(CONFIG, 10, 'ablate-states-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A pid no process has now (a child that has exited). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(r.pid);
  return r.pid;
}

async function resumeToEnd(dir: string, config = CONFIG): Promise<string[]> {
  const lines: string[] = [];
  const r = await runTraining(config, { runDir: dir, resume: true, progress: false, log: (l) => lines.push(l) });
  assert.equal(r.status, 'ok', lines.join('\n'));
  assert.deepEqual(historyMetrics(dir), historyMetrics(reference), 'per-epoch metrics equal the uninterrupted run');
  assert.deepEqual(readFileSync(join(dir, 'model.pth')), readFileSync(join(reference, 'model.pth')), 'final weights identical');
  return lines;
}

describe('a kill between the two renames of a checkpoint save', () => {
  it('leaves the new checkpoint complete under its temp name: resume verifies it, promotes it and continues from it', async () => {
    const dir = copyOfStopped();
    // As the kill leaves it: the old last.pth already moved to previous.pth (here step 8), the new one (step 10) not yet renamed.
    const temp = join(dir, 'checkpoints', `.last.pth.${deadPid()}.${Date.now()}.tmp`);
    renameSync(checkpointPath(dir, 'last'), temp);
    const lines = await resumeToEnd(dir);
    assert.ok(lines.some((l) => /^checkpoints\/last\.pth was missing, and the save that was replacing it \(\.last\.pth\.\d+\.\d+\.tmp, .*\) is complete and verified: resuming from it$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^resuming .* at epoch 2, batch 2 \(step 10\)$/.test(l)), lines.join('\n'));
    assert.equal(existsSync(temp), false);
  });

  it('a damaged temp file is not promoted: resume continues from previous.pth and the temp file is removed', async () => {
    const dir = copyOfStopped();
    const temp = join(dir, 'checkpoints', `.last.pth.${deadPid()}.${Date.now()}.tmp`);
    renameSync(checkpointPath(dir, 'last'), temp);
    // One flipped byte in the middle of the largest record (a tensor).
    const bytes = readFileSync(temp);
    const largest = [...readZipDirectory(bytes).values()].sort((a, b) => b.size - a.size)[0]!;
    const start = largest.localHeaderOffset + 30 + bytes.readUInt16LE(largest.localHeaderOffset + 26) + bytes.readUInt16LE(largest.localHeaderOffset + 28);
    bytes[start + (largest.size >> 1)]! ^= 0x01;
    writeFileSync(temp, bytes);
    const lines = await resumeToEnd(dir);
    assert.ok(lines.every((l) => !/is complete and verified/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^resuming .* at epoch 2, batch 0 \(step 8\)$/.test(l)), lines.join('\n'));
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).filter((n) => n.endsWith('.tmp')), []);
  });

  it('the temp file of a live writer is left alone', async () => {
    const dir = copyOfStopped();
    const temp = join(dir, 'checkpoints', `.last.pth.${process.ppid}.${Date.now()}.tmp`);
    renameSync(checkpointPath(dir, 'last'), temp);
    const r = await runTraining({ ...CONFIG, epochs: 2 }, { runDir: dir, resume: true, progress: false, log: () => {} });
    assert.equal(r.status, 'ok');
    assert.ok(existsSync(temp), 'another live process may still be writing it');
  });
});

describe('a refused resume', () => {
  it('is recorded as failed with its reason, keeping the run\'s epochs; its own settings continue it', async () => {
    const dir = copyOfStopped();
    const before = readRunStatus(dir)!;
    assert.equal(before.status, 'stopped');
    await assert.rejects(
      runTraining({ ...CONFIG, optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9 } }, { runDir: dir, resume: true, progress: false, log: () => {} }),
      /cannot resume .*planned with other settings \(optimizer differ\)/,
    );
    const st = readRunStatus(dir)!;
    assert.equal(st.status, 'failed');
    assert.match(st.error!, /^cannot resume .*: it was planned with other settings \(optimizer differ\)/);
    assert.equal((st as { resumeRefused?: boolean }).resumeRefused, true);
    assert.equal(st.reason, undefined);
    assert.equal(st.epochsDone, before.epochsDone);
    await resumeToEnd(dir);
    const done = readRunStatus(dir)!;
    assert.equal(done.status, 'ok');
    assert.equal((done as { resumeRefused?: boolean }).resumeRefused, undefined);
  });
});

describe('a full disk', () => {
  const mounts: string[] = [];
  after(() => {
    for (const m of mounts) spawnSync('umount', ['-l', m]);
  });

  it('at an epoch\'s end checkpoint: status.json does not count the epoch the checkpoint could not hold', async (t) => {
    // Room for the first mid-epoch checkpoint and best.pth, not for the end-of-epoch checkpoint beside them.
    const lastSize = readFileSync(checkpointPath(stopped, 'last')).length;
    const at = join(tmpDir('ablate-enospc-'), 'disk');
    const why = mountTmpfs(at, Math.ceil((lastSize * 1.8) / 4096) * 4096);
    if (why) return t.skip(why);
    mounts.push(at);
    const runDir = join(at, 'run');
    await assert.rejects(runTraining(CONFIG, { runDir, progress: false, log: () => {} }), /no space left on the device/);
    const st = readRunStatus(runDir)!;
    assert.equal(st.status, 'stopped');
    const point = await loadResumePoint(runDir, () => {});
    assert.ok(point);
    assert.equal(point.checkpoint.state.epochComplete, false, 'the end-of-epoch checkpoint was the one that did not fit');
    assert.equal(st.epochsDone, point.checkpoint.state.epochs.length, 'epochsDone agrees with the checkpoint a resume continues from');
  });

  it('ablate train exits 75 (as ablate study run does), saying how to resume', async (t) => {
    const at = join(tmpDir('ablate-enospc-'), 'disk');
    // 1 MiB: room for the run's small files, not for a checkpoint (ResNet-20's weights alone are 1.1 MB).
    const why = mountTmpfs(at, 1024 * 1024);
    if (why) return t.skip(why);
    mounts.push(at);
    const runDir = join(at, 'run');
    const cfg = writeConfig(root, CONFIG, 'enospc.json');
    const c = spawnTs(CLI_MAIN, ['train', cfg, '--out', runDir]);
    const { code } = await c.exit;
    const err = c.stderr();
    assert.equal(code, 75, err);
    assert.match(err, /Disk full: no space left on the device to write /);
    assert.match(err, /resume with: ablate train .*enospc\.json --out \S+ --resume\n/);
    assert.doesNotMatch(err, /ablate: error|\n\s+at /);
    assert.equal(readJson(join(runDir, 'status.json')).status, 'stopped');
  });
});

describe('ablate train: SIGTERM', () => {
  it('stops after the current step with a checkpoint, exits 143, and the status names SIGTERM', async () => {
    const dir = tmpDir('ablate-cli-');
    const runDir = join(dir, 'run');
    const c = spawnTs(CLI_MAIN, ['train', writeConfig(dir, tinyConfig({ epochs: 3 })), '--out', runDir]);
    await c.waitForStderr(/Epoch 2\/3\n[\s\S]*?\n\s*2\/8 /);
    c.proc.kill('SIGTERM');
    const { code } = await c.exit;
    const err = c.stderr();
    assert.equal(code, 143, err);
    assert.match(err, /SIGTERM: stopping the training after the current step/);
    assert.match(err, /resume with: ablate train .* --resume\n/);
    const st = readJson(join(runDir, 'status.json'));
    // SIGTERM is a preemption by default (Slurm, Kubernetes): stopped with a checkpoint, status `preempted`.
    assert.equal(st.status, 'preempted');
    assert.equal(st.reason, 'preempted by SIGTERM');
  });
});
