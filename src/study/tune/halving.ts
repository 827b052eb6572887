/**
 * Successive halving over epochs, synchronous: rung k trains n_k trials for e_k epochs; when every trial
 * of the rung has finished, the best ⌊n_k / eta⌋ (at least 1) go on to rung k+1 with eta × the epochs.
 *
 * ASHA promotes asynchronously, as soon as a trial beats the rung's current quantile: which trials are
 * promoted then depends on which finished first, so a kill -9, --parallel or a second --worker would
 * change the result. Waiting for the whole rung costs idle slots at its end but makes the promotions a
 * pure function of the metrics. A promoted trial trains again from scratch for its rung's epochs, so
 * its learning-rate schedule is the one a run of that length has (continuing a shorter run would not).
 */

export interface Rung {
  index: number;
  /** Trials this rung trains. */
  trials: number;
  epochs: number;
}

/** The rungs for `n` trials from `minEpochs` up to `maxEpochs`, multiplying epochs by eta each time. */
export function halvingRungs(n: number, minEpochs: number, maxEpochs: number, eta: number): Rung[] {
  if (!(n >= 1 && minEpochs >= 1 && maxEpochs >= minEpochs && eta >= 2)) {
    throw new RangeError(`Expected n ≥ 1, 1 ≤ minEpochs ≤ maxEpochs and eta ≥ 2 but received n=${n}, minEpochs=${minEpochs}, maxEpochs=${maxEpochs}, eta=${eta}`);
  }
  const rungs: Rung[] = [];
  let trials = n;
  let epochs = minEpochs;
  for (;;) {
    rungs.push({ index: rungs.length, trials, epochs: Math.min(epochs, maxEpochs) });
    if (epochs >= maxEpochs || trials === 1) break;
    trials = Math.max(1, Math.floor(trials / eta));
    epochs *= eta;
  }
  // A search that stops at one trial before the last epochs still trains that trial for the full budget.
  const last = rungs[rungs.length - 1]!;
  if (last.epochs < maxEpochs) last.epochs = maxEpochs;
  return rungs;
}

/** Epochs the whole schedule trains, per seed: Σ trials × epochs over the rungs. */
export function halvingEpochs(rungs: readonly Rung[]): number {
  return rungs.reduce((s, r) => s + r.trials * r.epochs, 0);
}

/**
 * The trials of a rung that go on: the best `keep` by metric (NaN or missing: worst), ties broken by the
 * trial's index, so the choice never depends on the order trials finished in.
 */
export function promote(scores: readonly { trial: number; metric: number | undefined }[], keep: number, higherIsBetter: boolean): number[] {
  const key = (m: number | undefined) => (m === undefined || Number.isNaN(m) ? -Infinity : higherIsBetter ? m : -m);
  return [...scores]
    .sort((a, b) => key(b.metric) - key(a.metric) || a.trial - b.trial)
    .slice(0, keep)
    .map((s) => s.trial);
}
