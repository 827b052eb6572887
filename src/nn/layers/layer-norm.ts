import { F, ones, zeros, type Tensor } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { fill_ } from '../init.js';
import { Layer, expectRank, type LayerArgs, type LayerCost } from '../layer.js';
import { formatShape, sampleSize, type Shape } from '../shape.js';

export interface LayerNormArgs extends LayerArgs {
  /**
   * Which dimension is normalised: `last` (torch.nn.LayerNorm(D) on tokens (N, L, D), or on a permuted
   * (N, H, W, C) map) or `channels`: the C of each pixel of an NCHW map (torchvision's LayerNorm2d, ConvNeXt's
   * stem and downsampling norms), computed channels-last without a copy when the map is stored channels-last.
   */
  axis?: 'last' | 'channels';
  /** Default 1e-5 as torch; ViT and ConvNeXt use 1e-6. */
  epsilon?: number;
}

/** Layer normalisation with a learned scale and shift (`weight`, `bias`), as torch.nn.LayerNorm. */
export class LayerNormalization extends Layer {
  readonly className = 'LayerNormalization';
  readonly axis: 'last' | 'channels';
  readonly epsilon: number;

  constructor(args: LayerNormArgs = {}) {
    super(args, 'layer_normalization');
    this.axis = args.axis ?? 'last';
    if (this.axis !== 'last' && this.axis !== 'channels') throw invalidArg(`layerNorm "${this.name}" axis`, '"last" or "channels"', args.axis);
    this.epsilon = args.epsilon ?? 1e-5;
    if (!(this.epsilon > 0)) throw invalidArg(`layerNorm "${this.name}" epsilon`, 'a positive number', args.epsilon);
  }

  private features(s: Shape): number {
    if (this.axis === 'channels') expectRank(s, 4, this, '(N, C, H, W)');
    else if (s.length < 2) expectRank(s, 2, this, '(N, ..., features)');
    const d = this.axis === 'channels' ? s[1] : s[s.length - 1];
    if (d === null || d === undefined) throw new RangeError(`LayerNormalization layer "${this.name}" needs a known ${this.axis === 'channels' ? 'channel' : 'feature'} dimension but received ${formatShape(s)}`);
    return d;
  }

  protected override build([s]: readonly Shape[]): void {
    const d = this.features(s!);
    this.params.set('weight', ones([d]));
    this.params.set('bias', zeros([d]));
  }

  computeOutputShape([s]: readonly Shape[]): Shape {
    const d = this.features(s!);
    const expected = this.params.get('weight')?.shape[0] ?? d;
    if (d !== expected) throw new RangeError(`LayerNormalization layer "${this.name}" normalises ${expected} features but received shape ${formatShape(s!)}`);
    return s!;
  }

  call(inputs: readonly Tensor[]): Tensor {
    const f = this.axis === 'channels' ? F.layerNorm2d : F.layerNorm;
    return f(inputs[0]!, this.param('weight'), this.param('bias'), this.epsilon);
  }

  override resetParameters(): void {
    fill_(this.param('weight'), 1);
    fill_(this.param('bias'), 0);
  }

  override cost(_in: readonly Shape[], out: Shape): LayerCost {
    // Mean, variance, normalise, scale and shift: about five operations per element.
    return { macs: 0, flops: 5 * (sampleSize(out) ?? 0) };
  }
}

/** Layer normalisation (see {@link LayerNormArgs}). */
export function layerNorm(args: LayerNormArgs = {}): LayerNormalization {
  return new LayerNormalization(args);
}
