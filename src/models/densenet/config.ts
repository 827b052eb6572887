import { z } from 'zod';
import { describe } from '../../util/errors.js';
import type { ConfigIssue } from '../../util/zod-issues.js';
import { commonFields, configValidator, parseChecked, resolveCommon, switchesLine } from '../configured.js';

/** torchvision's ImageNet DenseNets: layers per dense block, growth rate, stem width. */
const IMAGENET: Record<number, { blocks: number[]; growthRate: number; initFeatures: number }> = {
  121: { blocks: [6, 12, 24, 16], growthRate: 32, initFeatures: 64 },
  161: { blocks: [6, 12, 36, 24], growthRate: 48, initFeatures: 96 },
  169: { blocks: [6, 12, 32, 32], growthRate: 32, initFeatures: 64 },
  201: { blocks: [6, 12, 48, 32], growthRate: 32, initFeatures: 64 },
};
export const DENSENET_IMAGENET_DEPTHS = [121, 161, 169, 201] as const;

export const DenseNetConfigSchema = z.strictObject({
  /**
   * `imagenet`: 7×7/2 stem + max-pool, four dense blocks (torchvision). `cifar`: a 3×3 stem at full
   * resolution and three dense blocks of equal length (Huang et al. 2017 §3, their CIFAR nets).
   */
  layout: z.enum(['imagenet', 'cifar']).default('imagenet'),
  /**
   * ImageNet layout: 121 | 161 | 169 | 201, which fixes the blocks (6/12/24/16, …). CIFAR layout: the
   * paper's L, 6n+4 with bottlenecks (DenseNet-BC-100: n = 16) or 3n+4 without (DenseNet-40: n = 12).
   */
  depth: z.number().int().min(7).max(1000),
  /** k, channels each layer adds (default 32 ImageNet, 48 for 161; 12 CIFAR). */
  growthRate: z.number().int().min(1).max(512).optional(),
  /**
   * θ, the fraction of channels a transition keeps (floor(θ·m)); 0.5 in DenseNet-C/BC, 1 in the plain
   * DenseNet (Huang et al. §3 "Compression").
   */
  compression: z.number().gt(0).max(1).default(0.5),
  /**
   * DenseNet-B: each layer is BN-ReLU-1×1 conv to bnSize·k, then BN-ReLU-3×3 conv to k. false: BN-ReLU-3×3
   * conv only (`norm1`, `relu1`, `conv1`), the original DenseNet layer. With the ImageNet layout the block
   * lengths stay those of the depth.
   */
  bottleneck: z.boolean().default(true),
  /** The bottleneck's width in multiples of k (torchvision `bn_size`, 4). Needs `bottleneck`. */
  bnSize: z.number().int().min(1).max(64).default(4),
  /** Dropout after each layer's last conv (torchvision `drop_rate`; the paper uses 0.2 on C10/C100 without augmentation). */
  dropRate: z.number().min(0).lt(1).default(0),
  /** Stem conv output channels (default 64 ImageNet, 96 for 161; CIFAR 2k with bottlenecks, else 16). */
  initFeatures: z.number().int().min(1).max(4096).optional(),
  ...commonFields,
  /** Input size for summaries and FLOP counts; default 224 (ImageNet) or 32 (CIFAR). */
  inputSize: z.number().int().min(8).optional(),
});

export type DenseNetConfigInput = z.input<typeof DenseNetConfigSchema>;

export interface ResolvedDenseNetConfig {
  layout: 'imagenet' | 'cifar';
  depth: number;
  /** Layers per dense block. */
  blocks: number[];
  growthRate: number;
  compression: number;
  bottleneck: boolean;
  bnSize: number;
  dropRate: number;
  initFeatures: number;
  numClasses: number;
  inChannels: number;
  bnMomentum: number;
  bnEps: number;
  inputSize: number;
}

/** The CIFAR layout's layers per block, or undefined when the depth does not fit the layer type. */
function cifarLayers(depth: number, bottleneck: boolean): number | undefined {
  const n = (depth - 4) / (bottleneck ? 6 : 3);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

function combinationIssues(c: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const bottleneck = c.bottleneck !== false;
  if (typeof c.depth === 'number' && Number.isInteger(c.depth)) {
    if (c.layout === 'cifar') {
      if (cifarLayers(c.depth, bottleneck) === undefined) {
        issues.push({ path: 'depth', message: `expected ${bottleneck ? '6n+4 (40, 100, 190, …) with bottleneck layers' : '3n+4 (40, 100, …) without bottleneck layers'} in the CIFAR layout (3 blocks of n layers), received ${c.depth}` });
      }
    } else if (c.layout === undefined || c.layout === 'imagenet') {
      if (!IMAGENET[c.depth]) issues.push({ path: 'depth', message: `expected ${DENSENET_IMAGENET_DEPTHS.join(' | ')} in the ImageNet layout, received ${c.depth}; the CIFAR layout (layout: cifar) takes 6n+4 / 3n+4` });
    }
  }
  // 4 is the default a plan writes out, inert without a bottleneck.
  if (c.bottleneck === false && c.bnSize !== undefined && c.bnSize !== 4) {
    issues.push({ path: 'bnSize', message: `expected no bnSize with bottleneck: false (there is no 1×1 bottleneck conv to size), received ${describe(c.bnSize)}` });
  }
  return issues;
}

export const validateDenseNetConfig = configValidator(DenseNetConfigSchema, combinationIssues);

export function resolveDenseNetConfig(obj: unknown): ResolvedDenseNetConfig {
  const c = parseChecked(DenseNetConfigSchema, validateDenseNetConfig, obj);
  const cifar = c.layout === 'cifar';
  const table = IMAGENET[c.depth];
  const growthRate = c.growthRate ?? (cifar ? 12 : table!.growthRate);
  return {
    layout: c.layout,
    depth: c.depth,
    blocks: cifar ? Array<number>(3).fill(cifarLayers(c.depth, c.bottleneck)!) : [...table!.blocks],
    growthRate,
    compression: c.compression,
    bottleneck: c.bottleneck,
    bnSize: c.bnSize,
    dropRate: c.dropRate,
    initFeatures: c.initFeatures ?? (cifar ? (c.bottleneck ? 2 * growthRate : 16) : table!.initFeatures),
    ...resolveCommon(c, cifar),
  };
}

export function describeDenseNetConfig(c: ResolvedDenseNetConfig): string[] {
  const kind = `DenseNet${c.bottleneck ? '-B' : ''}${c.compression < 1 ? (c.bottleneck ? 'C' : '-C') : ''}`;
  return [
    `Family: densenet (${kind}, ${c.layout === 'cifar' ? 'CIFAR' : 'ImageNet'} layout, blocks ${c.blocks.join('/')}, k=${c.growthRate}, stem ${c.initFeatures})`,
    switchesLine(c, ['layout', 'depth', 'growthRate', 'compression', 'bottleneck', 'bnSize', 'dropRate', 'initFeatures', 'numClasses', 'inChannels', 'bnMomentum', 'bnEps']),
  ];
}

export function denseNetName(c: ResolvedDenseNetConfig): string {
  const imagenet = IMAGENET[c.depth];
  const standard = c.layout === 'imagenet' && c.bottleneck && c.compression === 0.5 && c.growthRate === imagenet?.growthRate;
  if (standard) return `densenet${c.depth}`;
  const bc = c.bottleneck ? (c.compression < 1 ? '-bc' : '-b') : c.compression < 1 ? '-c' : '';
  return `densenet${bc}${c.depth}-k${c.growthRate}${c.layout === 'cifar' ? '-cifar' : ''}`;
}
