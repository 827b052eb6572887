import { native } from './native.js';
import { Tensor, wrap, isFloatingDType } from './tensor.js';
import { invalidArg } from '../util/errors.js';
export * from './functional-transformer.js';

type Pair = number | [number, number];
const pair = (v: Pair, name: string): [number, number] => {
  const p: [number, number] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= 0)) throw invalidArg(name, 'a non-negative integer or a pair of them', v);
  return p;
};
const fmt = (t: Tensor): string => `[${t.shape.join(', ')}]`;

function expect4d(x: Tensor, op: string): void {
  if (!(x instanceof Tensor)) throw invalidArg(`${op} input`, 'a Tensor', x);
  if (x.ndim !== 4) throw new RangeError(`${op}: expected a 4-D input (N, C, H, W) but received shape ${fmt(x)}`);
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor {
  expect4d(x, 'conv2d');
  const groups = o.groups ?? 1;
  if (weight.ndim !== 4) throw new RangeError(`conv2d: expected a 4-D weight (out, in/groups, kH, kW) but received shape ${fmt(weight)}`);
  if (x.shape[1] !== weight.shape[1]! * groups) {
    throw new RangeError(`conv2d: input has ${x.shape[1]} channels but the weight ${fmt(weight)} expects ${weight.shape[1]! * groups} (groups=${groups}); input shape ${fmt(x)}`);
  }
  return wrap(native.conv2d(x.handle, weight.handle, bias?.handle ?? null, pair(o.stride ?? 1, 'stride'), pair(o.padding ?? 0, 'padding'), pair(o.dilation ?? 1, 'dilation'), groups));
}
/**
 * Where conv2d(x, weight, bias, o) would compute its weight gradient if called now (mode, grad mode and autocast
 * included): `gemm` (one matrix product, see setConvWeightGrad) or `libtorch` (its own convolution backward).
 */
export function conv2dWeightGradRoute(x: Tensor, weight: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): 'gemm' | 'libtorch' {
  return native.conv_weight_grad_route(x.handle, weight.handle, bias?.handle ?? null, pair(o.stride ?? 1, 'stride'), pair(o.padding ?? 0, 'padding'), pair(o.dilation ?? 1, 'dilation'), o.groups ?? 1) as 'gemm' | 'libtorch';
}

export interface BatchNormOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
  /**
   * torch.nn.SyncBatchNorm in training mode: the statistics of the global batch, every rank of the
   * process group's rows (see ProcessGroup). Without a group it is plain batch norm.
   */
  sync?: boolean;
}
/** Batch norm over channel dim 1; in training mode the running statistics are updated in place. */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null, o: BatchNormOptions): Tensor {
  if (x.ndim < 2) throw new RangeError(`batchNorm: expected at least 2-D input (N, C, ...) but received shape ${fmt(x)}`);
  const c = x.shape[1]!;
  for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (t !== null && (t.ndim !== 1 || t.shape[0] !== c)) throw new RangeError(`batchNorm: ${name} must have shape [${c}] to match the input's channels but has ${fmt(t)}`);
  }
  if (o.sync && o.training) {
    return wrap(native.sync_batch_norm(x.handle, weight?.handle ?? null, bias?.handle ?? null, runningMean?.handle ?? null, runningVar?.handle ?? null, o.momentum ?? 0.1, o.eps ?? 1e-5));
  }
  return wrap(native.batch_norm(x.handle, weight?.handle ?? null, bias?.handle ?? null, runningMean?.handle ?? null, runningVar?.handle ?? null, o.training, o.momentum ?? 0.1, o.eps ?? 1e-5));
}

export interface PoolOptions {
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}
export function maxPool2d(x: Tensor, o: PoolOptions): Tensor {
  expect4d(x, 'maxPool2d');
  const k = pair(o.kernelSize, 'kernelSize');
  return wrap(native.max_pool2d(x.handle, k, pair(o.stride ?? k, 'stride'), pair(o.padding ?? 0, 'padding'), [1, 1], o.ceilMode ?? false));
}
export function avgPool2d(x: Tensor, o: PoolOptions & { countIncludePad?: boolean }): Tensor {
  expect4d(x, 'avgPool2d');
  const k = pair(o.kernelSize, 'kernelSize');
  return wrap(native.avg_pool2d(x.handle, k, pair(o.stride ?? k, 'stride'), pair(o.padding ?? 0, 'padding'), o.ceilMode ?? false, o.countIncludePad ?? true));
}
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  expect4d(x, 'adaptiveAvgPool2d');
  return wrap(native.adaptive_avg_pool2d(x.handle, pair(outputSize, 'outputSize')));
}
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  if (weight.ndim !== 2) throw new RangeError(`linear: expected a 2-D weight (out, in) but received ${fmt(weight)}`);
  if (x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new RangeError(`linear: input's last dimension is ${x.shape[x.ndim - 1]} but the weight ${fmt(weight)} expects ${weight.shape[1]}; input shape ${fmt(x)}`);
  }
  return wrap(native.linear(x.handle, weight.handle, bias?.handle ?? null));
}
export function relu(x: Tensor): Tensor {
  return x.relu();
}
/**
 * ReLU overwriting `x`, recorded by autograd (torch's `relu_`). Only for a tensor nothing else reads and whose
 * producer's backward does not need it; otherwise backward fails with autograd's in-place error.
 */
