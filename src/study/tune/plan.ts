/**
 * The tuning stage of a study as runs: for every arm (variant), the same points, seeds and epochs, each
 * trial a run of the tuning sub-study in `<study>/tune/`. Trials train on the training split less its
 * last `valSplit` and validate on that carved part, so the study's own validation and test data never
 * choose a setting.
 */
import type { ExpandedStudy, PlannedRun } from '../spec-expand.js';
import type { AxisValue } from '../spec.js';
import { type SpecIssue, issue } from '../spec-issues.js';
import { type PlainObject, cloneJson, getPath, setPath } from '../spec-paths.js';
import { parseSplit } from '../../data/split.js';
import { type Rung, halvingEpochs, halvingRungs } from './halving.js';
import { type TunePoint, searchPoints } from './sampler.js';
import type { TuneSpec } from './space.js';

/** The tuning sub-study's folder inside the study folder. */
export const TUNE_DIR = 'tune';

export interface TunePlan {
  spec: TuneSpec;
  /** The points every arm searches, trial k = points[k]. */
  points: TunePoint[];
  seeds: number[];
  /** One rung for grid and random; successive halving's rungs otherwise. */
  rungs: Rung[];
  /** Arm (variant) → its config as the main runs would train it, seed left out. */
  arms: Map<string, PlainObject>;
  /** Training epochs per arm, all trials and seeds together. */
  epochsPerArm: number;
  /** Training images each trial sees (budget.images), if the budget is in images. */
  imagesPerTrial?: number;
  /** The data each stage uses, in words, for `study plan`, the log and the report. */
  dataNote: string;
}

/** A run of the tuning stage and where it belongs. */
export interface TrialRun extends PlannedRun {
  arm: string;
  trial: number;
  rung: number;
}

/** Build the tuning plan of an expanded study; problems (a split that cannot be carved) go into `issues`. */
export function buildTunePlan(study: ExpandedStudy, spec: TuneSpec, issues: SpecIssue[]): TunePlan {
  const arms = new Map<string, PlainObject>();
  for (const r of study.runs) {
    if (arms.has(r.variant)) continue;
    const { seed: _s, ...config } = cloneJson(r.config);
    arms.set(r.variant, config);
  }
  const points = searchPoints(spec.space, spec.method, spec.trials, spec.samplerSeed);
  const seeds = spec.seeds ?? [study.seeds[0] ?? 0];
  const first = [...arms.values()][0] ?? {};
  const maxEpochs = spec.epochs ?? (typeof first.epochs === 'number' ? first.epochs : 10);
  const rungs = spec.method === 'asha'
    ? halvingRungs(points.length, Math.min(spec.minEpochs, maxEpochs), maxEpochs, spec.eta)
    : [{ index: 0, trials: points.length, epochs: maxEpochs }];
  const splits = new Set<string>();
  for (const [arm, config] of arms) {
    const split = String(getPath(config, 'data.split') ?? 'train');
    const carved = carveSplit(split, spec.valSplit);
    if (typeof carved === 'string') issues.push(issue(`tune.valSplit (arm ${arm})`, carved, split));
    else splits.add(`trials train on '${carved.train}' and validate on '${carved.val}'`);
  }
  const mainVal = (c: PlainObject) => (getPath(c, 'data.valSplit') !== undefined ? `'${String(getPath(c, 'data.valSplit'))}'` : c.valData !== undefined ? 'valData' : 'the default validation split');
  const dataNote = `tuning: ${[...splits].join('; ')} (the last ${+(spec.valSplit * 100).toFixed(2)}% of the training split); ` +
    `main runs: train on '${String(getPath(first, 'data.split') ?? 'train')}' with the best values and validate on ${mainVal(first)}, as without tuning`;
  return {
    spec, points, seeds, rungs, arms,
    epochsPerArm: seeds.length * (spec.method === 'asha' ? halvingEpochs(rungs) : rungs[0]!.trials * rungs[0]!.epochs),
    ...(spec.images !== undefined ? { imagesPerTrial: spec.images } : {}),
    dataNote,
  };
}

/**
 * `train` with 10% → `train[:90%]` / `train[90%:]`; `train[:80%]` → `train[:72%]` / `train[72%:80%]`;
 * `train[:1000]` → `train[:900]` / `train[900:1000]`. A union or mixed bounds cannot be carved in TFDS
 * split syntax: a message saying so.
 */
