import { F, zeros, type Generator, type Tensor } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { biasUniform_, fill_, kaimingNormal_, kaimingUniformTorchDefault_ } from '../init.js';
import { Layer, expectRank, knownChannels, type LayerArgs, type LayerCost } from '../layer.js';
import { formatShape, sampleSize, toPair, windowOutput, type Pair, type Shape } from '../shape.js';

/**
 * `kaiming-normal-fan-out`: torchvision's ResNet/VGG/MobileNet init (bias 0); `kaiming-normal-fan-in`:
 * torchvision's DenseNet (`kaiming_normal_(w)`); `torch-default`: nn.Conv2d's own (uniform weight and bias).
 */
export type ConvInitializer = 'kaiming-normal-fan-out' | 'kaiming-normal-fan-in' | 'torch-default';
const CONV_INITIALIZERS: readonly ConvInitializer[] = ['kaiming-normal-fan-out', 'kaiming-normal-fan-in', 'torch-default'];

export interface Conv2dArgs extends LayerArgs {
  /** Output channels. */
  filters: number;
  kernelSize: Pair;
  strides?: Pair;
  /** Zero padding on each side (PyTorch semantics), e.g. 1 for a 3×3 "same" conv. */
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  /** Default true, as in torch and Keras; ResNets turn it off because a batch norm follows. */
  useBias?: boolean;
  /** Default `kaiming-normal-fan-out` (torchvision's ResNet init); `torch-default` is nn.Conv2d's own. */
  kernelInitializer?: ConvInitializer;
  /** Default `torch-default` (uniform ±1/√fan_in); `zeros` as torchvision's VGG and MobileNetV2. */
  biasInitializer?: 'torch-default' | 'zeros';
}

/** 2-D convolution over NCHW input; weight [filters, inChannels/groups, kh, kw] like torch. */
export class Conv2D extends Layer {
  readonly className = 'Conv2D';
  override readonly outputNotSavedForBackward = true;
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  readonly useBias: boolean;
  readonly kernelInitializer: ConvInitializer;
  readonly biasInitializer: 'torch-default' | 'zeros';
  #opts: F.Conv2dOptions;

  constructor(args: Conv2dArgs) {
    super(args, 'conv2d');
    if (!Number.isInteger(args.filters) || args.filters < 1) throw invalidArg(`conv2d "${this.name}" filters`, 'a positive integer', args.filters);
    this.filters = args.filters;
    this.kernelSize = toPair(args.kernelSize, `conv2d "${this.name}" kernelSize`, 1);
    this.strides = toPair(args.strides ?? 1, `conv2d "${this.name}" strides`, 1);
    this.padding = toPair(args.padding ?? 0, `conv2d "${this.name}" padding`);
    this.dilation = toPair(args.dilation ?? 1, `conv2d "${this.name}" dilation`, 1);
    this.groups = args.groups ?? 1;
    if (!Number.isInteger(this.groups) || this.groups < 1 || this.filters % this.groups !== 0) {
      throw invalidArg(`conv2d "${this.name}" groups`, `a positive integer dividing filters (${this.filters})`, args.groups);
    }
    this.useBias = args.useBias ?? true;
    this.kernelInitializer = args.kernelInitializer ?? 'kaiming-normal-fan-out';
    if (!CONV_INITIALIZERS.includes(this.kernelInitializer)) {
      throw invalidArg(`conv2d "${this.name}" kernelInitializer`, CONV_INITIALIZERS.map((i) => `"${i}"`).join(', ').replace(/, ([^,]*)$/, ' or $1'), args.kernelInitializer);
    }
    this.biasInitializer = args.biasInitializer ?? 'torch-default';
    if (this.biasInitializer !== 'torch-default' && this.biasInitializer !== 'zeros') {
      throw invalidArg(`conv2d "${this.name}" biasInitializer`, '"torch-default" or "zeros"', args.biasInitializer);
    }
    this.#opts = { stride: this.strides, padding: this.padding, dilation: this.dilation, groups: this.groups };
  }

  protected override build(inputShapes: readonly Shape[]): void {
    const inC = knownChannels(inputShapes[0]!, this);
    this.params.set('weight', zeros([this.filters, inC / this.groups, ...this.kernelSize]));
    if (this.useBias) this.params.set('bias', zeros([this.filters]));
  }

  computeOutputShape([s]: readonly Shape[]): Shape {
    expectRank(s!, 4, this, '(N, C, H, W)');
    const inC = knownChannels(s!, this);
    const w = this.params.get('weight');
    const expectedC = w ? w.shape[1]! * this.groups : inC;
    if (inC !== expectedC || inC % this.groups !== 0) {
      throw new RangeError(`Conv2D layer "${this.name}" expects ${expectedC} input channels (divisible by groups=${this.groups}) but received shape ${formatShape(s!)}`);
    }
    const h = windowOutput(s![2]!, this.kernelSize[0], this.strides[0], this.padding[0], this.dilation[0]);
    const wd = windowOutput(s![3]!, this.kernelSize[1], this.strides[1], this.padding[1], this.dilation[1]);
    if ((h !== null && h < 1) || (wd !== null && wd < 1)) {
      throw new RangeError(`Conv2D layer "${this.name}": input ${formatShape(s!)} is too small for kernel ${this.kernelSize.join('×')} with padding ${this.padding.join('×')}`);
    }
    return [s![0]!, this.filters, h, wd];
  }

  call(inputs: readonly Tensor[]): Tensor {
    return F.conv2d(inputs[0]!, this.param('weight'), this.params.get('bias') ?? null, this.#opts);
  }

  override resetParameters(generator?: Generator): void {
    const w = this.param('weight');
    if (this.kernelInitializer === 'torch-default') kaimingUniformTorchDefault_(w, generator);
    else kaimingNormal_(w, this.kernelInitializer === 'kaiming-normal-fan-in' ? 'fanIn' : 'fanOut', generator);
    const b = this.params.get('bias');
    if (b && this.biasInitializer === 'zeros') fill_(b, 0);
    else if (b) biasUniform_(b, w.shape, generator);
  }

  override cost([s]: readonly Shape[], out: Shape): LayerCost {
    const outElems = sampleSize(out) ?? 0;
    const macs = outElems * (knownChannels(s!, this) / this.groups) * this.kernelSize[0] * this.kernelSize[1];
    return { macs, flops: 2 * macs + (this.useBias ? outElems : 0) };
  }
}

/** A 2-D convolution layer (see {@link Conv2dArgs}). */
export function conv2d(args: Conv2dArgs): Conv2D {
  return new Conv2D(args);
}
