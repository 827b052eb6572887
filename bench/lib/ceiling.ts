import { F, randn, tidy } from '../../src/tensor/index.js';
import { median } from './common.js';

/**
 * Issue #17's machine ceiling: a bf16 3×3 convolution, 256 → 256 channels, 14×14, batch 16, channels-last, run
 * through libtorch's oneDNN (AMX where the CPU has it). On this project's shared VM the rate of that one layer moves
 * 2–3× within an hour (715 against 2,445–2,545 GFLOPS with two threads, same code), so a fixed number cannot say what
 * share of the machine a run used: the benchmarks measure the ceiling in the same process, between epochs, and divide
 * by what was measured then. torch_train_throughput.py does the same on PyTorch's side (same shapes, same library).
 */
export const CEILING_LAYER = { batch: 16, channels: 256, size: 14, kernel: 3 } as const;
export const CEILING_FLOPS = 2 * CEILING_LAYER.batch * CEILING_LAYER.size ** 2 * CEILING_LAYER.channels ** 2 * CEILING_LAYER.kernel ** 2;

/**
 * Median GFLOPS of `rounds` timings of `reps` forward convolutions each, after `warmup` untimed calls (the first
 * call of a process creates oneDNN's primitive; samples taken between training steps need no warm-up).
 */
export function measureCeilingGflops(o: { reps?: number; rounds?: number; warmup?: number } = {}): number {
  const reps = o.reps ?? 20;
  const rounds = o.rounds ?? 3;
  const warmup = o.warmup ?? 2;
  const { batch, channels, size, kernel } = CEILING_LAYER;
  return tidy(() => {
    const x = randn([batch, channels, size, size]).to({ dtype: 'bfloat16', memoryFormat: 'channels_last' });
    const w = randn([channels, channels, kernel, kernel]).to({ dtype: 'bfloat16', memoryFormat: 'channels_last' });
    const conv = () => F.conv2d(x, w, null, { padding: 1 }).dispose();
    for (let i = 0; i < warmup; i++) conv();
    const rates: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) conv();
      rates.push((CEILING_FLOPS * reps) / ((performance.now() - t0) * 1e6));
    }
    return median(rates);
  });
}