export function carveSplit(split: string, fraction: number): { train: string; val: string } | string {
  let parts;
  try {
    parts = parseSplit(split);
  } catch (e) {
    return `a data.split that can be read (${(e as Error).message})`;
  }
  if (parts.length !== 1) return 'a data.split of one split (the tuning validation is carved from its end; a union such as "a+b" cannot be)';
  const { name, from, to } = parts[0]!;
  const percent = (from?.percent ?? true) && (to?.percent ?? true);
  const counts = to !== undefined && !to.percent && (from === undefined || (!from.percent && from.value >= 0)) && to.value > (from?.value ?? 0);
  if (!percent && !counts) return 'a data.split with bounds of one kind, e.g. "train", "train[:80%]" or "train[0:5000]"';
  const lo = from?.value ?? 0;
  const hi = to?.value ?? 100;
  if (percent && (lo < 0 || hi <= lo)) return 'a data.split with non-negative, increasing percent bounds';
  const cut = hi - Math.max(1, Math.round(fraction * (hi - lo)));
  if (cut <= lo) return `a training split large enough to carve ${+(fraction * 100).toFixed(2)}% from`;
  const u = percent ? '%' : '';
  const b = (x: number, dflt: number) => (x === dflt ? '' : `${x}${u}`);
  return { train: `${name}[${b(lo, 0)}:${cut}${u}]`, val: `${name}[${cut}${u}:${b(hi, 100)}]` };
}

/** The config of one trial: the arm's config, the point's values, the rung's epochs, the carved data, the seed. */
export function trialConfig(plan: TunePlan, arm: string, point: TunePoint, epochs: number, seed: number): PlainObject {
  const config = cloneJson(plan.arms.get(arm)!);
  for (const [path, v] of Object.entries(point)) setPath(config, path, v);
  config.epochs = epochs;
  const data = (config.data ?? {}) as PlainObject;
  const carved = carveSplit(String(data.split ?? 'train'), plan.spec.valSplit);
  if (typeof carved === 'string') throw new TypeError(`Expected ${carved} but received ${JSON.stringify(data.split)}`);
  // The study's own validation and test data stay out of tuning entirely.
  const { valSplit: _v, testSplit: _t, ...rest } = data;
  config.data = { ...rest, split: carved.train, valSplit: carved.val };
  delete config.valData;
  delete config.testData;
  if (plan.imagesPerTrial !== undefined) {
    const batch = typeof config.batchSize === 'number' ? config.batchSize : 32;
    config.stepsPerEpoch = Math.max(1, Math.ceil(plan.imagesPerTrial / (epochs * batch)));
  }
  config.seed = seed;
  return config;
}

/** The runs of one rung: every arm's trials in `trials` (trial indices), at every tuning seed, seed-major. */
export function rungRuns(plan: TunePlan, rung: Rung, trialsOf: (arm: string) => readonly number[]): TrialRun[] {
  const runs: TrialRun[] = [];
  const multi = plan.rungs.length > 1;
  for (const seed of plan.seeds) {
    for (const arm of plan.arms.keys()) {
      for (const k of trialsOf(arm)) {
        const variant = `${arm}-t${k}${multi ? `-e${rung.epochs}` : ''}`;
        const point = plan.points[k]!;
        const axes: Record<string, AxisValue> = { arm, trial: k, ...(multi ? { epochs: rung.epochs } : {}), ...point };
        runs.push({ name: `${variant}-seed${seed}`, variant, axes, seed, config: trialConfig(plan, arm, point, rung.epochs, seed), arm, trial: k, rung: rung.index });
      }
    }
  }
  return runs;
}

/** The tuning sub-study of the runs known so far (its index in tune/study.json lists them for the dashboard). */
export function tuneStudy(study: ExpandedStudy, plan: TunePlan, runs: readonly TrialRun[]): ExpandedStudy {
  const axes: Record<string, AxisValue[]> = { arm: [...plan.arms.keys()] };
  for (const d of plan.spec.space) axes[d.path] = [...new Set(plan.points.map((p) => p[d.path]!))];
  return {
    name: `${study.name}-tune`,
    description: `Tuning stage of ${study.name}: ${plan.spec.method} over ${plan.spec.space.map((d) => d.path).join(', ')}, ${plan.points.length} trials per arm.`,
    axes, seeds: plan.seeds, variants: [...new Set(runs.map((r) => r.variant))], runs: [...runs], comparisons: [],
    statistics: { correction: 'holm' },
  };
}

/** Trial cost in training images, when the data size is known: trials × seeds × epochs × images per epoch. */
export function rungSummary(plan: TunePlan): string {
  const s = plan.spec;
  const seeds = plan.seeds.length === 1 ? `seed ${plan.seeds[0]}` : `${plan.seeds.length} seeds`;
  const rungs = plan.rungs.map((r) => `${r.trials} × ${r.epochs} epoch${r.epochs === 1 ? '' : 's'}`).join(', then ');
  const how = s.method === 'asha' ? `synchronous successive halving (eta ${s.eta}): ${rungs}` : `${s.method}: ${rungs}`;
  return `${how}, ${seeds}, metric ${s.metric}${plan.imagesPerTrial !== undefined ? `, ${plan.imagesPerTrial} images per trial` : ''}`;
}
