import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { readHistory } from '../../src/run/run-folder.js';
import { tmpDir } from './helpers.js';
import { CLI_MAIN, spawnTs, tinyConfig } from './run-helpers.js';

async function cliToEnd(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = spawnTs(CLI_MAIN, args);
  const { code } = await c.exit;
  return { code, stdout: c.stdoutLines.join('\n'), stderr: c.stderr() };
}

describe('ablate eval', () => {
  const dir = tmpDir('ablate-eval-');
  const runDir = join(dir, 'run');
  before(async () => {
    await runTraining(tinyConfig({ epochs: 2, optimizer: { name: 'adam', lr: 0.003 } }), { runDir, progress: false, log: () => {} });
  });

  it('--run evaluates the run on its validation split and reproduces its last val_accuracy', async () => {
    const last = readHistory(runDir).at(-1)!;
    const text = await cliToEnd(['eval', '--run', runDir]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^resnet20-cifar \(.*model\.pth\) on .*test.*: 128 images, fp32, unit normalisation\n/);
    const acc = Number(/accuracy (\d+\.\d+)%/.exec(text.stdout)![1]);
    assert.equal(acc, Number((100 * last.val_accuracy!).toFixed(2)));
    assert.match(text.stdout, /\nper-class accuracy\n( {2}\S+ +(\d+\.\d+%|n\/a \(no images\))\n){4}/);
    assert.match(text.stdout, /\nconfusion matrix \(rows: true class, columns: predicted\)\n/);

    const json = await cliToEnd(['eval', '--run', runDir, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const r = JSON.parse(json.stdout);
    assert.equal(r.accuracy, last.val_accuracy);
    assert.ok(Math.abs(r.loss - last.val_loss!) < 1e-9, `${r.loss} vs ${last.val_loss}`);
    assert.equal(r.n, 128);
    assert.equal(r.classNames.length, 4);
    assert.equal(r.confusion.length, 4);
    assert.equal(r.confusion.flat().reduce((a: number, b: number) => a + b, 0), 128);
    const diag = r.confusion.reduce((a: number, row: number[], i: number) => a + row[i]!, 0);
    assert.equal(diag / 128, r.accuracy);
    r.perClassAccuracy.forEach((a: number | null, i: number) => {
      const row: number[] = r.confusion[i];
      const total = row.reduce((x, y) => x + y, 0);
      assert.equal(a, total === 0 ? null : row[i]! / total);
    });
  });

  it('--run with --checkpoint best and --split train', async () => {
    const r = await cliToEnd(['eval', '--run', runDir, '--checkpoint', 'best', '--split', 'train', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.n, 256);
    assert.match(j.checkpoint, /checkpoints\/best\.pth$/);
    assert.equal(j.split, 'train');
  });

  it('explicit flags: a checkpoint on the default generated set', async () => {
    const args = ['eval', '--checkpoint', join(runDir, 'model.pth'), '--model', 'resnet20-cifar', '--data', 'generated', '--split', 'test', '--image-size', '32', '--normalize', 'unit'];
    const json = await cliToEnd([...args, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const j = JSON.parse(json.stdout);
    assert.equal(j.confusion.flat().reduce((a: number, b: number) => a + b, 0), j.n);
    assert.ok(j.accuracy >= 0 && j.accuracy <= 1);
  });

  it('--checkpoint that is a symlink to /dev/zero or a FIFO: refused naming the file, not read until memory runs out or forever', { timeout: 180_000 }, async () => {
    const zero = join(dir, 'z.pth');
    const fifo = join(dir, 'f.pth');
    symlinkSync('/dev/zero', zero);
    execFileSync('mkfifo', [fifo]);
    for (const [file, kind] of [[zero, 'a character device \\(/dev/zero\\)'], [fifo, 'a FIFO \\(named pipe\\)']] as const) {
      const r = await cliToEnd(['eval', '--run', runDir, '--checkpoint', file]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^ablate: error: Expected a regular file for the checkpoint but received ${kind} at ${file}: devices, FIFOs and sockets`, 'm'));
    }
  });

  it('tells what is missing', async () => {
    const none = await cliToEnd(['eval']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^ablate: error: missing --checkpoint, --model, --data: pass --run <run folder>, or --checkpoint, --model and --data\n/);
    const notRun = await cliToEnd(['eval', '--run', dir]);
    assert.equal(notRun.code, 1);
    assert.match(notRun.stderr, /is not a run folder: expected .*config\.json/);
    const mixed = await cliToEnd(['eval', '--run', runDir, '--model', 'resnet18']);
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /--model cannot be combined with --run/);
  });
});
