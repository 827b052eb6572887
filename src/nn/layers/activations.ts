import { F, type Tensor } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { Layer, type LayerArgs, type LayerCost } from '../layer.js';
import { sampleSize, type Shape } from '../shape.js';

/** An element-wise activation without weights: shape in = shape out, a few FLOPs per element. */
abstract class Activation extends Layer {
  protected abstract readonly flopsPerElement: number;
  computeOutputShape([s]: readonly Shape[]): Shape {
    return s!;
  }
  override cost([s]: readonly Shape[]): LayerCost {
    return { macs: 0, flops: this.flopsPerElement * (sampleSize(s!) ?? 0) };
  }
}

export interface GeluArgs extends LayerArgs {
  /** `none`: exact, with erf (torch's and torchvision's default); `tanh`: the approximation of Hendrycks & Gimpel. */
  approximate?: 'none' | 'tanh';
}

/** Gaussian error linear unit, x·Φ(x) (the MLP activation of ViT and ConvNeXt). */
export class GELU extends Activation {
  readonly className = 'GELU';
  protected readonly flopsPerElement = 8;
  readonly approximate: 'none' | 'tanh';
  constructor(args: GeluArgs = {}) {
    super(args, 'gelu');
    this.approximate = args.approximate ?? 'none';
    if (this.approximate !== 'none' && this.approximate !== 'tanh') throw invalidArg(`gelu "${this.name}" approximate`, '"none" or "tanh"', args.approximate);
  }
  call(inputs: readonly Tensor[]): Tensor {
    return F.gelu(inputs[0]!, this.approximate);
  }
}

/** SiLU / Swish, x·sigmoid(x) (EfficientNet). */
export class SiLU extends Activation {
  readonly className = 'SiLU';
  protected readonly flopsPerElement = 4;
  constructor(args: LayerArgs = {}) {
    super(args, 'silu');
  }
  call(inputs: readonly Tensor[]): Tensor {
    return F.silu(inputs[0]!);
  }
}

/** Hard swish, x·relu6(x + 3)/6 (MobileNetV3). */
export class Hardswish extends Activation {
  readonly className = 'Hardswish';
  protected readonly flopsPerElement = 4;
  constructor(args: LayerArgs = {}) {
    super(args, 'hardswish');
  }
  call(inputs: readonly Tensor[]): Tensor {
    return F.hardswish(inputs[0]!);
  }
}

/** Hard sigmoid, relu6(x + 3)/6 (MobileNetV3's squeeze-excitation gate). */
export class Hardsigmoid extends Activation {
  readonly className = 'Hardsigmoid';
  protected readonly flopsPerElement = 3;
  constructor(args: LayerArgs = {}) {
    super(args, 'hardsigmoid');
  }
  call(inputs: readonly Tensor[]): Tensor {
    return F.hardsigmoid(inputs[0]!);
  }
}

/** GELU layer (see {@link GeluArgs}). */
export function gelu(args: GeluArgs = {}): GELU {
  return new GELU(args);
}
/** SiLU (Swish) layer. */
export function silu(args: LayerArgs = {}): SiLU {
  return new SiLU(args);
}
/** Hard-swish layer. */
export function hardswish(args: LayerArgs = {}): Hardswish {
  return new Hardswish(args);
}
/** Hard-sigmoid layer. */
export function hardsigmoid(args: LayerArgs = {}): Hardsigmoid {
  return new Hardsigmoid(args);
}
