import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { loadWeights } from '../../models/index.js';
import { DataLoader, dataArgFields } from '../../data/index.js';
import { evaluate } from '../../train/evaluate.js';
import { choosePrecision } from '../../run/machine.js';
import { readRunPlan, resolveRunPlan, RunPlanError, type RunPlan } from '../../run/plan.js';
import { openPlanDatasets, prepareSplit } from '../../run/plan-data.js';
import { modelLabel } from '../../run/model-spec.js';
import { prepareRun, type PreparedRun } from '../../run/prepare.js';
import { classificationReport, formatClassificationReport, writeErrorAnalysis } from '../../train/error-analysis.js';
import { resolveDevice } from '../../tensor/index.js';
import { readRunStatus } from '../../run/run-folder.js';
import { UsageError } from '../errors.js';
import { parsePositiveInt } from '../options.js';
import { checkRegularFile } from '../../util/regular-file.js';
import { RunFolder, runFolder } from '../../run/folder.js';

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

/** What evaluation runs: a plan whose `data` is the split to evaluate, and the weights. */
interface EvalPlan {
  checkpoint: string;
  plan: RunPlan;
}

/** The flags that adjust how (not what) a run is evaluated, as config fields. */
function adjustments(f: EvalFlags): Record<string, unknown> {
  return {
    ...(f.normalize !== undefined ? { normalization: f.normalize } : {}),
    ...(f.precision !== undefined ? { precision: f.precision } : {}),
    ...(f.device !== undefined ? { device: f.device } : {}),
    ...(f.batchSize !== undefined ? { batchSize: parsePositiveInt('--batch-size', f.batchSize) } : {}),
  };
}

/** Flag problems are reported under the flag's name, not the config path it fills. */
function resolveForEval(raw: Record<string, unknown>): RunPlan {
  try {
    return resolveRunPlan(raw);
  } catch (e) {
    if (!(e instanceof RunPlanError)) throw e;
    const flag: Record<string, string> = { normalization: '--normalize', precision: '--precision', device: '--device', batchSize: '--batch-size', model: '--model', 'data.split': '--split', 'data.source': '--source' };
    throw new UsageError(e.problems.map((p) => `${flag[p.path] ?? p.path}: ${p.message}`).join('\n'));
  }
}

/**
 * `--run <dir>`: the run's own plan (model, data, image size, normalisation, class names, precision), on
 * its validation split (or `--split`), with its final weights (model.pth; a stopped run's checkpoints/last.pth).
 */
