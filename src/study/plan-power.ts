/**
 * Power before compute, for `ablate study plan`: per comparison, the smallest difference the study's
 * seeds can detect (80% power, two-sided paired t-test at the study's α after correction) and how many
 * seeds a stated `minEffect:` needs. Seed-to-seed noise comes from a previous study folder
 * (`--noise-from`), where each comparison run there is measured directly, or from `noise:` in the study file.
 */
import { existsSync, statSync } from 'node:fs';
import { minDetectableEffect, pairsNeeded } from './inference.js';
import { lookSchedule } from './sequential.js';
import { readStudy } from './run-files.js';
import { summariseVariants, type VariantSummary } from './report/summary.js';
import type { Comparison, ExpandedStudy } from './spec-expand.js';
import { mean, sampleStd } from './stats.js';

export const POWER = 0.8;
/** The most seeds a study is ever told it needs; beyond it, "more than". */
export const MAX_SEEDS = 1000;

/** Seed-to-seed noise measured in an earlier study folder. */
export interface PreviousNoise {
  dir: string;
  variants: VariantSummary[];
  /** Pooled seed-to-seed standard deviation of one variant's final accuracy (fraction), and its degrees of freedom. */
  pooled: { std: number; df: number; variants: number };
}

export class NoiseSourceError extends Error {}

/** Reads a finished study folder's seed-to-seed spread; throws NoiseSourceError saying what was expected. */
export function readPreviousNoise(dir: string): PreviousNoise {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new NoiseSourceError(`--noise-from: expected a study folder (the output of an earlier \`ablate study run\`) but ${JSON.stringify(dir)} ${existsSync(dir) ? 'is not a folder' : 'does not exist'}`);
  }
  const study = readStudy(dir);
  if (study.runs.length === 0) throw new NoiseSourceError(`--noise-from: expected a study folder with run folders in it, but ${dir} has none`);
  const variants = summariseVariants(study);
  let ss = 0;
  let df = 0;
  let used = 0;
  for (const v of variants) {
    const xs = v.finished.map((r) => r.finalValAcc!);
    if (xs.length < 2) continue;
    const m = mean(xs);
    ss += xs.reduce((s, x) => s + (x - m) ** 2, 0);
    df += xs.length - 1;
    used++;
  }
  if (df === 0) {
    const most = Math.max(0, ...variants.map((v) => v.finished.length));
    throw new NoiseSourceError(`--noise-from: expected a study whose variants finished two or more seeds each, but in ${dir} each has at most ${most} finished seed${most === 1 ? '' : 's'}; run it with seeds: [0, 1, 2] or state noise: in the study file`);
  }
  return { dir, variants, pooled: { std: Math.sqrt(ss / df), df, variants: used } };
}

export interface ComparisonPower {
  variant: string;
  reference: string;
  /** Standard deviation over seeds of the paired difference (variant − reference), in points. */
  sigmaDiff?: number;
  /** Where sigmaDiff came from, in words. */
  source: string;
  seeds: number;
  /** Smallest difference (points) detected with 80% power; undefined without a noise estimate, Infinity with one seed. */
  minDetectable?: number;
  /** Seeds `minEffect` needs (undefined: more than MAX_SEEDS, or no noise estimate). */
  seedsForMinEffect?: number;
}

export interface PowerPlan {
  seeds: number;
  comparisons: ComparisonPower[];
  correction: ExpandedStudy['statistics']['correction'];
  /** α of one comparison: the study's α divided by the comparisons for Holm or BH (their strictest step). */
  alpha: number;
  familyAlpha: number;
  /** Adaptive seeds: the power is that of the last look alone, at its share of α (earlier looks only add to it). */
  lastLookAlpha?: number;
  minEffect?: number;
  /** Where the noise came from overall: `noise:` in the study file, a previous study, or nowhere. */
  noise: 'study-file' | 'previous-study' | 'none';
}

/** The paired-difference spread of a comparison measured directly in a previous study, when both variants ran the same ≥2 seeds there. */
function measuredPair(prev: PreviousNoise, c: Comparison): { std: number; n: number } | undefined {
  const a = prev.variants.find((v) => v.name === c.variant);
  const b = prev.variants.find((v) => v.name === c.reference);
  if (!a || !b) return undefined;
  const bySeed = new Map(b.finished.map((r) => [r.run.seed, r.finalValAcc!]));
  const d = a.finished.filter((r) => bySeed.has(r.run.seed)).map((r) => r.finalValAcc! - bySeed.get(r.run.seed)!);
  return d.length >= 2 ? { std: sampleStd(d), n: d.length } : undefined;
}

