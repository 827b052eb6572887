/**
 * The study file: a base training config, the axes to vary, the seeds, and what to compare.
 *
 * ```yaml
 * name: resnet-vs-plain
 * base: { model: resnet34, epochs: 10, optimizer: { name: sgd, lr: 0.01 } }
 * axes:
 *   model: [resnet34, plain34]                 # a list: labels come from the values
 *   augment: { none: [], cutmix: [{ cutmix: { alpha: 1 } }] }   # a mapping: label → value
 *   optimizer.lr: [0.1, 0.01]                  # dotted paths reach into the config
 * seeds: [0, 1, 2]                             # or a count: seeds: 3, or adaptive: { min: 3, max: 10, until: decided }
 * baseline: { augment: none }                  # or a variant name: baseline: resnet34-none-lr0.1
 * compare: [[resnet34, plain34]]               # explicit pairs: [variant, reference]
 * compare: [[cutmix, none]]                    # or two values of one axis: each variant with cutmix
 *                                              # against its twin with none (the other axes equal)
 * maxRuns: 2000                                # the run-count ceiling (default 1,000; --max-runs overrides)
 * ```
 * Parsing checks every field independently and reports all problems at once (StudySpecError).
 */
import { extname } from 'node:path';
import { z } from 'zod';
import { type SpecIssue, StudySpecError, didYouMean, fromZodIssues, issue, formatPath, joinPath } from './spec-issues.js';
import { type PlainObject, blockedPrefix, isDottedPath, isPlainObject, pathsOverlap } from './spec-paths.js';
import { expandShorthand } from '../run/shorthand.js';
import { ConfigFileError, jsonTooDeep, parseYamlText, readConfigText } from '../util/config-file.js';
import { CORRECTIONS, type Correction } from './inference.js';
import { type TuneSpec, checkTune } from './tune/space.js';
import { type AdaptiveSeeds, ADAPTIVE_SEEDS_EXPECTED, parseAdaptiveSeeds } from './sequential.js';

export type AxisValue = string | number | boolean | null;

/** One value an axis takes: `label` names it in run names, `value` goes into the config. */
export interface AxisChoice {
  label: string;
  value: unknown;
  /** What the study index and the report show for this choice: the value itself when scalar, else the label. */
  display: AxisValue;
}

export interface StudyAxis {
  path: string;
  choices: AxisChoice[];
}

/** An explicit variant from `variants:`; its overrides are flattened to dotted leaf paths. */
export interface ExplicitVariant {
  name: string;
  overrides: Record<string, unknown>;
}

/** A study file after validation: name, base config, axes or variants, seeds, comparisons. */
export interface StudySpec {
  /** Where the spec came from (a file path or `<inline>`), for messages. */
  source: string;
  name: string;
  description?: string;
  base: PlainObject;
  axes: StudyAxis[];
  variants?: ExplicitVariant[];
  seeds: number[];
  /** `seeds: { min, max, until: decided }`: seeds 0..max−1 planned, added round by round (see sequential.ts). */
  adaptiveSeeds?: AdaptiveSeeds;
  baseline?: string | Record<string, AxisValue>;
  compare?: [string, string][];
  /** How the comparisons' p-values are adjusted for their number (default holm). */
  correction: Correction;
  /** Seed-to-seed standard deviation of one variant's final accuracy, in points (for `study plan`'s power). */
  noise?: number;
  /** The smallest difference worth detecting, in points: `study plan` says how many seeds it needs. */
  minEffect?: number;
  /** Results the study should reproduce (a paper's claims), checked in the report. */
  expect?: Expectation[];
  /** Seedless variant names in expansion order (explicit variants × axes grid). */
  variantNames: string[];
  /** The search every arm gets before its main runs (see tune/space.ts). */
  tune?: TuneSpec;
}

