import { invalidArg } from '../util/errors.js';
import { Callback, type Logs } from './callbacks/base.js';
import { readHistory, writeHistory, type HistoryRecord } from '../run/run-folder.js';

/** The history line for 0-based `epoch` from its epoch logs (see callbacks/base.ts for the keys). */
export function historyRecord(epoch: number, logs: Logs): HistoryRecord {
  const record: HistoryRecord = {
    epoch: epoch + 1,
    loss: logs.loss ?? null,
    accuracy: logs.accuracy ?? null,
    lr: logs.lr ?? 0,
    epoch_time_s: logs.epoch_time_s ?? 0,
    images_per_s: logs.images_per_s ?? 0,
  };
  for (const key of ['val_loss', 'val_accuracy', 'val_top5', 'top5', 'data_wait_fraction'] as const) {
    if (logs[key] !== undefined) record[key] = logs[key];
  }
  return record;
}

/**
 * Writes history.jsonl from epoch logs (see callbacks/base.ts for the log keys). The whole file is
 * rewritten atomically each epoch (it is tiny), so it never holds a torn line. On resume it is rebuilt
 * from the epochs the checkpoint carries (`params.pastEpochs`), whatever the file held before.
 */
export class HistoryLogger extends Callback {
  readonly runDir: string;
  private records: HistoryRecord[] = [];

  constructor(runDir: string) {
    super();
    if (typeof runDir !== 'string' || runDir.length === 0) throw invalidArg('runDir', 'a directory path', runDir);
    this.runDir = runDir;
  }

  override async onTrainBegin(): Promise<void> {
    const { initialEpoch, pastEpochs } = this.ctx.params;
    if (pastEpochs) {
      this.records = pastEpochs.map((e) => historyRecord(e.epoch, e.logs));
    } else {
      // Without a checkpoint's record (a caller driving callbacks itself), keep what the file has.
      this.records = initialEpoch > 0 ? (readHistory(this.runDir).filter((r) => r.epoch <= initialEpoch) as HistoryRecord[]) : [];
    }
    writeHistory(this.runDir, this.records);
  }

  override async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    this.records = [...this.records.filter((r) => r.epoch < epoch + 1), historyRecord(epoch, logs)];
    writeHistory(this.runDir, this.records);
  }
}
