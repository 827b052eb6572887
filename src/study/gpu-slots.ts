/**
 * Which GPU each parallel study worker uses. With `--parallel N` and a plain `cuda` device, worker k trains on
 * `cuda:(k mod G)` for G visible GPUs, so N runs on N GPUs never share one. Explicit `cuda:N` and `cpu` are kept.
 */
export function deviceForSlot(device: string | undefined, slot: number, parallel: number, gpuCount: number): string | undefined {
  if (device !== 'cuda' || parallel <= 1 || gpuCount <= 1) return device;
  return `cuda:${slot % gpuCount}`;
}

/** A line for the study log when workers must share GPUs (more parallel runs than GPUs). */
export function gpuSharingNote(device: string | undefined, parallel: number, gpuCount: number): string | undefined {
  if (device !== 'cuda' || parallel <= 1) return undefined;
  if (gpuCount === 0) return undefined; // resolveDevice in each run reports the missing GPU with the remedy
  if (parallel <= gpuCount) return `each of the ${parallel} parallel runs trains on its own GPU (cuda:0–cuda:${parallel - 1})`;
  return `${parallel} parallel runs share ${gpuCount} GPU${gpuCount === 1 ? '' : 's'} (run k on cuda:(k mod ${gpuCount})); --parallel ${gpuCount} gives each its own`;
}
