import { F, type Tensor } from '../../tensor/index.js';
import { Layer, expectRank, knownChannels, type LayerArgs, type LayerCost } from '../layer.js';
import { formatShape, sampleSize, toPair, windowOutput, type Pair, type Shape } from '../shape.js';

export interface Pool2dArgs extends LayerArgs {
  poolSize: Pair;
  /** Defaults to poolSize. */
  strides?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}

abstract class Pool2D extends Layer {
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: [number, number];
  readonly ceilMode: boolean;
  protected readonly opts: F.PoolOptions;

  constructor(args: Pool2dArgs, prefix: string) {
    super(args, prefix);
    this.poolSize = toPair(args.poolSize, `${prefix} "${this.name}" poolSize`, 1);
    this.strides = toPair(args.strides ?? this.poolSize, `${prefix} "${this.name}" strides`, 1);
    this.padding = toPair(args.padding ?? 0, `${prefix} "${this.name}" padding`);
    this.ceilMode = args.ceilMode ?? false;
    if (this.padding[0] * 2 > this.poolSize[0] || this.padding[1] * 2 > this.poolSize[1]) {
      throw new RangeError(`${prefix} "${this.name}": padding ${this.padding.join('×')} must be at most half of poolSize ${this.poolSize.join('×')}`);
    }
    this.opts = { kernelSize: this.poolSize, stride: this.strides, padding: this.padding, ceilMode: this.ceilMode };
  }

  computeOutputShape([s]: readonly Shape[]): Shape {
    expectRank(s!, 4, this, '(N, C, H, W)');
    const h = windowOutput(s![2]!, this.poolSize[0], this.strides[0], this.padding[0], 1, this.ceilMode);
    const w = windowOutput(s![3]!, this.poolSize[1], this.strides[1], this.padding[1], 1, this.ceilMode);
    if ((h !== null && h < 1) || (w !== null && w < 1)) {
      throw new RangeError(`${this.className} layer "${this.name}": input ${formatShape(s!)} is smaller than the ${this.poolSize.join('×')} window`);
    }
    return [s![0]!, s![1]!, h, w];
  }

  override cost(_in: readonly Shape[], out: Shape): LayerCost {
    return { macs: 0, flops: (sampleSize(out) ?? 0) * this.poolSize[0] * this.poolSize[1] };
  }
}

export class MaxPooling2D extends Pool2D {
  readonly className = 'MaxPooling2D';
  constructor(args: Pool2dArgs) {
    super(args, 'max_pooling2d');
  }
  call(inputs: readonly Tensor[]): Tensor {
    return F.maxPool2d(inputs[0]!, this.opts);
  }
}

export class AveragePooling2D extends Pool2D {
  readonly className = 'AveragePooling2D';
  constructor(args: Pool2dArgs) {
    super(args, 'average_pooling2d');
  }
  call(inputs: readonly Tensor[]): Tensor {
    return F.avgPool2d(inputs[0]!, this.opts);
  }
}

/** Max pooling over NCHW input (torch.nn.MaxPool2d). */
export function maxPool(args: Pool2dArgs): MaxPooling2D {
  return new MaxPooling2D(args);
}

/** Average pooling over NCHW input (torch.nn.AvgPool2d, count_include_pad=True). */
export function avgPool(args: Pool2dArgs): AveragePooling2D {
  return new AveragePooling2D(args);
}

export interface GlobalPoolArgs extends LayerArgs {
  /** Keep the spatial dimensions as 1×1 (torch's AdaptiveAvgPool2d(1)); default false: output (N, C). */
  keepDims?: boolean;
}

/** Mean over H and W: (N, C, H, W) → (N, C), the head of every ResNet. Works for any input size. */
export class GlobalAveragePooling2D extends Layer {
  readonly className = 'GlobalAveragePooling2D';
  readonly keepDims: boolean;
  constructor(args: GlobalPoolArgs = {}) {
    super(args, 'global_average_pooling2d');
    this.keepDims = args.keepDims ?? false;
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    expectRank(s!, 4, this, '(N, C, H, W)');
    return this.keepDims ? [s![0]!, knownChannels(s!, this), 1, 1] : [s![0]!, knownChannels(s!, this)];
  }
  call(inputs: readonly Tensor[]): Tensor {
    return inputs[0]!.mean(SPATIAL, this.keepDims);
  }
  override cost([s]: readonly Shape[]): LayerCost {
    return { macs: 0, flops: sampleSize(s!) ?? 0 };
  }
}
const SPATIAL = [2, 3];

/** Global average pooling (see {@link GlobalPoolArgs}). */
export function globalAveragePool(args: GlobalPoolArgs = {}): GlobalAveragePooling2D {
  return new GlobalAveragePooling2D(args);
}

export interface AdaptivePoolArgs extends LayerArgs {
  /** Output [height, width] whatever the input size (torch.nn.AdaptiveAvgPool2d). */
  outputSize: Pair;
}

/**
 * Average pooling to a fixed output size, windows as torch computes them (a smaller input is
 * replicated): VGG's `avgpool` to 7×7 before the classifier, so any input size fits its first Linear.
 */
export class AdaptiveAveragePooling2D extends Layer {
  readonly className = 'AdaptiveAveragePooling2D';
  readonly outputSize: [number, number];
  constructor(args: AdaptivePoolArgs) {
    super(args, 'adaptive_average_pooling2d');
    this.outputSize = toPair(args.outputSize, `adaptive_average_pooling2d "${this.name}" outputSize`, 1);
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    expectRank(s!, 4, this, '(N, C, H, W)');
    return [s![0]!, s![1]!, ...this.outputSize];
  }
  call(inputs: readonly Tensor[]): Tensor {
    return F.adaptiveAvgPool2d(inputs[0]!, this.outputSize);
  }
  override cost([s]: readonly Shape[]): LayerCost {
    return { macs: 0, flops: sampleSize(s!) ?? 0 };
  }
}

/** Adaptive average pooling (see {@link AdaptivePoolArgs}). */
export function adaptiveAvgPool(args: AdaptivePoolArgs): AdaptiveAveragePooling2D {
  return new AdaptiveAveragePooling2D(args);
}
