import { Callback, type Logs } from './callbacks/base.js';
import { writeProgress, type ProgressSnapshot } from '../run/run-folder.js';

/**
 * Writes the run's in-epoch position to `progress.json` (throttled), so a study's live view and
 * `ablate study status` can show a running variant without talking to its process.
 */
export class ProgressFile extends Callback {
  private epoch = 0;
  private last = 0;
  private epochStart = 0;
  private images = 0;
  constructor(private readonly runDir: string, private readonly everyMs = 1000) {
    super();
  }
  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
    this.epochStart = performance.now();
    this.images = 0;
  }
  override async onBatchEnd(batch: number, logs?: Logs): Promise<void> {
    this.images += logs?.size ?? 0;
    const now = performance.now();
    const lastOfEpoch = batch + 1 >= this.ctx.params.stepsPerEpoch;
    if (now - this.last < this.everyMs && !lastOfEpoch) return;
    this.last = now;
    const snap: ProgressSnapshot = {
      epoch: this.epoch + 1,
      epochs: this.ctx.params.epochs,
      batch: batch + 1,
      batches: this.ctx.params.stepsPerEpoch,
      loss: logs?.loss,
      accuracy: logs?.accuracy,
      imagesPerS: this.images / Math.max(1e-9, (now - this.epochStart) / 1000),
      updatedAt: new Date().toISOString(),
    };
    writeProgress(this.runDir, snap);
  }
}
