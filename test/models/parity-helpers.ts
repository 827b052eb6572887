/** What the torchvision comparison tests share: whether torchvision is there, and a scale-free error. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import type { Tensor } from '../../src/tensor/index.js';
import { rawToTensor } from '../../src/models/index.js';
import type { RawTensor } from '../../src/models/pth/index.js';
import { PYTHON } from '../torch-python.js';

/** Why the tests must skip (no interpreter, no torch/torchvision), or false. */
export function torchvisionMissing(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found: PyTorch parity needs Debian python3-torch and python3-torchvision`;
  if (r.status !== 0) return `${PYTHON} cannot import torch/torchvision (install python3-torch python3-torchvision): ${r.stderr.trim().split('\n').pop()}`;
  return false;
}

/** max |a − b| / max |b|: scale-free, so deep random nets with large logits are judged fairly. */
export function relError(a: Tensor, b: Tensor): number {
  const x = a.toArray();
  const y = b.toArray();
  assert.equal(x.length, y.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i]! - y[i]!));
    den = Math.max(den, Math.abs(y[i]!));
  }
  return num / Math.max(den, 1e-12);
}

/** What PyTorch computed for case `c` under `key` (written by the Python side), as a tensor the caller disposes. */
export function torchOutput(outputs: ReadonlyMap<string, ReadonlyMap<string, RawTensor>>, c: string, key: string): Tensor {
  const raw = outputs.get(c)!.get(key);
  assert.ok(raw, `PyTorch output ${key} missing for ${c}`);
  return rawToTensor(raw);
}
