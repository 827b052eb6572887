import { z } from 'zod';
import { describe } from '../../util/errors.js';
import { formatZodIssues, type ConfigIssue } from '../../util/zod-issues.js';
import { ModelConfigError } from '../family.js';
import { paramLimitIssue } from '../limits.js';

export const CONVNEXT_NORMS = ['layernorm', 'batchnorm'] as const;
export type ConvNeXtNorm = (typeof CONVNEXT_NORMS)[number];

const stageList = (what: string) =>
  z.array(z.number().int().min(1).max(what === 'depths' ? 64 : 8192)).min(1).max(8);

/** Every ablation axis of the ConvNeXt family is one field here (Liu et al. 2022, "A ConvNet for the 2020s"). */
export const ConvNeXtConfigSchema = z.strictObject({
  /** Blocks per stage: torchvision's tiny [3, 3, 9, 3], small/base/large [3, 3, 27, 3]. */
  depths: stageList('depths'),
  /** Channels of each stage (same length as depths): tiny/small 96/192/384/768, base 128/…/1024, large 192/…/1536. */
  widths: stageList('widths'),
  /**
   * The stem's "patchify" convolution: kernel = stride = stemPatch (4 in the paper: a 224² image becomes 56²).
   * CIFAR presets use 1 or 2 so a 32² image keeps enough resolution for three downsamplings.
   */
  stemPatch: z.number().int().min(1).max(32).default(4),
  /** Depthwise convolution kernel of every block (odd; padding k/2): the paper's 7×7 against ResNet's 3×3 (§2.5). */
  kernelSize: z.number().int().min(1).max(31).refine((k) => k % 2 === 1, { message: 'expected an odd kernel size (1, 3, 5, 7, …) so padding k/2 keeps the map size' }).default(7),
  /**
   * Normalisation everywhere (stem, blocks, downsampling, head): `layernorm` (the paper's, ε = normEps; in the
   * block over the channels-last (N, H, W, C) map, elsewhere torchvision's LayerNorm2d) or `batchnorm`
   * (BatchNorm2d, the ResNet choice the paper replaced in §2.6; in the block it runs before the permute).
   */
  norm: z.enum(CONVNEXT_NORMS).default('layernorm'),
  /**
   * Initial value of each block's learned per-channel scale γ (`features.S.B.layer_scale`, CaiT's LayerScale):
   * 1e-6 in the paper, so every block starts near the identity. 0 removes the scale (and its parameters).
   */
  layerScale: z.number().min(0).max(10).default(1e-6),
  /**
   * Stochastic depth: block b of B (counted from 0 over the whole net) drops its residual branch with rate
   * dropPathRate · b / (B − 1), torchvision's rule (0 for the first block, the full rate for the last).
   * torchvision trains tiny/small/base/large with 0.1/0.4/0.5/0.5, which the presets carry.
   */
  dropPathRate: z.number().min(0).lt(1).default(0),
  /** Epsilon of the LayerNorms (1e-6 as torchvision) or BatchNorms. */
  normEps: z.number().positive().max(1).default(1e-6),
  numClasses: z.number().int().min(1).default(1000),
  inChannels: z.number().int().min(1).default(3),
  /** Input size summaries and FLOP counts report (the net accepts any size that survives the downsamplings). */
  inputSize: z.number().int().min(1).default(224),
});

export type ConvNeXtConfigInput = z.input<typeof ConvNeXtConfigSchema>;
export type ResolvedConvNeXtConfig = z.output<typeof ConvNeXtConfigSchema>;

const knownKeys = (path: readonly PropertyKey[]): string[] | undefined => (path.length === 0 ? Object.keys(ConvNeXtConfigSchema.shape) : undefined);

/** Valid fields that do not fit together, checked on the raw input so they are reported with per-field problems. */
function combinationIssues(obj: unknown): ConfigIssue[] {
  if (typeof obj !== 'object' || obj === null) return [];
  const c = obj as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  const depths = Array.isArray(c.depths) ? c.depths : undefined;
  const widths = Array.isArray(c.widths) ? c.widths : undefined;
  if (depths && widths && depths.length !== widths.length) {
    issues.push({ path: 'widths', message: `expected one width per stage (${depths.length}, as depths), received ${widths.length}: ${describe(widths)}` });
  }
  const stages = depths?.length ?? 0;
  const patch = typeof c.stemPatch === 'number' ? c.stemPatch : 4;
  const size = typeof c.inputSize === 'number' ? c.inputSize : 224;
  const reduction = patch * 2 ** Math.max(0, stages - 1);
  if (stages > 0 && size < reduction) {
    issues.push({
      path: 'inputSize',
      message: `expected at least ${reduction} (the stem's ${patch}× and ${stages - 1} 2× downsamplings leave no pixel otherwise), received ${describe(c.inputSize ?? size)}`,
    });
  }
  return issues;
}

/** Trainable parameters of a valid config, counted without building it (checked against the built models in tests). */
export function convnextParamCount(c: ResolvedConvNeXtConfig): number {
  const w = c.widths;
  const k = c.numClasses;
  let n = c.inChannels * c.stemPatch ** 2 * w[0]! + w[0]! + 2 * w[0]!;
  w.forEach((d, s) => {
    // Depthwise conv, norm, the two linear layers, the scale.
    const block = d * c.kernelSize ** 2 + d + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d) + (c.layerScale > 0 ? d : 0);
    n += c.depths[s]! * block;
    const next = w[s + 1];
    if (next !== undefined) n += 2 * d + 4 * d * next + next;
  });
  const last = w[w.length - 1]!;
  return n + 2 * last + last * k + k;
}

/** Every problem in a config, or [] when valid. */
export function validateConvNeXtConfig(obj: unknown): ConfigIssue[] {
  const r = ConvNeXtConfigSchema.safeParse(obj, { reportInput: true });
  const issues = [...(r.success ? [] : formatZodIssues(r.error.issues, knownKeys)), ...combinationIssues(obj)];
  return issues.length > 0 || !r.success ? issues : paramLimitIssue(convnextParamCount(r.data), 'widths');
}

/** Checks the whole config first, then fills in defaults. */
export function resolveConvNeXtConfig(obj: unknown): ResolvedConvNeXtConfig {
  const issues = validateConvNeXtConfig(obj);
  if (issues.length > 0) throw new ModelConfigError(issues);
  return ConvNeXtConfigSchema.parse(obj);
}

/** `convnext` with its layout, then every switch. */
export function describeConvNeXtConfig(c: ResolvedConvNeXtConfig): string[] {
  const switches: [string, unknown][] = [
    ['norm', c.norm], ['kernelSize', c.kernelSize], ['layerScale', c.layerScale], ['dropPathRate', c.dropPathRate], ['stemPatch', c.stemPatch],
    ['normEps', c.normEps], ['numClasses', c.numClasses], ['inChannels', c.inChannels],
  ];
  return [
    `Family: convnext (blocks ${c.depths.join('/')}, widths ${c.widths.join('/')})`,
    `Switches: ${switches.map(([k, v]) => `${k}=${String(v)}`).join(' ')}`,
  ];
}