/** `resnet56 > plain56`, optionally by at least `by` points: a claim the report checks. */
export interface Expectation {
  variant: string;
  reference: string;
  /** The claimed sign of variant − reference. */
  direction: 'greater' | 'less';
  /** Claimed size of the difference, in points (|variant − reference| ≥ by). */
  by?: number;
  source?: string;
  /** As written in the study file, for the report. */
  text: string;
}

/**
 * The most runs a study may have unless raised (`maxRuns:` in the file, `--max-runs` on the command line):
 * a typo such as `seeds: 100000000` must be refused at once, not expanded into a plan that fills the memory.
 */
export const DEFAULT_MAX_RUNS = 1000;
/** The highest ceiling that can be asked for: every run's config is held in memory while a study is planned. */
export const MAX_RUNS_LIMIT = 100_000;

/** Options of reading a study: `maxRuns` overrides the file's `maxRuns:` (the command line's `--max-runs`). */
export interface StudyReadOptions {
  maxRuns?: number;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const NAME_EXPECTED = 'a name of letters, digits, ".", "_", "+" or "-" (it becomes a folder name)';
const nameSchema = z.string({ error: NAME_EXPECTED }).regex(NAME_RE, { error: NAME_EXPECTED });
const MAX_RUNS_EXPECTED = `a whole number of runs from 1 to ${MAX_RUNS_LIMIT.toLocaleString('en')}: the most runs this study may have (default ${DEFAULT_MAX_RUNS.toLocaleString('en')})`;
const scalarSchema = z.union([z.string(), z.number(), z.boolean(), z.null()], { error: 'a string, number, true/false or null' });

/** A quantity in accuracy points, in (0, 100]. */
const points = (expected: string) => z.unknown().refine((x) => typeof x === 'number' && x > 0 && x <= 100, { error: expected });

/** Each top-level field is checked on its own so one bad field never hides problems in another. */
const FIELDS = {
  name: nameSchema,
  description: z.string({ error: 'a string' }),
  base: z.record(z.string(), z.unknown(), { error: 'a mapping: the training config every variant starts from' }),
  axes: z.record(
    z.string(),
    z.union([z.array(z.unknown()).min(1), z.record(z.string(), z.unknown())], { error: 'a non-empty list of values, or a mapping of label → value' }),
    { error: 'a mapping of config path → values, e.g. {model: [resnet34, plain34]}' },
  ),
  variants: z.array(z.record(z.string(), z.unknown(), { error: 'a mapping of config overrides, with an optional name' }), { error: 'a list of variants' }).min(1),
  seeds: z.union([z.array(z.number().int().min(0), { error: 'a list of non-negative integers' }).min(1), z.number().int().min(1),
    z.record(z.string(), z.unknown()).superRefine((o, ctx) => {
      const r = parseAdaptiveSeeds(o);
      if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r, input: o });
    })], {
    error: `a list of non-negative integer seeds, a count (seeds: 3 means [0, 1, 2]), or adaptive seeds ${ADAPTIVE_SEEDS_EXPECTED}`,
  }),
  baseline: z.union([z.string(), z.record(z.string(), scalarSchema)], { error: 'a variant name, or a mapping of axis → value' }),
  compare: z.array(
    z.tuple([z.string(), z.string()], { error: 'a pair [variant, reference]' }),
    { error: 'a list of pairs [variant, reference]' },
  ).min(1),
  correction: z.enum(CORRECTIONS, { error: `one of ${CORRECTIONS.join(', ')} (how p-values are adjusted for the number of comparisons)` }),
  noise: points('a seed-to-seed standard deviation of final accuracy in points, more than 0 and at most 100 (e.g. 0.4)'),
  minEffect: points('the smallest difference worth detecting, in accuracy points, more than 0 and at most 100 (e.g. 1)'),
  expect: z.array(z.unknown(), { error: 'a list of claims such as "resnet56 > plain56"' }).min(1),
  maxRuns: z.unknown().refine((n) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_RUNS_LIMIT, { error: MAX_RUNS_EXPECTED }),
  tune: z.unknown(), // checked by checkTune (tune/space.ts), against the base and the axes
} as const;

