/**
 * The `tune:` block of a study file: what every arm searches, how, on what budget and data.
 *
 * ```yaml
 * tune:
 *   space:                                   # config path → values
 *     optimizer.lr: { logUniform: [0.001, 0.3] }
 *     optimizer.weightDecay: [0, 0.0001, 0.0005]
 *     optimizer.momentum: { range: [0.8, 0.95], step: 0.05 }
 *   method: random                           # grid | random | asha (synchronous successive halving)
 *   trials: 8                                # random and asha: points sampled per arm
 *   budget: { epochs: 5 }                    # epochs per trial (asha: of the last rung), or { images: N }
 *   metric: val_accuracy                     # or val_loss
 *   seeds: [0]                               # the seeds each trial trains with (its metric is their mean)
 *   valSplit: 0.1                            # the last 10% of the training split validates the trials
 * ```
 * Every arm (variant of the study) gets the same points and the same budget.
 */
import { type SpecIssue, didYouMean, formatPath, issue } from '../spec-issues.js';
import { type PlainObject, blockedPrefix, isDottedPath, isPlainObject, pathsOverlap } from '../spec-paths.js';

export type TuneValue = string | number | boolean | null;

/** One searched config path: a list of values, a (stepped) range, or a log-uniform range. */
export type Dimension =
  | { path: string; kind: 'list'; values: TuneValue[] }
  | { path: string; kind: 'range'; lo: number; hi: number; step?: number }
  | { path: string; kind: 'logUniform'; lo: number; hi: number };

export const TUNE_METHODS = ['grid', 'random', 'asha'] as const;
export type TuneMethod = (typeof TUNE_METHODS)[number];
export const TUNE_METRICS = ['val_accuracy', 'val_loss'] as const;
export type TuneMetric = (typeof TUNE_METRICS)[number];

export interface TuneSpec {
  space: Dimension[];
  method: TuneMethod;
  /** Points searched per arm (random, asha); grid searches every point of the grid. */
  trials?: number;
  /** Epochs each trial trains (asha: the last rung's). Undefined: the base config's. */
  epochs?: number;
  /** Training images each trial sees (`budget.images`): its epochs are cut to this many images. */
  images?: number;
  metric: TuneMetric;
  /** Seeds each trial trains with; undefined: the study's first seed. */
  seeds?: number[];
  /** Fraction of the training split, from its end, that validates the trials. */
  valSplit: number;
  /** Successive halving: keep the best 1/eta of a rung, and multiply its epochs by eta. */
  eta: number;
  /** Successive halving: the epochs of the first rung. */
  minEpochs: number;
  /** Seed of the random sampler: the same points for every arm. */
  samplerSeed: number;
}

const KEYS = ['space', 'method', 'trials', 'budget', 'metric', 'seeds', 'valSplit', 'eta', 'minEpochs', 'samplerSeed'];
const BUDGET_KEYS = ['trials', 'epochs', 'images'];
/** Trials per arm beyond this are refused: each trial is a training run per seed and arm. */
export const MAX_TRIALS = 1000;
const DIM_EXPECTED = 'a non-empty list of values, {range: [low, high], step: s}, or {logUniform: [low, high]} with 0 < low < high';
/** `asha` is the issue's name: the synchronous variant is what runs (see halving.ts); `halving` is accepted too. */
const METHOD_ALIASES: Record<string, TuneMethod> = { grid: 'grid', random: 'random', asha: 'asha', halving: 'asha', 'successive-halving': 'asha' };

/** Paths the tuning stage sets for every trial: searching them would undo the fair budget or the carved data. */
const OWN_PATHS = ['seed', 'epochs', 'stepsPerEpoch', 'data.split', 'data.valSplit', 'data.testSplit', 'valData', 'testData'];

