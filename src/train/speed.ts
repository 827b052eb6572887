/**
 * A brief measurement of training and evaluation speed for one model at one input size, on this
 * machine: a few real optimizer steps on random images. `ablate study plan` turns it into a time
 * estimate; it is an estimate (no data loading, augmentation or logging, and the machine's load varies).
 */
import { F, SGD, blasThreads, setBlasThreads, getNumThreads, noGrad, randint, randn, setNumThreads, tidy, withAutocast } from '../tensor/index.js';
import type { ResolvedModelSpec } from '../run/model-spec.js';
import { buildModel } from '../run/model-spec.js';
import type { Precision } from '../run/machine.js';
import { applyBlasThreadsFor } from '../nn/index.js';

export interface SpeedSample {
  /** Training images per second (forward, backward, SGD step). */
  trainImagesPerS: number;
  /** Evaluation images per second (forward only). */
  evalImagesPerS: number;
  steps: number;
  threads: number;
}

export interface MeasureOptions {
  height: number;
  width: number;
  batchSize: number;
  precision: Precision;
  device: string;
  threads: number;
  /** Fewest timed steps after one warm-up step (default 3); small models run more, for half a second. */
  steps?: number;
}

export function measureSpeed(model: ResolvedModelSpec, o: MeasureOptions): SpeedSample {
  const before = getNumThreads();
  setNumThreads(o.threads);
  const net = buildModel(model, { seed: 0, device: o.device });
  const blasBefore = blasThreads().threads;
  applyBlasThreadsFor(net, o.threads);
  try {
    if (o.precision.channelsLast) net.toMemoryFormat('channels_last');
    const params = net.parameters();
    const opt = new SGD(params, { lr: 1e-3, momentum: 0.9 });
    const forward = (x: ReturnType<typeof randn>) =>
      o.precision.autocast ? withAutocast({ device: o.device.startsWith('cuda') ? 'cuda' : 'cpu', dtype: 'bfloat16' }, () => net.forward(x)) : net.forward(x);
    const input = () => {
      const x = randn([o.batchSize, 3, o.height, o.width], { device: o.device });
      return o.precision.channelsLast ? x.contiguous('channels_last') : x;
    };
    const classes = model.config.numClasses;
    const trainStep = () => {
      tidy(() => {
        const logits = forward(input()).float();
        F.crossEntropy(logits, randint(0, classes, [o.batchSize], { device: o.device })).backward();
      });
      opt.step();
      opt.zeroGrad();
    };
    const minSteps = o.steps ?? 3;
    // At least minSteps, and at least half a second of them (tiny models), but never more than 10× minSteps.
    const timed = (step: () => void): { steps: number; s: number } => {
      step(); // warm-up: first-call allocations and kernel selection
      const t0 = performance.now();
      let n = 0;
      while (n < minSteps || (performance.now() - t0 < 500 && n < 10 * minSteps)) {
        step();
        n++;
      }
      return { steps: n, s: (performance.now() - t0) / 1000 };
    };
    net.train();
    const train = timed(trainStep);
    net.eval();
    const evaluation = timed(() => noGrad(() => tidy(() => forward(input()).float().sum().item())));
    opt.dispose();
    return {
      trainImagesPerS: (train.steps * o.batchSize) / train.s, evalImagesPerS: (evaluation.steps * o.batchSize) / evaluation.s,
      steps: train.steps, threads: o.threads,
    };
  } finally {
    net.dispose();
    setNumThreads(before);
    if (blasBefore !== null) setBlasThreads(blasBefore);
  }
}
