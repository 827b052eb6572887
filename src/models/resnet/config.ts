import { z } from 'zod';
import { describe } from '../../util/errors.js';
import { formatZodIssues, type ConfigIssue } from '../../util/zod-issues.js';
import { ModelConfigError } from '../family.js';

export { ModelConfigError };

/** ImageNet-layout depths (4 stages, 7×7 stem): basic blocks for 18/34, bottlenecks for 50+. */
export const IMAGENET_DEPTHS = [18, 34, 50, 101, 152] as const;
/**
 * CIFAR-layout depths 6n+2 (He et al. 2016 §4.2): 3 stages of n basic blocks, 16/32/64 channels, 3×3
 * stem. These are the depths the paper reports and that have presets; any 6n+2 from 8 to 2000 builds.
 */
export const CIFAR_DEPTHS = [20, 32, 44, 56, 110] as const;
const MAX_CIFAR_DEPTH = 2000;
/** The shortcut kinds of a residual block (He et al. 2016 §3.3 options A/B/C, and none for PlainNets). */
export const SHORTCUTS = ['projection', 'zero-pad', 'all-projection', 'none'] as const;

/** An ImageNet depth or 6n+2 (CIFAR layout). */
export type Depth = number;
/** One of SHORTCUTS. */
export type Shortcut = (typeof SHORTCUTS)[number];

const isImagenetDepth = (d: number): boolean => (IMAGENET_DEPTHS as readonly number[]).includes(d);
const isCifarDepth = (d: number): boolean => d >= 8 && d <= MAX_CIFAR_DEPTH && (d - 2) % 6 === 0;
/** CIFAR layout with bottleneck blocks (3 convs each): 9n+2, e.g. ResNeXt-29 (Xie et al. 2017 §5.2). */
const isCifarBottleneckDepth = (d: number): boolean => d >= 11 && d <= MAX_CIFAR_DEPTH && (d - 2) % 9 === 0;
/** torchvision's `groups` and `width_per_group` defaults: a plain (non-ResNeXt) bottleneck. */
const PLAIN_WIDTH_PER_GROUP = 64;

