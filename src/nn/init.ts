import { noGrad, normal_, uniform_, type Generator, type Tensor } from '../tensor/index.js';
import { product } from './shape.js';

/** torch's `_calculate_fan_in_and_fan_out` for conv ([out, in, kh, kw]) and linear ([out, in]) weights. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  const receptive = product(shape.slice(2));
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

/** `kaiming_normal_(w, mode='fan_out', nonlinearity='relu')`: what torchvision's ResNet uses for every conv. */
export function kaimingNormalFanOut_(w: Tensor, generator?: Generator): void {
  kaimingNormal_(w, 'fanOut', generator);
}

/** `kaiming_normal_(w, mode, nonlinearity='relu')`: N(0, 2 / fan). */
export function kaimingNormal_(w: Tensor, mode: 'fanIn' | 'fanOut', generator?: Generator): void {
  const std = Math.SQRT2 / Math.sqrt(fans(w.shape)[mode]);
  noGrad(() => normal_(w, 0, std, generator));
}

/**
 * torch's default for Linear and Conv weights, `kaiming_uniform_(w, a=sqrt(5))`: the gain sqrt(2/(1+5))
 * times sqrt(3/fan_in) simplifies to a bound of 1/sqrt(fan_in).
 */
export function kaimingUniformTorchDefault_(w: Tensor, generator?: Generator): void {
  const bound = 1 / Math.sqrt(fans(w.shape).fanIn);
  noGrad(() => uniform_(w, -bound, bound, generator));
}

/** torch's default bias init for Linear and Conv: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) of the weight. */
export function biasUniform_(bias: Tensor, weightShape: readonly number[], generator?: Generator): void {
  const fanIn = fans(weightShape).fanIn;
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  noGrad(() => uniform_(bias, -bound, bound, generator));
}

export function fill_(t: Tensor, value: number): void {
  noGrad(() => t.fill_(value));
}

/** `xavier_uniform_(w)`: uniform ±sqrt(6 / (fan_in + fan_out)) (transformer projections and MLPs). */
export function xavierUniform_(w: Tensor, generator?: Generator): void {
  const { fanIn, fanOut } = fans(w.shape);
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  noGrad(() => uniform_(w, -bound, bound, generator));
}
