import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DataLoader, dataArgFields } from '../../data/index.js';
import { renderAugmentPreview } from '../../augment/index.js';
import { readRunPlan, resolveAugment, resolveSplits, RunPlanError, type DataPlan, type PlanProblem } from '../../run/plan.js';
import { openPlanDatasets, prepareSplit } from '../../run/plan-data.js';
import type { AugmentOp } from '../../augment/index.js';
import { UsageError } from '../errors.js';
import { parsePositiveInt, parseNonNegativeInt } from '../options.js';

export interface PreviewFlags {
  run?: string;
  data?: string;
  source?: string;
  split?: string;
  augment?: string;
  imageSize?: string;
  count: string;
  seed: string;
  out: string;
}

/** The data and augmentation to preview: a run's own (its plan), or the flags resolved the way a run's config is. */
function previewPlan(f: PreviewFlags): { data: DataPlan; augment: AugmentOp[] } {
  if (f.run !== undefined) {
    for (const flag of ['data', 'source', 'imageSize'] as const) {
      if (f[flag] !== undefined) throw new UsageError(`--${flag === 'imageSize' ? 'image-size' : flag} cannot be combined with --run: the run folder's config.json decides it`);
    }
    const plan = readRunPlan(resolve(f.run));
    const problems: PlanProblem[] = [];
    const augment = f.augment !== undefined ? resolveAugment(parseAugmentFlag(f.augment), problems) : plan.augment;
    if (!augment) throw new RunPlanError(problems, '--augment');
    return { data: f.split !== undefined ? { ...plan.data, split: f.split } : plan.data, augment };
  }
  if (f.data === undefined) throw new UsageError('missing --data <path> (or "generated"), or --run <run folder> to preview a run\'s own augmentation');
  const problems: PlanProblem[] = [];
  const splits = resolveSplits({
    ...dataArgFields(f.data, resolve),
    ...(f.source ? { source: f.source } : {}),
    split: f.split ?? 'train',
    ...(f.imageSize !== undefined ? { imageSize: parsePositiveInt('--image-size', f.imageSize) } : {}),
  }, undefined, problems);
  const augment = resolveAugment(parseAugmentFlag(f.augment ?? 'standard+cutmix'), problems);
  if (!splits || !augment) throw new RunPlanError(problems, 'preview options');
  return { data: { ...splits.train, cache: 'memory' }, augment };
}

/** A preset name, or a YAML/JSON list such as "[flip, {brightness: 0.2}, {cutmix: {alpha: 1}}]". */
function parseAugmentFlag(text: string): unknown {
  return /^[[{]/.test(text.trim()) ? parseYaml(text) : text;
}

export async function augmentPreviewCommand(f: PreviewFlags): Promise<void> {
  const plan = previewPlan(f);
  const seed = parseNonNegativeInt('--seed', f.seed);
  const datasets = await openPlanDatasets({ data: plan.data });
  const ds = datasets.train;
  const images = await prepareSplit(plan.data, ds, { log: (l) => process.stderr.write(l + '\n'), what: 'preview' });
  try {
    const count = Math.min(parsePositiveInt('--count', f.count), images.length);
    const loader = new DataLoader(images, { batchSize: count, seed, shuffle: true });
    let batch;
    for await (const b of loader.epoch(0)) {
      batch = b;
      break;
    }
    if (!batch) throw new Error('the dataset is empty');
    const r = await renderAugmentPreview({ ...batch, classNames: ds.classNames }, plan.augment, { seed, out: resolve(f.out), numClasses: ds.classNames.length });
    console.log(`${resolve(f.out)} (${r.width}×${r.height}): ${r.captions.length} samples, each original left of its augmented version`);
  } finally {
    await images.close();
    await datasets.close();
  }
}
