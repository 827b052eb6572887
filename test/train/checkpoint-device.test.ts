// Checkpoints are device-independent: every storage is written as a CPU storage, whatever device trained, and a
// checkpoint whose storages say `cuda:0` (what torch.save writes for a GPU run) resumes on CPU to the same result as
// an uninterrupted run. The GPU side of this (a real CUDA run resumed on CPU) is in scripts/gpu-check.sh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { tmpDir } from './helpers.js';
import { historyMetrics, tinyConfig, TINY_GENERATED, StopAt } from './run-helpers.js';
import { PYTHON } from '../torch-python.js';

const torchMissing = ((): string | false => {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return `${PYTHON} cannot import torch (install python3-torch: scripts/setup.sh --test)`;
  return false;
})();

// Loads a checkpoint with torch, recording every storage location it names, saves it again with every storage
// tagged as CUDA device 0 (exactly what torch.save writes for tensors that live on a GPU), and reads the locations
// of the rewritten file back. One interpreter start for all three.
const RETAG = `
import json, sys, torch, torch.serialization as ser
src, dst = sys.argv[1], sys.argv[2]
kw = {'weights_only': False} if 'weights_only' in torch.load.__code__.co_varnames else {}
def locations(path):
    seen = set()
    def where(storage, location):
        seen.add(location)
        return storage
    obj = torch.load(path, map_location=where, **kw)
    return sorted(seen), obj
before, obj = locations(src)
ser.location_tag = lambda storage: 'cuda:0'
torch.save(obj, dst)
after, _ = locations(dst)
print(json.dumps({'before': before, 'after': after}))
`;
function retagAsCuda(src: string, dst: string): { before: string[]; after: string[] } {
  const r = spawnSync(PYTHON, ['-c', RETAG, src, dst], { encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: string[]; after: string[] };
}

test('a checkpoint tagged as a CUDA run\'s resumes on CPU to exactly the uninterrupted result', { skip: torchMissing }, async () => {
  const small = { source: 'generated', generated: { ...TINY_GENERATED, trainCount: 64, testCount: 16 }, split: 'train', valSplit: 'test' };
  const cfg = tinyConfig({ data: small, batchSize: 16, epochs: 2, earlyStopping: { monitor: 'val_loss', patience: 5, restoreBestWeights: true } });
  const quiet = { progress: false as const, log: () => {} };
  const whole = tmpDir('ablate-ckdev-whole-');
  await runTraining(cfg, { runDir: whole, ...quiet });

  const cut = tmpDir('ablate-ckdev-cut-');
  const ac = new AbortController();
  const stopped = await runTraining(cfg, { runDir: cut, signal: ac.signal, callbacks: [new StopAt(1, 1, ac)], ...quiet });
  assert.equal(stopped.status, 'stopped');
  const last = join(cut, 'checkpoints', 'last.pth');
  const original = join(cut, 'last-cpu.pth');
  copyFileSync(last, original);
  const tags = retagAsCuda(original, last);
  // What ablate writes names no device but the CPU, whichever device trained (tensors are read back to host memory)...
  assert.deepEqual(tags.before, ['cpu']);
  // ...and the rewritten file is what a GPU run's torch.save would have written.
  assert.deepEqual(tags.after, ['cuda:0']);

  const resumed = await runTraining(cfg, { runDir: cut, resume: true, ...quiet });
  assert.equal(resumed.status, 'ok');
  assert.deepEqual(resumed.resumedFrom, { epoch: 1, batch: 2 });
  assert.deepEqual(historyMetrics(cut), historyMetrics(whole), 'bit-identical epochs after resuming from CUDA-tagged storages');
});
