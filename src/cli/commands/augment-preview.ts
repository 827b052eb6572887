import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { openDataset, parseDataSpec, prepareImages, resolveImageSize, DataLoader } from '../../data/index.js';
import { renderAugmentPreview } from '../../augment/index.js';
import { parsePositiveInt } from '../options.js';

export interface PreviewFlags {
  data: string;
  source?: string;
  split: string;
  augment: string;
  imageSize: string;
  count: string;
  seed: string;
  out: string;
}

export async function augmentPreviewCommand(f: PreviewFlags): Promise<void> {
  const spec = parseDataSpec({
    ...(f.data === 'generated' ? { source: 'generated' } : { path: resolve(f.data) }),
    ...(f.source ? { source: f.source } : {}),
    split: f.split,
    imageSize: parsePositiveInt('--image-size', f.imageSize),
  });
  const ds = await openDataset(spec);
  const images = await prepareImages(ds, { ...resolveImageSize(spec, ds), resize: spec.resize, cacheDir: null, log: (l) => process.stderr.write(l + '\n') });
  try {
    const count = Math.min(parsePositiveInt('--count', f.count), images.length);
    const loader = new DataLoader(images, { batchSize: count, seed: Number(f.seed), shuffle: true });
    let batch;
    for await (const b of loader.epoch(0)) {
      batch = b;
      break;
    }
    if (!batch) throw new Error('the dataset is empty');
    // A preset name, or a YAML/JSON list such as "[flip, {brightness: 0.2}, {cutmix: {alpha: 1}}]".
    const augment = /^[\[{]/.test(f.augment.trim()) ? parseYaml(f.augment) : f.augment;
    const r = await renderAugmentPreview({ ...batch, classNames: ds.classNames }, augment, { seed: Number(f.seed), out: resolve(f.out), numClasses: ds.classNames.length });
    console.log(`${resolve(f.out)} (${r.width}×${r.height}): ${r.captions.length} samples, each original left of its augmented version`);
  } finally {
    await images.close();
    await ds.close();
  }
}
