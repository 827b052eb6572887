/**
 * Where a classifier goes wrong: precision, recall and F1 per class, the confusion matrix as a picture,
 * and the validation images it misclassified most confidently. Used by `ablate eval` and written into
 * every run folder (analysis/) for the study report.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { sharpLib } from '../util/sharp-lib.js';
import { renderImageGrid } from '../augment/image-grid.js';
import { DataLoader, type ImageSet } from '../data/index.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { evaluate, type EvalOptions, type SamplePrediction } from './evaluate.js';
import type { TrainableModel } from './model-api.js';
import { runFolder } from '../run/folder.js';

/** Precision, recall, F1 and image count of one class. */
export interface ClassMetrics {
  name: string;
  /** Of the images predicted as this class, the fraction that are (NaN when none was predicted). */
  precision: number;
  /** Of the images of this class, the fraction predicted as it (NaN when the class has no images). */
  recall: number;
  /** 2·TP / (2·TP + FP + FN): the harmonic mean of precision and recall; 0 for a class never predicted correctly; NaN for a class neither present nor predicted. */
  f1: number;
  /** Images of this class. */
  support: number;
}

/** Per-class metrics and their macro averages over a confusion matrix. */
export interface ClassificationReport {
  classes: ClassMetrics[];
  accuracy: number;
  /** Unweighted means over the classes where the metric is defined. */
  macro: { precision: number; recall: number; f1: number };
  n: number;
}

const mean = (xs: number[]): number => {
  const ok = xs.filter((x) => !Number.isNaN(x));
  return ok.length === 0 ? NaN : ok.reduce((a, b) => a + b, 0) / ok.length;
};

/** Per-class precision, recall and F1 from a confusion matrix (rows: true class, columns: predicted). */
export function classificationReport(confusion: readonly (readonly number[])[], classNames: readonly string[]): ClassificationReport {
  const k = confusion.length;
  if (k === 0 || confusion.some((r) => r.length !== k)) throw new RangeError(`Expected a square confusion matrix but received ${k} rows of lengths ${confusion.map((r) => r.length).join(', ')}`);
  let n = 0;
  let correct = 0;
  const classes = confusion.map((row, i) => {
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, r) => a + r[i]!, 0);
    const tp = row[i]!;
    n += support;
    correct += tp;
    const precision = predicted === 0 ? NaN : tp / predicted;
    const recall = support === 0 ? NaN : tp / support;
    // 2TP / (2TP + FP + FN): the harmonic mean where both are defined, and 0 for a class never predicted but present.
    const f1 = support + predicted === 0 ? NaN : (2 * tp) / (support + predicted);
    return { name: classNames[i] ?? String(i), precision, recall, f1, support };
  });
  return {
    classes,
    accuracy: n === 0 ? NaN : correct / n,
    macro: { precision: mean(classes.map((c) => c.precision)), recall: mean(classes.map((c) => c.recall)), f1: mean(classes.map((c) => c.f1)) },
    n,
  };
}

const pct = (x: number): string => (Number.isNaN(x) ? 'n/a' : (100 * x).toFixed(1));

