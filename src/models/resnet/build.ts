/**
 * The ResNet / PlainNet family (He et al. 2016) in one builder, read top to bottom: conv helpers, the
 * shortcut decision, the residual branch, the block, then the network. Layer names are torchvision's
 * module paths, so state dicts move between ablate and `torchvision.models.resnet*` unchanged.
 * Pre-activation (v2), width and stochastic depth are switches of the same builder (see config.ts).
 */
import type { Generator } from '../../tensor/index.js';
import {
  Model, add, batchNorm, conv2d, dense, dropPath, dropout, flatten, globalAveragePool, input, maxPool, relu, zeroPadShortcut,
  type ModelArgs, type SymbolicTensor,
} from '../../nn/index.js';
import { describeResNetConfig, type ResolvedResNetConfig } from './config.js';

/** The model object training uses: a compiled graph plus the resolved config it was built from. */
export class ResNet extends Model {
  constructor(args: ModelArgs, readonly config: ResolvedResNetConfig) {
    super(args);
  }
  /** The switches, for the summary's header. */
  override describeConfig(): string[] {
    return describeResNetConfig(this.config);
  }
}

// The convs feed batch norms, whose shift makes a conv bias redundant.
const convKxK = (name: string, kernelSize: 1 | 3, filters: number, strides = 1, groups = 1) =>
  conv2d({ name, filters, kernelSize, strides, padding: kernelSize === 3 ? 1 : 0, useBias: false, groups });
const bn = (name: string, cfg: ResolvedResNetConfig, zeroInit = false) =>
  batchNorm({ name, momentum: cfg.bnMomentum, epsilon: cfg.bnEps, gammaInitializer: zeroInit && cfg.zeroInitLastBn ? 'zeros' : 'ones' });

/** One block's place in the net. */
interface BlockPlan {
  name: string;
  stage: number;
  strides: number;
  /** Stochastic-depth rate of this block (0: no drop-path layer). */
  dropRate: number;
}

/**
 * What carries a block's input to its addition: x itself, a projection, a zero-padded subsample, or
 * nothing (PlainNet). The only place the shortcut is decided; branches never look at cfg.shortcut.
 * `pre` is the pre-activated input (= x for v1 blocks): a shortcut that transforms takes it, an identity x.
 */
function shortcut(x: SymbolicTensor, pre: SymbolicTensor, block: string, filters: number, strides: number, cfg: ResolvedResNetConfig): SymbolicTensor | null {
  const reshapes = strides !== 1 || x.shape[1] !== filters;
  if (cfg.shortcut === 'none') return null;
  if (!reshapes && cfg.shortcut !== 'all-projection') return x;
  if (cfg.shortcut === 'zero-pad') return zeroPadShortcut({ name: `${block}.downsample`, filters, strides }).apply(pre);
  const projected = convKxK(`${block}.downsample.0`, 1, filters, strides).apply(pre);
  // A pre-activated input is already normalised: the v2 projection is the bare conv (as timm's ResNetV2).
  return cfg.preact ? projected : bn(`${block}.downsample.1`, cfg).apply(projected);
}

/**
 * The convs of a residual branch: two 3×3 (basic) or 1×1 reduce, 3×3, 1×1 expand to 4× (bottleneck);
 * a ResNeXt's 3×3 is grouped (cardinality), the only place `groups` acts.
 */
function branchConvs(b: BlockPlan, cfg: ResolvedResNetConfig): { kernel: 1 | 3; filters: number; strides: number; groups?: number }[] {
  const width = cfg.widths[b.stage]!;
  if (cfg.block === 'basic') return [{ kernel: 3, filters: width, strides: b.strides }, { kernel: 3, filters: width, strides: 1 }];
  // torchvision ("v1.5") strides the 3×3 conv; the paper strides the first 1×1, which skips 3/4 of the input.
  const [s1, s2] = cfg.stride === '1x1' ? [b.strides, 1] : [1, b.strides];
  return [
    { kernel: 1, filters: width, strides: s1 },
    { kernel: 3, filters: width, strides: s2, groups: cfg.groups },
    { kernel: 1, filters: cfg.baseWidths[b.stage]! * 4, strides: 1 },
  ];
}

/**
 * v1: conv-BN-ReLU … conv-BN (the ReLU follows the addition). v2 (preact): BN-ReLU-conv …, where the
 * first BN-ReLU was applied to the block input by the caller, since a reshaping shortcut shares it.
 * BNs and ReLUs are numbered in order of appearance, so v1 keeps torchvision's names.
 */
function residualBranch(pre: SymbolicTensor, b: BlockPlan, cfg: ResolvedResNetConfig): SymbolicTensor {
  const convs = branchConvs(b, cfg);
  let y = pre;
  convs.forEach((c, i) => {
    const n = i + 1;
    if (cfg.preact && i > 0) y = relu({ name: `${b.name}.relu${n}` }).apply(bn(`${b.name}.bn${n}`, cfg).apply(y));
    y = convKxK(`${b.name}.conv${n}`, c.kernel, c.filters, c.strides, c.groups).apply(y);
    if (!cfg.preact) {
      y = bn(`${b.name}.bn${n}`, cfg, n === convs.length).apply(y);
      if (n < convs.length) y = relu({ name: `${b.name}.relu${n}` }).apply(y);
    }
  });
  return y;
}

