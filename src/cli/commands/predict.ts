import { Predictor, labelledAccuracy, type Prediction } from '../../train/predict.js';
import { RunFolderError } from '../../run/open-run.js';
import { ProgressBar } from '../../train/progress.js';
import type { TrainConfig } from '../../run/config.js';
import { UsageError } from '../errors.js';
import { interruptSignal, parsePositiveInt } from '../options.js';

export interface PredictFlags {
  run?: string;
  checkpoint?: string;
  topK: string;
  batchSize?: string;
  json?: boolean;
  csv?: boolean;
  device?: string;
  precision?: string;
}

const csvField = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

function printTable(results: readonly Prediction[]): void {
  for (const r of results) {
    if (r.error !== undefined) {
      console.log(`${r.source}\n  error: ${r.error}`);
      continue;
    }
    const mark = r.trueLabel === undefined ? '' : r.top[0]!.label === r.trueLabel ? '   ✓' : `   ✗ (true: ${r.trueLabel})`;
    console.log(`${r.source}${mark}`);
    const w = Math.max(...r.top.map((t) => t.label.length));
    for (const t of r.top) console.log(`  ${t.label.padEnd(w)}  ${(100 * t.probability).toFixed(2).padStart(6)}%`);
  }
}

function printCsv(results: readonly Prediction[], k: number): void {
  const head = ['source', 'true_label', ...Array.from({ length: k }, (_, i) => [`label_${i + 1}`, `probability_${i + 1}`]).flat(), 'error'];
  console.log(head.join(','));
  for (const r of results) {
    const cells = [r.source, r.trueLabel ?? ''];
    for (let i = 0; i < k; i++) cells.push(r.top[i]?.label ?? '', r.top[i] ? r.top[i]!.probability.toPrecision(6) : '');
    cells.push(r.error ?? '');
    console.log(cells.map(csvField).join(','));
  }
}

export async function predictCommand(inputs: string[], f: PredictFlags): Promise<void> {
  if (f.run === undefined) throw new UsageError('missing --run <run folder>: predict uses a trained run\'s model, class names and preprocessing');
  if (inputs.length === 0) throw new UsageError('no images given: pass image files and/or folders after the options, e.g. ablate predict --run runs/train photo.jpg photos/');
  if (f.json && f.csv) throw new UsageError('--json and --csv cannot be combined: choose one output format');
  const topK = parsePositiveInt('--top-k', f.topK);
  const requestedBatch = f.batchSize !== undefined ? parsePositiveInt('--batch-size', f.batchSize) : undefined;
  if (f.precision !== undefined && !['auto', 'fp32', 'bf16'].includes(f.precision)) {
    throw new UsageError(`Expected auto, fp32 or bf16 for --precision but received "${f.precision}"`);
  }
  let predictor: Predictor;
  try {
    predictor = await Predictor.fromRun(f.run, { checkpoint: f.checkpoint, device: f.device, precision: f.precision as TrainConfig['precision'] | undefined });
  } catch (e) {
    throw e instanceof RunFolderError ? new UsageError(e.message) : e;
  }
  const bar = new ProgressBar({ stream: process.stderr });
  const interrupt = interruptSignal('prediction');
  let started = false;
  try {
    const results = await predictor.predict(inputs, {
      topK, batchSize: requestedBatch, signal: interrupt.signal,
      onProgress: (done, total) => {
        const batchSize = requestedBatch ?? predictor.batchSize;
        if (total <= batchSize) return; // one batch: a bar would only flash
        if (!started) {
          bar.startEpoch(0, 1, Math.ceil(total / batchSize), `predicting ${total} images`);
          started = true;
        }
        bar.update(Math.ceil(done / batchSize), {}, done);
        if (done === total) bar.endEpoch({}, done);
      },
    }).catch((e: Error) => {
      throw e instanceof RunFolderError ? new UsageError(e.message) : e;
    });
    const k = Math.min(topK, predictor.classNames.length);
    const acc = labelledAccuracy(results);
    const failed = results.filter((r) => r.error !== undefined).length;
    if (f.json) {
      console.log(JSON.stringify({ run: f.run, classNames: predictor.classNames, predictions: results, ...(acc ? { accuracy: acc } : {}) }, null, 2));
    } else if (f.csv) {
      printCsv(results, k);
    } else {
      printTable(results);
    }
    // Summary lines go to stderr so --json and --csv output stays machine-readable.
    if (acc) process.stderr.write(`accuracy ${(100 * acc.accuracy).toFixed(2)}% (${acc.correct}/${acc.n} images whose folder names their class)\n`);
    if (failed > 0) {
      process.stderr.write(`${failed} of ${results.length} inputs could not be classified (see their error)\n`);
      process.exitCode = 1;
    }
  } finally {
    interrupt.dispose();
    predictor.dispose();
  }
}
