/**
 * The points an arm searches: every point of the grid, or `trials` points drawn by a seeded sampler.
 * The points depend only on the space, the count and the sampler seed, never on the arm, so every arm
 * of a study searches exactly the same points.
 */
import { mulberry32, seedFrom } from '../../data/random.js';
import { type Dimension, type TuneValue, dimensionValues, roundSig } from './space.js';

/** One point of the search: config path → value. */
export type TunePoint = Record<string, TuneValue>;

/** Cartesian product of the discrete dimensions, first dimension slowest. */
export function gridPointsOf(space: readonly Dimension[]): TunePoint[] {
  let points: TunePoint[] = [{}];
  for (const d of space) {
    const values = dimensionValues(d);
    if (!values) throw new TypeError(`Expected a discrete dimension for a grid but ${d.path} is a continuous ${d.kind} range`);
    points = points.flatMap((p) => values.map((v) => ({ ...p, [d.path]: v })));
  }
  return points;
}

/**
 * `count` points drawn independently per dimension: lists and stepped ranges uniformly over their values,
 * ranges uniformly, log-uniform ranges uniformly in log space. Continuous draws keep 3 significant digits,
 * so run names and tables stay readable (a learning rate of 0.0123 vs 0.01234567 is the same experiment).
 */
export function samplePoints(space: readonly Dimension[], count: number, seed: number): TunePoint[] {
  const rand = mulberry32(seedFrom('tune-sampler', seed));
  const out: TunePoint[] = [];
  for (let i = 0; i < count; i++) {
    const p: TunePoint = {};
    for (const d of space) p[d.path] = drawOne(d, rand);
    out.push(p);
  }
  return out;
}

function drawOne(d: Dimension, rand: () => number): TuneValue {
  const values = dimensionValues(d);
  if (values) return values[Math.min(values.length - 1, Math.floor(rand() * values.length))]!;
  if (d.kind === 'logUniform') return roundSig(Math.exp(Math.log(d.lo) + rand() * (Math.log(d.hi) - Math.log(d.lo))), 3);
  if (d.kind === 'range') return roundSig(d.lo + rand() * (d.hi - d.lo), 3);
  throw new TypeError(`Expected a searchable dimension but received ${JSON.stringify(d)}`);
}

/** The points a tuning method searches per arm: grid (all), random (`trials` draws), asha (grid when discrete and no count, else draws). */
export function searchPoints(space: readonly Dimension[], method: 'grid' | 'random' | 'asha', trials: number | undefined, seed: number): TunePoint[] {
  if (method === 'grid' || (method === 'asha' && trials === undefined)) return gridPointsOf(space);
  return samplePoints(space, trials!, seed);
}