/** The per-class table as text lines (what `ablate eval` prints). */
export function formatClassificationReport(r: ClassificationReport): string[] {
  const w = Math.max(9, ...r.classes.map((c) => c.name.length));
  const row = (name: string, p: string, rc: string, f: string, s: string) => `  ${name.padEnd(w)} ${p.padStart(9)} ${rc.padStart(7)} ${f.padStart(6)} ${s.padStart(8)}`;
  return [
    row('class', 'precision', 'recall', 'F1', 'images'),
    ...r.classes.map((c) => row(c.name, pct(c.precision), pct(c.recall), pct(c.f1), String(c.support))),
    row('macro avg', pct(r.macro.precision), pct(r.macro.recall), pct(r.macro.f1), String(r.n)),
  ];
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The confusion matrix as a PNG heat map: colour by the row's fraction, counts written in the cells. */
export async function renderConfusionMatrix(confusion: readonly (readonly number[])[], classNames: readonly string[]): Promise<Buffer> {
  const sharp = await sharpLib();
  const k = confusion.length;
  const cell = k <= 10 ? 56 : k <= 30 ? 28 : Math.max(6, Math.floor(840 / k));
  const showText = cell >= 28;
  const label = Math.min(160, 8 + 7 * Math.max(1, ...classNames.map((n) => n.length)));
  const left = showText ? label : 24;
  const top = 40;
  const W = Math.max(left + k * cell + 20, 440);
  const H = top + k * cell + (showText ? label : 24) + 10;
  const parts: string[] = [];
  confusion.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((v, j) => {
      const f = total === 0 ? 0 : v / total;
      // White → blue for the diagonal (right), white → red elsewhere (wrong).
      const [r, g, b] = i === j ? [255 - 200 * f, 255 - 130 * f, 255 - 40 * f] : [255 - 20 * f, 255 - 190 * f, 255 - 190 * f];
      parts.push(`<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell}" height="${cell}" fill="rgb(${r | 0},${g | 0},${b | 0})" stroke="#ddd"/>`);
      if (showText) parts.push(`<text x="${left + j * cell + cell / 2}" y="${top + i * cell + cell / 2 + 4}" text-anchor="middle" fill="${f > 0.6 ? '#fff' : '#222'}">${v}</text>`);
    });
    if (showText) parts.push(`<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end">${escapeXml(classNames[i] ?? String(i))}</text>`);
  });
  if (showText) {
    classNames.slice(0, k).forEach((n, j) => {
      const x = left + j * cell + cell / 2 + 4;
      const y = top + k * cell + 8;
      parts.push(`<text x="${x}" y="${y}" transform="rotate(45 ${x} ${y})">${escapeXml(n)}</text>`);
    });
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><style>text { font-family: 'DejaVu Sans', sans-serif; font-size: 12px; fill: #222; }</style>`
    + `<rect width="100%" height="100%" fill="#fff"/><text x="8" y="18">confusion matrix — rows: true class, columns: predicted</text>${parts.join('')}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** The `count` misclassified images with the highest predicted probability, most confident first. */
export function mostConfidentMistakes(predictions: readonly SamplePrediction[], count: number): SamplePrediction[] {
  return predictions.filter((p) => p.predicted !== p.label).sort((a, b) => b.confidence - a.confidence || a.datasetIndex - b.datasetIndex).slice(0, count);
}

/** A PNG grid of the most confidently misclassified images, each captioned with its true and predicted class. */
export async function renderMisclassified(images: ImageSet, predictions: readonly SamplePrediction[], classNames: readonly string[], count = 16): Promise<Buffer> {
  const worst = mostConfidentMistakes(predictions, count);
  const position = new Map(Array.from(images.indices, (d, p) => [d, p]));
  const slot = images.height * images.width * 3;
  const buf = new Uint8Array(worst.length * slot);
  await images.readInto(worst.map((w) => position.get(w.datasetIndex)!), buf);
  const name = (i: number) => classNames[i] ?? String(i);
  const title = worst.length === 0 ? 'no misclassified images' : `the ${worst.length} most confidently misclassified of ${predictions.length} images`;
  return renderImageGrid(worst.map((w, i) => ({
    pixels: buf.subarray(i * slot, (i + 1) * slot), height: images.height, width: images.width,
    lines: [{ text: `true: ${name(w.label)}` }, { text: `pred: ${name(w.predicted)} ${(100 * w.confidence).toFixed(0)}%`, color: '#b00' }],
  })), { title, columns: Math.min(8, Math.max(1, Math.ceil(Math.sqrt(worst.length)))) });
}

/** Per-image predictions inside an analysis folder: {classNames, datasetIndex[], label[], predicted[]}. */
export const PREDICTIONS_FILE = 'predictions.json';

export interface ErrorAnalysisFiles {
  report: ClassificationReport;
  /** classification.json, predictions.json, confusion-matrix.png, misclassified.png inside the folder. */
  dir: string;
}

/** Writes classification.json, predictions.json, confusion-matrix.png and misclassified.png into `dir`. */
export async function writeErrorAnalysis(dir: string, o: { confusion: number[][]; classNames: readonly string[]; predictions: readonly SamplePrediction[]; images: ImageSet; count?: number }): Promise<ErrorAnalysisFiles> {
  mkdirSync(dir, { recursive: true });
  const report = classificationReport(o.confusion, o.classNames);
  const nan = (x: number) => (Number.isNaN(x) ? null : x);
  writeJsonAtomic(join(dir, 'classification.json'), {
    ...report,
    accuracy: nan(report.accuracy),
    macro: { precision: nan(report.macro.precision), recall: nan(report.macro.recall), f1: nan(report.macro.f1) },
    classes: report.classes.map((c) => ({ ...c, precision: nan(c.precision), recall: nan(c.recall), f1: nan(c.f1) })),
    confusion: o.confusion,
    mistakes: mostConfidentMistakes(o.predictions, o.count ?? 16),
  });
  // Every image's true and predicted class, in evaluation order: what a per-image paired test of two runs needs.
  writeJsonAtomic(join(dir, PREDICTIONS_FILE), {
    classNames: o.classNames,
    datasetIndex: o.predictions.map((p) => p.datasetIndex),
    label: o.predictions.map((p) => p.label),
    predicted: o.predictions.map((p) => p.predicted),
  });
  writeFileAtomic(join(dir, 'confusion-matrix.png'), await renderConfusionMatrix(o.confusion, o.classNames));
  writeFileAtomic(join(dir, 'misclassified.png'), await renderMisclassified(o.images, o.predictions, o.classNames, o.count ?? 16));
  return { report, dir };
}

/**
 * Evaluates a trained model on its validation images once more, keeping every prediction, and writes the
 * error analysis into `<runDir>/analysis` (what the study report shows for each variant).
 */
export async function writeRunErrorAnalysis(
  runDir: string,
  model: TrainableModel,
  images: ImageSet,
  o: Omit<EvalOptions, 'confusion' | 'predictions'> & { batchSize: number; classNames: readonly string[] },
): Promise<ErrorAnalysisFiles> {
  const loader = new DataLoader(images, { batchSize: o.batchSize, shuffle: false });
  const r = await evaluate(model, loader, { ...o, confusion: true, predictions: true });
  return writeErrorAnalysis(runFolder(runDir).analysis, { confusion: r.confusion!, classNames: o.classNames, predictions: r.predictions!, images });
}

/** Where a run folder keeps its error analysis. */
