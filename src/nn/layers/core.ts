import { F, noGrad, normal_, zeros, type Generator, type Tensor } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { biasUniform_, fill_, kaimingUniformTorchDefault_ } from '../init.js';
import { Layer, expectRank, type LayerArgs, type LayerCost } from '../layer.js';
import { formatShape, sampleSize, type Shape } from '../shape.js';

/** Rectified linear unit, element-wise. */
export class ReLU extends Layer {
  readonly className = 'ReLU';
  constructor(args: LayerArgs = {}) {
    super(args, 're_lu');
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    return s!;
  }
  call(inputs: readonly Tensor[]): Tensor {
    return inputs[0]!.relu();
  }
  override callInPlace(inputs: readonly Tensor[]): void {
    F.relu_(inputs[0]!);
  }
  override cost([s]: readonly Shape[]): LayerCost {
    return { macs: 0, flops: sampleSize(s!) ?? 0 };
  }
}

/** ReLU activation layer. */
export function relu(args: LayerArgs = {}): ReLU {
  return new ReLU(args);
}

/** min(max(x, 0), 6), element-wise (torch.nn.ReLU6, MobileNet's activation: bounded for low-precision inference). */
export class ReLU6 extends Layer {
  readonly className = 'ReLU6';
  constructor(args: LayerArgs = {}) {
    super(args, 're_lu6');
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    return s!;
  }
  call(inputs: readonly Tensor[]): Tensor {
    return F.relu6(inputs[0]!);
  }
  // In place where the graph compiler allows it, as torchvision's ReLU6(inplace=True): one tensor less per block.
  override callInPlace(inputs: readonly Tensor[]): void {
    F.relu6_(inputs[0]!);
  }
  override cost([s]: readonly Shape[]): LayerCost {
    return { macs: 0, flops: 2 * (sampleSize(s!) ?? 0) };
  }
}

/** ReLU6 activation layer. */
export function relu6(args: LayerArgs = {}): ReLU6 {
  return new ReLU6(args);
}

/** (N, d1, d2, ...) → (N, d1·d2·...). */
export class Flatten extends Layer {
  readonly className = 'Flatten';
  constructor(args: LayerArgs = {}) {
    super(args, 'flatten');
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    if (s!.length < 2) throw new RangeError(`Flatten layer "${this.name}" needs at least a 2-D input but received ${formatShape(s!)}`);
    return [s![0]!, sampleSize(s!)];
  }
  call(inputs: readonly Tensor[]): Tensor {
    return inputs[0]!.flatten(1);
  }
}

/** Flattens every dimension after the batch dimension. */
export function flatten(args: LayerArgs = {}): Flatten {
  return new Flatten(args);
}

export interface DenseArgs extends LayerArgs {
  /** Output features. */
  units: number;
  useBias?: boolean;
  /**
   * Default `torch-default` (nn.Linear's own: uniform ±1/√fan_in for weight and bias); `{ normalStd }`:
   * weight ~ N(0, std²) and bias 0, as torchvision's VGG and MobileNetV2 (std 0.01); `zero-bias`: the
   * default weight and bias 0 (torchvision's DenseNet).
   */
  kernelInitializer?: 'torch-default' | 'zero-bias' | { normalStd: number };
}

/**
 * Fully connected layer on the last dimension of (N, ..., F) input (torch.nn.Linear: a transformer's token MLP
 * as well as a classifier); weight [units, F] with nn.Linear's default init.
 */
