// A run that fails mid-training records the epochs it finished: status.json is what `ablate study status`,
// the report and a resume decision read, and it used to say 0 epochs for any failed run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runTraining } from '../../src/train/run.js';
import { readRunStatus } from '../../src/run/run-folder.js';
import { readHistory } from '../../src/run/run-folder.js';
import { TEST_FAULT_ENV } from '../../src/train/test-fault.js';
import { tmpDir } from './helpers.js';
import { tinyConfig } from './run-helpers.js';

test('a run that fails in epoch 2 says failed with the error, 1 epoch done and its best epoch', async () => {
  const dir = tmpDir();
  // 8 steps per epoch: step 11 is inside epoch 2, after epoch 1 was validated and recorded.
  process.env[TEST_FAULT_ENV] = '0@11:error';
  try {
    await assert.rejects(runTraining(tinyConfig({ epochs: 3 }), { runDir: dir, progress: false, log: () => {} }), /injected fault on rank 0 at step 11/);
  } finally {
    delete process.env[TEST_FAULT_ENV];
  }
  const st = readRunStatus(dir)!;
  assert.equal(st.status, 'failed');
  assert.match(st.error ?? '', /injected fault on rank 0 at step 11/);
  assert.equal(readHistory(dir).length, 1);
  assert.equal(st.epochsDone, 1);
  assert.equal(st.bestEpoch, 1);
  assert.equal(st.bestValAccuracy, readHistory(dir)[0]!.val_accuracy);
});