const isInt = (x: unknown, min: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min;

/** Check a `tune:` block against the study's base config; problems go into `issues`, paths prefixed `tune.`. */
export function checkTune(raw: unknown, base: PlainObject, axisPaths: readonly string[], issues: SpecIssue[]): TuneSpec | undefined {
  const before = issues.length;
  if (!isPlainObject(raw)) {
    issues.push(issue('tune', 'a mapping with at least "space", e.g. {space: {optimizer.lr: [0.1, 0.01]}, method: grid}', raw));
    return undefined;
  }
  for (const key of Object.keys(raw).filter((k) => !KEYS.includes(k))) {
    const guess = didYouMean(key, KEYS);
    issues.push(issue(`tune.${key}`, guess ? `no key "${key}" (did you mean "${guess}"?)` : `only the keys ${KEYS.join(', ')}`, raw[key]));
  }
  const space = checkSpace(raw.space, base, axisPaths, issues);
  let method: TuneMethod = 'grid';
  if (raw.method !== undefined) {
    const m = typeof raw.method === 'string' ? METHOD_ALIASES[raw.method] : undefined;
    if (m) method = m;
    else issues.push(issue('tune.method', 'grid, random or asha (synchronous successive halving over epochs)', raw.method));
  }
  const budget = raw.budget ?? {};
  if (!isPlainObject(budget)) issues.push(issue('tune.budget', 'a mapping such as {epochs: 5}, {trials: 8, epochs: 5} or {images: 100000}', budget));
  const b = isPlainObject(budget) ? budget : {};
  for (const key of Object.keys(b).filter((k) => !BUDGET_KEYS.includes(k))) issues.push(issue(`tune.budget.${key}`, `only the keys ${BUDGET_KEYS.join(', ')}`, b[key]));
  if (raw.trials !== undefined && b.trials !== undefined && raw.trials !== b.trials) issues.push(issue('tune.trials', 'one trial count (tune.trials and tune.budget.trials differ)', raw.trials));
  const trialsRaw = raw.trials ?? b.trials;
  let trials: number | undefined;
  if (trialsRaw !== undefined) {
    if (isInt(trialsRaw, 1) && trialsRaw <= MAX_TRIALS) trials = trialsRaw;
    else issues.push(issue(raw.trials !== undefined ? 'tune.trials' : 'tune.budget.trials', `a whole number of trials per arm from 1 to ${MAX_TRIALS}`, trialsRaw));
  }
  let epochs: number | undefined;
  if (b.epochs !== undefined) {
    if (isInt(b.epochs, 1) && b.epochs <= 10_000) epochs = b.epochs;
    else issues.push(issue('tune.budget.epochs', 'a whole number of epochs per trial, at least 1', b.epochs));
  }
  let images: number | undefined;
  if (b.images !== undefined) {
    if (isInt(b.images, 1)) images = b.images;
    else issues.push(issue('tune.budget.images', 'a whole number of training images per trial, at least 1', b.images));
  }
  let metric: TuneMetric = 'val_accuracy';
  if (raw.metric !== undefined) {
    if ((TUNE_METRICS as readonly unknown[]).includes(raw.metric)) metric = raw.metric as TuneMetric;
    else issues.push(issue('tune.metric', 'val_accuracy (higher is better) or val_loss (lower is better)', raw.metric));
  }
  let seeds: number[] | undefined;
  if (raw.seeds !== undefined) {
    if (isInt(raw.seeds, 1) && raw.seeds <= 100) seeds = Array.from({ length: raw.seeds }, (_, i) => i);
    else if (Array.isArray(raw.seeds) && raw.seeds.length > 0 && raw.seeds.length <= 100 && raw.seeds.every((s) => isInt(s, 0))) seeds = [...new Set(raw.seeds as number[])];
    else issues.push(issue('tune.seeds', 'a list of non-negative integer seeds, or a count from 1 to 100 (seeds: 2 means [0, 1])', raw.seeds));
  }
  const valSplit = checkValSplit(raw.valSplit, issues);
  const eta = raw.eta === undefined ? 3 : isInt(raw.eta, 2) && raw.eta <= 100 ? raw.eta : (issues.push(issue('tune.eta', 'a whole number from 2 to 100: each rung keeps the best 1/eta of its trials', raw.eta)), 3);
  const minEpochs = raw.minEpochs === undefined ? 1 : isInt(raw.minEpochs, 1) ? raw.minEpochs : (issues.push(issue('tune.minEpochs', 'a whole number of epochs for the first rung, at least 1', raw.minEpochs)), 1);
  const samplerSeed = raw.samplerSeed === undefined ? 0 : isInt(raw.samplerSeed, 0) ? raw.samplerSeed : (issues.push(issue('tune.samplerSeed', 'a non-negative integer', raw.samplerSeed)), 0);

  if (method !== 'asha') {
    for (const k of ['eta', 'minEpochs'] as const) if (raw[k] !== undefined) issues.push(issue(`tune.${k}`, `no "${k}" with method ${method} (it is a setting of method asha)`, raw[k]));
  }
  if (method === 'random' && trials === undefined && trialsRaw === undefined) issues.push(issue('tune.trials', 'a number of trials per arm for method random (e.g. trials: 8)', undefined));
  if (space && trialsRaw === undefined && method !== 'random') {
    const continuous = space.find((d) => d.kind === 'logUniform' || (d.kind === 'range' && d.step === undefined));
    if (continuous) issues.push(issue(formatPath(['tune', 'space', continuous.path]), `a list or {range: [a, b], step: s} for method ${method} (a continuous range is sampled: give tune.trials)`, undefined));
  }
  if (method === 'grid' && space && trials !== undefined) {
    const size = gridSize(space);
    if (trials !== size) issues.push(issue('tune.trials', `the grid's size (${size}) or no trial count: grid tries every point`, trials));
  }
  if (space && gridSize(space) > MAX_TRIALS && (method === 'grid' || trials === undefined)) {
    issues.push(issue('tune.space', `at most ${MAX_TRIALS} grid points (use method random with trials: N)`, `${gridSize(space)} points`));
  }
  if (method === 'asha' && epochs !== undefined && minEpochs > epochs) issues.push(issue('tune.minEpochs', `at most budget.epochs (${epochs})`, minEpochs));
  if (method === 'asha' && images !== undefined) issues.push(issue('tune.budget.images', 'no images budget with method asha (it spends epochs rung by rung: give budget.epochs)', images));
  if (issues.length > before || !space) return undefined;
  return {
    space, method, ...(trials !== undefined ? { trials } : {}), ...(epochs !== undefined ? { epochs } : {}), ...(images !== undefined ? { images } : {}),
    metric, ...(seeds ? { seeds } : {}), valSplit, eta, minEpochs, samplerSeed,
  };
}

function checkValSplit(raw: unknown, issues: SpecIssue[]): number {
  if (raw === undefined) return 0.1;
  const expected = 'the fraction of the training split that validates the trials, more than 0 and at most 0.5 (e.g. 0.1 or "10%")';
  const m = typeof raw === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(raw) : null;
  const f = typeof raw === 'number' ? raw : m ? Number(m[1]) / 100 : NaN;
  if (f > 0 && f <= 0.5) return f;
  issues.push(issue('tune.valSplit', expected, raw));
  return 0.1;
}

function checkSpace(raw: unknown, base: PlainObject, axisPaths: readonly string[], issues: SpecIssue[]): Dimension[] | undefined {
  if (!isPlainObject(raw) || Object.keys(raw).length === 0) {
    issues.push(issue('tune.space', 'a mapping of config path → values, e.g. {optimizer.lr: {logUniform: [0.001, 0.3]}}', raw));
    return undefined;
  }
  const dims: Dimension[] = [];
  let ok = true;
  for (const [path, spec] of Object.entries(raw)) {
    const where = formatPath(['tune', 'space', path]);
    const bad = (expected: string, v: unknown = spec) => { issues.push(issue(where, expected, v)); ok = false; };
    if (!isDottedPath(path)) { bad('a config path such as "optimizer.lr"', path); continue; }
    const own = OWN_PATHS.find((p) => pathsOverlap(p, path));
    if (own) { bad(`a path other than "${path}" (the tuning stage sets the seeds, epochs and data splits itself)`, path); continue; }
    const axis = axisPaths.find((a) => pathsOverlap(a, path));
    if (axis) { bad(`a path that is not axis "${axis}" of the study (an axis is compared, not tuned)`, path); continue; }
    const blocked = blockedPrefix(base, path);
    if (blocked) { bad(`a path into a mapping, but base.${blocked} is not a mapping`, path); continue; }
    if (dims.some((d) => pathsOverlap(d.path, path))) { bad('a path that does not overlap another searched path', path); continue; }
    if (Array.isArray(spec)) {
      const values = spec.filter((v): v is TuneValue => v === null || ['string', 'number', 'boolean'].includes(typeof v));
      if (spec.length === 0 || values.length !== spec.length) { bad(`${DIM_EXPECTED} (list values are strings, numbers, true/false or null)`); continue; }
      if (new Set(values.map((v) => JSON.stringify(v))).size !== values.length) { bad('distinct values'); continue; }
      dims.push({ path, kind: 'list', values });
      continue;
    }
    if (!isPlainObject(spec)) { bad(DIM_EXPECTED); continue; }
    const keys = Object.keys(spec).sort().join(',');
    const pair = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) && v[0] < v[1];
    if (keys === 'logUniform') {
      if (!pair(spec.logUniform) || spec.logUniform[0] <= 0) { bad(DIM_EXPECTED, spec.logUniform); continue; }
      dims.push({ path, kind: 'logUniform', lo: spec.logUniform[0], hi: spec.logUniform[1] });
    } else if (keys === 'range' || keys === 'range,step') {
      if (!pair(spec.range)) { bad('{range: [low, high]} with low < high', spec.range); continue; }
      const [lo, hi] = spec.range;
      if (spec.step !== undefined) {
        if (typeof spec.step !== 'number' || !(spec.step > 0) || (hi - lo) / spec.step > MAX_TRIALS) { bad(`a step more than 0 giving at most ${MAX_TRIALS} values over [${lo}, ${hi}]`, spec.step); continue; }
        dims.push({ path, kind: 'range', lo, hi, step: spec.step });
      } else dims.push({ path, kind: 'range', lo, hi });
    } else bad(DIM_EXPECTED);
  }
  return ok ? dims : undefined;
}

/** The values a discrete dimension takes, in order; a stepped range's are rounded so 0.1 + 0.2 reads 0.3. */
export function dimensionValues(d: Dimension): TuneValue[] | undefined {
  if (d.kind === 'list') return d.values;
  if (d.kind === 'range' && d.step !== undefined) {
    const n = Math.floor((d.hi - d.lo) / d.step + 1e-9);
    return Array.from({ length: n + 1 }, (_, i) => roundSig(d.lo + i * d.step!, 12));
  }
  return undefined;
}

export function gridSize(space: readonly Dimension[]): number {
  return space.reduce((n, d) => n * (dimensionValues(d)?.length ?? Infinity), 1);
}

export function roundSig(x: number, digits: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(digits));
}
