import {
  F, SGD, Adam, AdamW, tidy, withAutocast, clipGradNorm, clipGradNormPerParam, manualSeed, stack, zerosLike, keep,
  type Generator, type Optimizer, type Tensor,
} from '../tensor/index.js';
import type { BatchU8 } from '../data/index.js';
import type { TrainConfig } from '../run/config.js';
import type { TrainableModel } from './model-api.js';
import { imagesToTensor, labelsToTensor, normalize } from './batch-tensor.js';
import type { Normalization } from '../run/plan.js';
import type { Precision } from '../run/machine.js';
import type { DataParallel } from './data-parallel.js';

/** A batch-level augmentation (standard ops, CutMix, MixUp) as the fit loop drives it. */
export interface BatchAugmenter {
  apply(images: Tensor, labels: Tensor, generator: Generator, o: { epoch: number; totalEpochs: number; training: boolean }): { images: Tensor; targets: Tensor; info?: unknown };
}


export function createOptimizer(params: Tensor[], o: TrainConfig['optimizer']): Optimizer {
  switch (o.name) {
    case 'sgd': return new SGD(params, { lr: o.lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay });
    case 'adam': return new Adam(params, { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay });
    case 'adamw': return new AdamW(params, { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay });
  }
}

/**
 * The global generator (dropout, and any op not given a Generator) is re-seeded before every step from
 * (seed, step): a run resumed at step k draws exactly what the uninterrupted run drew, without having to
 * save libtorch's global state.
 */
export function stepSeed(seed: number, globalStep: number, rank = 0): number {
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(globalStep + 1, 0x85ebca6b) ^ Math.imul(rank, 0x27d4eb2f)) >>> 0;
}

/** What `compute` says at once; the step's loss and accuracy come later, from `read`. */
export interface StepOutcome {
  /** Images the step trained on: the batch, or all ranks' batches. */
  images: number;
  /** A stop was asked for (Ctrl-C) here or, when data-parallel, on any rank. */
  stopRequested: boolean;
}

/** One step's figures, read back from the device, with where the step was. */
export interface StepFigures {
  /** Mean loss of the batch (of every rank's batch when data-parallel). */
  loss: number;
  correct: number;
  correctTop5: number;
  /** Images the figures cover: the batch, or all ranks' batches. */
  images: number;
  /** 0-based epoch and batch, and the 1-based optimizer step. */
  epoch: number;
  batch: number;
  globalStep: number;
}

export interface TrainStepOptions {
  model: TrainableModel;
  params: Tensor[];
  optimizer: Optimizer;
  config: TrainConfig;
  precision: Precision;
  device: string;
  normalization: Normalization;
  numClasses: number;
  augment?: BatchAugmenter;
  /** Drives the augmentation; its state is part of every checkpoint. */
  augmentGenerator: Generator;
  /** Data-parallel: gradients averaged over the ranks, figures summed over them. */
  parallel?: DataParallel;
}

type Where = Pick<StepFigures, 'epoch' | 'batch' | 'globalStep'>;
/** A step whose figures are not read yet: [loss, correct, correctTop5] in float64 on the device, or already numbers. */
type Unread = Where & { images: number } & ({ stats: Tensor } | { figures: Omit<StepFigures, keyof Where | 'images'> });

/**
 * One optimizer step in two halves, so the loop can ask whether the loss is acceptable before the
 * weights change: `compute` runs forward and backward, then `apply` clips and steps, or `discard` drops
 * the gradients of a step that must not be applied.
 *
 * `compute` leaves the step's loss and accuracy on the device: reading them back (`read`) waits until
 * the device has finished every step queued so far, which on a GPU idles it while the next step is
 * queued. The loop reads after every step on the CPU (free there) and every few steps on a GPU; one
 * read returns every pending step's figures, in step order, from a single transfer.
 */
export class TrainStep {
  private unread: Unread[] = [];

  constructor(private readonly o: TrainStepOptions) {}

  /** Steps computed but not read back yet. */
  get pending(): number {
    return this.unread.length;
  }

