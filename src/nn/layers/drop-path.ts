import { bernoulli, full, type Generator, type Tensor } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { Layer, type LayerArgs } from '../layer.js';
import { formatShape, type Shape } from '../shape.js';

export interface DropPathArgs extends LayerArgs {
  /** Probability that a sample's whole input is zeroed in training mode, in [0, 1). */
  rate: number;
  /**
   * Draws the per-sample masks. Default: libtorch's global generator of the input's device, which `fit()`
   * re-seeds from (seed, step) before every step, so masks are reproducible and a resumed run draws
   * exactly what the uninterrupted one did. An explicit generator must be a CPU one; masks are moved to
   * the input's device.
   */
  generator?: Generator;
}

/**
 * Stochastic depth (Huang et al. 2016) for one residual branch, as timm's `drop_path`: in training each
 * sample of the batch is kept with probability 1 − rate and, when kept, scaled by 1 / (1 − rate), so the
 * expected output equals the input and nothing needs rescaling at test time. In eval mode it is an
 * identity, so inference and export see no randomness. No weights, and no cost in FLOP counts (which
 * count inference, like Dropout's).
 */
export class DropPath extends Layer {
  readonly className = 'DropPath';
  readonly rate: number;
  readonly generator: Generator | undefined;

  constructor(args: DropPathArgs) {
    super(args, 'drop_path');
    if (typeof args.rate !== 'number' || !(args.rate >= 0 && args.rate < 1)) throw invalidArg(`dropPath "${this.name}" rate`, 'a number in [0, 1)', args.rate);
    this.rate = args.rate;
    this.generator = args.generator;
  }

  computeOutputShape([s]: readonly Shape[]): Shape {
    if (s!.length < 2) throw new RangeError(`DropPath layer "${this.name}" needs a batched input (N, ...) but received ${formatShape(s!)}`);
    return s!;
  }

  call(inputs: readonly Tensor[], training: boolean): Tensor {
    const x = inputs[0]!;
    // An alias, not a copy: the caller owns a new handle, the storage is shared and never written in place.
    if (!training || this.rate === 0) return x.view(x.shape);
    const keep = 1 - this.rate;
    // One Bernoulli draw per sample, broadcast over the rest: (N, 1, 1, ...). Drawn in fp32 whatever x's
    // dtype (bf16 under autocast) so the stream of draws does not depend on the precision.
    const maskShape = [x.shape[0]!, ...x.shape.slice(1).map(() => 1)];
    const probs = full(maskShape, keep, { device: this.generator ? 'cpu' : x.device });
    const drawn = bernoulli(probs, this.generator);
    probs.dispose();
    const scaled = drawn.div(keep);
    drawn.dispose();
    const mask = scaled.dtype === x.dtype && scaled.device === x.device ? scaled : scaled.to({ dtype: x.dtype, device: x.device });
    if (mask !== scaled) scaled.dispose();
    const out = x.mul(mask);
    mask.dispose();
    return out;
  }
}

/** Stochastic-depth layer for a residual branch (see {@link DropPathArgs}). */
export function dropPath(args: DropPathArgs): DropPath {
  return new DropPath(args);
}
