import { setBlasThreads } from '../tensor/index.js';
import type { Model } from './model.js';
import { summarize, type InputSize } from './summary.js';

/**
 * OpenBLAS's thread count for training one model. Debian's libtorch runs fp32 matrix products (linear layers,
 * attention's batched products) on OpenBLAS, whose pool spins for ~0.1 s after each product. For a network of
 * convolutions the only product is the classifier, and the spinning pool took a core from libtorch's threads
 * (ResNet-34 fp32: 156–161 against 133–134 ms per step; bench/notes-training-step.md), so ablate keeps OpenBLAS on
 * the calling thread. A ViT or ConvNeXt step is mostly matrix products: on one OpenBLAS thread they run serially
 * (vit_b_16 fp32 0.77× PyTorch's speed; bench/notes-models.md), so those get libtorch's thread count.
 */

/** Layer types whose multiply-accumulates are matrix products on the CPU (OpenBLAS in fp32 on Debian's libtorch). */
const MATMUL_LAYERS = new Set(['Dense', 'MultiHeadSelfAttention']);

/** From this share of a step's multiply-accumulates in matrix products, OpenBLAS gets libtorch's threads. */
export const MATMUL_HEAVY_SHARE = 0.5;

/**
 * The share of `model`'s multiply-accumulates (at `inputSize`, default its own) done by matrix products; 0 for a model
 * whose costs are unknown (a TorchScript module) or whose shapes cannot be inferred at that size.
 */
export function matmulShare(model: Model, inputSize?: InputSize): number {
  let rows;
  try {
    rows = summarize(model, inputSize).rows;
  } catch {
    return 0;
  }
  let all = 0;
  let matmul = 0;
  for (const r of rows) {
    all += r.macs;
    if (MATMUL_LAYERS.has(r.type)) matmul += r.macs;
  }
  return all > 0 ? matmul / all : 0;
}

/** OpenBLAS threads for training `model` with `threads` libtorch threads: all of them when matrix products dominate. */
export function blasThreadsFor(model: Model, threads: number, inputSize?: InputSize): number {
  return matmulShare(model, inputSize) >= MATMUL_HEAVY_SHARE ? threads : 1;
}

/**
 * Sets OpenBLAS's threads for training `model` (OPENBLAS_NUM_THREADS, where set, wins). Returns the count in force,
 * or null where libtorch's BLAS is not OpenBLAS.
 */
export function applyBlasThreadsFor(model: Model, threads: number, inputSize?: InputSize): number | null {
  return setBlasThreads(blasThreadsFor(model, threads, inputSize));
}