  /** Forward and backward for one batch; `globalStep` counts the steps done before this one. */
  compute(batch: BatchU8, at: { epoch: number; batch: number; globalStep: number }, stopRequested = false): StepOutcome {
    const { o } = this;
    const dp = o.parallel;
    manualSeed(stepSeed(o.config.seed, at.globalStep, dp?.rank ?? 0));
    dp?.syncBuffers(o.model);
    // Kept: it outlives any scope the caller has open, until `read` or `dispose`.
    const stats = keep(tidy(() => {
      let x = imagesToTensor(batch, { channelsLast: o.precision.channelsLast, device: o.device });
      const y = labelsToTensor(batch, o.device);
      let target: Tensor = y;
      if (o.augment) {
        const a = o.augment.apply(x, y, o.augmentGenerator, { epoch: at.epoch, totalEpochs: o.config.epochs, training: true });
        x = a.images;
        target = a.targets;
      }
      // The un-normalised batch is not read again: released now rather than after backward, it is not part of the peak.
      const input = normalize(x, o.normalization);
      x.dispose();
      const logits = this.forward(input).float();
      const loss = F.crossEntropy(logits, target, { labelSmoothing: o.config.loss.labelSmoothing });
      if (dp) dp.backward(loss);
      else loss.backward();
      // Accuracy against the dominant label, as Keras' categorical accuracy does for mixed targets.
      const truth = target === y ? y : target.argmax(1);
      const correct = logits.argmax(1).eq(truth).sum();
      const correctTop5 = o.numClasses > 5 ? logits.topk(5, 1)[1].eq(truth.unsqueeze(1)).sum() : zerosLike(correct);
      // float64 holds the float32 loss and any count exactly, so the figures read back are those .item() gave.
      return stack([loss.detach(), correct, correctTop5].map((t) => t.to('float64')), 0);
    }));
    const where = { epoch: at.epoch, batch: at.batch, globalStep: at.globalStep + 1 };
    if (!dp) {
      this.unread.push({ ...where, images: batch.n, stats });
      return { images: batch.n, stopRequested };
    }
    // Every rank must take the same decisions (divergence, stopping) at the same step, so a data-parallel
    // step is read and summed over the ranks at once.
    let local: number[];
    try {
      local = stats.toArray();
    } finally {
      stats.dispose();
    }
    const [lossSum, correct, correctTop5, images, stops] = dp.sum([local[0]! * batch.n, local[1]!, local[2]!, batch.n, stopRequested ? 1 : 0]) as [number, number, number, number, number];
    this.unread.push({ ...where, images, figures: { loss: lossSum / images, correct, correctTop5 } });
    return { images, stopRequested: stops > 0 };
  }

  /** Every pending step's figures, in step order; waits for the device once. */
  read(): StepFigures[] {
    const steps = this.unread;
    if (steps.length === 0) return [];
    this.unread = [];
    const onDevice = steps.flatMap((s) => ('stats' in s ? [s.stats] : []));
    let values: Float64Array = new Float64Array(0);
    try {
      if (onDevice.length > 0) values = tidy(() => stack(onDevice, 0).toTypedArray()) as Float64Array;
    } finally {
      for (const t of onDevice) t.dispose();
    }
    let i = 0;
    return steps.map((s) => {
      const where = { epoch: s.epoch, batch: s.batch, globalStep: s.globalStep, images: s.images };
      if ('figures' in s) return { ...s.figures, ...where };
      const k = 3 * i++;
      return { loss: values[k]!, correct: values[k + 1]!, correctTop5: values[k + 2]!, ...where };
    });
  }

  /** Drops the figures not read yet (the run is ending). */
  dispose(): void {
    for (const s of this.unread) if ('stats' in s) s.stats.dispose();
    this.unread = [];
  }

  apply(): void {
    const { params, optimizer, config } = this.o;
    if (config.optimizer.clipnorm !== undefined) clipGradNormPerParam(params, config.optimizer.clipnorm);
    if (config.optimizer.clipGlobalNorm !== undefined) clipGradNorm(params, config.optimizer.clipGlobalNorm);
    optimizer.step({ zeroGrad: true });
  }

  discard(): void {
    this.o.optimizer.zeroGrad();
  }

  private forward(x: Tensor): Tensor {
    const { model, precision, device } = this.o;
    return precision.autocast
      ? withAutocast({ device: device.startsWith('cuda') ? 'cuda' : 'cpu', dtype: 'bfloat16' }, () => model.forward(x))
      : model.forward(x);
  }
}
