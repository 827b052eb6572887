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
    `With two or more finished seeds per variant, each comparison gets a t-test: paired over seeds when both variants ran the same seeds, otherwise Welch's. ` +
      `"± x points" in a verdict is half the ${level}% interval's width. A study making several comparisons would find a spurious difference more often than ${100 - level}% of the time, ` +
      `so the p-values are adjusted for their number (${m.family.correction === 'holm' ? 'Holm' : m.family.correction === 'bh' ? 'Benjamini–Hochberg' : 'here: not adjusted'}) and a difference is a finding only when its adjusted p-value is below ${+(1 - m.options.level).toFixed(4)}. ` +
      `Intervals are not widened by the correction; one that excludes zero may still be "not significant after correction".`,
    'A difference of two accuracies lies between −100 and +100 points; a t-interval reaching past that is cut there and the verdict says so — such a wide interval means the seeds disagree too much to size the effect.',
    `With one seed, seed-to-seed variation cannot be measured. A difference within 2·√(σ₁² + σ₂²) of the two runs' epoch noise is reported as *not a finding*; ` +
      `a larger one is reported as suggestive, to be confirmed with more seeds.`,
    'Runs that diverged, failed or have not finished are shown in the tables but left out of the statistics.',
    '**FLOPs** count a multiply-add as two operations, for one image at the training resolution; **images/s** is training throughput.',
  ];
  if (m.variants.some((v) => v.test.n > 0)) {
    notes.push('**Test acc (held out)** is each run\'s accuracy on `data.testSplit`, scored once after training with the final model. Nothing — no epoch, ' +
      'no early stop, no verdict — was chosen on it, so it is the number to quote for the variant the validation verdicts pick; validation accuracy, ' +
      'having served for the choosing, flatters the winner.');
  }
  const fileWeights = [...new Set(m.study.runs.map((r) => r.status?.initialWeights).filter((w): w is string => w !== undefined))];
  if (fileWeights.length > 0) {
    notes.push(`**Initial weights**: ${fileWeights.join('; ')}. Runs that start from a file's weights start alike for every seed: ` +
      'their seed-to-seed spread comes from data order, augmentation and dropout only (`reinit: true` draws the weights from the seed).');
  }
  if (maxSeeds <= 1) notes.push('**This study ran one seed per variant**: treat every difference as preliminary. Add `seeds: [0, 1, 2]` to the study file and run it again; finished runs are kept.');
  return notes;
}
