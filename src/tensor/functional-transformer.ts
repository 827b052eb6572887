/**
 * Functional ops of the transformer-era layers (part of `F`): layer norm, GELU, SiLU, hard-swish and
 * multi-head self-attention, plus the truncated-normal initialiser. Arguments are checked here, so the
 * native side trusts them; libtorch does the work and autograd records it.
 */
import { native } from './native.js';
import { Tensor, wrap } from './tensor.js';
import type { Generator } from './random.js';
import { invalidArg } from '../util/errors.js';

const fmt = (t: Tensor): string => `[${t.shape.join(', ')}]`;

function expectVector(name: string, t: Tensor | null, n: number, op: string): void {
  if (t !== null && (t.ndim !== 1 || t.shape[0] !== n)) throw new RangeError(`${op}: ${name} must have shape [${n}] but has ${fmt(t)}`);
}

/** torch.nn.functional.layer_norm over the last dimension (the only form the models use). */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  if (!(x instanceof Tensor)) throw invalidArg('layerNorm input', 'a Tensor', x);
  if (x.ndim < 1) throw new RangeError(`layerNorm: expected at least a 1-D input but received a 0-d tensor`);
  const d = x.shape[x.ndim - 1]!;
  expectVector('weight', weight, d, 'layerNorm');
  expectVector('bias', bias, d, 'layerNorm');
  if (!(eps > 0)) throw invalidArg('layerNorm eps', 'a positive number', eps);
  return wrap(native.layer_norm(x.handle, [d], weight?.handle ?? null, bias?.handle ?? null, eps));
}

/**
 * LayerNorm over the channels of every pixel of an NCHW tensor (torchvision's LayerNorm2d, ConvNeXt's
 * channels-first norm). The result keeps the input's memory format.
 */
export function layerNorm2d(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-6): Tensor {
  if (!(x instanceof Tensor)) throw invalidArg('layerNorm2d input', 'a Tensor', x);
  if (x.ndim !== 4) throw new RangeError(`layerNorm2d: expected a 4-D input (N, C, H, W) but received shape ${fmt(x)}`);
  expectVector('weight', weight, x.shape[1]!, 'layerNorm2d');
  expectVector('bias', bias, x.shape[1]!, 'layerNorm2d');
  if (!(eps > 0)) throw invalidArg('layerNorm2d eps', 'a positive number', eps);
  return wrap(native.layer_norm_channels(x.handle, weight?.handle ?? null, bias?.handle ?? null, eps));
}

/** GELU, exact (erf, torch's default) or the tanh approximation. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate !== 'none' && approximate !== 'tanh') throw invalidArg('gelu approximate', '"none" or "tanh"', approximate);
  return wrap(native.gelu(x.handle, approximate));
}
/** x · sigmoid(x) (Swish). */
export function silu(x: Tensor): Tensor {
  return wrap(native.silu(x.handle));
}
/** x · relu6(x + 3) / 6 (MobileNetV3). */
export function hardswish(x: Tensor): Tensor {
  return wrap(native.hardswish(x.handle));
}
/** relu6(x + 3) / 6 (MobileNetV3's squeeze-excitation gate). */
export function hardsigmoid(x: Tensor): Tensor {
  return wrap(native.hardsigmoid(x.handle));
}

export interface SelfAttentionWeights {
  /** [3D, D]: the query, key and value projections stacked, as torch.nn.MultiheadAttention's in_proj_weight. */
  inProjWeight: Tensor;
  inProjBias: Tensor | null;
  outProjWeight: Tensor;
  outProjBias: Tensor | null;
}

/**
 * Multi-head self-attention on a batch of sequences x [N, L, D], exactly torch.nn.MultiheadAttention(D, heads,
 * batch_first=True)(x, x, x, need_weights=False)[0]: softmax(q·kᵀ/√(D/heads))·v per head, then the output
 * projection. `dropout` applies to the attention weights in training only.
 */
export function selfAttention(x: Tensor, w: SelfAttentionWeights, heads: number, o: { dropout?: number; training?: boolean } = {}): Tensor {
  if (!(x instanceof Tensor)) throw invalidArg('selfAttention input', 'a Tensor', x);
  if (x.ndim !== 3) throw new RangeError(`selfAttention: expected a 3-D input (N, L, D) but received shape ${fmt(x)}`);
  const d = x.shape[2]!;
  if (!Number.isInteger(heads) || heads < 1 || d % heads !== 0) throw invalidArg('selfAttention heads', `a positive integer dividing the embedding dimension ${d}`, heads);
  const shapeOk = (t: Tensor, s: number[]) => t.ndim === s.length && t.shape.every((v, i) => v === s[i]);
  if (!shapeOk(w.inProjWeight, [3 * d, d])) throw new RangeError(`selfAttention: inProjWeight must have shape [${3 * d}, ${d}] but has ${fmt(w.inProjWeight)}`);
  if (!shapeOk(w.outProjWeight, [d, d])) throw new RangeError(`selfAttention: outProjWeight must have shape [${d}, ${d}] but has ${fmt(w.outProjWeight)}`);
  expectVector('inProjBias', w.inProjBias, 3 * d, 'selfAttention');
  expectVector('outProjBias', w.outProjBias, d, 'selfAttention');
  const p = o.dropout ?? 0;
  if (!(p >= 0 && p < 1)) throw invalidArg('selfAttention dropout', 'a probability in [0, 1)', p);
  return wrap(native.self_attention(x.handle, w.inProjWeight.handle, w.inProjBias?.handle ?? null, w.outProjWeight.handle, w.outProjBias?.handle ?? null, heads, p, o.training ?? false));
}

/**
 * Fills t in place from a normal(mean, std) truncated to [low, high] (torch.nn.init.trunc_normal_'s method:
 * ConvNeXt's and ViT's weight init).
 */
export function truncNormal_(t: Tensor, mean: number, std: number, low: number, high: number, generator?: Generator): Tensor {
  if (!(std > 0) || !(low < high) || !(low <= mean && mean <= high)) {
    throw invalidArg('truncNormal_ (mean, std, low, high)', 'std > 0 and low ≤ mean ≤ high with low < high', [mean, std, low, high]);
  }
  native.trunc_normal_(t.handle, mean, std, low, high, generator?.native ?? null);
  return t;
}