type FieldName = keyof typeof FIELDS;
const FIELD_NAMES = Object.keys(FIELDS) as FieldName[];
const REQUIRED: FieldName[] = ['name', 'base'];

/** Parse and check study-file text (YAML, or JSON when the source ends in .json or the text starts with `{`). */
export function parseStudySpec(text: string, source = '<inline>', o: StudyReadOptions = {}): StudySpec {
  return orThrow(inspectStudyText(text, source, o), source);
}

/** Reads and validates a study file (YAML or JSON); throws a StudySpecError listing every problem. */
export function loadStudySpec(file: string, o: StudyReadOptions = {}): StudySpec {
  return orThrow(inspectStudyFile(file, o), file);
}

/** Check an already-parsed study object (e.g. built in code) and normalise it. */
export function checkStudySpec(raw: unknown, source = '<inline>', o: StudyReadOptions = {}): StudySpec {
  return orThrow(inspectStudySpec(raw, source, o), source);
}

/**
 * A study as far as it can be read, and every problem found in it. Fields that fail their check are
 * replaced by neutral stand-ins (no seeds → the base seed, an unknown key → ignored), so the checks
 * that follow (every run's config) still run and report in the same pass.
 */
export interface StudyInspection {
  spec?: StudySpec;
  issues: SpecIssue[];
  /** False when the runs cannot be known (the axes or variants are unreadable): their configs are not checked. */
  runsKnown: boolean;
}

function orThrow(r: StudyInspection, source: string): StudySpec {
  if (r.issues.length > 0 || !r.spec) throw new StudySpecError(source, r.issues);
  return r.spec;
}

export function inspectStudyFile(file: string, o: StudyReadOptions = {}): StudyInspection {
  let text: string;
  try {
    text = readConfigText(file, 'study file');
  } catch (e) {
    const received = e instanceof ConfigFileError ? e.message.replace(/^Expected [^:]*but /, '') : String(e);
    const expected = e instanceof ConfigFileError && e.code === 'too-large' ? /^Expected (.*?) but /.exec(e.message)?.[1] ?? 'a smaller study file' : 'a readable study file';
    return { issues: [{ path: '', expected, received }], runsKnown: false };
  }
  return inspectStudyText(text, file, o);
}

