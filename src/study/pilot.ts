/**
 * `ablate study plan --pilot`: measure seed-to-seed noise before the real study by training two seeds of
 * its cheapest variant for a few epochs (a small study of its own, in `<study folder>-pilot`, resumable
 * like any other). The spread of two short runs is a rough, early estimate; the plan says so.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureOutDir } from '../util/out-dir.js';
import type { StudyPlanReport } from './plan-cost.js';
import { type PreviousNoise, readPreviousNoise } from './plan-power.js';
import { runStudy, type StudyRunOptions } from './runner.js';

export interface PilotResult {
  dir: string;
  variant: string;
  epochs: number;
  seeds: number[];
  noise: PreviousNoise;
}

/** The variant whose run costs least: FLOPs per image × training images per epoch × epochs. */
export function cheapestVariant(plan: StudyPlanReport): string {
  const cost = (r: StudyPlanReport['runs'][number]) => r.cost.flopsPerImage * r.cost.imagesTimesEpochs * Math.max(1, r.cost.ranks);
  return [...plan.runs].sort((a, b) => cost(a) - cost(b) || a.variant.localeCompare(b.variant))[0].variant;
}

export async function runPilot(plan: StudyPlanReport, o: Pick<StudyRunOptions, 'threads' | 'device' | 'parallel' | 'log' | 'signal' | 'childOutput'> & { epochs: number }): Promise<PilotResult> {
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new RangeError(`Expected a whole number of pilot epochs ≥ 1 but received ${o.epochs}`);
  const variant = cheapestVariant(plan);
  const run = plan.study.runs.find((r) => r.variant === variant)!;
  const { seed: _seed, ...base } = run.config;
  const epochs = Math.min(o.epochs, typeof base.epochs === 'number' ? base.epochs : o.epochs);
  const seeds = plan.study.seeds.length >= 2 ? plan.study.seeds.slice(0, 2) : [0, 1];
  const dir = `${plan.dir}-pilot`;
  ensureOutDir(dir, 'pilot study folder');
  const file = join(dir, 'pilot-study.json');
  writeFileSync(file, JSON.stringify({
    name: `${plan.study.name}-pilot`,
    description: `Pilot of ${plan.study.name}: ${variant}, the cheapest variant, for ${epochs} epoch${epochs === 1 ? '' : 's'} at seeds ${seeds.join(' and ')}, to size the study's seed-to-seed noise before it runs.`,
    base: { ...base, epochs },
    seeds,
  }, null, 2));
  const r = await runStudy(file, { out: dir, threads: o.threads, device: o.device, parallel: o.parallel, log: o.log, signal: o.signal, childOutput: o.childOutput });
  if (r.interrupted) throw new Error(`the pilot in ${dir} was interrupted; run the same plan command again to finish it`);
  if (r.failed.length > 0) throw new Error(`the pilot run${r.failed.length === 1 ? '' : 's'} ${r.failed.join(', ')} failed (see ${dir}); fix the study or give noise: instead`);
  return { dir, variant, epochs, seeds, noise: readPreviousNoise(dir) };
}
