/**
 * A run folder's layout: every file by role and the folder's format version. Kept apart from run-folder.ts
 * (the schemas, readers and writers), so what only needs a path loads no schema library.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * The run folder's layout version, stamped into status.json (`format`). Folders written before it existed
 * have no stamp and read as format 1 (the same files); a folder with a newer stamp is refused by readers,
 * which cannot know what changed.
 */
export const RUN_FOLDER_FORMAT = 2;

/** Every file of a run folder, by role; nothing outside this module names them. */
export const RUN_FILES = {
  config: 'config.json',
  history: 'history.jsonl',
  status: 'status.json',
  progress: 'progress.json',
  request: 'request.json',
  claim: 'claim.json',
  lock: 'lock',
  workerLog: 'worker.log',
  metrics: 'metrics.csv',
  tensorboard: 'tensorboard',
  checkpoints: 'checkpoints',
  weights: 'model.pth',
  analysis: 'analysis',
  provenanceDiff: 'provenance.diff',
} as const;

/** The training checkpoints: `last`, the one before it (`previous`), and the best weights. */
export type CheckpointFile = 'last' | 'previous' | 'best';

/** The paths of one run folder. */
export class RunFolder {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }
  /** The resolved plan the run trained with (a valid config: `ablate train <run>/config.json` repeats it). */
  get config(): string { return join(this.dir, RUN_FILES.config); }
  /** One line per finished epoch. */
  get history(): string { return join(this.dir, RUN_FILES.history); }
  /** The run's state, sizes, timings and environment; written only by writeRunStatus. */
  get status(): string { return join(this.dir, RUN_FILES.status); }
  /** The in-epoch position, for live views. */
  get progress(): string { return join(this.dir, RUN_FILES.progress); }
  /** What a study runner asks its worker to train. */
  get request(): string { return join(this.dir, RUN_FILES.request); }
  /** A cooperating study worker's claim on the run. */
  get claim(): string { return join(this.dir, RUN_FILES.claim); }
  /** The process lock: who may write into the folder. */
  get lock(): string { return join(this.dir, RUN_FILES.lock); }
  /** A study worker's output. */
  get workerLog(): string { return join(this.dir, RUN_FILES.workerLog); }
  get metrics(): string { return join(this.dir, RUN_FILES.metrics); }
  get tensorboard(): string { return join(this.dir, RUN_FILES.tensorboard); }
  get checkpoints(): string { return join(this.dir, RUN_FILES.checkpoints); }
  checkpoint(kind: CheckpointFile): string { return join(this.checkpoints, `${kind}.pth`); }
  /** A data-parallel rank's loader state at a checkpoint's step. */
  rankStepState(rank: number, globalStep: number): string { return join(this.checkpoints, `rank-${rank}.step-${globalStep}.json`); }
  /** The steps a rank's saved states are at, newest first. */
  rankStepStates(rank: number): number[] {
    const name = new RegExp(`^rank-${rank}\\.step-(\\d+)\\.json$`);
    return readdirSync(this.checkpoints).map((f) => name.exec(f)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => b - a);
  }
  /** The final weights of a finished run. */
  get weights(): string { return join(this.dir, RUN_FILES.weights); }
  /** The error analysis of the final model (confusion, per-image predictions). */
  get analysis(): string { return join(this.dir, RUN_FILES.analysis); }
  get provenanceDiff(): string { return join(this.dir, RUN_FILES.provenanceDiff); }
  /** Why rank r (not 0) of a data-parallel run failed, for its launcher. */
  rankError(rank: number): string { return join(this.dir, `rank-${rank}.error.json`); }
  /**
   * The weights file a name stands for: `model` (model.pth), `best` or `last` (checkpoints/), or a .pth path;
   * no name is model.pth, or checkpoints/last.pth for a stopped run that has no model.pth.
   */
  weightsFile(name?: string): { name: string; path: string } {
    const named = name ?? (existsSync(this.weights) ? 'model' : 'last');
    const path = named === 'model' ? this.weights : named === 'best' || named === 'last' ? this.checkpoint(named) : resolve(named);
    return { name: named, path };
  }
  /** The run folder a weights file belongs to (`<run>/model.pth`, `<run>/checkpoints/last.pth`), if any. */
  static ofWeights(file: string): RunFolder | undefined {
    const dir = dirname(resolve(file));
    for (const d of basename(dir) === RUN_FILES.checkpoints ? [dirname(dir), dir] : [dir]) {
      if (existsSync(join(d, RUN_FILES.config))) return new RunFolder(d);
    }
    return undefined;
  }
}

export const runFolder = (dir: string): RunFolder => new RunFolder(dir);