/** Every ablation axis of the ResNet family is one field here. Unknown keys are errors (typos). */
export const ResNetConfigSchema = z.strictObject({
  /** 18/34/50/101/152: ImageNet layout; 6n+2 (20, 32, 44, 56, 110, …): CIFAR layout with n blocks a stage. */
  depth: z.number().int().refine((d) => isImagenetDepth(d) || isCifarDepth(d) || isCifarBottleneckDepth(d), {
    message: `expected ${IMAGENET_DEPTHS.join(' | ')} (ImageNet layout) or 6n+2 from 8 to ${MAX_CIFAR_DEPTH} (CIFAR layout: ${CIFAR_DEPTHS.join(' | ')} | …), or 9n+2 with block: bottleneck (CIFAR layout: 29 | …)`,
  }),
  /**
   * Block type of the CIFAR layout: `basic` (two 3×3 convs, depth 6n+2, He et al.) or `bottleneck` (1×1,
   * 3×3, 1×1 to 4× the stage width, depth 9n+2, as ResNeXt-29). ImageNet depths fix it (basic for 18/34,
   * bottleneck from 50): there it may only repeat that.
   */
  block: z.enum(['basic', 'bottleneck']).optional(),
  /**
   * Cardinality (ResNeXt, Xie et al. 2017): the bottleneck's 3×3 conv is split into this many groups
   * (torchvision `groups`). Needs bottleneck blocks, as torchvision's BasicBlock. 1: a ResNet.
   */
  groups: z.number().int().min(1).max(1024).default(1),
  /**
   * Width of each group of the bottleneck's inner convs, for the first stage at base width 64
   * (torchvision `width_per_group`): the inner width is ⌊base · widthPerGroup / 64⌋ · groups, so
   * `{ groups: 32, widthPerGroup: 4 }` is resnext50_32x4d and `{ widthPerGroup: 128 }` torchvision's
   * wide_resnet50_2. Needs bottleneck blocks unless it is 64.
   */
  widthPerGroup: z.number().int().min(1).max(4096).default(PLAIN_WIDTH_PER_GROUP),
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
  /**
   * Start each block's last BN scale at 0 so residual blocks begin as identities (torchvision
   * zero_init_residual). An error with `preact` (no last BN) and with `shortcut: none` (it would zero the net).
   */
  zeroInitLastBn: z.boolean().default(false),
  /** torch convention: running = (1 − m)·running + m·batch. */
  bnMomentum: z.number().gt(0).max(1).default(0.1),
  bnEps: z.number().positive().default(1e-5),
  /** Dropout rate before the classifier (0: no dropout layer, as torchvision). */
  dropout: z.number().min(0).lt(1).default(0),
  /** Input size summaries and FLOP counts report; forward accepts any size ≥ 32. Default 224 or 32. */
  inputSize: z.number().int().min(32).optional(),
  /**
   * Pre-activation blocks (ResNet v2, He et al. 2016 "Identity Mappings in Deep Residual Networks"):
   * each residual branch is BN-ReLU-conv (×2 basic, ×3 bottleneck) and adds onto an untouched identity
   * path, and one BN-ReLU (`norm`, `norm_relu`) sits before the pooling. The stem is the conv alone (and
   * the max-pool for ImageNet depths), as timm's ResNetV2. A shortcut that changes shape (projection,
   * zero-pad) takes the block's pre-activated input, an identity takes the raw one; projections are a
   * bare 1×1 conv (`downsample.0`), because the input is already normalised. Block BNs keep torchvision's
   * names in order of appearance (`bn1` before `conv1`, ...). With `shortcut: none` it is the plain
   * counterpart: the same BN-ReLU-conv stack without additions.
   */
  preact: z.boolean().default(false),
  /**
   * Width ablation. k ≥ 1: wide ResNets (Zagoruyko & Komodakis 2016): each stage's inner width × k,
   * rounded to whole channels, the stem unchanged; basic blocks (and the CIFAR nets) widen both 3×3
   * convs, bottlenecks their inner 1×1 and 3×3 convs and keep 4× the base width at the output, as
   * torchvision's `wide_resnet50_2` (`{ depth: 50, widthMultiplier: 2 }` is exactly that model).
   * k < 1: the whole net thinned uniformly (stem, inner and outer widths × k), so every stage still
   * starts at least as wide as its input (option A can only add channels). From 1/16 to 64.
   */
  widthMultiplier: z.number().min(1 / 16).max(64).default(1),
  /**
   * Stochastic depth (Huang et al. 2016): block l of L (counted from 1 over the whole net) drops its
   * residual branch with probability dropPathRate · l / L, the paper's linear rule, so the last block
   * drops at exactly this rate. In training a dropped sample's branch is zeroed and a kept one is scaled
   * by 1 / (1 − p) (timm's `drop_path` convention, "inverted"), so eval mode is a plain identity; Huang et
   * al. instead scale by the survival probability at test time, which gives the same expectation. The
   * layers are named `layerS.B.drop_path` (timm's name) and hold no weights. Needs a shortcut to fall back
   * on: with `shortcut: none` it is an error.
   */
  dropPathRate: z.number().min(0).lt(1).default(0),
});

/** A ResNet/PlainNet config as written: depth plus optional ablation switches (see ResNetConfigSchema). */
export type ResNetConfigInput = z.input<typeof ResNetConfigSchema>;

/** A ResNet/PlainNet config with every field decided (what the builder reads). */
export interface ResolvedResNetConfig {
  depth: Depth;
  /** ImageNet (4 stages, 7×7 stem + max-pool) or CIFAR (3 stages, 3×3 stem), from the depth. */
  layout: 'imagenet' | 'cifar';
  block: 'basic' | 'bottleneck';
  /** Blocks per stage. */
  layers: number[];
  /** Inner width of each stage's blocks (the base width × widthMultiplier, rounded). */
  widths: number[];
  /** Per-stage base widths, thinned by a widthMultiplier < 1, never widened: a bottleneck outputs 4× this. */
  baseWidths: number[];
  /** Output channels of the stem conv (64 ImageNet, 16 CIFAR; thinned by a widthMultiplier < 1, never widened). */
  stemWidth: number;
  shortcut: Shortcut;
  /** Cardinality of the bottleneck's 3×3 conv (1: ResNet; > 1: ResNeXt). */
  groups: number;
  widthPerGroup: number;
  stride: '3x3' | '1x1';
  numClasses: number;
  inChannels: number;
  zeroInitLastBn: boolean;
  bnMomentum: number;
  bnEps: number;
  dropout: number;
  inputSize: number;
  preact: boolean;
  widthMultiplier: number;
  dropPathRate: number;
}