function planFromRun(f: EvalFlags, dir: string, checkpointFile?: string): EvalPlan {
  for (const flag of ['model', 'data', 'source', 'imageSize'] as const) {
    if (f[flag] !== undefined) throw new UsageError(`--${flag === 'imageSize' ? 'image-size' : flag} cannot be combined with --run: the run folder's config.json decides it`);
  }
  let run: RunPlan;
  try {
    run = readRunPlan(dir);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // A run planned before validation defaults were recorded in config.json may have validated on its
  // folder's own held-out split: status.json says which.
  const chosenVal = run.valData ? undefined : (() => {
    try {
      return readRunStatus(dir)?.dataset.valSplit;
    } catch {
      return undefined;
    }
  })();
  const data = f.split !== undefined ? { ...run.data, split: f.split } : (run.valData ?? (chosenVal !== undefined ? { ...run.data, split: chosenVal } : run.data));
  const plan = resolveForEval({ ...run, data, valData: undefined, ...adjustments(f) });
  const { name: named, path: checkpoint } = runFolder(dir).weightsFile(checkpointFile ?? f.checkpoint);
  if (!existsSync(checkpoint)) throw new UsageError(`no weights at ${checkpoint}: the run has not saved ${named === 'best' ? 'a best checkpoint' : 'any weights'} yet`);
  return { checkpoint: regularCheckpoint(checkpoint), plan };
}

/**
 * A bare checkpoint: what the weights cannot say (the model, the data, how pixels were normalised, the
 * input size for sources without a native one) must be given; nothing is guessed.
 */
function planFromFlags(f: EvalFlags): EvalPlan {
  if (f.checkpoint !== undefined && f.model === undefined && f.data === undefined) {
    const run = RunFolder.ofWeights(f.checkpoint);
    if (run) return planFromRun(f, run.dir, resolve(f.checkpoint));
  }
  const missing = (['checkpoint', 'model', 'data'] as const).filter((k) => f[k] === undefined);
  if (missing.length > 0) {
    throw new UsageError(`missing ${missing.map((m) => `--${m}`).join(', ')}: pass --run <run folder>, or --checkpoint, --model and --data`);
  }
  if (!existsSync(f.checkpoint!)) throw new UsageError(`checkpoint ${f.checkpoint} does not exist`);
  const data = {
    ...dataArgFields(f.data!, resolve),
    ...(f.source ? { source: f.source } : {}),
    split: f.split ?? 'test',
    ...(f.imageSize !== undefined ? { imageSize: parsePositiveInt('--image-size', f.imageSize) } : {}),
  };
  const plan = resolveForEval({ model: f.model, data, ...adjustments(f) });
  const unknown = [
    ...(f.normalize === undefined ? ['--normalize imagenet|unit (how the model saw its training images: imagenet mean/std, or only divided by 255)'] : []),
    ...(plan.data.imageSize === undefined ? ['--image-size N (the size the model was trained at; this source has no native size)'] : []),
  ];
  if (unknown.length) {
    throw new UsageError(`${f.checkpoint} is not in a run folder, so its settings are unknown; pass ${unknown.join(' and ')}, or use --run <run folder>`);
  }
  return { checkpoint: regularCheckpoint(f.checkpoint!), plan };
}

/** Refused before the data is prepared or libtorch loaded: a device or FIFO is never a checkpoint. */
function regularCheckpoint(path: string): string {
  try {
    checkRegularFile(path, { what: 'checkpoint' });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return path;
}

export async function evalCommand(f: EvalFlags): Promise<void> {
  const ev = f.run !== undefined ? planFromRun(f, resolve(f.run)) : planFromFlags(f);
  const log = (l: string) => process.stderr.write(l + '\n');
  // Only the split evaluated is opened; a data contradiction (other classes than the plan's) is the user's to fix.
  const datasets = await openPlanDatasets({ data: ev.plan.data });
  const ds = datasets.train;
  let prepared: PreparedRun;
  try {
    prepared = await prepareRun(ev.plan, { datasets });
  } catch (e) {
    await datasets.close();
    throw new UsageError((e as Error).message);
  }
  const plan = prepared.plan;
  const images = await prepareSplit(plan.data, ds, { log, what: 'evaluation' });
  const device = resolveDevice(plan.device);
  const numClasses = prepared.model.config.numClasses;
  const model = prepared.buildModel({ device, seed: 0 });
  const label = modelLabel(plan.model);
  try {
    await loadWeights(model, ev.checkpoint, { strict: true });
    const precision = choosePrecision(plan.precision, device);
    if (precision.channelsLast) model.toMemoryFormat('channels_last');
    const loader = new DataLoader(images, { batchSize: plan.batchSize, shuffle: false });
    const r = await evaluate(model, loader, { numClasses, precision, device, normalization: plan.normalization, labelSmoothing: plan.loss.labelSmoothing, confusion: true, predictions: true });
    const classNames = plan.classNames ?? ds.classNames;
    const names = classNames.length === numClasses ? [...classNames] : Array.from({ length: numClasses }, (_, i) => classNames[i] ?? String(i));
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
        classNames: names, split: plan.data.split, checkpoint: ev.checkpoint, model: label, normalization: plan.normalization, precision: precision.label,
      }, null, 2));
      return;
    }
    const w = Math.max(8, ...names.map((n) => n.length));
    console.log(`${label} (${ev.checkpoint}) on ${ds.description}: ${r.n} images, ${precision.label}, ${plan.normalization} normalisation`);
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
      r.confusion!.forEach((row, i) => { console.log(`  ${names[i]!.padEnd(w)}${row.map((v) => String(v).padStart(8)).join('')}`); });
    } else {
      console.log(`\n(confusion matrix of ${names.length} classes left out; use --json for it)`);
    }
    if (analysis) console.log(`\nconfusion matrix and the most confidently misclassified images: ${join(analysis.dir, 'confusion-matrix.png')}, ${join(analysis.dir, 'misclassified.png')}`);
  } finally {
    model.dispose();
    await images.close();
    await datasets.close();
  }
}