export function planPower(study: ExpandedStudy, o: { previous?: PreviousNoise; level?: number } = {}): PowerPlan {
  const stats = study.statistics;
  const familyAlpha = Number((1 - (o.level ?? 0.95)).toFixed(12));
  const m = study.comparisons.length;
  // Adaptive seeds: at max seeds the last look tests at its share of α only.
  const lastLookAlpha = stats.adaptiveSeeds ? lookSchedule(stats.adaptiveSeeds, familyAlpha).at(-1)!.alpha : undefined;
  const level = lastLookAlpha ?? familyAlpha;
  const alpha = stats.correction === 'none' || m <= 1 ? level : level / m;
  const n = study.seeds.length;
  const noise: PowerPlan['noise'] = o.previous ? 'previous-study' : stats.noise !== undefined ? 'study-file' : 'none';
  const comparisons = study.comparisons.map((c): ComparisonPower => {
    let sigma: number | undefined;
    let source: string;
    const pair = o.previous ? measuredPair(o.previous, c) : undefined;
    if (o.previous && pair) {
      sigma = 100 * pair.std;
      source = `paired differences over ${pair.n} seeds in ${o.previous.dir}`;
    } else if (o.previous) {
      // Independent seeds of two variants: the difference's variance is twice one variant's.
      sigma = 100 * Math.SQRT2 * o.previous.pooled.std;
      source = `√2 × seed-to-seed σ ${(100 * o.previous.pooled.std).toFixed(2)} pooled over ${o.previous.pooled.variants} variant${o.previous.pooled.variants === 1 ? '' : 's'} of ${o.previous.dir}`;
    } else if (stats.noise !== undefined) {
      sigma = Math.SQRT2 * stats.noise;
      source = `√2 × noise: ${stats.noise} from the study file`;
    } else {
      source = 'unknown: give noise: in the study file or --noise-from a previous study folder';
    }
    const out: ComparisonPower = { variant: c.variant, reference: c.reference, source, seeds: n };
    if (sigma === undefined) return out;
    out.sigmaDiff = sigma;
    // Zero spread measured: any difference is detectable with two seeds; say so rather than divide by zero.
    out.minDetectable = n < 2 ? Infinity : sigma === 0 ? 0 : minDetectableEffect(n, alpha, POWER) * sigma;
    if (stats.minEffect !== undefined) {
      const need = sigma === 0 ? 2 : pairsNeeded(stats.minEffect / sigma, alpha, POWER, MAX_SEEDS);
      if (need !== undefined) out.seedsForMinEffect = Math.max(2, need);
    }
    return out;
  });
  return { seeds: n, comparisons, correction: stats.correction, alpha, familyAlpha, ...(lastLookAlpha !== undefined ? { lastLookAlpha } : {}), noise, ...(stats.minEffect !== undefined ? { minEffect: stats.minEffect } : {}) };
}

/** The plan's power section as lines of text. */
export function formatPowerPlan(p: PowerPlan): string[] {
  const level = p.lastLookAlpha !== undefined ? `${+p.lastLookAlpha.toPrecision(2)} (the last look's share of α = ${+p.familyAlpha.toFixed(4)} with adaptive seeds; earlier looks only add power)` : `${+p.familyAlpha.toFixed(4)}`;
  const corr = p.correction === 'none' || p.comparisons.length <= 1
    ? `α = ${level}`
    : `α = ${level}/${p.comparisons.length} = ${p.lastLookAlpha !== undefined ? +p.alpha.toPrecision(2) : +p.alpha.toFixed(4)} per comparison (${p.correction === 'holm' ? 'Holm' : 'Benjamini–Hochberg'}'s strictest step; conservative)`;
  const out = [`power: the smallest difference each comparison detects with ${POWER * 100}% power, ${p.seeds} paired seed${p.seeds === 1 ? '' : 's'}, two-sided t-test at ${corr}`];
  if (p.noise === 'none') {
    out.push('  unknown: no seed-to-seed noise to go on — add noise: <σ in points> to the study file, or pass --noise-from <an earlier study folder>');
    return out;
  }
  for (const c of p.comparisons) {
    const det = c.minDetectable === undefined ? '?' : c.minDetectable === Infinity ? 'nothing (one seed cannot measure seed-to-seed noise)' : `≥ ${c.minDetectable.toFixed(2)} points`;
    const need = p.minEffect === undefined ? '' : c.seedsForMinEffect !== undefined
      ? `; minEffect ${p.minEffect} needs ${c.seedsForMinEffect} seeds${c.seedsForMinEffect > p.seeds ? ` (this study has ${p.seeds}: too few)` : ''}`
      : `; minEffect ${p.minEffect} needs more than ${MAX_SEEDS} seeds`;
    out.push(`  ${c.variant} vs ${c.reference}: ${det}${need} — σ of the difference ${c.sigmaDiff!.toFixed(2)} points (${c.source})`);
  }
  const short = p.comparisons.filter((c) => p.minEffect !== undefined && (c.seedsForMinEffect === undefined || c.seedsForMinEffect > p.seeds));
  if (short.length > 0) {
    const most = Math.max(...short.map((c) => c.seedsForMinEffect ?? Infinity));
    out.push(`warning: ${short.length} of ${p.comparisons.length} comparisons cannot detect minEffect ${p.minEffect} points with ${p.seeds} seeds — ${Number.isFinite(most) ? `use seeds: ${most}` : 'the effect is below what any practical number of seeds can detect'} (or accept a larger minEffect) before spending the compute`);
  }
  return out;
}
