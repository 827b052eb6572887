import { rand, type Generator } from '../tensor/index.js';

const CHUNK = 32;

/**
 * Scalar uniforms in [0, 1) drawn from a tensor Generator, for the few per-batch parameters that are
 * chosen by rejection (Gamma, random-resized-crop boxes) and so cannot be drawn as one tensor.
 * Draws come in chunks to keep native calls few; leftovers are dropped with the stream, so a stream
 * must live for one batch only: then the Generator's state alone decides the next batch.
 */
export class UniformStream {
  #gen: Generator;
  #buf: number[] = [];

  constructor(generator: Generator) {
    this.#gen = generator;
  }

  next(): number {
    if (this.#buf.length === 0) {
      const t = rand([CHUNK], { generator: this.#gen, dtype: 'float64' });
      try {
        this.#buf = t.toArray().reverse();
      } finally {
        t.dispose();
      }
    }
    return this.#buf.pop()!;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Integer uniformly in [0, n). */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.next() * n));
  }

  /** Standard normal by Box–Muller (the second value is dropped: simplicity over speed here). */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]: log stays finite
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

/** Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 via the boost Gamma(a+1)·U^(1/a). */
export function sampleGamma(rng: UniformStream, shape: number): number {
  if (!(shape > 0) || !Number.isFinite(shape)) throw new RangeError(`sampleGamma: shape must be a positive finite number but received ${shape}`);
  if (shape < 1) {
    const u = 1 - rng.next();
    return sampleGamma(rng, shape + 1) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). */
export function sampleBeta(rng: UniformStream, a: number, b: number): number {
  const x = sampleGamma(rng, a);
  const y = sampleGamma(rng, b);
  // Both can underflow to 0 for tiny a, b: Beta then puts its mass at the ends, in proportion a : b.
  if (x + y === 0) return rng.next() < a / (a + b) ? 1 : 0;
  return x / (x + y);
}
