// deterministic: true on a GPU: two runs with the same seed give bit-identical histories and weights (cuDNN
// benchmark off, deterministic kernels, CUBLAS_WORKSPACE_CONFIG). Run by scripts/gpu-check.sh; skips without
// a GPU (ABLATE_CUDA_TESTS=require turns that into a failure).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cudaAvailable, engineInfo } from '../../src/tensor/index.js';
import { runTraining } from '../../src/train/run.js';
import { readRunStatus } from '../../src/run/run-folder.js';
import { tmpDir } from '../train/helpers.js';
import { historyMetrics, tinyConfig } from '../train/run-helpers.js';

const required = process.env.ABLATE_CUDA_TESTS === 'require';
const noGpu = cudaAvailable() ? false : `no CUDA device (libtorch ${engineInfo().libtorch})`;
if (required && noGpu) throw new Error(`ABLATE_CUDA_TESTS=require but ${noGpu}`);

test('deterministic: true on CUDA: two runs give bit-identical histories and model.pth, recorded as deterministic', { skip: noGpu }, async () => {
  // bf16 autocast and channels-last too: the fast path must be the deterministic one as well.
  const cfg = tinyConfig({ epochs: 2, device: 'cuda', precision: 'auto', deterministic: true });
  const [a, b] = [tmpDir(), tmpDir()];
  for (const dir of [a, b]) {
    const r = await runTraining(cfg, { runDir: dir, progress: false, log: () => {} });
    assert.equal(r.status, 'ok', r.error);
  }
  assert.deepEqual(historyMetrics(b), historyMetrics(a));
  assert.ok(readFileSync(join(a, 'model.pth')).equals(readFileSync(join(b, 'model.pth'))), 'model.pth byte-identical');
  assert.equal(readRunStatus(a)!.env.deterministic, true);
});
