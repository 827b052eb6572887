import { z } from 'zod';
import { formatZodIssues, type ConfigIssue } from '../util/zod-issues.js';

/** ImageNet-layout depths (4 stages, 7×7 stem): basic blocks for 18/34, bottlenecks for 50+. */
export const IMAGENET_DEPTHS = [18, 34, 50, 101, 152] as const;
/** CIFAR-layout depths 6n+2 (He et al. 2016 §4.2): 3 stages of 16/32/64 channels, 3×3 stem, basic blocks. */
export const CIFAR_DEPTHS = [20, 32, 44, 56, 110] as const;
/** The shortcut kinds of a residual block (He et al. 2016 §3.3 options A/B/C, and none for PlainNets). */
export const SHORTCUTS = ['projection', 'zero-pad', 'all-projection', 'none'] as const;

/** The depths the ResNet/PlainNet builder knows: ImageNet layouts 18–152, CIFAR layouts 20–110. */
export type Depth = (typeof IMAGENET_DEPTHS)[number] | (typeof CIFAR_DEPTHS)[number];
/** One of SHORTCUTS. */
export type Shortcut = (typeof SHORTCUTS)[number];

const DEPTHS = [...IMAGENET_DEPTHS, ...CIFAR_DEPTHS];

/** Every ablation axis of the ResNet family is one field here. Unknown keys are errors (typos). */
export const ResNetConfigSchema = z.strictObject({
  depth: z.literal(DEPTHS as Depth[]),
  /**
   * How x reaches the addition at the end of each block (He et al. 2016 §3.3):
   * `projection` (option B) identity, or 1×1 conv + BN where the shape changes; `zero-pad` (option A)
   * identity, or subsampling plus zero channels; `all-projection` (option C) 1×1 conv + BN everywhere;
   * `none` a PlainNet: the same layers without the additions (and without projection convs).
   * Default: `projection` for ImageNet depths, `zero-pad` for CIFAR depths, as in the paper.
   */
  shortcut: z.enum(SHORTCUTS).optional(),
  /**
   * Where a bottleneck block downsamples: `3x3` on its 3×3 conv (torchvision, "ResNet v1.5", slightly
   * more accurate) or `1x1` on its first 1×1 conv (the paper, Keras). Basic blocks have only 3×3 convs.
   */
  stride: z.enum(['3x3', '1x1']).default('3x3'),
  /** Classifier outputs; default 1000 for ImageNet depths, 10 for CIFAR depths. */
  numClasses: z.number().int().min(1).optional(),
  inChannels: z.number().int().min(1).default(3),
  /** Start each block's last BN scale at 0 so residual blocks begin as identities (torchvision zero_init_residual). */
  zeroInitLastBn: z.boolean().default(false),
  /** torch convention: running = (1 − m)·running + m·batch. */
  bnMomentum: z.number().gt(0).max(1).default(0.1),
  bnEps: z.number().positive().default(1e-5),
  /** Dropout rate before the classifier (0: no dropout layer, as torchvision). */
  dropout: z.number().min(0).lt(1).default(0),
  /** Input size summaries and FLOP counts report; forward accepts any size ≥ 32. Default 224 or 32. */
  inputSize: z.number().int().min(32).optional(),
});

/** A ResNet/PlainNet config as written: depth plus optional ablation switches (see ResNetConfigSchema). */
export type ResNetConfigInput = z.input<typeof ResNetConfigSchema>;

/** A ResNet/PlainNet config with every field decided (what the builder reads). */
export interface ResolvedResNetConfig {
  depth: Depth;
  family: 'imagenet' | 'cifar';
  block: 'basic' | 'bottleneck';
  /** Blocks per stage. */
  layers: number[];
  /** Base width of each stage (bottleneck blocks output 4× this). */
  widths: number[];
  shortcut: Shortcut;
  stride: '3x3' | '1x1';
  numClasses: number;
  inChannels: number;
  zeroInitLastBn: boolean;
  bnMomentum: number;
  bnEps: number;
  dropout: number;
  inputSize: number;
}

const IMAGENET_LAYOUT: Record<(typeof IMAGENET_DEPTHS)[number], { block: 'basic' | 'bottleneck'; layers: number[] }> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

/** Thrown for an invalid model config; `issues` lists every problem (path, expected, received). */
export class ModelConfigError extends TypeError {
  constructor(readonly issues: ConfigIssue[]) {
    super(`Invalid model config:\n${issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
    this.name = 'ModelConfigError';
  }
}

const knownKeys = (path: readonly PropertyKey[]): string[] | undefined => (path.length === 0 ? Object.keys(ResNetConfigSchema.shape) : undefined);

/** Every problem in a config, or [] when valid (for study-file validation before anything runs). */
export function validateResNetConfig(obj: unknown): ConfigIssue[] {
  const r = ResNetConfigSchema.safeParse(obj, { reportInput: true });
  return r.success ? [] : formatZodIssues(r.error.issues, knownKeys);
}

/** Checks the whole config first, then fills in defaults and the fields depth implies. */
export function resolveResNetConfig(obj: unknown): ResolvedResNetConfig {
  const r = ResNetConfigSchema.safeParse(obj, { reportInput: true });
  if (!r.success) throw new ModelConfigError(formatZodIssues(r.error.issues, knownKeys));
  const c = r.data;
  const cifar = (CIFAR_DEPTHS as readonly number[]).includes(c.depth);
  const layout = cifar
    ? { block: 'basic' as const, layers: Array<number>(3).fill((c.depth - 2) / 6) }
    : IMAGENET_LAYOUT[c.depth as (typeof IMAGENET_DEPTHS)[number]];
  return {
    depth: c.depth,
    family: cifar ? 'cifar' : 'imagenet',
    block: layout.block,
    layers: [...layout.layers],
    widths: cifar ? [16, 32, 64] : [64, 128, 256, 512],
    shortcut: c.shortcut ?? (cifar ? 'zero-pad' : 'projection'),
    stride: c.stride,
    numClasses: c.numClasses ?? (cifar ? 10 : 1000),
    inChannels: c.inChannels,
    zeroInitLastBn: c.zeroInitLastBn,
    bnMomentum: c.bnMomentum,
    bnEps: c.bnEps,
    dropout: c.dropout,
    inputSize: c.inputSize ?? (cifar ? 32 : 224),
  };
}
