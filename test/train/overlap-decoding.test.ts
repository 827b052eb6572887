// Training while the split decodes (RunOptions.overlapDecoding) gives the run that decoded first, bit for bit:
// on JPEGs this test writes, with every file decodable and with one that is not (the run then starts again).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { runTraining } from '../../src/train/run.js';
import { tmpDir } from './helpers.js';
import { historyMetrics, readJson } from './run-helpers.js';

/** Two classes told apart by stripe direction, with per-image colour and phase, as 40×40 JPEGs. */
async function writeFolder(root: string, perClass: number, corrupt = false): Promise<void> {
  for (const [c, cls] of ['horizontal', 'vertical'].entries()) {
    mkdirSync(join(root, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(40 * 40 * 3);
      for (let y = 0; y < 40; y++) {
        for (let x = 0; x < 40; x++) {
          const on = Math.floor(((c ? x : y) + i) / 4) % 2 === 1;
          for (let ch = 0; ch < 3; ch++) px[(y * 40 + x) * 3 + ch] = on ? 200 - ((i * 37 + ch * 50) % 120) : 30 + ((i * 11 + ch * 23) % 60);
        }
      }
      writeFileSync(join(root, cls, `${i}.jpg`), await sharp(px, { raw: { width: 40, height: 40, channels: 3 } }).jpeg({ quality: 80 }).toBuffer());
    }
  }
  if (corrupt) writeFileSync(join(root, 'vertical', 'zz-cut.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 2, 3]));
}

function config(root: string, cacheDir: string | undefined, cache: 'disk' | 'memory'): Record<string, unknown> {
  return {
    model: 'resnet20-cifar',
    data: { path: root, split: 'train[:75%]', imageSize: 24, cache, ...(cacheDir ? { cacheDir } : {}) },
    valData: { path: root, split: 'train[75%:]', imageSize: 24, cache, ...(cacheDir ? { cacheDir } : {}) },
    epochs: 2,
    batchSize: 16,
    precision: 'fp32',
    threads: 1,
    seed: 11,
    optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 },
  };
}

describe('training while the split decodes', () => {
  for (const cache of ['disk', 'memory'] as const) {
    it(`gives the same history as decoding first (${cache} cache)`, async () => {
      const dir = tmpDir();
      const root = join(dir, 'photos');
      await writeFolder(root, 48);
      const runs: Record<string, Array<Record<string, unknown>>> = {};
      for (const overlap of [false, true]) {
        const runDir = join(dir, `run-${overlap}`);
        const lines: string[] = [];
        // Separate cache folders: each run decodes its split itself.
        const r = await runTraining(config(root, cache === 'disk' ? join(dir, `cache-${overlap}`) : undefined, cache), { runDir, progress: false, log: (l) => lines.push(l), overlapDecoding: overlap });
        assert.equal(r.status, 'ok', lines.join('\n'));
        runs[String(overlap)] = historyMetrics(runDir);
        assert.equal(readJson(join(runDir, 'status.json')).dataset.trainCount, 72);
      }
      assert.equal(runs.true!.length, 2);
      assert.deepEqual(runs.true, runs.false);
    });
  }

  it('a file that turns out undecodable restarts training on the real split: same history as decoding first', async () => {
    const dir = tmpDir();
    const root = join(dir, 'photos');
    await writeFolder(root, 40, true);
    const runs: Record<string, Array<Record<string, unknown>>> = {};
    for (const overlap of [false, true]) {
      const runDir = join(dir, `run-${overlap}`);
      const lines: string[] = [];
      const r = await runTraining(config(root, join(dir, `cache-${overlap}`), 'disk'), { runDir, progress: false, log: (l) => lines.push(l), overlapDecoding: overlap });
      assert.equal(r.status, 'ok', lines.join('\n'));
      runs[String(overlap)] = historyMetrics(runDir);
      const restarted = lines.some((l) => /zz-cut\.jpg\).*training starts again on the split without them/.test(l));
      assert.equal(restarted, overlap, lines.join('\n'));
      const st = readJson(join(runDir, 'status.json'));
      assert.equal(st.dataset.skipped, 1);
    }
    assert.deepEqual(runs.true, runs.false);
  });
});
