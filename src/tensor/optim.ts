import { native, type Handle } from './native.js';
import { Tensor } from './tensor.js';
import { zerosLike } from './factory.js';
import { keep } from './scope.js';
import { invalidArg } from '../util/errors.js';

/** Serializable optimizer state: scalars plus named tensors (saved into checkpoints). */
export interface OptimizerState {
  kind: string;
  step: number;
  hyper: Record<string, number | boolean>;
  tensors: Map<string, Tensor>;
}

function checkParams(params: Tensor[]): Tensor[] {
  if (!Array.isArray(params) || params.length === 0) throw invalidArg('params', 'a non-empty array of tensors', params);
  params.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw invalidArg(`params[${i}]`, 'a Tensor', p);
  });
  return params;
}
function checkNumber(name: string, v: number, min = 0): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw invalidArg(name, `a finite number ≥ ${min}`, v);
  return v;
}

export interface StepOptions {
  /** Set every gradient to none once it has been applied. */
  zeroGrad?: boolean;
}

export abstract class Optimizer {
  readonly params: Tensor[];
  stepCount = 0;
  abstract lr: number;
  constructor(params: Tensor[]) {
    this.params = checkParams(params);
  }
  /**
   * Updates the parameters from their gradients. `{ zeroGrad: true }` also drops each gradient right after it
   * is used, in the same native pass (what `step(); zeroGrad()` does, one crossing and one list walk fewer).
   */
  abstract step(o?: StepOptions): void;
  /** Drops gradients (set to none, as torch ≥2 does by default) so the next backward starts fresh. */
  zeroGrad(setToNone = true): void {
    native.zero_grad(this.handles(), setToNone);
  }
  #handles: Handle[] | undefined;
  /** The parameters' handles, built once: parameters never change identity while an optimizer holds them. */
  protected handles(): Handle[] {
    return (this.#handles ??= this.params.map((p) => p.handle));
  }
  abstract state(): OptimizerState;
  abstract loadState(s: OptimizerState): void;
  abstract dispose(): void;

  protected loadInto(list: Tensor[], s: OptimizerState, prefix: string): void {
    list.forEach((dst, i) => {
      const src = s.tensors.get(`${prefix}.${i}`);
      if (src === undefined) throw new Error(`optimizer state is missing tensor "${prefix}.${i}"`);
      dst.copy_(src);
    });
  }
  protected lazyZeros(): Tensor[] {
    // zeros_like keeps the parameter's memory format (channels-last) and never requires grad.
    return keep(this.params.map((p) => zerosLike(p)));
  }
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /**
   * Multi-tensor kernels for all parameters at once (torch.optim.SGD's foreach). Default (undefined): on for
   * parameters on a GPU, where four kernel launches per parameter cost the host more than the update itself, and off
   * on the CPU, whose fused loop is faster. Both compute the same update.
   */
  foreach?: boolean;
}

/** torch.optim.SGD semantics (momentum buffer starts as the first gradient). */
export class SGD extends Optimizer {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  readonly foreach: boolean | undefined;
  #buffers: Tensor[] = [];
  #bufferHandles: Handle[] | undefined;

