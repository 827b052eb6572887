import { z } from 'zod';
import { describe } from '../../util/errors.js';
import type { ConfigIssue } from '../../util/zod-issues.js';
import { commonFields, configValidator, parseChecked, resolveCommon, switchesLine } from '../configured.js';

/** Simonyan & Zisserman 2015, Table 1: configurations A (11), B (13), D (16), E (19) — 3×3 convs per stage. */
export const VGG_DEPTHS = [11, 13, 16, 19] as const;
const CONVS_PER_STAGE: Record<(typeof VGG_DEPTHS)[number], number[]> = {
  11: [1, 1, 2, 2, 2],
  13: [2, 2, 2, 2, 2],
  16: [2, 2, 3, 3, 3],
  19: [2, 2, 4, 4, 4],
};
const STAGE_WIDTHS = [64, 128, 256, 512, 512];

export const VggConfigSchema = z.strictObject({
  /** 11 | 13 | 16 | 19 weight layers (8/10/13/16 convs + 3 FC), five stages each ending in a 2×2 max-pool. */
  depth: z.number().int().refine((d) => (VGG_DEPTHS as readonly number[]).includes(d), { message: `expected ${VGG_DEPTHS.join(' | ')} (configurations A, B, D, E)` }),
  /**
   * A BatchNorm after every conv (Ioffe & Szegedy 2015; torchvision's `vgg16_bn`): conv-BN-ReLU. false: conv-ReLU,
   * the paper's net. Changes the `features.N` indices as torchvision's do.
   */
  batchNorm: z.boolean().default(false),
  /**
   * `fc3` (torchvision): adaptive average pool to 7×7, then 4096-4096-classes with ReLU and dropout
   * (`classifier.0/3/6`, 120M+ of VGG-16's 138M parameters). `linear`: global average pool and one
   * Linear (`classifier`), the usual CIFAR VGG (at 32×32 the features are 1×1 anyway).
   */
  head: z.enum(['fc3', 'linear']).default('fc3'),
  /** Units of the two hidden FC layers of the `fc3` head (4096 in the paper). */
  hiddenUnits: z.number().int().min(1).max(65536).default(4096),
  /** Dropout after each hidden FC layer's ReLU (paper and default: 0.5); `fc3` head only (0 for `linear`). */
  dropout: z.number().min(0).lt(1).optional(),
  /** Every conv's width × this (1/16 … 4), rounded to whole channels: CPU-sized VGGs at 1/4. */
  widthMultiplier: z.number().min(1 / 16).max(4).default(1),
  ...commonFields,
  /** Input size for summaries and FLOP counts; default 224 (fc3 head) or 32 (linear head). Five 2×2 pools need ≥ 32. */
  inputSize: z.number().int().min(32).optional(),
});

export type VggConfigInput = z.input<typeof VggConfigSchema>;

export interface ResolvedVggConfig {
  depth: (typeof VGG_DEPTHS)[number];
  batchNorm: boolean;
  head: 'fc3' | 'linear';
  hiddenUnits: number;
  dropout: number;
  widthMultiplier: number;
  /** Conv widths stage by stage (each stage ends with a max-pool). */
  stages: number[][];
  numClasses: number;
  inChannels: number;
  bnMomentum: number;
  bnEps: number;
  inputSize: number;
}

/**
 * Switches that would silently do nothing: hidden units or dropout for the linear head, BN settings
 * without BN. The values a resolved config holds for them (4096, 0, the BN defaults) are accepted,
 * since a plan writes every switch out and reads it back.
 */
function combinationIssues(c: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const idle = (k: string, fallback: unknown) => c[k] !== undefined && c[k] !== fallback;
  if (c.head === 'linear') {
    for (const [k, inert] of [['hiddenUnits', 4096], ['dropout', 0]] as const) {
      if (idle(k, inert)) {
        issues.push({ path: k, message: `expected no ${k} with head: linear (one Linear layer, no hidden units or dropout), received ${describe(c[k])}; use head: fc3` });
      }
    }
  }
  if (c.batchNorm !== true) {
    for (const [k, inert] of [['bnMomentum', 0.1], ['bnEps', 1e-5]] as const) {
      if (idle(k, inert)) issues.push({ path: k, message: `expected no ${k} with batchNorm: false (the net has no BatchNorm), received ${describe(c[k])}; set batchNorm: true` });
    }
  }
  return issues;
}

export const validateVggConfig = configValidator(VggConfigSchema, combinationIssues);

export function resolveVggConfig(obj: unknown): ResolvedVggConfig {
  const c = parseChecked(VggConfigSchema, validateVggConfig, obj);
  const small = c.head === 'linear';
  return {
    depth: c.depth as ResolvedVggConfig['depth'],
    batchNorm: c.batchNorm,
    head: c.head,
    hiddenUnits: c.hiddenUnits,
    dropout: small ? 0 : c.dropout ?? 0.5,
    widthMultiplier: c.widthMultiplier,
    stages: CONVS_PER_STAGE[c.depth as ResolvedVggConfig['depth']].map((n, s) => Array<number>(n).fill(Math.max(1, Math.round(STAGE_WIDTHS[s]! * c.widthMultiplier)))),
    ...resolveCommon(c, small),
  };
}

export function describeVggConfig(c: ResolvedVggConfig): string[] {
  const layout = `${c.stages.map((s) => `${s.length}×${s[0]}`).join(', ')} convs${c.batchNorm ? ' + BN' : ''}, ${c.head === 'fc3' ? `FC ${c.hiddenUnits}-${c.hiddenUnits}-${c.numClasses}` : `linear ${c.numClasses}`}`;
  return [
    `Family: vgg (${layout})`,
    switchesLine(c, ['depth', 'batchNorm', 'head', 'hiddenUnits', 'dropout', 'widthMultiplier', 'numClasses', 'inChannels', 'bnMomentum', 'bnEps']),
  ];
}

export function vggName(c: ResolvedVggConfig): string {
  return `vgg${c.depth}${c.batchNorm ? '-bn' : ''}${c.widthMultiplier === 1 ? '' : `-w${c.widthMultiplier}`}${c.head === 'linear' ? '-cifar' : ''}`;
}
