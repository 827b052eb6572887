// Cross-checks against torchvision's functional ops, run in /usr/bin/python3; skipped when torch is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor } from '../../src/tensor/index.js';
import { adjustHue, centerCrop, resizeBatch } from '../../src/augment/index.js';
import { maxAbsDiff, testImages } from './helpers.js';
import { PYTHON } from '../torch-python.js';

const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
const skip = probe.status !== 0 ? 'needs /usr/bin/python3 with torch and torchvision' : false;

const SCRIPT = `
import sys, torch
import torchvision.transforms.functional as TF
d = sys.argv[1]
x = torch.from_file(d + '/x.bin', size=2*3*9*13, dtype=torch.float32).reshape(2, 3, 9, 13)
hue = torch.stack([TF.adjust_hue(x[0], 0.2), TF.adjust_hue(x[1], -0.45)])
crop = TF.center_crop(x, [6, 8])
big = TF.center_crop(x, [11, 16])
small = TF.resize(x, [5], antialias=True)
up = TF.resize(x, [12, 20], antialias=True)
for name, t in [('hue', hue), ('crop', crop), ('big', big), ('small', small), ('up', up)]:
    t.contiguous().numpy().tofile(d + '/' + name + '.bin')
    print(name, *t.shape)
`;

test('hue, centre crop and antialiased resize agree with torchvision', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-augment-tv-'));
  try {
    const x = testImages(2, 9, 13, 21);
    writeFileSync(join(dir, 'x.bin'), x.toBytes());
    const r = spawnSync(PYTHON, ['-c', SCRIPT, dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const shapes = Object.fromEntries(r.stdout.trim().split('\n').map((l) => { const [k, ...s] = l.split(' '); return [k!, s.map(Number)]; }));
    const read = (name: string): Float32Array => {
      const buf = readFileSync(join(dir, `${name}.bin`));
      return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    };
    const ours = {
      hue: adjustHue(x, tensor([0.2, -0.45], [2])),
      crop: centerCrop(x, 6, 8),
      big: centerCrop(x, 11, 16),
      small: resizeBatch(x, 5),
      up: resizeBatch(x, [12, 20]),
    };
    for (const [name, t] of Object.entries(ours)) {
      assert.deepEqual(t.shape, shapes[name], `${name} shape`);
      const diff = maxAbsDiff(t.toTypedArray() as Float32Array, read(name));
      assert.ok(diff < 1e-5, `${name}: max difference ${diff}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
