/**
 * Per-image paired test of two variants: for each seed both ran, the validation images one model got
 * right and the other wrong (from each run's analysis/predictions.json), McNemar's test on those counts,
 * and the classes where the gains and losses are. It treats the images as the sample: it says whether
 * two trained models differ, not whether the variants do over seeds (the verdicts answer that).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type McNemarResult, mcnemar } from '../inference.js';
import type { RunRecord, StudyRecord } from '../run-files.js';
import type { Comparison } from '../spec-expand.js';
import { runFolder } from '../../run/folder.js';

/** predictions.json of a run's analysis folder (written by src/train/error-analysis.ts). */
interface Predictions {
  classNames: string[];
  datasetIndex: number[];
  label: number[];
  predicted: number[];
}

/** A predictions file larger than this is not read (10 million images at ~30 bytes each). */
export const MAX_PREDICTIONS_BYTES = 300 * 1024 * 1024;

export interface ClassShift {
  name: string;
  /** Images of this class only the variant got right, and only the reference. */
  gained: number;
  lost: number;
}

export interface SeedPairTest extends McNemarResult {
  seed: number;
  images: number;
  /** Classes with any discordant image, largest net change first. */
  classes: ClassShift[];
}

export interface PerImageComparison {
  variant: string;
  reference: string;
  seeds: SeedPairTest[];
  /** Why a seed could not be paired (no predictions, unreadable, different images). */
  notes: string[];
}

const isIntArray = (x: unknown): x is number[] => Array.isArray(x) && x.every((v) => Number.isInteger(v) && v >= 0);

/** Reads and checks a run's predictions; a string says what is wrong with them. */
export function readPredictions(run: RunRecord): Predictions | string {
  const file = join(runFolder(run.dir).analysis, 'predictions.json');
  if (!existsSync(file)) return `${run.name} has no analysis/predictions.json (trained before ablate wrote it, or its analysis failed)`;
  const size = statSync(file).size;
  if (size > MAX_PREDICTIONS_BYTES) return `${run.name}: analysis/predictions.json is ${(size / 2 ** 20).toFixed(0)} MiB, over the ${MAX_PREDICTIONS_BYTES / 2 ** 20} MiB this report reads`;
  let j: Partial<Predictions>;
  try {
    j = JSON.parse(readFileSync(file, 'utf8')) as Partial<Predictions>;
  } catch (e) {
    return `${run.name}: analysis/predictions.json is not valid JSON (${(e as Error).message})`;
  }
  const n = Array.isArray(j?.datasetIndex) ? j.datasetIndex.length : -1;
  if (!j || typeof j !== 'object' || !Array.isArray(j.classNames) || !j.classNames.every((c) => typeof c === 'string')
    || !isIntArray(j.datasetIndex) || !isIntArray(j.label) || !isIntArray(j.predicted) || j.label.length !== n || j.predicted.length !== n) {
    return `${run.name}: analysis/predictions.json is not {classNames, datasetIndex, label, predicted} with whole-number lists of one length`;
  }
  return j as Predictions;
}

/** McNemar counts of two runs over the same images; a string says why they cannot be paired. */
export function pairRuns(a: Predictions, b: Predictions, names: [string, string]): Omit<SeedPairTest, 'seed'> | string {
  if (a.datasetIndex.length !== b.datasetIndex.length) return `${names[0]} and ${names[1]} scored different numbers of validation images (${a.datasetIndex.length} and ${b.datasetIndex.length}): not paired`;
  if (a.classNames.join('\u0000') !== b.classNames.join('\u0000')) return `${names[0]} and ${names[1]} have different class names: not paired`;
  const at = new Map<number, number>();
  b.datasetIndex.forEach((d, i) => { at.set(d, i); });
  let only = 0;
  let otherOnly = 0;
  const shift = new Map<number, { gained: number; lost: number }>();
  for (let i = 0; i < a.datasetIndex.length; i++) {
    const j = at.get(a.datasetIndex[i]);
    if (j === undefined || b.label[j] !== a.label[i]) return `${names[0]} and ${names[1]} scored different validation images (image ${a.datasetIndex[i]} differs): not paired`;
    const ra = a.predicted[i] === a.label[i];
    const rb = b.predicted[j] === b.label[j];
    if (ra === rb) continue;
    const s = shift.get(a.label[i]) ?? { gained: 0, lost: 0 };
    if (ra) { only++; s.gained++; } else { otherOnly++; s.lost++; }
    shift.set(a.label[i], s);
  }
  const classes = [...shift].map(([k, s]) => ({ name: a.classNames[k] ?? String(k), ...s }))
    .sort((x, y) => Math.abs(y.gained - y.lost) - Math.abs(x.gained - x.lost) || x.name.localeCompare(y.name));
  return { images: a.datasetIndex.length, ...mcnemar(only, otherOnly), classes };
}

const finishedBySeed = (study: StudyRecord, variant: string) =>
  new Map(study.runs.filter((r) => r.variant === variant && r.state === 'ok' && r.seed !== undefined).map((r) => [r.seed!, r]));

/** Per comparison, the per-image test of every seed both variants finished. */
export function perImageComparisons(study: StudyRecord, comparisons: Comparison[]): PerImageComparison[] {
  return comparisons.map((c) => {
    const [va, vb] = [finishedBySeed(study, c.variant), finishedBySeed(study, c.reference)];
    const out: PerImageComparison = { variant: c.variant, reference: c.reference, seeds: [], notes: [] };
    for (const [seed, ra] of [...va].sort((x, y) => x[0] - y[0])) {
      const rb = vb.get(seed);
      if (!rb) continue;
      const [pa, pb] = [readPredictions(ra), readPredictions(rb)];
      if (typeof pa === 'string' || typeof pb === 'string') {
        out.notes.push(...[pa, pb].filter((p): p is string => typeof p === 'string'));
        continue;
      }
      const r = pairRuns(pa, pb, [ra.name, rb.name]);
      if (typeof r === 'string') out.notes.push(r);
      else out.seeds.push({ seed, ...r });
    }
    return out;
  });
}

/** `cat +12, dog +3` / `bird −4`: the classes with a net gain (or loss), at most `max`. */
export function classShiftText(classes: ClassShift[], sign: 1 | -1, max = 3): string {
  const picked = classes.filter((c) => sign * (c.gained - c.lost) > 0).slice(0, max);
  if (picked.length === 0) return '—';
  return picked.map((c) => `${c.name} ${sign > 0 ? '+' : '\u2212'}${Math.abs(c.gained - c.lost)}`).join(', ');
}