export function inspectStudyText(text: string, source = '<inline>', o: StudyReadOptions = {}): StudyInspection {
  const isJson = extname(source).toLowerCase() === '.json' || /^\s*\{/.test(text);
  let raw: unknown;
  if (isJson) {
    const deep = jsonTooDeep(text);
    if (deep) return { issues: [{ path: `line ${deep.line}, column ${deep.col}`, expected: deep.expected, received: deep.message }], runsKnown: false };
    try {
      raw = JSON.parse(text);
    } catch (e) {
      return { issues: [{ path: '', expected: 'valid JSON', received: (e as Error).message }], runsKnown: false };
    }
  } else {
    const r = parseYamlText(text);
    if (r.errors.length > 0) {
      return {
        issues: r.errors.map((e) => ({ path: e.line !== undefined ? `line ${e.line}, column ${e.col}` : '', expected: e.expected ?? 'valid YAML', received: e.message })),
        runsKnown: false,
      };
    }
    raw = r.value;
  }
  return inspectStudySpec(raw, source, o);
}

export function inspectStudySpec(raw: unknown, source = '<inline>', o: StudyReadOptions = {}): StudyInspection {
  if (!isPlainObject(raw)) return { issues: [issue('', 'a mapping with at least "name" and "base"', raw)], runsKnown: false };
  const issues: SpecIssue[] = [];
  const ok: Partial<Record<FieldName, unknown>> = {};

  for (const key of Object.keys(raw)) {
    if ((FIELD_NAMES as string[]).includes(key)) continue;
    const guess = didYouMean(key, FIELD_NAMES);
    issues.push(issue(formatPath([key]), guess ? `no key "${key}" (did you mean "${guess}"?)` : `only the keys ${FIELD_NAMES.join(', ')}`, raw[key]));
  }
  for (const field of FIELD_NAMES) {
    if (raw[field] === undefined) {
      if (REQUIRED.includes(field)) issues.push(issue(field, field === 'name' ? NAME_EXPECTED : describeField(field), undefined));
      continue;
    }
    const r = FIELDS[field].safeParse(raw[field], { reportInput: true });
    if (r.success) ok[field] = r.data;
    else issues.push(...fromZodIssues(r.error.issues, field, () => []));
  }
  if (raw.axes !== undefined && isPlainObject(raw.axes) && Object.keys(raw.axes).length === 0) {
    issues.push(issue('axes', 'at least one axis (or leave "axes" out)', raw.axes));
    delete ok.axes;
  }
  const runsKnown = ok.base !== undefined && (raw.axes === undefined || ok.axes !== undefined) && (raw.variants === undefined || ok.variants !== undefined);

  const base = structuredClone((ok.base as PlainObject | undefined) ?? {});
  // A dotted path into a shorthand (`model.shortcut` under `model: resnet34`) turns it into its object form.
  const tuned = isPlainObject(raw.tune) && isPlainObject(raw.tune.space) ? Object.keys(raw.tune.space).filter(isDottedPath) : [];
  const paths = [...Object.keys((ok.axes as PlainObject | undefined) ?? {}), ...((ok.variants as PlainObject[] | undefined) ?? []).flatMap((v) => Object.keys(flattenOverrides(v))), ...tuned];
  for (const p of paths) expandShorthand(base, p);
  const axes = ok.axes ? checkAxes(ok.axes as Record<string, unknown>, base, issues) : [];
  const variants = ok.variants ? checkVariants(ok.variants as PlainObject[], base, axes, issues) : undefined;
  // Counted before anything is expanded: the grid, the names and the seed list are all as long as this.
  let ceiling = ok.maxRuns as number | undefined;
  if (o.maxRuns !== undefined) {
    if (Number.isInteger(o.maxRuns) && o.maxRuns >= 1 && o.maxRuns <= MAX_RUNS_LIMIT) ceiling = o.maxRuns;
    else issues.push(issue('--max-runs', MAX_RUNS_EXPECTED, o.maxRuns));
  }
  const adaptiveSeeds = isPlainObject(ok.seeds) ? parseAdaptiveSeeds(ok.seeds) as AdaptiveSeeds : undefined;
  // Adaptive seeds plan seeds 0..max−1; the ceiling holds for the most the study can take.
  const seedField = adaptiveSeeds ? adaptiveSeeds.max : ok.seeds as number | number[] | undefined;
  const tooMany = runCountIssue(axes, variants, seedField, ceiling);
  if (tooMany) return { issues: [...issues, tooMany], runsKnown: false };
  const seeds = resolveSeeds(seedField, base, issues);

  const variantNames = combineNames(variants, axes, issues);
  const baseline = ok.baseline as StudySpec['baseline'];
  if (baseline !== undefined) checkBaseline(baseline, variantNames, axes, variants, issues);
  const compare = ok.compare as [string, string][] | undefined;
  if (compare) checkCompare(compare, variantNames, axes, issues);
  const expect = ok.expect ? checkExpect(ok.expect as unknown[], variantNames, issues) : undefined;
  const tune = raw.tune !== undefined ? checkTune(raw.tune, base, axes.map((a) => a.path), issues) : undefined;

  const spec: StudySpec = {
    source,
    name: (ok.name as string | undefined) ?? 'study',
    ...(ok.description !== undefined ? { description: ok.description as string } : {}),
    base,
    axes,
    ...(variants ? { variants } : {}),
    seeds,
    ...(adaptiveSeeds ? { adaptiveSeeds } : {}),
    ...(baseline !== undefined && issues.every((i) => !i.path.startsWith('baseline')) ? { baseline } : {}),
    ...(compare && issues.every((i) => !i.path.startsWith('compare')) ? { compare } : {}),
    correction: (ok.correction as Correction | undefined) ?? 'holm',
    ...(ok.noise !== undefined ? { noise: ok.noise as number } : {}),
    ...(ok.minEffect !== undefined ? { minEffect: ok.minEffect as number } : {}),
    ...(expect && expect.length > 0 ? { expect } : {}),
    variantNames,
    ...(tune ? { tune } : {}),
  };
  return { spec, issues, runsKnown };
}

/** The refusal of a study with more runs than its ceiling (counted arithmetically), or undefined. */
function runCountIssue(axes: StudyAxis[], variants: ExplicitVariant[] | undefined, seeds: number | number[] | undefined, ceiling = DEFAULT_MAX_RUNS): SpecIssue | undefined {
  const seedCount = typeof seeds === 'number' ? seeds : seeds ? new Set(seeds).size : 1;
  const factors = [
    ...(variants ? [[variants.length, 'variant']] as const : []),
    ...axes.map((a) => [a.choices.length, `value${a.choices.length === 1 ? '' : 's'} of ${a.path}`] as const),
    [seedCount, 'seed'] as const,
  ];
  const runs = factors.reduce((n, [k]) => n * k, 1);
  if (runs <= ceiling) return undefined;
  const n = (x: number) => x.toLocaleString('en');
  const product = factors.map(([k, what]) => `${n(k)} ${what}${what.endsWith('variant') || what === 'seed' ? (k === 1 ? '' : 's') : ''}`).join(' × ');
  return {
    path: '',
    expected: runs > MAX_RUNS_LIMIT
      ? `at most ${n(ceiling)} runs (the ceiling, which goes up to ${n(MAX_RUNS_LIMIT)}: fewer seeds or axis values, or several studies)`
      : `at most ${n(ceiling)} runs (the ceiling; if you mean it, raise it with "maxRuns: ${runs}" in the study file or --max-runs ${runs})`,
    received: `${n(runs)} runs (${product})`,
  };
}

function describeField(field: FieldName): string {
  return field === 'base' ? 'a mapping: the training config every variant starts from' : 'a value';
}

function resolveSeeds(seeds: number | number[] | undefined, base: PlainObject, issues: SpecIssue[]): number[] {
  // A base seed that is not a seed (`seed: true`, `seed: 1.5`) is an error even where `seeds:` replaces it.
  const baseSeedOk = base.seed === undefined || (typeof base.seed === 'number' && Number.isInteger(base.seed) && base.seed >= 0);
  if (!baseSeedOk) issues.push(issue('base.seed', 'a non-negative integer (or leave it out and list seeds in "seeds:")', base.seed));
  if (typeof seeds === 'number') return Array.from({ length: seeds }, (_, i) => i);
  if (seeds) return [...new Set(seeds)];
  return [baseSeedOk && typeof base.seed === 'number' ? base.seed : 0];
}

/** The run-name fragment for a scalar value: strings as they are, numbers/booleans prefixed with the field. */
export function labelFor(path: string, value: AxisValue): string {
  const field = path.split('.').pop()!;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return `${field}${value}`;
  if (typeof value === 'boolean') return value ? field : `no-${field}`;
  return `no-${field}`;
}

function isScalar(v: unknown): v is AxisValue {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

function checkAxes(rawAxes: Record<string, unknown>, base: PlainObject, issues: SpecIssue[]): StudyAxis[] {
  const axes: StudyAxis[] = [];
  for (const [path, spec] of Object.entries(rawAxes)) {
    const where = formatPath(['axes', path]);
    if (!isDottedPath(path)) {
      issues.push(issue(where, 'a config path such as "model" or "optimizer.lr"', path));
      continue;
    }
    if (path === 'seed') {
      issues.push(issue(where, 'no "seed" axis (use the top-level "seeds:" list)', spec));
      continue;
    }
    const blocked = blockedPrefix(base, path);
    if (blocked) {
      issues.push(issue(where, `a path into a mapping, but base.${blocked} is not a mapping`, pathValue(base, blocked)));
      continue;
    }
    const choices: AxisChoice[] = [];
    if (Array.isArray(spec)) {
      spec.forEach((v, i) => {
        if (!isScalar(v)) {
          issues.push(issue(`${where}[${i}]`, `a string, number, true/false or null (name list or mapping values: ${path}: {label: value, ...})`, v));
        } else if (v === '') {
          issues.push(issue(`${where}[${i}]`, 'a non-empty string', v));
        } else {
          choices.push({ label: labelFor(path, v), value: v, display: v });
        }
      });
    } else {
      for (const [label, v] of Object.entries(spec as PlainObject)) {
        if (!NAME_RE.test(label)) issues.push(issue(formatPath(['axes', path, label]), `a label of letters, digits, ".", "_", "+" or "-"`, label));
        else choices.push({ label, value: v, display: label });
      }
    }
    // Keep the first of duplicated values so the duplicate is reported once, not again as a name collision.
    const labels = new Set<string>();
    const unique = choices.filter((c) => {
      const first = !labels.has(c.label);
      if (!first) issues.push(issue(where, `distinct values ("${c.label}" appears twice)`, spec));
      labels.add(c.label);
      return first;
    });
    axes.push({ path, choices: unique });
  }
  for (let i = 0; i < axes.length; i++) {
    for (let j = i + 1; j < axes.length; j++) {
      if (pathsOverlap(axes[i].path, axes[j].path)) {
        issues.push(issue(formatPath(['axes', axes[j].path]), `an axis that does not overlap axis "${axes[i].path}"`, axes[j].path));
      }
    }
  }
  return axes;
}

function pathValue(obj: PlainObject, path: string): unknown {
  let cur: unknown = obj;
  for (const p of path.split('.')) cur = isPlainObject(cur) ? cur[p] : undefined;
  return cur;
}

/** `{optimizer: {lr: 0.1}, 'data.imageSize': 64}` → `{'optimizer.lr': 0.1, 'data.imageSize': 64}`. */
export function flattenOverrides(obj: PlainObject, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isPlainObject(v) && Object.keys(v).length > 0) flattenOverrides(v, path, out);
    else out[path] = v;
  }
  return out;
}

