import type { Correction } from './inference.js';
import type { AdaptiveSeeds } from './sequential.js';
import { type AxisValue, type Expectation, type StudyAxis, type StudySpec, axisOfPair, choiceNamed, gridPoints, sanitize } from './spec.js';
import { type SpecIssue, StudySpecError, issue } from './spec-issues.js';
import { type ConfigOverride, parseSetOverrides } from './spec-overrides.js';
import { type PlainObject, blockedPrefix, cloneJson, dropNulls, getPath, pathsOverlap, setPath } from './spec-paths.js';
import { expandShorthand } from '../run/shorthand.js';
import type { TunePlan } from './tune/plan.js';

/** One training run of a study: a variant at one seed. */
export interface PlannedRun {
  /** Unique, readable, folder-safe: `resnet50-cutmix-seed1`. */
  name: string;
  /** The variant without the seed (`resnet50-cutmix`); runs that differ only in seed share it. */
  variant: string;
  /** Axis path → the value shown in tables (the value itself when scalar, else its label). */
  axes: Record<string, AxisValue>;
  seed: number;
  /** The full training config for this run: base ⊕ overrides ⊕ variant ⊕ axes, with `seed` set. */
  config: PlainObject;
}

/** A pair to compare: `variant` against `reference` (difference = variant − reference). */
export interface Comparison {
  variant: string;
  reference: string;
}

export interface ExpandedStudy {
  name: string;
  description?: string;
  /** Axis path → its values in order (for the study index and the report's columns). */
  axes: Record<string, AxisValue[]>;
  seeds: number[];
  /** Seedless variant names in expansion order. */
  variants: string[];
  /** Runs seed-major (every variant at the first seed, then the next seed), so a study cut short still compares all variants. */
  runs: PlannedRun[];
  comparisons: Comparison[];
  baseline?: string | Record<string, AxisValue>;
  statistics: StudyStatistics;
  /** The tuning stage that runs before these runs (set by planStudy when the study file has `tune:`). */
  tune?: TunePlan;
}

/** The study file's statistical settings, carried into the study index for the report. */
export interface StudyStatistics {
  correction: Correction;
  noise?: number;
  minEffect?: number;
  expect?: Expectation[];
  /** `seeds: { min, max, until: decided }`: the report replays the looks (sequential.ts). */
  adaptiveSeeds?: AdaptiveSeeds;
}

/** A problem the training layer finds in a resolved config; `path` is dotted within the config. */
export interface ConfigProblem {
  path: string;
  message: string;
}

export interface ExpandOptions {
  /** `--data`: replaces `base.data.path`, so bundled studies run against wherever the user keeps the data. */
  dataPath?: string;
  /** `--set key=value` overrides (parsed or raw strings), applied to the base before axes. */
  overrides?: readonly (ConfigOverride | string)[];
  /** The training layer's config check, run on every resolved config; problems are reported together. */
  validate?: (config: PlainObject) => ConfigProblem[];
  /** Problems already found in the study file (see inspectStudySpec), thrown together with these. */
  priorIssues?: readonly SpecIssue[];
}

