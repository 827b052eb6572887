/**
 * What a machine makes of a plan: the device, what `precision: auto` becomes, and the thread count. Part of
 * the run's description (the thread count and precision are recorded in its config.json), decided here for
 * training, evaluation and inference alike.
 */
import { defaultThreads, deviceSupportsBf16, resolveDevice } from '../tensor/index.js';
import type { TrainConfig } from './config.js';
import type { RunPlan } from './plan.js';

/** The numeric precision a model runs in: bf16 autocast with channels-last, or fp32. */
export interface Precision {
  autocast: boolean;
  channelsLast: boolean;
  label: 'fp32' | 'bf16';
}

export function choosePrecision(requested: TrainConfig['precision'], device: string): Precision {
  const fast = deviceSupportsBf16(device); // GPUs from Ampere (compute 8.0) on, or CPUs with AVX-512 BF16/AMX
  if (requested === 'fp32' || (requested === 'auto' && !fast)) return { autocast: false, channelsLast: false, label: 'fp32' };
  return { autocast: true, channelsLast: true, label: 'bf16' };
}

/**
 * What this machine makes of a plan: the device, what `precision: auto` becomes, and the thread count.
 * Results depend on the thread count (parallel reductions sum in a different order), so a run keeps the
 * count it started with: a resume passes `threadsBefore` (from the run's config.json), which wins over
 * this machine's default but not over a count the plan sets itself.
 */
export function planForMachine(
  plan: RunPlan,
  o: { threadsBefore?: number; localWorldSize?: number; localRank?: number } = {},
): { plan: RunPlan; device: string; precision: Precision } {
  // One data-parallel rank per GPU: local rank r trains on cuda:r.
  const device = resolveDevice(o.localRank !== undefined && plan.device === 'cuda' ? `cuda:${o.localRank}` : plan.device);
  const precision = choosePrecision(plan.precision, device);
  // Local data-parallel ranks share the machine's cores.
  const threads = plan.threads ?? o.threadsBefore ?? Math.max(1, Math.floor(defaultThreads() / (o.localWorldSize ?? 1)));
  return { plan: { ...plan, precision: precision.label, threads }, device, precision };
}