export function relu_(x: Tensor): Tensor {
  native.relu_inplace(x.handle);
  return x;
}
/** min(max(x, 0), 6) as torch's hardtanh(x, 0, 6) (nn.ReLU6); clamp for bf16/fp16 on the CPU, where 1.13 has no hardtanh backward. */
export function relu6(x: Tensor): Tensor {
  return wrap(native.relu6(x.handle, false));
}
/** ReLU6 overwriting `x`, recorded by autograd (torch's `ReLU6(inplace=True)`); same conditions as {@link relu_}. */
export function relu6_(x: Tensor): Tensor {
  native.relu6(x.handle, true);
  return x;
}
/** `x += y`, recorded by autograd (the residual sum of torchvision's blocks); same conditions as {@link relu_}. */
export function addInPlace_(x: Tensor, y: Tensor): Tensor {
  native.add_inplace(x.handle, y.handle);
  return x;
}
export function softmax(x: Tensor, dim = -1): Tensor {
  return x.softmax(dim);
}
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return x.logSoftmax(dim);
}
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  if (!(p >= 0 && p < 1)) throw invalidArg('dropout p', 'a probability in [0, 1)', p);
  return wrap(native.dropout(x.handle, p, training));
}
export function pad(x: Tensor, pads: number[], mode: 'constant' | 'reflect' | 'replicate' = 'constant', value = 0): Tensor {
  return wrap(native.pad(x.handle, pads, mode, value));
}

export interface CrossEntropyOptions {
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}
/**
 * Cross-entropy from logits [N, C] with either class indices (int64 [N]) or probabilities (float [N, C],
 * the soft targets CutMix/MixUp produce). Same kernel as torch.nn.functional.cross_entropy.
 */
export function crossEntropy(logits: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor {
  if (logits.ndim !== 2) throw new RangeError(`crossEntropy: expected logits of shape [N, C] but received ${fmt(logits)}`);
  const [n, c] = logits.shape as [number, number];
  const ls = o.labelSmoothing ?? 0;
  if (!(ls >= 0 && ls <= 1)) throw invalidArg('labelSmoothing', 'a number in [0, 1]', ls);
  if (isFloatingDType(target.dtype)) {
    if (target.ndim !== 2 || target.shape[0] !== n || target.shape[1] !== c) {
      throw new RangeError(`crossEntropy: soft targets must have the logits' shape [${n}, ${c}] but received ${fmt(target)}`);
    }
  } else {
    if (target.dtype !== 'int64') throw new TypeError(`crossEntropy: class-index targets must be int64 but received ${target.dtype}`);
    if (target.ndim !== 1 || target.shape[0] !== n) throw new RangeError(`crossEntropy: class-index targets must have shape [${n}] but received ${fmt(target)}`);
  }
  return wrap(native.cross_entropy(logits.handle, target.handle, o.reduction ?? 'mean', ls));
}

export interface InterpolateOptions {
  size: Pair;
  mode?: 'bilinear' | 'nearest' | 'bicubic';
  alignCorners?: boolean;
  antialias?: boolean;
}
export function interpolate(x: Tensor, o: InterpolateOptions): Tensor {
  expect4d(x, 'interpolate');
  return wrap(native.interpolate(x.handle, pair(o.size, 'size'), o.mode ?? 'bilinear', o.alignCorners ?? false, o.antialias ?? false));
}
/** Samples x at normalised grid locations [N, H, W, 2] in [-1, 1] (torch.nn.functional.grid_sample). */
export function gridSample(x: Tensor, grid: Tensor, o: { mode?: 'bilinear' | 'nearest'; padding?: 'zeros' | 'border' | 'reflection'; alignCorners?: boolean } = {}): Tensor {
  const mode = o.mode === 'nearest' ? 1 : 0;
  const padding = o.padding === 'border' ? 1 : o.padding === 'reflection' ? 2 : 0;
  return wrap(native.grid_sample(x.handle, grid.handle, mode, padding, o.alignCorners ?? false));
}
export function affineGrid(theta: Tensor, size: [number, number, number, number], alignCorners = false): Tensor {
  return wrap(native.affine_grid(theta.handle, size, alignCorners));
}
