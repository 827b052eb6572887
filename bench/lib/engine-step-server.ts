import { LineServer, benchScript } from './common.js';

/** One training-step configuration of bench/engine-step.ts's server (`--serve`). */
export interface StepServerConfig { size: number; precision: 'fp32' | 'bf16'; threads: number; model?: string }

/**
 * A persistent ablate process that answers bench/engine-step.ts's line protocol (`run N`, `rss`, `ops N`, `quit`)
 * for one configuration: what engine-step's own comparisons and bench/allocator-modes.ts start, each with its
 * own environment.
 */
export function engineStepServer(name: string, c: StepServerConfig, batch: number, env: NodeJS.ProcessEnv = process.env,
  o: { nodeFlags?: string[]; preload?: string[] } = {}): LineServer {
  return new LineServer(name, process.execPath, [
    ...(o.nodeFlags ?? []), ...(o.preload ?? []).flatMap((p) => ['--import', p]), ...benchScript('engine-step'), '--serve',
    '--size', String(c.size), '--precision', c.precision, '--threads', String(c.threads), '--batch', String(batch), '--model', c.model ?? 'resnet34',
  ], env);
}
