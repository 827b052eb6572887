/**
 * The tuning stage in `study plan`: per arm the trials, the runs and epochs they train, the images they
 * see and an estimated time from the main run's measured speed, and the totals.
 */
import type { TunePlan } from './plan.js';
import { rungSummary } from './plan.js';

/** The cost-relevant part of a planned main run (see plan-cost.ts). */
export interface MainRunCost {
  variant: string;
  cost: { trainImages: number; epochs: number; estimatedS?: number };
}

export interface ArmTuningCost {
  arm: string;
  trials: number;
  runs: number;
  epochs: number;
  /** Training images × epochs over all of the arm's trials (the trials train on the training split less valSplit). */
  images: number;
  estimatedS?: number;
}

export interface TuningCost {
  summary: string;
  /** The searched config paths. */
  paths: string[];
  data: string;
  arms: ArmTuningCost[];
  totalRuns: number;
  totalEpochs: number;
  totalImages: number;
  totalEstimatedS?: number;
}

export function tuningCost(plan: TunePlan, mainRuns: readonly MainRunCost[]): TuningCost {
  const runsPerArm = plan.seeds.length * plan.rungs.reduce((s, r) => s + r.trials, 0);
  const arms = [...plan.arms.keys()].map((arm) => {
    const main = mainRuns.find((r) => r.variant === arm);
    const perEpochImages = main ? Math.round(main.cost.trainImages * (1 - plan.spec.valSplit)) : 0;
    const imagesPerEpoch = plan.imagesPerTrial !== undefined ? Math.min(perEpochImages, Math.ceil(plan.imagesPerTrial / (plan.rungs[0]!.epochs))) : perEpochImages;
    const secondsPerImage = main?.cost.estimatedS !== undefined && main.cost.trainImages > 0 ? main.cost.estimatedS / (main.cost.trainImages * main.cost.epochs) : undefined;
    const images = imagesPerEpoch * plan.epochsPerArm;
    return { arm, trials: plan.points.length, runs: runsPerArm, epochs: plan.epochsPerArm, images, ...(secondsPerImage !== undefined ? { estimatedS: secondsPerImage * images } : {}) };
  });
  const sum = (f: (a: ArmTuningCost) => number) => arms.reduce((s, a) => s + f(a), 0);
  return {
    summary: rungSummary(plan), paths: plan.spec.space.map((d) => d.path), data: plan.dataNote, arms,
    totalRuns: sum((a) => a.runs), totalEpochs: sum((a) => a.epochs), totalImages: sum((a) => a.images),
    ...(arms.every((a) => a.estimatedS !== undefined) ? { totalEstimatedS: sum((a) => a.estimatedS!) } : {}),
  };
}

/** Lines for `study plan`: the stage, one line per arm, the total. */
export function formatTuningCost(c: TuningCost, duration: (s: number) => string): string[] {
  const out = [`tuning stage (before the main runs; every arm the same search): ${c.summary}`, `  data: ${c.data}`];
  for (const a of c.arms) {
    out.push(`  ${a.arm}: ${a.trials} trial${a.trials === 1 ? '' : 's'}, ${a.runs} run${a.runs === 1 ? '' : 's'}, ${a.epochs} epochs, ${a.images.toLocaleString('en')} training images` +
      (a.estimatedS !== undefined ? `, about ${duration(a.estimatedS)}` : ''));
  }
  out.push(`  then each arm's main runs train at its own best ${c.paths.join(', ')} (the table above shows the base config's values)`);
  out.push(`  tuning total: ${c.totalRuns} runs, ${c.totalEpochs} epochs, ${c.totalImages.toLocaleString('en')} training images` +
    (c.totalEstimatedS !== undefined ? `, about ${duration(c.totalEstimatedS)} one at a time` : ''));
  return out;
}