function checkVariants(raw: PlainObject[], base: PlainObject, axes: StudyAxis[], issues: SpecIssue[]): ExplicitVariant[] {
  const out: ExplicitVariant[] = [];
  raw.forEach((entry, i) => {
    const where = `variants[${i}]`;
    const { name, ...rest } = entry;
    const overrides = flattenOverrides(rest);
    let ok = true;
    for (const path of Object.keys(overrides)) {
      const p = joinPath(where, formatPath([path]));
      if (!isDottedPath(path)) { issues.push(issue(p, 'a config path such as "model" or "optimizer.lr"', path)); ok = false; continue; }
      const blocked = blockedPrefix(base, path);
      if (blocked) { issues.push(issue(p, `a path into a mapping, but base.${blocked} is not a mapping`, pathValue(base, blocked))); ok = false; }
      const axis = axes.find((a) => pathsOverlap(a.path, path));
      if (axis) { issues.push(issue(p, `a path that is not also axis "${axis.path}"`, overrides[path])); ok = false; }
      if (path === 'seed') { issues.push(issue(p, 'no per-variant seed (use the top-level "seeds:" list)', overrides[path])); ok = false; }
    }
    let resolved: string | undefined;
    if (name !== undefined) {
      if (typeof name !== 'string' || !NAME_RE.test(name)) { issues.push(issue(`${where}.name`, NAME_EXPECTED, name)); ok = false; }
      else resolved = name;
    } else {
      const entries = Object.entries(overrides);
      if (entries.length === 0) resolved = 'base';
      else if (entries.every(([, v]) => isScalar(v))) resolved = entries.map(([p, v]) => sanitize(labelFor(p, v as AxisValue))).join('-');
      else { issues.push(issue(`${where}.name`, 'a name (required when an override is a list or mapping)', undefined)); ok = false; }
    }
    if (ok && resolved !== undefined) out.push({ name: resolved, overrides });
  });
  return out;
}

