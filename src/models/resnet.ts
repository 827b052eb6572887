/**
 * The ResNet / PlainNet family (He et al. 2016) in one builder, read top to bottom: conv helpers, the
 * shortcut decision, the two block types, then the network. Layer names are torchvision's module paths,
 * so state dicts move between ablate and `torchvision.models.resnet*` unchanged.
 */
import type { Generator } from '../tensor/index.js';
import {
  Model, add, batchNorm, conv2d, dense, dropout, flatten, globalAveragePool, input, maxPool, relu, zeroPadShortcut,
  type ModelArgs, type SymbolicTensor,
} from '../nn/index.js';
import type { ResolvedResNetConfig } from './config.js';

/** The model object training uses: a compiled graph plus the resolved config it was built from. */
export class ResNet extends Model {
  constructor(args: ModelArgs, readonly config: ResolvedResNetConfig) {
    super(args);
  }
}

// The convs feed batch norms, whose shift makes a conv bias redundant.
const conv3x3 = (name: string, filters: number, strides = 1) => conv2d({ name, filters, kernelSize: 3, strides, padding: 1, useBias: false });
const conv1x1 = (name: string, filters: number, strides = 1) => conv2d({ name, filters, kernelSize: 1, strides, useBias: false });
const bn = (name: string, cfg: ResolvedResNetConfig, zeroInit = false) =>
  batchNorm({ name, momentum: cfg.bnMomentum, epsilon: cfg.bnEps, gammaInitializer: zeroInit && cfg.zeroInitLastBn ? 'zeros' : 'ones' });

/**
 * What carries a block's input x to its addition: x itself, a projection, a zero-padded subsample, or
 * nothing (PlainNet). The only place the shortcut is decided; block bodies never look at cfg.shortcut.
 */
function shortcut(x: SymbolicTensor, block: string, filters: number, strides: number, cfg: ResolvedResNetConfig): SymbolicTensor | null {
  const reshapes = strides !== 1 || x.shape[1] !== filters;
  if (cfg.shortcut === 'none') return null;
  if (!reshapes && cfg.shortcut !== 'all-projection') return x;
  if (cfg.shortcut === 'zero-pad') return zeroPadShortcut({ name: `${block}.downsample`, filters, strides }).apply(x);
  const projected = conv1x1(`${block}.downsample.0`, filters, strides).apply(x);
  return bn(`${block}.downsample.1`, cfg).apply(projected);
}

/** The block's last step: add the shortcut (when there is one), then ReLU. */
function join(x: SymbolicTensor, y: SymbolicTensor, block: string, strides: number, cfg: ResolvedResNetConfig, reluName: string): SymbolicTensor {
  const s = shortcut(x, block, y.shape[1]!, strides, cfg);
  const sum = s === null ? y : add({ name: `${block}.add` }).apply([y, s]);
  return relu({ name: `${block}.${reluName}` }).apply(sum);
}

/** Two 3×3 convs (ResNet-18/34 and the CIFAR nets). */
function basicBlock(x: SymbolicTensor, block: string, planes: number, strides: number, cfg: ResolvedResNetConfig): SymbolicTensor {
  let y = conv3x3(`${block}.conv1`, planes, strides).apply(x);
  y = bn(`${block}.bn1`, cfg).apply(y);
  y = relu({ name: `${block}.relu1` }).apply(y);
  y = conv3x3(`${block}.conv2`, planes).apply(y);
  y = bn(`${block}.bn2`, cfg, true).apply(y);
  return join(x, y, block, strides, cfg, 'relu2');
}

/** 1×1 reduce, 3×3, 1×1 expand to 4× planes (ResNet-50/101/152). */
function bottleneck(x: SymbolicTensor, block: string, planes: number, strides: number, cfg: ResolvedResNetConfig): SymbolicTensor {
  // torchvision ("v1.5") strides the 3×3 conv; the paper strides the first 1×1, which skips 3/4 of the input.
  const [s1, s2] = cfg.stride === '1x1' ? [strides, 1] : [1, strides];
  let y = conv1x1(`${block}.conv1`, planes, s1).apply(x);
  y = bn(`${block}.bn1`, cfg).apply(y);
  y = relu({ name: `${block}.relu1` }).apply(y);
  y = conv3x3(`${block}.conv2`, planes, s2).apply(y);
  y = bn(`${block}.bn2`, cfg).apply(y);
  y = relu({ name: `${block}.relu2` }).apply(y);
  y = conv1x1(`${block}.conv3`, planes * 4).apply(y);
  y = bn(`${block}.bn3`, cfg, true).apply(y);
  return join(x, y, block, strides, cfg, 'relu3');
}

/** ImageNet: 7×7/2 conv and 3×3/2 max-pool (4× smaller); CIFAR: one 3×3 conv at full resolution. */
function stem(x: SymbolicTensor, cfg: ResolvedResNetConfig): SymbolicTensor {
  const imagenet = cfg.family === 'imagenet';
  let y = conv2d({ name: 'conv1', filters: cfg.widths[0]!, kernelSize: imagenet ? 7 : 3, strides: imagenet ? 2 : 1, padding: imagenet ? 3 : 1, useBias: false }).apply(x);
  y = bn('bn1', cfg).apply(y);
  y = relu({ name: 'relu' }).apply(y);
  return imagenet ? maxPool({ name: 'maxpool', poolSize: 3, strides: 2, padding: 1 }).apply(y) : y;
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
  const makeBlock = cfg.block === 'basic' ? basicBlock : bottleneck;
  cfg.layers.forEach((blocks, stage) => {
    for (let i = 0; i < blocks; i++) {
      // Each stage after the first halves the resolution in its first block.
      y = makeBlock(y, `layer${stage + 1}.${i}`, cfg.widths[stage]!, i === 0 && stage > 0 ? 2 : 1, cfg);
    }
  });
  y = globalAveragePool({ name: 'avgpool', keepDims: true }).apply(y);
  y = flatten({ name: 'flatten' }).apply(y);
  if (cfg.dropout > 0) y = dropout({ name: 'dropout', rate: cfg.dropout }).apply(y);
  y = dense({ name: 'fc', units: cfg.numClasses }).apply(y);
  return new ResNet(
    { inputs: x, outputs: y, name: options.name ?? defaultName(cfg), seed: options.seed, generator: options.generator, initialize: options.initialize, defaultInputSize: cfg.inputSize },
    cfg,
  );
}

function defaultName(cfg: ResolvedResNetConfig): string {
  return `${cfg.shortcut === 'none' ? 'plain' : 'resnet'}${cfg.depth}${cfg.family === 'cifar' ? '-cifar' : ''}`;
}
