import {
  F, SGD, Adam, AdamW, tidy, withAutocast, clipGradNorm, clipGradNormPerParam, manualSeed,
  type Generator, type Optimizer, type Tensor,
} from '../tensor/index.js';
import type { BatchU8 } from '../data/index.js';
import type { TrainConfig } from './config.js';
import type { TrainableModel } from './model-api.js';
import { imagesToTensor, labelsToTensor, normalize, type Normalization } from './batch-tensor.js';
import type { DataParallel } from './data-parallel.js';

/** A batch-level augmentation (standard ops, CutMix, MixUp) as the fit loop drives it. */
export interface BatchAugmenter {
  apply(images: Tensor, labels: Tensor, generator: Generator, o: { epoch: number; totalEpochs: number; training: boolean }): { images: Tensor; targets: Tensor; info?: unknown };
}

/** The numeric precision training runs in: bf16 autocast with channels-last, or fp32. */
export interface Precision {
  autocast: boolean;
  channelsLast: boolean;
  label: 'fp32' | 'bf16';
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

export interface StepOutcome {
  /** Mean loss of the batch (of every rank's batch when data-parallel). */
  loss: number;
  correct: number;
  correctTop5: number;
  /** Images the figures cover: the batch, or all ranks' batches. */
  images: number;
  /** A stop was asked for (Ctrl-C) here or, when data-parallel, on any rank. */
  stopRequested: boolean;
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

/**
 * One optimizer step in two halves, so the loop can ask whether the loss is acceptable before the
 * weights change: `compute` runs forward and backward and measures the batch, then `apply` clips and
 * steps, or `discard` drops the gradients of a step that must not be applied.
 */
export class TrainStep {
  constructor(private readonly o: TrainStepOptions) {}

  compute(batch: BatchU8, epoch: number, globalStep: number, stopRequested = false): StepOutcome {
    const { o } = this;
    const dp = o.parallel;
    manualSeed(stepSeed(o.config.seed, globalStep, dp?.rank ?? 0));
    dp?.syncBuffers(o.model);
    const local = tidy(() => {
      let x = imagesToTensor(batch, { channelsLast: o.precision.channelsLast, device: o.device });
      const y = labelsToTensor(batch, o.device);
      let target: Tensor = y;
      if (o.augment) {
        const a = o.augment.apply(x, y, o.augmentGenerator, { epoch, totalEpochs: o.config.epochs, training: true });
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
      const correct = logits.argmax(1).eq(truth).sum().item();
      let correctTop5 = 0;
      if (o.numClasses > 5) correctTop5 = logits.topk(5, 1)[1].eq(truth.unsqueeze(1)).sum().item();
      return { loss: loss.item(), correct, correctTop5 };
    });
    if (!dp) return { ...local, images: batch.n, stopRequested };
    // Every rank must take the same decisions (divergence, stopping), so they are taken on global figures.
    const [lossSum, correct, correctTop5, images, stops] = dp.sum([local.loss * batch.n, local.correct, local.correctTop5, batch.n, stopRequested ? 1 : 0]) as [number, number, number, number, number];
    return { loss: lossSum / images, correct, correctTop5, images, stopRequested: stops > 0 };
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
