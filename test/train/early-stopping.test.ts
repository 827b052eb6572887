import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { loadTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { readStateDict } from '../../src/models/pth/index.js';
import { tmpDir } from './helpers.js';
import { readJson, systemTorch, tinyConfig } from './run-helpers.js';

const TORCH_CHECK = `
import json, sys, torch, torchvision
out = {}
for name in sys.argv[1:]:
    sd = torch.load(name, map_location="cpu")
    if "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    m = torchvision.models.resnet18(num_classes=4)
    m.load_state_dict(sd, strict=True)
    m.eval()
    with torch.no_grad():
        y = m(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    out[name] = {"keys": len(sd), "shape": list(y.shape), "finite": bool(torch.isfinite(y).all()), "sum": float(y.sum())}
print(json.dumps(out))
`;

describe('EarlyStopping with restoreBestWeights (torchvision resnet18 layout)', () => {
  it('stops early with status ok, restores the best epoch, and every weight file loads into torchvision', async () => {
    const dir = tmpDir('ablate-es-');
    const lines: string[] = [];
    // A constant learning rate never improves after epoch 1, so monitoring it with mode "min" stops
    // deterministically at epoch 2; the best checkpoint follows the same monitor.
    const r = await runTraining(tinyConfig({
      model: 'resnet18',
      epochs: 5,
      earlyStopping: { monitor: 'lr', mode: 'min', patience: 1, restoreBestWeights: true },
      checkpoint: { monitor: 'lr', mode: 'min' },
    }), { runDir: dir, progress: false, log: (l) => lines.push(l) });
    assert.equal(r.status, 'ok');
    assert.equal(r.epochsDone, 2);
    assert.ok(lines.includes('Epoch 2: early stopping'), lines.join('\n'));
    assert.ok(lines.includes('Restoring model weights from the end of the best epoch: 1.'), lines.join('\n'));
    const st = readJson(join(dir, 'status.json'));
    assert.deepEqual([st.status, st.epochsDone, st.epochsPlanned], ['ok', 2, 5]);

    const best = join(dir, 'checkpoints', 'best.pth');
    const final = join(dir, 'model.pth');
    const last = join(dir, 'checkpoints', 'last.pth');
    // Same writer, same tensors: the restored final weights are byte for byte the best checkpoint.
    assert.deepEqual(readFileSync(final), readFileSync(best));
    const lastCk = await loadTrainingCheckpoint(last);
    assert.equal(lastCk.state.epoch, 1);
    const bestSd = await readStateDict(best);
    assert.deepEqual([...bestSd.keys()], [...lastCk.model.keys()]);
    assert.notDeepEqual(Buffer.from(lastCk.model.get('fc.weight')!.data), Buffer.from(bestSd.get('fc.weight')!.data), 'epoch 2 trained on; the restore is real');
    assert.equal(bestSd.get('bn1.num_batches_tracked')!.dtype, 'int64');

    const py = systemTorch();
    if (!py) return; // Debian python3-torch not installed: the torch side is skipped
    const res = spawnSync(py, ['-c', TORCH_CHECK, best, final, last], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(res.status, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    for (const f of [best, final, last]) {
      assert.equal(out[f].keys, bestSd.size);
      assert.deepEqual(out[f].shape, [2, 4]);
      assert.equal(out[f].finite, true);
    }
    assert.equal(out[final].sum, out[best].sum);
    assert.notEqual(out[last].sum, out[best].sum);
  });
});
