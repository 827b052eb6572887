import { join } from 'node:path';
import type { Callback } from './callbacks/base.js';
import { EarlyStopping } from './callbacks/early-stopping.js';
import { ModelCheckpoint } from './callbacks/model-checkpoint.js';
import type { TrainConfig } from './config.js';
import { CSVLogger } from './csv-logger.js';
import { HistoryLogger } from './history.js';
import { ProgressCallback, type ProgressStream } from './progress.js';
import { RunStatusSync } from './run-state.js';
import { TensorBoard } from './tensorboard.js';

export interface DefaultCallbackOptions {
  config: TrainConfig;
  /** Run folder; without one nothing is written, so no logger or checkpointing is added. */
  runDir?: string;
  hasValidation: boolean;
  progress?: ProgressStream | false;
  log: (line: string) => void;
}

/**
 * The callbacks every run gets from its config: run-folder loggers (history.jsonl, metrics.csv,
 * status.json, TensorBoard), early stopping, checkpointing and the progress bar. The caller's own
 * callbacks come first; hook order is then decided by each callback's `order`.
 */
export function defaultCallbacks(o: DefaultCallbackOptions): Callback[] {
  const { config, runDir, log } = o;
  const out: Callback[] = [];
  if (runDir) {
    out.push(new HistoryLogger(runDir), new CSVLogger(join(runDir, 'metrics.csv')), new RunStatusSync(runDir));
    if (config.tensorboard) out.push(new TensorBoard(join(runDir, 'tensorboard')));
  }
  if (config.earlyStopping) out.push(new EarlyStopping({ ...config.earlyStopping, log }));
  if (runDir) {
    const monitor = o.hasValidation ? config.checkpoint.monitor : 'loss';
    out.push(new ModelCheckpoint({ monitor, mode: config.checkpoint.mode, saveBest: config.checkpoint.saveBest, everySteps: config.checkpoint.everySteps, log }));
  }
  if (o.progress !== false) out.push(new ProgressCallback({ stream: o.progress ?? process.stderr }));
  return out;
}