export class Dense extends Layer {
  readonly className = 'Dense';
  readonly units: number;
  readonly useBias: boolean;
  readonly kernelInitializer: NonNullable<DenseArgs['kernelInitializer']>;
  constructor(args: DenseArgs) {
    super(args, 'dense');
    if (!Number.isInteger(args.units) || args.units < 1) throw invalidArg(`dense "${this.name}" units`, 'a positive integer', args.units);
    this.units = args.units;
    this.useBias = args.useBias ?? true;
    const init = args.kernelInitializer ?? 'torch-default';
    const ok = init === 'torch-default' || init === 'zero-bias' || (typeof init === 'object' && init !== null && init.normalStd > 0);
    if (!ok) throw invalidArg(`dense "${this.name}" kernelInitializer`, '"torch-default", "zero-bias" or { normalStd > 0 }', init);
    this.kernelInitializer = init;
  }
  protected override build([s]: readonly Shape[]): void {
    this.params.set('weight', zeros([this.units, this.inFeatures(s!)]));
    if (this.useBias) this.params.set('bias', zeros([this.units]));
  }
  private inFeatures(s: Shape): number {
    if (s.length < 2) expectRank(s, 2, this, '(N, ..., features)');
    const f = s[s.length - 1];
    if (f === null || f === undefined) throw new RangeError(`Dense layer "${this.name}" needs a known feature dimension but received ${formatShape(s)}`);
    return f;
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    const f = this.inFeatures(s!);
    const expected = this.params.get('weight')?.shape[1] ?? f;
    if (f !== expected) throw new RangeError(`Dense layer "${this.name}" expects ${expected} input features but received shape ${formatShape(s!)}`);
    return [...s!.slice(0, -1), this.units];
  }
  call(inputs: readonly Tensor[]): Tensor {
    return F.linear(inputs[0]!, this.param('weight'), this.params.get('bias') ?? null);
  }
  override resetParameters(generator?: Generator): void {
    const w = this.param('weight');
    const init = this.kernelInitializer;
    if (typeof init === 'object') noGrad(() => normal_(w, 0, init.normalStd, generator));
    else kaimingUniformTorchDefault_(w, generator);
    const b = this.params.get('bias');
    if (b && init === 'torch-default') biasUniform_(b, w.shape, generator);
    else if (b) fill_(b, 0);
  }
  override cost([s]: readonly Shape[]): LayerCost {
    const f = this.inFeatures(s!);
    // Every position (token, pixel) of a sample goes through the same matrix.
    const positions = (sampleSize(s!) ?? f) / f;
    const macs = positions * f * this.units;
    return { macs, flops: 2 * macs + (this.useBias ? positions * this.units : 0) };
  }
}

/** A fully connected layer (see {@link DenseArgs}). */
export function dense(args: DenseArgs): Dense {
  return new Dense(args);
}

export interface DropoutArgs extends LayerArgs {
  /** Fraction of inputs zeroed in training mode, in [0, 1). */
  rate: number;
}

/** Inverted dropout: active only in training mode (uses the global generator; see manualSeed). */
export class Dropout extends Layer {
  readonly className = 'Dropout';
  readonly rate: number;
  constructor(args: DropoutArgs) {
    super(args, 'dropout');
    if (!(args.rate >= 0 && args.rate < 1)) throw invalidArg(`dropout "${this.name}" rate`, 'a number in [0, 1)', args.rate);
    this.rate = args.rate;
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    return s!;
  }
  call(inputs: readonly Tensor[], training: boolean): Tensor {
    return F.dropout(inputs[0]!, this.rate, training);
  }
}

/** Dropout layer (see {@link DropoutArgs}). */
export function dropout(args: DropoutArgs): Dropout {
  return new Dropout(args);
}

/** Passes its input through unchanged; the graph compiler aliases it away, so it costs nothing. */
export class Identity extends Layer {
  readonly className = 'Identity';
  override readonly passthrough = true;
  constructor(args: LayerArgs = {}) {
    super(args, 'identity');
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    return s!;
  }
  call(inputs: readonly Tensor[]): Tensor {
    return inputs[0]!.clone();
  }
}

/** Identity layer (e.g. an explicit identity shortcut, so it shows up in the summary). */
export function identity(args: LayerArgs = {}): Identity {
  return new Identity(args);
}
