import { F, zeros, type Generator, type Tensor } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { biasUniform_, kaimingUniformTorchDefault_ } from '../init.js';
import { Layer, expectRank, knownChannels, type LayerArgs, type LayerCost } from '../layer.js';
import { formatShape, sampleSize, type Shape } from '../shape.js';

export interface SqueezeExcitationArgs extends LayerArgs {
  /** Width of the bottleneck between the two 1×1 convolutions. */
  squeezeChannels: number;
  /** δ between them: `relu` (Hu et al. 2018, MobileNetV3) or `silu` (EfficientNet). */
  activation?: 'relu' | 'silu';
  /** σ, the gate: `sigmoid` (Hu et al., EfficientNet) or `hardsigmoid` (MobileNetV3). */
  gate?: 'sigmoid' | 'hardsigmoid';
}

/**
 * Squeeze-and-excitation (Hu et al. 2018) as torchvision.ops.SqueezeExcitation: x · σ(fc2(δ(fc1(mean_HW(x))))),
 * the fc layers 1×1 convolutions with biases under torchvision's names (`fc1.weight`, `fc1.bias`, `fc2.*`).
 */
export class SqueezeExcitation extends Layer {
  readonly className = 'SqueezeExcitation';
  readonly squeezeChannels: number;
  readonly activation: 'relu' | 'silu';
  readonly gate: 'sigmoid' | 'hardsigmoid';

  constructor(args: SqueezeExcitationArgs) {
    super(args, 'squeeze_excitation');
    if (!Number.isInteger(args.squeezeChannels) || args.squeezeChannels < 1) throw invalidArg(`squeezeExcitation "${this.name}" squeezeChannels`, 'a positive integer', args.squeezeChannels);
    this.squeezeChannels = args.squeezeChannels;
    this.activation = args.activation ?? 'relu';
    if (this.activation !== 'relu' && this.activation !== 'silu') throw invalidArg(`squeezeExcitation "${this.name}" activation`, '"relu" or "silu"', args.activation);
    this.gate = args.gate ?? 'sigmoid';
    if (this.gate !== 'sigmoid' && this.gate !== 'hardsigmoid') throw invalidArg(`squeezeExcitation "${this.name}" gate`, '"sigmoid" or "hardsigmoid"', args.gate);
  }

  protected override build([s]: readonly Shape[]): void {
    const c = knownChannels(s!, this);
    this.params.set('fc1.weight', zeros([this.squeezeChannels, c, 1, 1]));
    this.params.set('fc1.bias', zeros([this.squeezeChannels]));
    this.params.set('fc2.weight', zeros([c, this.squeezeChannels, 1, 1]));
    this.params.set('fc2.bias', zeros([c]));
  }

  computeOutputShape([s]: readonly Shape[]): Shape {
    expectRank(s!, 4, this, '(N, C, H, W)');
    const c = knownChannels(s!, this);
    const expected = this.params.get('fc2.bias')?.shape[0] ?? c;
    if (c !== expected) throw new RangeError(`SqueezeExcitation layer "${this.name}" expects ${expected} channels but received shape ${formatShape(s!)}`);
    return s!;
  }

  call(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    const pooled = x.mean([2, 3], true);
    const h = F.conv2d(pooled, this.param('fc1.weight'), this.param('fc1.bias'));
    pooled.dispose();
    const a = this.activation === 'relu' ? h.relu() : F.silu(h);
    h.dispose();
    const z = F.conv2d(a, this.param('fc2.weight'), this.param('fc2.bias'));
    a.dispose();
    const scale = this.gate === 'sigmoid' ? z.sigmoid() : F.hardsigmoid(z);
    z.dispose();
    const out = x.mul(scale);
    scale.dispose();
    return out;
  }

  /** nn.Conv2d's default init for both 1×1 convolutions, as torchvision's SqueezeExcitation. */
  override resetParameters(generator?: Generator): void {
    for (const fc of ['fc1', 'fc2']) {
      const w = this.param(`${fc}.weight`);
      kaimingUniformTorchDefault_(w, generator);
      biasUniform_(this.param(`${fc}.bias`), w.shape, generator);
    }
  }

  override cost([s]: readonly Shape[]): LayerCost {
    const c = knownChannels(s!, this);
    const macs = 2 * c * this.squeezeChannels;
    // Pooling reads every element, the rescale multiplies every element.
    return { macs, flops: 2 * macs + 2 * (sampleSize(s!) ?? 0) };
  }
}

/** Squeeze-and-excitation layer (see {@link SqueezeExcitationArgs}). */
export function squeezeExcitation(args: SqueezeExcitationArgs): SqueezeExcitation {
  return new SqueezeExcitation(args);
}