/** Expand a checked spec into runs and comparisons. Throws StudySpecError listing every problem. */
export function expandStudy(spec: StudySpec, options: ExpandOptions = {}): ExpandedStudy {
  const issues: SpecIssue[] = [...(options.priorIssues ?? [])];
  const base = cloneJson(spec.base);

  if (options.dataPath !== undefined) {
    if (typeof options.dataPath !== 'string' || options.dataPath === '') issues.push(issue('--data', 'a data folder path', options.dataPath));
    else applyOverride(base, { path: 'data.path', value: options.dataPath }, '--data', issues);
  }
  const overrides = (options.overrides ?? []).map((o) => (typeof o === 'string' ? parseSetOverrides([o])[0] : o));
  for (const o of overrides) {
    const axis = spec.axes.find((a) => pathsOverlap(a.path, o.path));
    const explicit = spec.variants?.find((v) => Object.keys(v.overrides).some((p) => pathsOverlap(p, o.path)));
    if (axis) issues.push(issue(`--set ${o.path}`, `a path that is not axis "${axis.path}" of this study (edit the study file to change an axis)`, o.value));
    else if (explicit) issues.push(issue(`--set ${o.path}`, `a path that variant "${explicit.name}" does not set`, o.value));
    else {
      expandShorthand(base, o.path);
      applyOverride(base, o, `--set ${o.path}`, issues);
    }
  }

  const runs: PlannedRun[] = [];
  const byVariant: { name: string; axes: Record<string, AxisValue>; config: PlainObject }[] = [];
  const axisPaths = spec.axes.map((a) => a.path);
  const variantKeys = [...new Set((spec.variants ?? []).flatMap((v) => Object.keys(v.overrides)))];
  let k = 0;
  for (const explicit of spec.variants ?? [undefined]) {
    for (const point of gridPoints(spec.axes)) {
      const config = cloneJson(base);
      const axes: Record<string, AxisValue> = {};
      if (explicit) {
        if (spec.axes.length > 0) axes.variant = explicit.name;
        for (const [p, v] of Object.entries(explicit.overrides)) setPath(config, p, v);
        for (const p of variantKeys) axes[p] = displayOf(getPath(config, p));
      }
      point.forEach((c, i) => {
        setPath(config, axisPaths[i], c.value);
        axes[axisPaths[i]] = c.display;
      });
      byVariant.push({ name: spec.variantNames[k++], axes, config });
    }
  }
  for (const seed of spec.seeds) {
    for (const v of byVariant) {
      // A null in a study file means "leave unset" (`pretrained: null`, `--set pretrained=null`): the
      // training config has no nullable fields, so nulls are dropped rather than passed on.
      const config = dropNulls(cloneJson(v.config));
      config.seed = seed;
      runs.push({ name: `${v.name}-seed${seed}`, variant: v.name, axes: { ...v.axes }, seed, config });
    }
  }

  if (options.validate) issues.push(...validateRuns(runs, options.validate));
  if (issues.length > 0) throw new StudySpecError(spec.source, issues);

  const axes: Record<string, AxisValue[]> = {};
  if (spec.variants) {
    if (spec.axes.length > 0) axes.variant = spec.variants.map((v) => v.name);
    for (const p of variantKeys) axes[p] = [...new Set(byVariant.map((v) => v.axes[p]))];
  }
  for (const a of spec.axes) axes[a.path] = a.choices.map((c) => c.display);

  return {
    name: spec.name,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    axes,
    seeds: spec.seeds,
    variants: byVariant.map((v) => v.name),
    runs,
    comparisons: resolveComparisons(spec, byVariant),
    ...(spec.baseline !== undefined ? { baseline: spec.baseline } : {}),
    statistics: {
      correction: spec.correction,
      ...(spec.noise !== undefined ? { noise: spec.noise } : {}),
      ...(spec.minEffect !== undefined ? { minEffect: spec.minEffect } : {}),
      ...(spec.expect ? { expect: spec.expect } : {}),
      ...(spec.adaptiveSeeds ? { adaptiveSeeds: spec.adaptiveSeeds } : {}),
    },
  };
}

function applyOverride(base: PlainObject, o: ConfigOverride, where: string, issues: SpecIssue[]): void {
  const blocked = blockedPrefix(base, o.path);
  if (blocked) issues.push(issue(where, `a path into a mapping, but base.${blocked} is not a mapping`, getPath(base, blocked)));
  else setPath(base, o.path, o.value);
}