const IMAGENET_LAYOUT: Record<(typeof IMAGENET_DEPTHS)[number], { block: 'basic' | 'bottleneck'; layers: number[] }> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

const knownKeys = (path: readonly PropertyKey[]): string[] | undefined => (path.length === 0 ? Object.keys(ResNetConfigSchema.shape) : undefined);

/**
 * Combinations of valid fields that make no sense, checked on the raw input so they are reported along
 * with any per-field problems.
 */
function combinationIssues(obj: unknown): ConfigIssue[] {
  if (typeof obj !== 'object' || obj === null) return [];
  const c = obj as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  if (c.shortcut === 'none' && typeof c.dropPathRate === 'number' && c.dropPathRate > 0) {
    issues.push({
      path: 'dropPathRate',
      message: `expected 0 with shortcut "none": stochastic depth drops a block's residual branch and keeps its shortcut, and a plain net has no shortcut (dropping would zero the signal), received ${describe(c.dropPathRate)}; use a residual shortcut or dropPathRate 0`,
    });
  }
  issues.push(...blockIssues(c));
  if (c.preact === true && c.zeroInitLastBn === true) {
    issues.push({
      path: 'zeroInitLastBn',
      message: `expected false with preact: true: a pre-activation branch ends with a conv, not a BN, so there is no last BN to start at zero, received true`,
    });
  } else if (c.shortcut === 'none' && c.zeroInitLastBn === true) {
    issues.push({
      path: 'zeroInitLastBn',
      message: `expected false with shortcut "none": without a shortcut a block whose last BN starts at zero outputs zeros, and so does every block after it, received true`,
    });
  }
  return issues;
}

/** The block type a (valid) depth and `block` field give, or an issue when they contradict. */
function blockOf(depth: number, block: unknown): { block: 'basic' | 'bottleneck'; issue?: ConfigIssue } {
  if (isImagenetDepth(depth)) {
    const fixed = IMAGENET_LAYOUT[depth as (typeof IMAGENET_DEPTHS)[number]].block;
    if (block !== undefined && block !== fixed) {
      return { block: fixed, issue: { path: 'block', message: `expected "${fixed}" or no block with ImageNet depth ${depth} (the depth fixes the block type), received ${describe(block)}` } };
    }
    return { block: fixed };
  }
  if (block === 'bottleneck') {
    return isCifarBottleneckDepth(depth) ? { block: 'bottleneck' } : {
      block: 'bottleneck', issue: { path: 'depth', message: `expected 9n+2 (11, 20, 29, …) with block: bottleneck in the CIFAR layout (3 stages of n three-conv blocks), received ${depth}` },
    };
  }
  return isCifarDepth(depth) ? { block: 'basic' } : {
    block: 'basic', issue: { path: 'depth', message: `expected 6n+2 (8, 14, 20, …) for basic blocks in the CIFAR layout, received ${depth}; set block: bottleneck for a 9n+2 depth` },
  };
}

/** Contradictions between depth, block type and the ResNeXt switches. */
function blockIssues(c: Record<string, unknown>): ConfigIssue[] {
  if (typeof c.depth !== 'number' || !ResNetConfigSchema.shape.depth.safeParse(c.depth).success) return [];
  if (c.block !== undefined && c.block !== 'basic' && c.block !== 'bottleneck') return [];
  const { block, issue } = blockOf(c.depth, c.block);
  const issues = issue ? [issue] : [];
  if (block === 'basic') {
    for (const [k, plain] of [['groups', 1], ['widthPerGroup', PLAIN_WIDTH_PER_GROUP]] as const) {
      if (c[k] !== undefined && c[k] !== plain) {
        issues.push({ path: k, message: `expected ${plain} with basic blocks (depth ${c.depth}): grouped and per-group widths apply to a bottleneck's 3×3 conv (as torchvision's BasicBlock), received ${describe(c[k])}; use depth 50/101/152 or block: bottleneck` });
      }
    }
  }
  return issues;
}