/** Keep run names usable as folder names on every OS. */
export function sanitize(label: string): string {
  return label.replace(/[^A-Za-z0-9._+-]+/g, '_');
}

/** Seedless names for (explicit variant × axes grid), in expansion order; duplicates are reported. */
function combineNames(variants: ExplicitVariant[] | undefined, axes: StudyAxis[], issues: SpecIssue[]): string[] {
  const names: string[] = [];
  for (const v of variants ?? [undefined]) {
    for (const point of gridPoints(axes)) {
      const parts = [...(v ? [v.name] : []), ...point.map((c) => sanitize(c.label))];
      names.push(parts.length > 0 ? parts.join('-') : 'base');
    }
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) issues.push(issue(variants ? 'variants' : 'axes', `values that give every variant a distinct name ("${n}" comes out twice)`, n));
    seen.add(n);
  }
  return names;
}

/** Cartesian product of the axes' choices, first axis slowest (so `model` groups rows in tables). */
export function gridPoints(axes: StudyAxis[]): AxisChoice[][] {
  let points: AxisChoice[][] = [[]];
  for (const axis of axes) points = points.flatMap((p) => axis.choices.map((c) => [...p, c]));
  return points;
}

function checkBaseline(baseline: string | Record<string, AxisValue>, names: string[], axes: StudyAxis[], variants: ExplicitVariant[] | undefined, issues: SpecIssue[]): void {
  if (typeof baseline === 'string') {
    if (!names.includes(baseline)) issues.push(issue('baseline', oneOfNames(baseline, names), baseline));
    return;
  }
  const axisNames = [...axes.map((a) => a.path), ...(variants ? ['variant'] : [])];
  for (const [key, value] of Object.entries(baseline)) {
    const where = formatPath(['baseline', key]);
    if (key === 'variant' && variants) {
      if (!variants.some((v) => v.name === value)) issues.push(issue(where, oneOfNames(String(value), variants.map((v) => v.name)), value));
      continue;
    }
    const axis = axes.find((a) => a.path === key);
    if (!axis) { issues.push(issue(where, `an axis name: ${axisNames.map((n) => `"${n}"`).join(', ') || '(this study has no axes)'}`, key)); continue; }
    if (!axis.choices.some((c) => c.display === value || c.label === value)) {
      issues.push(issue(where, `one of the values of axis "${key}": ${axis.choices.map((c) => JSON.stringify(c.display)).join(', ')}`, value));
    }
  }
}

