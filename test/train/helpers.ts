import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallbackList, type Callback, type CheckpointInfo, type CheckpointKind, type Logs, type TrainingContext } from '../../src/train/callbacks/base.js';

export function tmpDir(prefix = 'ablate-train-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A stand-in model whose "weights" are a version number bumped once per epoch. */
export class FakeModel {
  weights = 0;
  restored: unknown[] = [];
  saves: Array<{ kind: CheckpointKind; info: CheckpointInfo; callbackState: unknown }> = [];
  list: CallbackList | undefined;

  snapshotWeights(): unknown {
    return { version: this.weights };
  }
  restoreWeights(s: unknown): void {
    this.restored.push(s);
    this.weights = (s as { version: number }).version;
  }
  async saveCheckpoint(kind: CheckpointKind, info: CheckpointInfo): Promise<void> {
    this.saves.push({ kind, info, callbackState: this.list ? JSON.parse(JSON.stringify(this.list.state())) : undefined });
  }
}

export interface Run {
  list: CallbackList;
  ctx: TrainingContext;
  model: FakeModel;
  /** Epochs actually run (0-based indices). */
  ran: number[];
}

/**
 * A minimal fit loop: per epoch, `stepsPerEpoch` batches then epoch end with `epochLogs[epoch]`.
 * Starts at `initialEpoch` with `globalStep = initialEpoch * stepsPerEpoch`, like a resume at an epoch boundary.
 */
export async function drive(
  callbacks: Callback[],
  epochLogs: Logs[],
  opts: { stepsPerEpoch?: number; initialEpoch?: number; epochs?: number; model?: FakeModel; before?: (list: CallbackList) => void; batchLogs?: (epoch: number, batch: number) => Logs } = {},
): Promise<Run> {
  const stepsPerEpoch = opts.stepsPerEpoch ?? 2;
  const initialEpoch = opts.initialEpoch ?? 0;
  const epochs = opts.epochs ?? epochLogs.length;
  const model = opts.model ?? new FakeModel();
  const ctx: TrainingContext = { stopTraining: false, globalStep: initialEpoch * stepsPerEpoch, params: { epochs, stepsPerEpoch, initialEpoch }, model };
  const list = new CallbackList(callbacks, ctx);
  model.list = list;
  opts.before?.(list);
  const ran: number[] = [];
  await list.onTrainBegin();
  for (let epoch = initialEpoch; epoch < epochs && !ctx.stopTraining; epoch++) {
    await list.onEpochBegin(epoch);
    for (let b = 0; b < stepsPerEpoch && !ctx.stopTraining; b++) {
      await list.onBatchBegin(b);
      ctx.globalStep++;
      await list.onBatchEnd(b, opts.batchLogs?.(epoch, b) ?? { loss: 1, accuracy: 0.5, size: 4 });
    }
    if (ctx.stopTraining) break;
    model.weights = epoch + 1;
    await list.onEpochEnd(epoch, { ...epochLogs[epoch]! });
    ran.push(epoch);
  }
  await list.onTrainEnd();
  return { list, ctx, model, ran };
}
