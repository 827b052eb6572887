import type { Callback } from './callbacks/base.js';
import { EarlyStopping } from './callbacks/early-stopping.js';
import { ModelCheckpoint } from './callbacks/model-checkpoint.js';
import type { TrainConfig } from '../run/config.js';
import { CSVLogger } from './csv-logger.js';
import { HistoryLogger } from './history.js';
import { ProgressCallback, type ProgressStream } from './progress.js';
import { RunStatusSync } from './run-state.js';
import { TensorBoard, type HParamValue } from './tensorboard.js';
import { modelLabel } from '../run/model-spec.js';
import { runFolder } from '../run/folder.js';

export interface DefaultCallbackOptions {
  config: TrainConfig;
  /** Run folder; without one nothing is written, so no logger or checkpointing is added. */
  runDir?: string;
  hasValidation: boolean;
  /** TensorBoard's HParams view: the run's hyperparameters (a study passes its axes); default `planHParams(config)`. */
  hparams?: Readonly<Record<string, HParamValue>>;
  progress?: ProgressStream | false;
  log: (line: string) => void;
  /**
   * False on data-parallel ranks other than 0: they keep the callbacks that decide (early stopping,
   * checkpointing, which writes only their random state) and drop those that write files or progress.
   */
  writes?: boolean;
}

/**
 * The callbacks every run gets from its config: run-folder loggers (history.jsonl, metrics.csv,
 * status.json, TensorBoard), early stopping, checkpointing and the progress bar. The caller's own
 * callbacks come first; hook order is then decided by each callback's `order`.
 */
export function defaultCallbacks(o: DefaultCallbackOptions): Callback[] {
  const { config, runDir, log } = o;
  const out: Callback[] = [];
  const writes = o.writes ?? true;
  if (runDir && writes) {
    out.push(new HistoryLogger(runDir), new CSVLogger(runFolder(runDir).metrics), new RunStatusSync(runDir));
    if (config.tensorboard) out.push(new TensorBoard(runFolder(runDir).tensorboard, { hparams: o.hparams ?? planHParams(config) }));
  }
  if (config.earlyStopping) out.push(new EarlyStopping({ ...config.earlyStopping, log }));
  if (runDir) {
    const monitor = o.hasValidation ? config.checkpoint.monitor : 'loss';
    out.push(new ModelCheckpoint({ monitor, mode: config.checkpoint.mode, saveBest: config.checkpoint.saveBest, everySteps: config.checkpoint.everySteps, log }));
  }
  if (o.progress !== false && writes) out.push(new ProgressCallback({ stream: o.progress ?? process.stderr }));
  return out;
}

/** The hyperparameters of a run started on its own (not by a study): the usual knobs of its plan. */
export function planHParams(config: TrainConfig): Record<string, HParamValue> {
  const opt = config.optimizer as { name?: string; lr?: number; momentum?: number; weightDecay?: number };
  const schedule = typeof config.schedule === 'string' ? config.schedule : (config.schedule as { name?: string }).name;
  const out: Record<string, HParamValue> = {
    model: modelLabel(config.model),
    optimizer: String(opt.name ?? 'sgd'),
    batchSize: config.batchSize,
    epochs: config.epochs,
    seed: config.seed,
    precision: config.precision,
    deterministic: String(config.deterministic),
  };
  if (typeof opt.lr === 'number') out.lr = opt.lr;
  if (typeof opt.momentum === 'number') out.momentum = opt.momentum;
  if (typeof opt.weightDecay === 'number') out.weightDecay = opt.weightDecay;
  if (schedule !== undefined) out.schedule = String(schedule);
  return out;
}