function displayOf(v: unknown): AxisValue {
  if (v === undefined) return null;
  if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return v as AxisValue;
  return sanitize(JSON.stringify(v).replace(/"/g, ''));
}

/**
 * Problems the validator finds in many runs (typically a bad base field) are reported once,
 * naming the runs affected, instead of once per run.
 */
function validateRuns(runs: PlannedRun[], validate: (c: PlainObject) => ConfigProblem[]): SpecIssue[] {
  const grouped = new Map<string, { problem: ConfigProblem; runs: PlannedRun[] }>();
  // The runs of a variant differ only in their seed, which the study file's check has covered: one config
  // per variant is checked (a study of 1,000 seeds checked every copy, most of its planning time).
  const byVariant = new Map<string, PlannedRun[]>();
  for (const run of runs) {
    const same = byVariant.get(run.variant);
    if (same) same.push(run);
    else byVariant.set(run.variant, [run]);
  }
  for (const same of byVariant.values()) {
    let problems: ConfigProblem[];
    try {
      problems = validate(cloneJson(same[0]!.config));
    } catch (e) {
      problems = [{ path: '', message: `a config the validator accepts (it threw: ${(e as Error).message})` }];
    }
    for (const p of problems) {
      const key = `${p.path}\u0000${p.message}`;
      const g = grouped.get(key) ?? { problem: p, runs: [] };
      g.runs.push(...same);
      grouped.set(key, g);
    }
  }
  const order = new Map(runs.map((r, i) => [r, i]));
  for (const g of grouped.values()) g.runs.sort((a, b) => order.get(a)! - order.get(b)!);
  return [...grouped.values()].map(({ problem, runs: affected }) => {
    const names = affected.length === runs.length ? 'every run'
      : affected.length <= 3 ? affected.map((r) => r.name).join(', ')
        : `${affected.slice(0, 3).map((r) => r.name).join(', ')} and ${affected.length - 3} more`;
    const m = /^expected (.*?)(?:(?:,| but) received (.*))?$/is.exec(problem.message.trim());
    const value = problem.path ? getPath(affected[0].config, problem.path) : affected[0].config;
    const base = issue(`config${problem.path ? '.' + problem.path : ''} (${names})`, m ? m[1] : problem.message, value);
    return m?.[2] ? { ...base, received: m[2] } : base;
  });
}

/**
 * Turn `compare:` pairs and `baseline:` into concrete (variant, reference) pairs. An axis-valued
 * baseline (`{augment: none}`) compares each variant with its twin that differs only in those axes,
 * so `model × augment` studies compare augmentations within each model. With neither given, every
 * variant is compared with the first one.
 */
function resolveComparisons(spec: StudySpec, variants: { name: string; axes: Record<string, AxisValue> }[]): Comparison[] {
  const out: Comparison[] = [];
  const add = (variant: string, reference: string) => {
    if (variant !== reference && !out.some((c) => c.variant === variant && c.reference === reference)) out.push({ variant, reference });
  };
  for (const [a, b] of spec.compare ?? []) {
    if (variants.some((v) => v.name === a) && variants.some((v) => v.name === b)) {
      add(a, b);
      continue;
    }
    // Two values of one axis: every variant with the first against its twin with the second.
    const axis = axisOfPair(spec.axes, [a, b]);
    if (!axis) continue;
    const [ca, cb] = [choiceNamed(axis, a)!, choiceNamed(axis, b)!];
    for (const v of variants) {
      if (v.axes[axis.path] !== ca.display) continue;
      const twin = variants.find((w) => w.axes[axis.path] === cb.display && Object.keys(v.axes).every((k) => k === axis.path || w.axes[k] === v.axes[k]));
      if (twin) add(v.name, twin.name);
    }
  }
  const baseline = spec.baseline ?? (spec.compare ? undefined : variants[0]?.name);
  if (typeof baseline === 'string') {
    for (const v of variants) add(v.name, baseline);
  } else if (baseline) {
    const matches = (axes: Record<string, AxisValue>) =>
      Object.entries(baseline).every(([k, val]) => axes[k] === val || labelMatches(spec.axes, k, axes[k], val));
    for (const v of variants) {
      if (matches(v.axes)) continue;
      const twin = variants.find((w) => matches(w.axes) && Object.keys(v.axes).every((k) => k in baseline || w.axes[k] === v.axes[k]));
      if (twin) add(v.name, twin.name);
    }
  }
  // A claim to check is a comparison too (in the direction already listed, if it is).
  for (const e of spec.expect ?? []) {
    if (!out.some((c) => c.variant === e.reference && c.reference === e.variant)) add(e.variant, e.reference);
  }
  return out;
}

function labelMatches(axes: StudyAxis[], path: string, display: AxisValue, wanted: AxisValue): boolean {
  const axis = axes.find((a) => a.path === path);
  return !!axis?.choices.some((c) => c.display === display && c.label === wanted);
}
