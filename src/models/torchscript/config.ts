import { basename, resolve } from 'node:path';
import { z } from 'zod';
import { formatZodIssues, type ConfigIssue } from '../../util/zod-issues.js';
import { ModelConfigError } from '../family.js';
import { torchScriptFileProblem } from './file.js';

/** `model: { torchscript: net.pt }`: a PyTorch module saved with torch.jit.script or torch.jit.trace. */
export const TorchScriptConfigSchema = z.strictObject({
  /** The module file (relative to the working directory): `torch.jit.script(net).save('net.pt')`. */
  torchscript: z.string().min(1),
  /**
   * false (default): every seed starts from the file's weights. true: re-initialised from the run's seed by role,
   * as PyTorch's constructors do (conv/linear weights and biases uniform ±1/√fan_in, norms γ=1 β=0, running stats reset).
   */
  reinit: z.boolean().optional(),
  /** The classifier size the module's output must have ([N, numClasses]); a run sets it from the data. */
  numClasses: z.number().int().positive().optional(),
  /** Image channels the module takes (default 3). */
  inChannels: z.number().int().positive().optional(),
  /** Square input side for summaries (default 224); training uses the data's size. */
  inputSize: z.number().int().positive().optional(),
});
export type TorchScriptConfigInput = z.input<typeof TorchScriptConfigSchema>;

export interface ResolvedTorchScriptConfig {
  /** Absolute path of the module file. */
  torchscript: string;
  reinit: boolean;
  numClasses?: number;
  inChannels: number;
  inputSize: number;
}

const KEYS = Object.keys(TorchScriptConfigSchema.shape);

/** Every problem of the config, the file's included (checked without libtorch): [] when valid. */
export function validateTorchScriptConfig(obj: unknown): ConfigIssue[] {
  const r = TorchScriptConfigSchema.safeParse(obj, { reportInput: true });
  if (!r.success) return formatZodIssues(r.error.issues, (p) => (p.length === 0 ? KEYS : undefined));
  const problem = torchScriptFileProblem(r.data.torchscript);
  return problem ? [{ path: 'torchscript', message: problem }] : [];
}

export function resolveTorchScriptConfig(obj: unknown): ResolvedTorchScriptConfig {
  const issues = validateTorchScriptConfig(obj);
  if (issues.length > 0) throw new ModelConfigError(issues);
  const c = TorchScriptConfigSchema.parse(obj);
  return {
    torchscript: resolve(c.torchscript),
    reinit: c.reinit ?? false,
    ...(c.numClasses !== undefined ? { numClasses: c.numClasses } : {}),
    inChannels: c.inChannels ?? 3,
    inputSize: c.inputSize ?? 224,
  };
}

/** The file's name: what logs, study tables and an axis over several files show. */
export function torchScriptName(c: ResolvedTorchScriptConfig): string {
  return basename(c.torchscript);
}

/** Summary and report lines: which file, and where the starting weights come from. */
export function describeTorchScriptConfig(c: ResolvedTorchScriptConfig): string[] {
  return [
    `TorchScript module ${c.torchscript}`,
    c.reinit
      ? 'initial weights: re-initialised from the run seed (reinit: true; PyTorch default init by role)'
      : "initial weights: the file's, the same for every seed (reinit: false)",
  ];
}
