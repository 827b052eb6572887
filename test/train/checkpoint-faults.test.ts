/**
 * Fault injection on a real (tiny, generated-data) run: every kind of damage to its newest checkpoint
 * either makes resume refuse, naming the damage, or resume from the previous good checkpoint and end
 * bit-identical to an uninterrupted run. Also: a torn history, and a full disk (a real tmpfs).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { DamagedCheckpointError, checkpointPath, loadResumePoint, loadTrainingCheckpoint, type LoadedCheckpoint } from '../../src/train/checkpoint.js';
import { readRunStatus, writeRunStatus } from '../../src/run/run-folder.js';
import { encodeCheckpoint, readCheckpoint, type CheckpointValue } from '../../src/models/pth/index.js';
import { readZipDirectory } from '../../src/models/pth/zip-archive.js';
import { DiskFullError } from '../../src/util/atomic.js';
import { tmpDir } from './helpers.js';
import { historyMetrics, mountTmpfs, stoppedRun, tinyConfig } from './run-helpers.js';

// 8 steps per epoch; a checkpoint every 4 steps and at each epoch end.
const CONFIG = tinyConfig({ epochs: 2, checkpoint: { everySteps: 4 } });
const STOP_AT_STEP = 10;

let root: string;
let reference: string;
/** A run stopped at step 10: last.pth = step 10 (epoch 2, batch 2), previous.pth = step 8 (end of epoch 1). */
let stopped: string;
let copyOfStopped: () => string;