/** Every problem in a config, or [] when valid (for study-file validation before anything runs). */
export function validateResNetConfig(obj: unknown): ConfigIssue[] {
  const r = ResNetConfigSchema.safeParse(obj, { reportInput: true });
  return [...(r.success ? [] : formatZodIssues(r.error.issues, knownKeys)), ...combinationIssues(obj)];
}

/** Checks the whole config first, then fills in defaults and the fields depth implies. */
export function resolveResNetConfig(obj: unknown): ResolvedResNetConfig {
  const issues = validateResNetConfig(obj);
  if (issues.length > 0) throw new ModelConfigError(issues);
  const c = ResNetConfigSchema.parse(obj);
  const cifar = !isImagenetDepth(c.depth);
  const block = blockOf(c.depth, c.block).block;
  const stages = cifar
    ? { block, layers: Array<number>(3).fill((c.depth - 2) / (block === 'basic' ? 6 : 9)) }
    : IMAGENET_LAYOUT[c.depth as (typeof IMAGENET_DEPTHS)[number]];
  const thin = (w: number): number => Math.round(w * Math.min(1, c.widthMultiplier));
  const paperWidths = cifar ? [16, 32, 64] : [64, 128, 256, 512];
  const baseWidths = paperWidths.map(thin);
  return {
    depth: c.depth,
    layout: cifar ? 'cifar' : 'imagenet',
    block: stages.block,
    layers: [...stages.layers],
    // Widening keeps the stem and bottleneck outputs (WRN, torchvision); thinning scales everything.
    stemWidth: thin(cifar ? 16 : 64),
    // torchvision: width = int(planes · width_per_group / 64) · groups; each group's width is rounded as ResNet widths are.
    widths: paperWidths.map((w) => Math.max(1, Math.round((w * c.widthMultiplier * c.widthPerGroup) / PLAIN_WIDTH_PER_GROUP)) * c.groups),
    baseWidths,
    shortcut: c.shortcut ?? (cifar ? 'zero-pad' : 'projection'),
    groups: c.groups,
    widthPerGroup: c.widthPerGroup,
    stride: c.stride,
    numClasses: c.numClasses ?? (cifar ? 10 : 1000),
    inChannels: c.inChannels,
    zeroInitLastBn: c.zeroInitLastBn,
    bnMomentum: c.bnMomentum,
    bnEps: c.bnEps,
    dropout: c.dropout,
    inputSize: c.inputSize ?? (cifar ? 32 : 224),
    preact: c.preact,
    widthMultiplier: c.widthMultiplier,
    dropPathRate: c.dropPathRate,
  };
}

/** What a summary prints under the model name: the layout, then every switch with its value. */
export function describeResNetConfig(c: ResolvedResNetConfig): string[] {
  const layout = `${c.layout === 'cifar' ? 'CIFAR' : 'ImageNet'} layout, ${c.block} blocks ${c.layers.join('/')}, widths ${c.widths.join('/')}`;
  const switches: [string, unknown][] = [
    ['depth', c.depth], ['shortcut', c.shortcut], ['preact', c.preact], ['widthMultiplier', c.widthMultiplier],
    ['dropPathRate', c.dropPathRate], ['block', c.block], ['groups', c.groups], ['widthPerGroup', c.widthPerGroup], ['stride', c.stride], ['zeroInitLastBn', c.zeroInitLastBn], ['dropout', c.dropout],
    ['numClasses', c.numClasses], ['inChannels', c.inChannels], ['bnMomentum', c.bnMomentum], ['bnEps', c.bnEps],
  ];
  return [`Family: resnet (${layout})`, `Switches: ${switches.map(([k, v]) => `${k}=${String(v)}`).join(' ')}`];
}
