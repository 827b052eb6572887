/**
 * The split folders people have: `train/` + `test/`, Kaggle's `training_set/` + `test_set/`,
 * `train/` + `valid/` or `val/` + `test/`. Each folder keeps its own name as its split name, and the
 * canonical names (`train`, `validation`, `test`) find it too, so `split: train` works on
 * `training_set/` and a run without `valSplit` can validate on whichever held-out folder exists.
 */
export type SplitRole = 'train' | 'validation' | 'test';

const ROLES: Record<string, SplitRole> = {
  train: 'train', training: 'train', training_set: 'train', train_set: 'train', trainset: 'train',
  val: 'validation', valid: 'validation', validation: 'validation', val_set: 'validation', validation_set: 'validation', dev: 'validation',
  test: 'test', testing: 'test', test_set: 'test', testset: 'test',
};

/** The role of a split folder's name, case-insensitively; undefined for names that are not split names. */
export function splitRole(folderName: string): SplitRole | undefined {
  return ROLES[folderName.toLowerCase().replace(/-/g, '_')];
}

export function isSplitFolderName(folderName: string): boolean {
  return splitRole(folderName) !== undefined;
}

/** The split a name means among `available`: itself, else the one folder with the same role (`train` → `training_set`). */
export function resolveSplitName(name: string, available: readonly string[]): string | undefined {
  if (available.includes(name)) return name;
  const role = splitRole(name);
  if (!role) return undefined;
  const same = available.filter((s) => splitRole(s) === role);
  return same.length === 1 ? same[0] : undefined;
}

/** The held-out split to validate on when none is given: a validation folder, else a test folder. */
export function heldOutSplit(available: readonly string[]): string | undefined {
  for (const role of ['validation', 'test'] as const) {
    const hit = available.find((s) => splitRole(s) === role);
    if (hit) return hit;
  }
  return undefined;
}
