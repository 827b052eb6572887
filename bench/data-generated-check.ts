// Is the generated task learnable in a few epochs, yet hard enough to separate models?
// Dumps the generated dataset (through the real data layer) and trains small torch CNNs on CPU.
// Usage: node --import tsx bench/data-generated-check.ts [--size 32] [--difficulty medium] [--classes 4] [--train 5000] [--epochs 3] [--deep]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDataset, type Difficulty } from '../src/data/index.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const size = Number(arg('size', '32'));
const classes = Number(arg('classes', '4'));
const difficulty = arg('difficulty', 'medium') as Difficulty;
const trainCount = Number(arg('train', '5000'));
const epochs = arg('epochs', '3');
const dir = mkdtempSync(join(tmpdir(), 'ablate-gen-'));
try {
  for (const split of ['train', 'test'] as const) {
    const t0 = performance.now();
    const set = await prepareDataset({ source: 'generated', split, generated: { size, classes, difficulty, trainCount, testCount: 1000 } }, { log: () => {} });
    const px = new Uint8Array(set.length * set.slotBytes);
    await set.readInto(Array.from({ length: set.length }, (_, i) => i), px);
    writeFileSync(join(dir, `${split}.u8`), px);
    writeFileSync(join(dir, `${split}.labels`), new Uint8Array(set.labels.buffer));
    console.error(`generated ${split}: ${set.length} images in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  }
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ size, classes }));
  const out = execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'data_helper.py'), 'learnability', dir, epochs, ...(process.argv.includes('--deep') ? ['--deep'] : [])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  console.log(JSON.stringify({ size, classes, difficulty, trainCount, results: JSON.parse(out) }, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
