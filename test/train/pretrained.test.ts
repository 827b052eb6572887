import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { writeStateDict } from '../../src/models/pth/index.js';
import { tmpDir } from './helpers.js';
import { tinyConfig } from './run-helpers.js';

describe('pretrained weights that do not fit', () => {
  it('a mis-shaped key is named as mis-shaped, with both shapes, not as an empty list of unexpected keys', async () => {
    const dir = tmpDir();
    const weights = join(dir, 'wrong.pth');
    await writeStateDict(weights, new Map([['fc.weight', { dtype: 'float32' as const, shape: [3, 3], data: new Uint8Array(36) }]]));
    await assert.rejects(
      runTraining(tinyConfig({ pretrained: weights, epochs: 1 }), { runDir: join(dir, 'run'), progress: false, log: () => {} }),
      (e: Error) => {
        assert.match(e.message, new RegExp(`^pretrained weights ${weights} share no tensor with resnet20-cifar: ` +
          'mis-shaped keys \\(1\\): fc\\.weight is \\[3, 3\\] in the file but \\[4, 64\\] in the model; ' +
          'model keys missing from the file \\(\\d+\\): conv1\\.weight, bn1\\.weight, bn1\\.bias, bn1\\.running_mean, … \\d+ more$'));
        assert.doesNotMatch(e.message, /unexpected/);
        return true;
      },
    );
  });
});

describe('pretrained weights that are not a file', () => {
  it('a symlink to /dev/zero or a FIFO as `pretrained` fails the run at once, naming the file and what it is', async () => {
    const dir = tmpDir();
    const zero = join(dir, 'zero.pth');
    const fifo = join(dir, 'fifo.pth');
    symlinkSync('/dev/zero', zero);
    execFileSync('mkfifo', [fifo]);
    for (const [weights, kind] of [[zero, 'a character device \\(/dev/zero\\)'], [fifo, 'a FIFO \\(named pipe\\)']] as const) {
      const t0 = performance.now();
      await assert.rejects(
        runTraining(tinyConfig({ pretrained: weights, epochs: 1 }), { runDir: join(dir, `run-${kind.length}`), progress: false, log: () => {} }),
        new RegExp(`^Error: pretrained weights ${weights}: Expected a regular file for the checkpoint but received ${kind} at ${weights}: `),
      );
      assert.ok(performance.now() - t0 < 10_000, `took ${(performance.now() - t0).toFixed(0)} ms`);
    }
  });
});