function checkCompare(pairs: [string, string][], names: string[], axes: StudyAxis[], issues: SpecIssue[]): void {
  pairs.forEach((pair, i) => {
    if (pair[0] === pair[1]) issues.push(issue(`compare[${i}]`, 'two different variants', pair));
    if (pair.every((n) => names.includes(n)) || axisOfPair(axes, pair)) return;
    pair.forEach((n, j) => {
      if (!names.includes(n)) issues.push(issue(`compare[${i}][${j}]`, `${oneOfNames(n, names)}, or two values of one axis`, n));
    });
  });
}

/** The axis whose values a compare pair names (`[cutmix, none]`), when it is not a pair of variant names. */
export function axisOfPair(axes: StudyAxis[], pair: [string, string]): StudyAxis | undefined {
  return axes.find((a) => pair.every((n) => choiceNamed(a, n)));
}

/** The choice of an axis a name refers to: its label, or its value as written. */
export function choiceNamed(axis: StudyAxis, name: string): AxisChoice | undefined {
  return axis.choices.find((c) => c.label === name || String(c.display) === name);
}

const EXPECT_KEYS = ['that', 'by', 'source'];
const CLAIM_EXPECTED = 'a claim "variant > reference", or {that: "variant > reference", by: ">= 5", source: "…"}';

