import { heldOutSplit, parseSplit, sourceSplitNames, type DataSpec, type OpenOptions } from '../data/index.js';

export interface ValidationChoice {
  spec?: DataSpec;
  /** Said when the run starts: where validation comes from, or that there is none. */
  note?: string;
}

/**
 * The validation data of a run when the config names none (no `valSplit`, no `valData`): a folder's
 * own held-out split (`valid/`, `val/`, `test/`, `test_set/`), said out loud; otherwise none, also said
 * out loud, since a run without validation cannot pick a best epoch or stop early on `val_loss`.
 */
export async function defaultValidation(train: DataSpec, o: OpenOptions = {}): Promise<ValidationChoice> {
  const how = 'set data.valSplit (e.g. split: "train[:80%]" with valSplit: "train[80%:]") or valData.path to choose';
  if (train.source !== 'generated' && !(train.source === undefined && train.generated)) {
    const names = await sourceSplitNames(train, o);
    const used = new Set(parseSplit(train.split).map((p) => p.name));
    const held = heldOutSplit(names.filter((n) => !used.has(n)));
    if (held) return { spec: { ...train, split: held }, note: `validating on the '${held}' split of ${train.path ?? train.source} (no valSplit given; ${how} another)` };
  }
  return { note: `no validation data: this run reports training metrics only, and best-epoch checkpoints and early stopping on val_* have nothing to watch; ${how} one` };
}
