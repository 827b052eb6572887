import { native, type Handle } from './native.js';
import { type Tensor, wrap } from './tensor.js';

/**
 * A seeded random stream (libtorch's CPU Philox/MT generator). Pass it to rand/randn/randperm/...
 * Its state can be saved and restored, so a resumed run draws exactly what the uninterrupted one would.
 */
export class Generator {
  /** @internal read by the addon: an External holding the at::Generator. */
  readonly __gen: unknown;
  constructor(seed: number | bigint = 0) {
    this.__gen = native.generator_new(Number(seed));
  }
  /** @internal */
  get native(): this {
    return this;
  }
  getState(): Uint8Array {
    const t = wrap(native.generator_get_state(this) as Handle);
    try {
      return t.toBytes();
    } finally {
      t.dispose();
    }
  }
  setState(state: Uint8Array): void {
    const t = wrap(native.from_buffer(state, [state.length], 'uint8') as Handle);
    try {
      native.generator_set_state(this, t.handle);
    } finally {
      t.dispose();
    }
  }
}

/** Seeds libtorch's global generators (used by ops without an explicit generator, e.g. dropout). */
export function manualSeed(seed: number): void {
  native.manual_seed(seed);
}

export type { Tensor };