/** `a > b` / `a < b` between two variant names; `by: ">= 5"` (or 5) in accuracy points. Each entry is checked on its own. */
function checkExpect(raw: unknown[], names: string[], issues: SpecIssue[]): Expectation[] {
  const out: Expectation[] = [];
  raw.forEach((entry, i) => {
    if (typeof entry !== 'string' && !isPlainObject(entry)) { issues.push(issue(`expect[${i}]`, CLAIM_EXPECTED, entry)); return; }
    const e = (typeof entry === 'string' ? { that: entry } : entry) as { that?: unknown; by?: unknown; source?: unknown };
    let bad = false;
    for (const key of Object.keys(e).filter((k) => !EXPECT_KEYS.includes(k))) {
      const guess = didYouMean(key, EXPECT_KEYS);
      issues.push(issue(`expect[${i}].${key}`, guess ? `no key "${key}" (did you mean "${guess}"?)` : `only the keys ${EXPECT_KEYS.join(', ')}`, (e as PlainObject)[key]));
      bad = true;
    }
    if (e.source !== undefined && typeof e.source !== 'string') { issues.push(issue(`expect[${i}].source`, 'a string naming where the claim comes from', e.source)); bad = true; }
    const where = typeof entry === 'string' ? `expect[${i}]` : `expect[${i}].that`;
    if (typeof e.that !== 'string') { issues.push(issue(where, CLAIM_EXPECTED, e.that)); return; }
    const m = /^\s*([^\s<>]+)\s*([<>])\s*([^\s<>]+)\s*$/.exec(e.that);
    if (!m) { issues.push(issue(where, 'a claim "variant > reference" or "variant < reference"', e.that)); return; }
    const [, a, op, b] = m;
    let ok = !bad;
    for (const [n, j] of [[a, 0], [b, 1]] as const) {
      if (!names.includes(n)) { issues.push(issue(where, `${j === 0 ? 'left' : 'right'} side ${oneOfNames(n, names)}`, n)); ok = false; }
    }
    if (ok && a === b) { issues.push(issue(where, 'two different variants', e.that)); ok = false; }
    let by: number | undefined;
    if (e.by !== undefined) {
      const bm = typeof e.by === 'number' ? [String(e.by), String(e.by)] : typeof e.by === 'string' ? /^\s*(?:>=|≥)?\s*([0-9]+(?:\.[0-9]+)?)\s*$/.exec(e.by) : null;
      by = bm ? Number(bm[1]) : NaN;
      if (!(by > 0 && by <= 100)) { issues.push(issue(`expect[${i}].by`, 'a claimed size in accuracy points, e.g. ">= 5" or 5 (more than 0, at most 100)', e.by)); ok = false; }
    }
    if (!ok) return;
    out.push({
      variant: a, reference: b, direction: op === '>' ? 'greater' : 'less', text: e.that.trim(),
      ...(by !== undefined ? { by } : {}), ...(typeof e.source === 'string' ? { source: e.source } : {}),
    });
  });
  return out;
}

function oneOfNames(got: string, names: string[]): string {
  const guess = didYouMean(got, names);
  const list = names.length <= 8 ? names.join(', ') : `${names.slice(0, 8).join(', ')}, … (${names.length} in all)`;
  return guess ? `a variant name (did you mean "${guess}"?)` : `a variant name: ${list}`;
}

export { StudySpecError, type SpecIssue } from './spec-issues.js';
