import type { ReportModel } from './model.js';

/** The "how to read the numbers" notes: why these metrics, and what the verdicts can and cannot say. */
export function methodNotes(m: ReportModel): string[] {
  const k = m.options.lastK;
  const level = Math.round(m.options.level * 100);
  const maxSeeds = Math.max(0, ...m.variants.map((v) => v.finished.length));
  const notes = [
    `**Final val acc** is the mean validation accuracy over the last ${k} epochs, and it is what the verdicts compare. ` +
      `**Best val acc** is the highest single epoch; it is shown for reference but not compared, because picking the maximum of noisy epochs ` +
      `on the very set that scores them flatters a run — the more epochs and the noisier the run, the more.`,
    `**Noise σ** is a run's own epoch-to-epoch fluctuation of validation accuracy: the standard deviation of successive differences over the last ` +
      `${m.options.noiseEpochs} epochs, divided by √2 (differencing removes a steady upward trend).`,
    `With two or more finished seeds per variant, a difference is a finding only when its ${level}% confidence interval excludes zero: ` +
      `a paired t-interval when both variants ran the same seeds, otherwise Welch's t-interval. "± x points" in a verdict is half the interval's width.`,
    `With one seed, seed-to-seed variation cannot be measured. A difference within 2·√(σ₁² + σ₂²) of the two runs' epoch noise is reported as *not a finding*; ` +
      `a larger one is reported as suggestive, to be confirmed with more seeds.`,
    'Runs that diverged, failed or have not finished are shown in the tables but left out of the statistics.',
    '**FLOPs** count a multiply-add as two operations, for one image at the training resolution; **images/s** is training throughput.',
  ];
  const fileWeights = [...new Set(m.study.runs.map((r) => r.status?.initialWeights).filter((w): w is string => w !== undefined))];
  if (fileWeights.length > 0) {
    notes.push(`**Initial weights**: ${fileWeights.join('; ')}. Runs that start from a file's weights start alike for every seed: ` +
      'their seed-to-seed spread comes from data order, augmentation and dropout only (`reinit: true` draws the weights from the seed).');
  }
  if (maxSeeds <= 1) notes.push('**This study ran one seed per variant**: treat every difference as preliminary. Add `seeds: [0, 1, 2]` to the study file and run it again; finished runs are kept.');
  return notes;
}
