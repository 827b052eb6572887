import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { createModel, loadWeights } from '../../models/index.js';
import { openDataset, parseDataSpec, prepareImages, resolveImageSize, defaultCacheDir, DataLoader } from '../../data/index.js';
import { evaluate } from '../../train/evaluate.js';
import { choosePrecision } from '../../train/run.js';
import { resolveDevice } from '../../tensor/index.js';
import { UsageError } from '../errors.js';
import { parsePositiveInt } from '../options.js';

export interface EvalFlags {
  checkpoint: string;
  model: string;
  data: string;
  source?: string;
  split: string;
  imageSize: string;
  batchSize: string;
  normalize: string;
  device: string;
  json?: boolean;
}

export async function evalCommand(f: EvalFlags): Promise<void> {
  if (!existsSync(f.checkpoint)) throw new UsageError(`checkpoint ${f.checkpoint} does not exist`);
  if (f.normalize !== 'imagenet' && f.normalize !== 'unit') throw new UsageError(`Expected imagenet or unit for --normalize but received "${f.normalize}"`);
  const spec = parseDataSpec({
    ...(f.data === 'generated' ? { source: 'generated' } : { path: resolve(f.data) }),
    ...(f.source ? { source: f.source } : {}),
    split: f.split,
    imageSize: parsePositiveInt('--image-size', f.imageSize),
  });
  const ds = await openDataset(spec);
  const size = resolveImageSize(spec, ds);
  const images = await prepareImages(ds, { ...size, resize: spec.resize, cacheDir: ds.source === 'generated' ? null : defaultCacheDir(), log: (l) => process.stderr.write(l + '\n') });
  const device = resolveDevice(f.device);
  const model = createModel(f.model, { numClasses: ds.classNames.length, device, seed: 0 });
  try {
    await loadWeights(model, f.checkpoint, { strict: true });
    const precision = choosePrecision('auto', device);
    if (precision.channelsLast) model.toMemoryFormat('channels_last');
    const loader = new DataLoader(images, { batchSize: parsePositiveInt('--batch-size', f.batchSize), shuffle: false });
    const r = await evaluate(model, loader, { numClasses: ds.classNames.length, precision, device, normalization: f.normalize, confusion: true });
    if (f.json) {
      console.log(JSON.stringify({ ...r, classNames: ds.classNames, split: f.split }, null, 2));
      return;
    }
    const names = ds.classNames;
    const w = Math.max(8, ...names.map((n) => n.length));
    console.log(`${f.model} on ${ds.description}: ${r.n} images`);
    console.log(`accuracy ${(100 * r.accuracy).toFixed(2)}%   loss ${r.loss.toFixed(4)}${r.top5 !== undefined ? `   top-5 ${(100 * r.top5).toFixed(2)}%` : ''}`);
    console.log('\nper-class accuracy');
    names.forEach((n, i) => console.log(`  ${n.padEnd(w)} ${(100 * (r.perClassAccuracy![i] ?? NaN)).toFixed(2)}%`));
    if (names.length <= 20) {
      console.log('\nconfusion matrix (rows: true class, columns: predicted)');
      console.log(' '.repeat(w + 2) + names.map((n) => n.slice(0, 7).padStart(8)).join(''));
      r.confusion!.forEach((row, i) => console.log(`  ${names[i]!.padEnd(w)}${row.map((v) => String(v).padStart(8)).join('')}`));
    }
  } finally {
    model.dispose();
    await images.close();
    await ds.close();
  }
}