  constructor(params: Tensor[], o: SGDOptions) {
    super(params);
    this.lr = checkNumber('lr', o.lr);
    this.momentum = checkNumber('momentum', o.momentum ?? 0);
    this.dampening = checkNumber('dampening', o.dampening ?? 0);
    this.weightDecay = checkNumber('weightDecay', o.weightDecay ?? 0);
    this.nesterov = o.nesterov ?? false;
    this.foreach = o.foreach;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new Error('SGD: Nesterov momentum requires momentum > 0 and dampening = 0');
  }
  step(o: StepOptions = {}): void {
    if (this.momentum !== 0 && this.#buffers.length === 0) this.#buffers = this.lazyZeros();
    this.stepCount++;
    native.sgd_step(this.handles(), this.#bufferHandles ??= this.#buffers.map((b) => b.handle), this.lr, this.momentum, this.dampening, this.weightDecay, this.nesterov, this.stepCount === 1, o.zeroGrad === true,
      this.foreach === undefined ? 0 : this.foreach ? 1 : 2);
  }
  state(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.#buffers.forEach((b, i) => { tensors.set(`momentum_buffer.${i}`, b); });
    return { kind: 'sgd', step: this.stepCount, hyper: { lr: this.lr, momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov }, tensors };
  }
  loadState(s: OptimizerState): void {
    if (s.kind !== 'sgd') throw new Error(`cannot load ${s.kind} optimizer state into SGD`);
    this.stepCount = s.step;
    this.lr = Number(s.hyper.lr ?? this.lr);
    if (this.momentum !== 0 && s.tensors.size > 0) {
      if (this.#buffers.length === 0) this.#buffers = this.lazyZeros();
      this.#bufferHandles = undefined;
      this.loadInto(this.#buffers, s, 'momentum_buffer');
    }
  }
  dispose(): void {
    for (const b of this.#buffers) b.dispose();
    this.#buffers = [];
    this.#bufferHandles = undefined;
  }
}

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** torch.optim.Adam (L2 weight decay in the gradient); see AdamW for decoupled decay. */
export class Adam extends Optimizer {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected decoupled = false;
  #m: Tensor[] = [];
  #v: Tensor[] = [];

  constructor(params: Tensor[], o: AdamOptions = {}) {
    super(params);
    this.lr = checkNumber('lr', o.lr ?? 1e-3);
    this.betas = o.betas ?? [0.9, 0.999];
    if (!this.betas.every((b) => b >= 0 && b < 1)) throw invalidArg('betas', 'two numbers in [0, 1)', o.betas);
    this.eps = checkNumber('eps', o.eps ?? 1e-8);
    this.weightDecay = checkNumber('weightDecay', o.weightDecay ?? 0);
  }
  step(o: StepOptions = {}): void {
    if (this.#m.length === 0) {
      this.#m = this.lazyZeros();
      this.#v = this.lazyZeros();
    }
    this.stepCount++;
    native.adam_step(this.handles(), this.#m.map((t) => t.handle), this.#v.map((t) => t.handle), this.stepCount, this.lr, this.betas[0], this.betas[1], this.eps, this.weightDecay, this.decoupled, o.zeroGrad === true);
  }
  state(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.#m.forEach((t, i) => { tensors.set(`exp_avg.${i}`, t); });
    this.#v.forEach((t, i) => { tensors.set(`exp_avg_sq.${i}`, t); });
    return { kind: this.decoupled ? 'adamw' : 'adam', step: this.stepCount, hyper: { lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weightDecay: this.weightDecay }, tensors };
  }
  loadState(s: OptimizerState): void {
    const kind = this.decoupled ? 'adamw' : 'adam';
    if (s.kind !== kind) throw new Error(`cannot load ${s.kind} optimizer state into ${kind}`);
    this.stepCount = s.step;
    this.lr = Number(s.hyper.lr ?? this.lr);
    if (s.tensors.size > 0) {
      if (this.#m.length === 0) {
        this.#m = this.lazyZeros();
        this.#v = this.lazyZeros();
      }
      this.loadInto(this.#m, s, 'exp_avg');
      this.loadInto(this.#v, s, 'exp_avg_sq');
    }
  }
  dispose(): void {
    for (const t of [...this.#m, ...this.#v]) t.dispose();
    this.#m = [];
    this.#v = [];
  }
}

/** torch.optim.AdamW: weight decay applied to the weights directly, not through the gradient. */
export class AdamW extends Adam {
  constructor(params: Tensor[], o: AdamOptions = {}) {
    super(params, { weightDecay: 0.01, ...o });
    this.decoupled = true;
  }
}

/**
 * Keras `clipnorm`: each parameter's gradient is clipped to `maxNorm` on its own (the seeds use
 * SGD(clipnorm=1)). Returns how many gradients were clipped; NaN for parameters on a GPU, where counting would
 * make the host wait for the device every step.
 */
export function clipGradNormPerParam(params: Tensor[], maxNorm: number): number {
  checkNumber('maxNorm', maxNorm);
  return native.clip_grad_norm_per_param(checkParams(params).map((p) => p.handle), maxNorm) as number;
}

/**
 * torch.nn.utils.clip_grad_norm_: one global norm over all gradients. Returns the norm before clipping; NaN for
 * parameters on a GPU (the clipping happens on the device, without the host reading the norm).
 */
export function clipGradNorm(params: Tensor[], maxNorm: number, normType = 2): number {
  checkNumber('maxNorm', maxNorm);
  return native.clip_grad_norm(checkParams(params).map((p) => p.handle), maxNorm, normType) as number;
}

export function gradsFinite(params: Tensor[]): boolean {
  return native.grads_finite(params.map((p) => p.handle)) as boolean;
}