before(async () => {
  ({ root, reference, stopped, copy: copyOfStopped } = await stoppedRun(CONFIG, STOP_AT_STEP, 'ablate-faults-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** Changes the training state inside last.pth and writes it back as a well-formed zip (valid CRCs). */
async function editState(dir: string, edit: (state: any) => void): Promise<void> {
  const root = await readCheckpoint(checkpointPath(dir, 'last')) as Map<string, CheckpointValue>;
  const state = JSON.parse(root.get('ablate_state') as string);
  edit(state);
  root.set('ablate_state', JSON.stringify(state));
  writeFileSync(checkpointPath(dir, 'last'), encodeCheckpoint(root));
}

/** Resumes `dir` to the end and insists it matches the uninterrupted reference exactly. */
async function resumeAndCompare(dir: string): Promise<string[]> {
  const lines: string[] = [];
  const r = await runTraining(CONFIG, { runDir: dir, resume: true, progress: false, log: (l) => lines.push(l) });
  assert.equal(r.status, 'ok', lines.join('\n'));
  assert.deepEqual(historyMetrics(dir), historyMetrics(reference), 'per-epoch metrics equal the uninterrupted run');
  assert.equal(readFileSync(join(dir, 'metrics.csv'), 'utf8'), readFileSync(join(reference, 'metrics.csv'), 'utf8'));
  assert.deepEqual(readFileSync(join(dir, 'model.pth')), readFileSync(join(reference, 'model.pth')), 'final weights identical');
  const st = readRunStatus(dir)!;
  assert.deepEqual([st.status, st.epochsDone, st.bestEpoch], ['ok', 2, readRunStatus(reference)!.bestEpoch]);
  return lines;
}

/** Offset of a record's data: after its local header, name and extra field. */
function dataStart(zip: Buffer, e: { localHeaderOffset: number }): number {
  return e.localHeaderOffset + 30 + zip.readUInt16LE(e.localHeaderOffset + 26) + zip.readUInt16LE(e.localHeaderOffset + 28);
}

function sameCheckpoint(a: LoadedCheckpoint, b: LoadedCheckpoint): boolean {
  if (JSON.stringify(a.state) !== JSON.stringify(b.state)) return false;
  for (const [k, t] of a.model) if (!Buffer.from(t.data).equals(Buffer.from(b.model.get(k)!.data))) return false;
  for (const [k, t] of a.optimizerTensors) if (!Buffer.from(t.data).equals(Buffer.from(b.optimizerTensors.get(k)!.data))) return false;
  return true;
}

describe('damaged checkpoints (fault injection on a real run)', () => {
  it('the stopped run holds two good checkpoints: last at step 10, previous at the end of epoch 1', async () => {
    const last = await loadTrainingCheckpoint(checkpointPath(stopped, 'last'));
    const prev = await loadTrainingCheckpoint(checkpointPath(stopped, 'previous'));
    assert.deepEqual([last.state.globalStep, last.state.epoch, last.state.batchInEpoch, last.state.epochs.length], [10, 1, 2, 1]);
    assert.deepEqual([prev.state.globalStep, prev.state.epoch, prev.state.epochComplete], [8, 0, true]);
  });

  it('one flipped byte anywhere in last.pth (every record, headers, directory) is caught, or changes nothing', async () => {
    const original = readFileSync(checkpointPath(stopped, 'last'));
    const good = await loadTrainingCheckpoint(checkpointPath(stopped, 'last'));
    const entries = [...readZipDirectory(original).values()];
    // Bytes that carry content must be caught wherever they are flipped.
    const mustCatch = new Set<number>();
    entries.forEach((e, i) => {
      const start = dataStart(original, e);
      mustCatch.add(start + (e.size >> 1)); // the middle of every record
      // and, for a sample of records, their first and last bytes and the CRC in their local header
      if (i % 8 === 0) mustCatch.add(start).add(start + e.size - 1).add(e.localHeaderOffset + 14);
    });
    // Anywhere else (a spread over the whole file, the central directory's tail and end record) a flip
    // may also land in padding or an unused header field: then the content must come back unchanged.
    const positions = new Set(mustCatch);
    for (let p = 0; p < original.length; p += Math.floor(original.length / 64)) positions.add(p);
    for (let p = original.length - 200; p < original.length; p += 7) positions.add(p);
    const path = join(root, 'flipped.pth');
    let caught = 0;
    for (const p of positions) {
      const bytes = Buffer.from(original);
      bytes[p] ^= 0x10;
      writeFileSync(path, bytes);
      try {
        const ck = await loadTrainingCheckpoint(path);
        // Padding inside a header: the content read is exactly what was written.
        assert.ok(!mustCatch.has(p), `byte ${p} carries content, yet the flipped file was accepted`);
        assert.ok(sameCheckpoint(ck, good), `byte ${p}: the file was accepted, so its content must be unchanged`);
      } catch (e) {
        assert.ok(e instanceof DamagedCheckpointError, `byte ${p}: ${String(e)}`);
        assert.match(e.message, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is damaged: .+`));
        caught++;
      }
    }
    assert.ok(caught >= mustCatch.size, `${caught} of ${positions.size} flips caught`);
    // A damaged last.pth sends resume to previous.pth, saying which file is damaged and how.
    const dir = copyOfStopped();
    const bytes = Buffer.from(original);
    bytes[dataStart(original, entries.find((e) => e.name === 'archive/data/0')!)] ^= 1;
    writeFileSync(checkpointPath(dir, 'last'), bytes);
    const lines: string[] = [];
    const point = await loadResumePoint(dir, (l) => lines.push(l));
    assert.deepEqual([point!.path, point!.lastIsGood], [checkpointPath(dir, 'previous'), false]);
    assert.match(lines.join('\n'), /^checkpoints\/last\.pth is damaged: Damaged zip record "archive\/data\/0": its CRC-32 is 0x[0-9a-f]{8} but the archive declares 0x[0-9a-f]{8} \(its \d+ bytes are not the bytes that were written\); resuming from checkpoints\/previous\.pth instead \(epoch 1 finished, step 8\)$/);
  });

  it('a flipped byte inside a tensor: resume says so, continues from previous.pth and ends bit-identical', async () => {
    const dir = copyOfStopped();
    const bytes = readFileSync(checkpointPath(dir, 'last'));
    const largest = [...readZipDirectory(bytes).values()].sort((a, b) => b.size - a.size)[0]!;
    bytes[dataStart(bytes, largest) + (largest.size >> 1)] ^= 0x01;
    writeFileSync(checkpointPath(dir, 'last'), bytes);
    const lines = await resumeAndCompare(dir);
    const damaged = new RegExp(`checkpoints/last\\.pth is damaged: Damaged zip record "${largest.name}": its CRC-32`);
    assert.ok(lines.some((l) => damaged.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^resuming .* at epoch 2, batch 0 \(step 8\)$/.test(l)), lines.join('\n'));
  });

  it('an edited number in the training state (re-encoded, so every CRC is valid) fails the digest; so do truncation and deletion', async () => {
    const damages: Array<[string, (dir: string) => Promise<void> | void, RegExp]> = [
      ['batchInEpoch 2 → 3', (dir) => editState(dir, (s) => { s.batchInEpoch = 3; }), /is damaged: its training state or tensors do not match the digest written with them/],
      ['one more "correct"', (dir) => editState(dir, (s) => { s.accum.correct += 1; }), /is damaged: its training state or tensors do not match the digest written with them/],
      ['truncated', (dir) => truncateSync(checkpointPath(dir, 'last'), 1_000_000), /is damaged: Expected a zip end-of-central-directory record/],
      ['deleted', (dir) => rmSync(checkpointPath(dir, 'last')), /^checkpoints\/last\.pth is missing; resuming from checkpoints\/previous\.pth instead/],
      // Read whole, /dev/zero would fill memory and a FIFO would block forever: both are refused unread.
      ['a symlink to /dev/zero', (dir) => { rmSync(checkpointPath(dir, 'last')); symlinkSync('/dev/zero', checkpointPath(dir, 'last')); },
        /^checkpoints\/last\.pth is damaged: Expected a regular file for the checkpoint but received a character device \(\/dev\/zero\) at \S+last\.pth: .*; resuming from checkpoints\/previous\.pth instead/],
      ['a FIFO', (dir) => { rmSync(checkpointPath(dir, 'last')); execFileSync('mkfifo', [checkpointPath(dir, 'last')]); },
        /^checkpoints\/last\.pth is damaged: Expected a regular file for the checkpoint but received a FIFO \(named pipe\) at \S+last\.pth: .*; resuming from checkpoints\/previous\.pth instead/],
    ];
    for (const [what, damage, message] of damages) {
      const dir = copyOfStopped();
      await damage(dir);
      const lines: string[] = [];
      const point = await loadResumePoint(dir, (l) => lines.push(l));
      assert.equal(point!.path, checkpointPath(dir, 'previous'), what);
      assert.match(lines.join('\n'), message, what);
    }
  });

  it('with no good checkpoint left, resume refuses and says what is wrong with each file', async () => {
    const dir = copyOfStopped();
    truncateSync(checkpointPath(dir, 'last'), 5000);
    const prev = readFileSync(checkpointPath(dir, 'previous'));
    prev[prev.length >> 1] ^= 0xff;
    writeFileSync(checkpointPath(dir, 'previous'), prev);
    await assert.rejects(
      runTraining(CONFIG, { runDir: dir, resume: true, progress: false, log: () => {} }),
      /^Error: cannot resume .*: no undamaged checkpoint is left \(checkpoints\/last\.pth is damaged: .*; checkpoints\/previous\.pth is damaged: Damaged zip record .*\); remove .*\/checkpoints to start this run over, or restore a copy$/s,
    );
    assert.equal(readRunStatus(dir)!.status, 'failed');
  });
});

describe('the checkpoint is the truth for the run files', () => {
  it('garbage in place of the last history line, wrong status and metrics.csv: resume rewrites them and loses no epoch', async () => {
    const dir = copyOfStopped();
    const history = readFileSync(join(dir, 'history.jsonl'), 'utf8').trimEnd().split('\n');
    writeFileSync(join(dir, 'history.jsonl'), [...history.slice(0, -1), '{"epoch": 1, "loss": garbage'].join('\n') + '\n');
    writeFileSync(join(dir, 'metrics.csv'), 'epoch,accuracy\n0,0.1\n1,0.2\n2,0.3\n');
    writeRunStatus(dir, { ...readRunStatus(dir)!, epochsDone: 5 } as never);
    await resumeAndCompare(dir);
    assert.deepEqual(historyMetrics(dir).map((h) => h.epoch), [1, 2]);
  });
});

/** Mounts a tmpfs of `bytes`; undefined (with the reason) where mounting is not permitted. */
describe('a full disk', () => {
  const mountPoint = join(tmpDir('ablate-enospc-'), 'disk');
  let mounted = false;
  after(() => {
    if (mounted) spawnSync('umount', [mountPoint]);
  });

  it('names the file and the space it needed, keeps the previous checkpoint, marks the run stopped; after freeing space resume ends identical', async (t) => {
    // Room for the first mid-epoch checkpoint and best.pth, not for a second checkpoint beside the first.
    const lastSize = readFileSync(checkpointPath(stopped, 'last')).length;
    const why = mountTmpfs(mountPoint, Math.ceil((lastSize * 1.8) / 4096) * 4096);
    if (why) {
      t.skip(why);
      return;
    }
    mounted = true;
    const runDir = join(mountPoint, 'run');
    let error: unknown;
    try {
      await runTraining(CONFIG, { runDir, progress: false, log: () => {} });
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof DiskFullError, `expected a DiskFullError, got ${String(error)}`);
    assert.match(error.message, new RegExp(`^no space left on the device to write ${runDir}/\\S+: it needs [\\d.]+ [KM]iB \\(\\d+ bytes\\) and [\\d.]+ (KiB|MiB|bytes).* are free there \\(ENOSPC`));
    assert.ok(error.neededBytes > 0);
    const st = readRunStatus(runDir)!;
    assert.equal(st.status, 'stopped');
    assert.equal(st.reason, error.message);
    // The newest checkpoint on disk is whole and verifies; no temp file is left behind.
    const point = await loadResumePoint(runDir, (l) => assert.fail(`unexpected damage: ${l}`));
    assert.ok(point?.lastIsGood && point.checkpoint.state.globalStep >= 4);

    // status.json can still be written when not one byte is free: in place, over the old one.
    const filler = join(mountPoint, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4096'], { encoding: 'utf8' });
    writeRunStatus(runDir, { ...st, reason: 'disk full (rewritten in place)' });
    assert.equal(readRunStatus(runDir)!.reason, 'disk full (rewritten in place)');
    rmSync(filler);
    for (const d of [runDir, join(runDir, 'checkpoints')]) assert.deepEqual(readdirSync(d).filter((n) => n.endsWith('.tmp')), [], `no temp file in ${d}`);

    assert.equal(spawnSync('mount', ['-o', 'remount,size=64m', mountPoint]).status, 0, 'remount with more space');
    const lines = await resumeAndCompare(runDir);
    assert.ok(lines.some((l) => /^resuming /.test(l)), lines.join('\n'));
  });
});
