import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceForSlot, gpuSharingNote } from '../../src/study/gpu-slots.js';

test('--parallel N with a plain cuda device gives each worker its own GPU', () => {
  assert.deepEqual([0, 1, 2, 3].map((slot) => deviceForSlot('cuda', slot, 4, 4)), ['cuda:0', 'cuda:1', 'cuda:2', 'cuda:3']);
  assert.match(gpuSharingNote('cuda', 4, 4)!, /each of the 4 parallel runs trains on its own GPU \(cuda:0–cuda:3\)/);
});

test('more workers than GPUs share them round-robin, and the log says so', () => {
  assert.deepEqual([0, 1, 2].map((slot) => deviceForSlot('cuda', slot, 3, 2)), ['cuda:0', 'cuda:1', 'cuda:0']);
  assert.match(gpuSharingNote('cuda', 3, 2)!, /3 parallel runs share 2 GPUs .*--parallel 2 gives each its own/);
});

test('cpu, an explicit cuda:N, one worker or one GPU are left as they are', () => {
  assert.equal(deviceForSlot('cpu', 1, 4, 4), 'cpu');
  assert.equal(deviceForSlot('cuda:2', 1, 4, 4), 'cuda:2');
  assert.equal(deviceForSlot('cuda', 0, 1, 4), 'cuda');
  assert.equal(deviceForSlot('cuda', 1, 2, 1), 'cuda');
  assert.equal(deviceForSlot(undefined, 1, 2, 4), undefined);
  assert.equal(gpuSharingNote('cpu', 4, 4), undefined);
  assert.equal(gpuSharingNote('cuda', 1, 4), undefined);
});