/** A block: (pre-activation), residual branch, (drop-path), shortcut addition, (ReLU for v1). */
function block(x: SymbolicTensor, b: BlockPlan, cfg: ResolvedResNetConfig): SymbolicTensor {
  const pre = cfg.preact ? relu({ name: `${b.name}.relu1` }).apply(bn(`${b.name}.bn1`, cfg).apply(x)) : x;
  let y = residualBranch(pre, b, cfg);
  if (b.dropRate > 0) y = dropPath({ name: `${b.name}.drop_path`, rate: b.dropRate }).apply(y);
  const s = shortcut(x, pre, b.name, y.shape[1]!, b.strides, cfg);
  const sum = s === null ? y : add({ name: `${b.name}.add` }).apply([y, s]);
  // v2 leaves the sum un-activated: the identity path stays clean; the next block's BN-ReLU follows.
  return cfg.preact ? sum : relu({ name: `${b.name}.relu${cfg.block === 'basic' ? 2 : 3}` }).apply(sum);
}

/**
 * ImageNet: 7×7/2 conv and 3×3/2 max-pool (4× smaller); CIFAR: one 3×3 conv at full resolution.
 * v2 has no BN-ReLU here: the first block's pre-activation is the stem's normalisation.
 */
function stem(x: SymbolicTensor, cfg: ResolvedResNetConfig): SymbolicTensor {
  const imagenet = cfg.layout === 'imagenet';
  let y = conv2d({ name: 'conv1', filters: cfg.stemWidth, kernelSize: imagenet ? 7 : 3, strides: imagenet ? 2 : 1, padding: imagenet ? 3 : 1, useBias: false }).apply(x);
  if (!cfg.preact) y = relu({ name: 'relu' }).apply(bn('bn1', cfg).apply(y));
  return imagenet ? maxPool({ name: 'maxpool', poolSize: 3, strides: 2, padding: 1 }).apply(y) : y;
}

/** Every block in order, with its stride and its stochastic-depth rate (Huang et al.'s linear rule). */
export function blockPlans(cfg: ResolvedResNetConfig): BlockPlan[] {
  const total = cfg.layers.reduce((a, n) => a + n, 0);
  const plans: BlockPlan[] = [];
  cfg.layers.forEach((blocks, stage) => {
    for (let i = 0; i < blocks; i++) {
      const l = plans.length + 1;
      // Each stage after the first halves the resolution in its first block.
      plans.push({ name: `layer${stage + 1}.${i}`, stage, strides: i === 0 && stage > 0 ? 2 : 1, dropRate: (cfg.dropPathRate * l) / total });
    }
  });
  return plans;
}

export interface BuildOptions {
  name?: string;
  seed?: number;
  generator?: Generator;
  /** Default true; false skips weight initialisation (summaries only). */
  initialize?: boolean;
}

/** Builds the network a resolved config describes (see config.ts for what each field means). */
export function buildResNet(cfg: ResolvedResNetConfig, options: BuildOptions = {}): ResNet {
  const x = input({ name: 'input', shape: [cfg.inChannels, null, null] });
  let y = stem(x, cfg);
  for (const b of blockPlans(cfg)) y = block(y, b, cfg);
  if (cfg.preact) y = relu({ name: 'norm_relu' }).apply(bn('norm', cfg).apply(y));
  y = globalAveragePool({ name: 'avgpool', keepDims: true }).apply(y);
  y = flatten({ name: 'flatten' }).apply(y);
  if (cfg.dropout > 0) y = dropout({ name: 'dropout', rate: cfg.dropout }).apply(y);
  y = dense({ name: 'fc', units: cfg.numClasses }).apply(y);
  return new ResNet(
    { inputs: x, outputs: y, name: options.name ?? defaultName(cfg), seed: options.seed, generator: options.generator, initialize: options.initialize, defaultInputSize: cfg.inputSize },
    cfg,
  );
}

/** `resnet56-cifar`, `preact-plain110-cifar`, `resnet50-w2`: the preset-style name of a config. */
export function defaultName(cfg: ResolvedResNetConfig): string {
  const width = cfg.widthMultiplier === 1 ? '' : `-w${cfg.widthMultiplier}`;
  const kind = cfg.shortcut === 'none' ? 'plain' : cfg.groups > 1 ? 'resnext' : 'resnet';
  const cardinality = cfg.groups > 1 || cfg.widthPerGroup !== 64 ? `-${cfg.groups}x${cfg.widthPerGroup}d` : '';
  const block = cfg.layout === 'cifar' && cfg.block === 'bottleneck' && cardinality === '' ? '-bottleneck' : '';
  return `${cfg.preact ? 'preact-' : ''}${kind}${cfg.depth}${cardinality}${block}${width}${cfg.layout === 'cifar' ? '-cifar' : ''}`;
}
