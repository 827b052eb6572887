import { join, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { createModel, loadWeights } from '../../models/index.js';
import { openDataset, parseDataSpec, prepareImages, resolveImageSize, DataLoader, type DataSpec } from '../../data/index.js';
import { evaluate } from '../../train/evaluate.js';
import { classificationReport, formatClassificationReport, writeErrorAnalysis } from '../../train/error-analysis.js';
import { choosePrecision, imageCacheDir, trainingSpec, validationSpec } from '../../train/run.js';
import { parseTrainConfig, type TrainConfig } from '../../train/config.js';
import type { Normalization } from '../../train/batch-tensor.js';
import { resolveDevice } from '../../tensor/index.js';
import { readRunStatus } from '../../train/run-state.js';
import { UsageError } from '../errors.js';
import { parsePositiveInt } from '../options.js';

export interface EvalFlags {
  run?: string;
  checkpoint?: string;
  model?: string;
  data?: string;
  source?: string;
  split?: string;
  imageSize?: string;
  batchSize?: string;
  normalize?: string;
  precision?: string;
  device?: string;
  json?: boolean;
  /** Folder for the error-analysis pictures (default: <run>/eval with --run). */
  out?: string;
}

/** Everything evaluation needs, whether it came from a run folder or from flags. */
interface EvalPlan {
  checkpoint: string;
  model: string;
  numClasses?: number;
  spec: DataSpec;
  normalization: Normalization;
  precision: TrainConfig['precision'];
  device: string;
  batchSize: number;
  /** A run's loss includes its label smoothing, so its val_loss can be reproduced. */
  labelSmoothing: number;
}

const PRECISIONS = ['auto', 'fp32', 'bf16'] as const;

function checkNormalize(v: string): Normalization {
  if (v !== 'imagenet' && v !== 'unit') throw new UsageError(`Expected imagenet or unit for --normalize but received "${v}"`);
  return v;
}

function checkPrecision(v: string): TrainConfig['precision'] {
  if (!(PRECISIONS as readonly string[]).includes(v)) throw new UsageError(`Expected auto, fp32 or bf16 for --precision but received "${v}"`);
  return v as TrainConfig['precision'];
}

/**
 * `--run <dir>`: the run's own model, data, image size, normalisation and precision, on its validation
 * split (or `--split`), with its final weights (model.pth; a stopped run's checkpoints/last.pth).
 */
function planFromRun(f: EvalFlags, dir: string): EvalPlan {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new UsageError(`${dir} is not a run folder: expected ${cfgPath} (written by \`ablate train\` and studies)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new UsageError(`${cfgPath} is not valid JSON: ${(e as Error).message}`);
  }
  const cfg = parseTrainConfig(raw);
  for (const flag of ['model', 'data', 'source', 'imageSize'] as const) {
    if (f[flag] !== undefined) throw new UsageError(`--${flag === 'imageSize' ? 'image-size' : flag} cannot be combined with --run: the run folder's config.json decides it`);
  }
  // A run without valSplit may have validated on its folder's own held-out split (status.json says which).
  const chosenVal = (() => {
    try {
      return readRunStatus(dir)?.dataset.valSplit;
    } catch {
      return undefined;
    }
  })();
  const spec = f.split !== undefined ? trainingSpec(cfg, f.split) : (validationSpec(cfg) ?? trainingSpec(cfg, chosenVal));
  let checkpoint: string;
  const named = f.checkpoint ?? (existsSync(join(dir, 'model.pth')) ? 'model' : 'last');
  if (named === 'model') checkpoint = join(dir, 'model.pth');
  else if (named === 'best' || named === 'last') checkpoint = join(dir, 'checkpoints', `${named}.pth`);
  else checkpoint = resolve(named);
  if (!existsSync(checkpoint)) throw new UsageError(`no weights at ${checkpoint}: the run has not saved ${named === 'best' ? 'a best checkpoint' : 'any weights'} yet`);
  return {
    checkpoint,
    model: cfg.model,
    numClasses: cfg.numClasses,
    spec,
    normalization: f.normalize !== undefined ? checkNormalize(f.normalize) : cfg.pretrained ? 'imagenet' : 'unit',
    precision: f.precision !== undefined ? checkPrecision(f.precision) : cfg.precision,
    device: f.device ?? cfg.device,
    batchSize: f.batchSize !== undefined ? parsePositiveInt('--batch-size', f.batchSize) : cfg.batchSize,
    labelSmoothing: cfg.loss.labelSmoothing,
  };
}

function planFromFlags(f: EvalFlags): EvalPlan {
  const missing = (['checkpoint', 'model', 'data'] as const).filter((k) => f[k] === undefined);
  if (missing.length > 0) {
    throw new UsageError(`missing ${missing.map((m) => `--${m}`).join(', ')}: pass --run <run folder>, or --checkpoint, --model and --data`);
  }
  if (!existsSync(f.checkpoint!)) throw new UsageError(`checkpoint ${f.checkpoint} does not exist`);
  const spec = parseDataSpec({
    ...(f.data === 'generated' ? { source: 'generated' } : { path: resolve(f.data!) }),
    ...(f.source ? { source: f.source } : {}),
    split: f.split ?? 'test',
    imageSize: parsePositiveInt('--image-size', f.imageSize ?? '224'),
  });
  return {
    checkpoint: f.checkpoint!,
    model: f.model!,
    spec,
    normalization: checkNormalize(f.normalize ?? 'imagenet'),
    precision: checkPrecision(f.precision ?? 'auto'),
    device: f.device ?? 'cpu',
    batchSize: parsePositiveInt('--batch-size', f.batchSize ?? '32'),
    labelSmoothing: 0,
  };
}

export async function evalCommand(f: EvalFlags): Promise<void> {
  const plan = f.run !== undefined ? planFromRun(f, resolve(f.run)) : planFromFlags(f);
  const ds = await openDataset(plan.spec);
  const log = (l: string) => process.stderr.write(l + '\n');
  const size = resolveImageSize(plan.spec, ds);
  const images = await prepareImages(ds, { ...size, resize: plan.spec.resize, cacheDir: imageCacheDir(plan.spec, ds), log });
  const device = resolveDevice(plan.device);
  const numClasses = plan.numClasses ?? ds.classNames.length;
  const model = createModel(plan.model, { numClasses, device, seed: 0 });
  try {
    await loadWeights(model, plan.checkpoint, { strict: true });
    const precision = choosePrecision(plan.precision, device);
    if (precision.channelsLast) model.toMemoryFormat('channels_last');
    const loader = new DataLoader(images, { batchSize: plan.batchSize, shuffle: false });
    const r = await evaluate(model, loader, { numClasses, precision, device, normalization: plan.normalization, labelSmoothing: plan.labelSmoothing, confusion: true, predictions: true });
    const names = ds.classNames.length === numClasses ? ds.classNames : Array.from({ length: numClasses }, (_, i) => String(i));
    const { predictions, ...summary } = r;
    const outDir = f.out !== undefined ? resolve(f.out) : f.run !== undefined ? join(resolve(f.run), 'eval') : undefined;
    const analysis = outDir !== undefined
      ? await writeErrorAnalysis(outDir, { confusion: r.confusion!, classNames: names, predictions: predictions!, images })
      : undefined;
    if (f.json) {
      const nan = (x: number) => (Number.isNaN(x) ? null : x);
      const report = analysis?.report ?? classificationReport(r.confusion!, names);
      console.log(JSON.stringify({
        ...summary,
        perClass: report.classes.map((c) => ({ ...c, precision: nan(c.precision), recall: nan(c.recall), f1: nan(c.f1) })),
        ...(analysis ? { analysisDir: analysis.dir } : {}),
        perClassAccuracy: r.perClassAccuracy?.map((a) => (Number.isNaN(a) ? null : a)),
        classNames: names, split: plan.spec.split, checkpoint: plan.checkpoint, model: plan.model, precision: precision.label,
      }, null, 2));
      return;
    }
    const w = Math.max(8, ...names.map((n) => n.length));
    console.log(`${plan.model} (${plan.checkpoint}) on ${ds.description}: ${r.n} images, ${precision.label}`);
    console.log(`accuracy ${(100 * r.accuracy).toFixed(2)}%   loss ${r.loss.toFixed(4)}${r.top5 !== undefined ? `   top-5 ${(100 * r.top5).toFixed(2)}%` : ''}`);
    console.log('\nper-class accuracy');
    names.forEach((n, i) => {
      const a = r.perClassAccuracy![i];
      console.log(`  ${n.padEnd(w)} ${a === undefined || Number.isNaN(a) ? '   n/a (no images)' : `${(100 * a).toFixed(2).padStart(6)}%`}`);
    });
    const report = analysis?.report ?? classificationReport(r.confusion!, names);
    console.log('\nper-class precision, recall and F1 (%)');
    for (const line of formatClassificationReport(report)) console.log(line);
    if (names.length <= 20) {
      console.log('\nconfusion matrix (rows: true class, columns: predicted)');
      console.log(' '.repeat(w + 2) + names.map((n) => n.slice(0, 7).padStart(8)).join(''));
      r.confusion!.forEach((row, i) => console.log(`  ${names[i]!.padEnd(w)}${row.map((v) => String(v).padStart(8)).join('')}`));
    } else {
      console.log(`\n(confusion matrix of ${names.length} classes left out; use --json for it)`);
    }
    if (analysis) console.log(`\nconfusion matrix and the most confidently misclassified images: ${join(analysis.dir, 'confusion-matrix.png')}, ${join(analysis.dir, 'misclassified.png')}`);
  } finally {
    model.dispose();
    await images.close();
    await ds.close();
  }
}
