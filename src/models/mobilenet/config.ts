import { z } from 'zod';
import { commonFields, configValidator, parseChecked, resolveCommon, switchesLine } from '../configured.js';

/** Sandler et al. 2018, Table 2: expansion t, output channels c, repeats n, first stride s (ImageNet). */
const BLOCKS: readonly { t: number; c: number; n: number; s: number }[] = [
  { t: 1, c: 16, n: 1, s: 1 },
  { t: 6, c: 24, n: 2, s: 2 },
  { t: 6, c: 32, n: 3, s: 2 },
  { t: 6, c: 64, n: 4, s: 2 },
  { t: 6, c: 96, n: 3, s: 1 },
  { t: 6, c: 160, n: 3, s: 2 },
  { t: 6, c: 320, n: 1, s: 1 },
];

export const MobileNetV2ConfigSchema = z.strictObject({
  /**
   * `imagenet`: stride-2 stem and Table 2's strides (32× down). `cifar`: stem and the 24-channel stage at
   * stride 1 (8× down, 4×4 features at 32×32), the usual CIFAR adaptation.
   */
  layout: z.enum(['imagenet', 'cifar']).default('imagenet'),
  /**
   * Expansion factor t of every inverted residual block after the first (paper: 6; the first block has
   * t = 1, no expansion conv). The hidden width is round(t · input channels).
   */
  expandRatio: z.number().min(1).max(16).default(6),
  /**
   * Width multiplier α (paper §5: 0.35 … 1.4): every layer's channels × α, rounded to a multiple of 8
   * (at least 90% of the exact value, torchvision's `_make_divisible`); the last conv stays 1280 for α < 1.
   */
  widthMultiplier: z.number().min(0.1).max(4).default(1),
  /**
   * The inverted residual's skip (Sandler et al. Fig. 6b): x + F(x) in every stride-1 block whose input and
   * output widths agree. false: the same layers without the additions.
   */
  invertedResidual: z.boolean().default(true),
  /**
   * A linear bottleneck (Fig. 6a): the projection 1×1 conv + BN has no activation. false: a ReLU6 after
   * it too (`features.i.conv.4`, no weights), the non-linear bottleneck the paper shows is worse.
   */
  linearBottleneck: z.boolean().default(true),
  /** Dropout before the classifier (torchvision 0.2). */
  dropout: z.number().min(0).lt(1).default(0.2),
  ...commonFields,
  /** Input size for summaries and FLOP counts; default 224 (ImageNet) or 32 (CIFAR). */
  inputSize: z.number().int().min(8).optional(),
});

export type MobileNetV2ConfigInput = z.input<typeof MobileNetV2ConfigSchema>;

/** One inverted residual block as built. */
export interface MobileNetBlock {
  inputs: number;
  hidden: number;
  outputs: number;
  strides: number;
  /** x + F(x). */
  residual: boolean;
}

export interface ResolvedMobileNetV2Config {
  layout: 'imagenet' | 'cifar';
  expandRatio: number;
  widthMultiplier: number;
  invertedResidual: boolean;
  linearBottleneck: boolean;
  dropout: number;
  stemWidth: number;
  lastWidth: number;
  blocks: MobileNetBlock[];
  numClasses: number;
  inChannels: number;
  bnMomentum: number;
  bnEps: number;
  inputSize: number;
}

/** torchvision's `_make_divisible`: nearest multiple of 8, but never below 90% of v. */
function divisible(v: number, d = 8): number {
  let n = Math.max(d, Math.floor(v + d / 2) - (Math.floor(v + d / 2) % d));
  if (n < 0.9 * v) n += d;
  return n;
}

export const validateMobileNetV2Config = configValidator(MobileNetV2ConfigSchema);

export function resolveMobileNetV2Config(obj: unknown): ResolvedMobileNetV2Config {
  const c = parseChecked(MobileNetV2ConfigSchema, validateMobileNetV2Config, obj);
  const cifar = c.layout === 'cifar';
  const stemWidth = divisible(32 * c.widthMultiplier);
  const blocks: MobileNetBlock[] = [];
  let inputs = stemWidth;
  BLOCKS.forEach((b, stage) => {
    const outputs = divisible(b.c * c.widthMultiplier);
    const t = b.t === 1 ? 1 : c.expandRatio;
    for (let i = 0; i < b.n; i++) {
      const strides = i > 0 || (cifar && stage === 1) ? 1 : b.s;
      blocks.push({ inputs, hidden: Math.round(inputs * t), outputs, strides, residual: c.invertedResidual && strides === 1 && inputs === outputs });
      inputs = outputs;
    }
  });
  return {
    layout: c.layout,
    expandRatio: c.expandRatio,
    widthMultiplier: c.widthMultiplier,
    invertedResidual: c.invertedResidual,
    linearBottleneck: c.linearBottleneck,
    dropout: c.dropout,
    stemWidth,
    lastWidth: divisible(1280 * Math.max(1, c.widthMultiplier)),
    blocks,
    ...resolveCommon(c, cifar),
  };
}

export function describeMobileNetV2Config(c: ResolvedMobileNetV2Config): string[] {
  const skips = c.blocks.filter((b) => b.residual).length;
  return [
    `Family: mobilenet (${c.layout === 'cifar' ? 'CIFAR' : 'ImageNet'} layout, ${c.blocks.length} inverted residual blocks, ${skips} with a skip, widths ${c.stemWidth}…${c.blocks.at(-1)!.outputs}, last conv ${c.lastWidth})`,
    switchesLine(c, ['layout', 'expandRatio', 'widthMultiplier', 'invertedResidual', 'linearBottleneck', 'dropout', 'numClasses', 'inChannels', 'bnMomentum', 'bnEps']),
  ];
}

export function mobileNetV2Name(c: ResolvedMobileNetV2Config): string {
  const parts = ['mobilenet-v2'];
  if (c.widthMultiplier !== 1) parts.push(`w${c.widthMultiplier}`);
  if (c.expandRatio !== 6) parts.push(`t${c.expandRatio}`);
  if (!c.invertedResidual) parts.push('noskip');
  if (!c.linearBottleneck) parts.push('relu6bottleneck');
  if (c.layout === 'cifar') parts.push('cifar');
  return parts.join('-');
}
