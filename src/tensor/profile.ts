import { native } from './native.js';

/** Wall time libtorch spent in one op (by its ATen or autograd name) while the profiler ran. */
export interface OpTime {
  name: string;
  calls: number;
  /** Time in the op itself, ops it called excluded (µs). */
  selfUs: number;
  /** Time from the op's start to its end (µs). */
  totalUs: number;
  /** Inclusive time of the calls made from outside any other op: what the caller waited for (µs). */
  topUs: number;
}

/**
 * Runs `fn` with libtorch's op observer on and returns what every op cost, summed by name (the same hook
 * torch.profiler uses, so names match PyTorch's: `aten::convolution`, `autograd::engine::evaluate_function:
 * ConvolutionBackward0`, ...). Timing every op costs about a microsecond each; profile, then measure speed
 * without it. Not re-entrant.
 */
export function profileOps<T>(fn: () => T): { result: T; ops: OpTime[] } {
  native.profile_start();
  let rows: [string, number, number, number, number][];
  let result: T;
  try {
    result = fn();
  } finally {
    rows = native.profile_stop() as typeof rows;
  }
  const ops = rows.map(([name, calls, selfUs, totalUs, topUs]) => ({ name, calls, selfUs, totalUs, topUs }));
  ops.sort((a, b) => b.topUs - a.topUs || b.selfUs - a.selfUs);
  return { result, ops };
}
