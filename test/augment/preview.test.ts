import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { batchToTensors, mixedLabelCaption, renderAugmentPreview } from '../../src/augment/index.js';

const COLOURS = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [220, 220, 40]] as const;

function solidBatch(size: number) {
  const images = new Uint8Array(COLOURS.length * size * size * 3);
  COLOURS.forEach((rgb, i) => {
    for (let p = 0; p < size * size; p++) images.set(rgb, (i * size * size + p) * 3);
  });
  return { images, labels: [0, 1, 2, 3], n: COLOURS.length, height: size, width: size, classNames: ['red', 'green', 'blue', 'yellow'] };
}

test('renders original vs augmented tiles with mixed-label captions to a PNG', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-augment-preview-'));
  try {
    const out = join(dir, 'grid.png');
    const r = await renderAugmentPreview(solidBatch(16), 'cutmix', { seed: 3, out, rows: 2 });
    assert.ok(existsSync(out));
    const meta = await sharp(out).metadata();
    assert.equal(meta.format, 'png');
    assert.deepEqual([meta.width, meta.height], [r.width, r.height]);
    assert.equal(r.captions.length, 4);
    for (const c of r.captions) {
      assert.match(c, /^\d\.\d\d (red|green|blue|yellow)( \/ \d\.\d\d (red|green|blue|yellow))?$/);
      const total = [...c.matchAll(/(\d\.\d\d)/g)].reduce((a, m) => a + Number(m[1]), 0);
      assert.ok(Math.abs(total - 1) <= 0.011, `${c} sums to ${total}`);
    }
    // 16-px images are enlarged 8× with nearest neighbour; the first original tile sits at (12, 28).
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
    assert.deepEqual(at(12 + 64, 28 + 64), [200, 30, 30]);
    // Same seed, same picture.
    const again = await renderAugmentPreview(solidBatch(16), 'cutmix', { seed: 3, rows: 2 });
    assert.deepEqual(again.captions, r.captions);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('captions list weights largest first; bad batches are rejected clearly', () => {
  assert.equal(mixedLabelCaption([0.25, 0, 0.75], ['cat', 'dog', 'fox']), '0.75 fox / 0.25 cat');
  assert.equal(mixedLabelCaption([0, 1], []), '1.00 1');
  assert.throws(() => batchToTensors({ images: new Uint8Array(10), labels: [0], n: 1, height: 2, width: 2 }), /Expected a Uint8Array of n·height·width·3 = 12 bytes \(RGB, NHWC\) for images but received Uint8Array of length 10/);
});
