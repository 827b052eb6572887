/**
 * ConvNeXt (Liu et al. 2022) in one builder, read top to bottom: the norm choice, the block, the stages, the
 * network. Layer names are torchvision's module paths (`features.S.B.block.N`, `features.S.B.layer_scale`,
 * `classifier.N`), so state dicts move between ablate and `torchvision.models.convnext_*` unchanged.
 */
import { F, noGrad, type Generator } from '../../tensor/index.js';
import {
  Model, add, batchNorm, conv2d, dense, dropPath, flatten, gelu, globalAveragePool, input, layerNorm, layerScale, permute,
  type ModelArgs, type SymbolicTensor, Conv2D, Dense,
} from '../../nn/index.js';
import { fill_ } from '../../nn/init.js';
import { describeConvNeXtConfig, type ResolvedConvNeXtConfig } from './config.js';

/** The model object: the compiled graph plus the resolved config; initialised as torchvision's ConvNeXt. */
export class ConvNeXt extends Model {
  constructor(args: ModelArgs, readonly config: ResolvedConvNeXtConfig) {
    super(args);
  }
  override describeConfig(): string[] {
    return describeConvNeXtConfig(this.config);
  }
  /** Convolutions and linear layers: truncated normal, std 0.02, zero biases; norms 1/0; layer scales their value. */
  override initialize(generator?: Generator): void {
    super.initialize(generator);
    for (const l of this.layers) {
      if (!(l instanceof Conv2D || l instanceof Dense)) continue;
      noGrad(() => F.truncNormal_(l.params.get('weight')!, 0, 0.02, -2, 2, generator));
      const b = l.params.get('bias');
      if (b) fill_(b, 0);
    }
  }
}

/**
 * The norm of a map (N, C, H, W): torchvision's LayerNorm2d, or BatchNorm2d for the `batchnorm` ablation.
 * The head's norm sees the pooled (N, C, 1, 1) map, the same way.
 */
function norm2d(name: string, cfg: ResolvedConvNeXtConfig) {
  return cfg.norm === 'layernorm' ? layerNorm({ name, axis: 'channels', epsilon: cfg.normEps }) : batchNorm({ name, epsilon: cfg.normEps });
}

/**
 * One block: depthwise k×k conv, norm, 1×1 expansion to 4C, GELU, 1×1 projection back (the two 1×1 as linear
 * layers on the channels-last map, as torchvision), layer scale, stochastic depth, residual sum.
 */
function block(x: SymbolicTensor, name: string, dim: number, dropRate: number, cfg: ResolvedConvNeXtConfig): SymbolicTensor {
  const b = `${name}.block`;
  const k = cfg.kernelSize;
  let y = conv2d({ name: `${b}.0`, filters: dim, kernelSize: k, padding: (k - 1) / 2, groups: dim, useBias: true }).apply(x);
  if (cfg.norm === 'layernorm') {
    y = permute({ name: `${b}.1`, dims: [0, 2, 3, 1] }).apply(y);
    y = layerNorm({ name: `${b}.2`, epsilon: cfg.normEps }).apply(y);
  } else {
    // BatchNorm normalises dim 1, so it runs on the NCHW map, before the permute; the names stay torchvision's.
    y = batchNorm({ name: `${b}.2`, epsilon: cfg.normEps }).apply(y);
    y = permute({ name: `${b}.1`, dims: [0, 2, 3, 1] }).apply(y);
  }
  y = dense({ name: `${b}.3`, units: 4 * dim }).apply(y);
  y = gelu({ name: `${b}.4` }).apply(y);
  y = dense({ name: `${b}.5`, units: dim }).apply(y);
  y = permute({ name: `${b}.6`, dims: [0, 3, 1, 2] }).apply(y);
  // The scale is a parameter of the block module itself in torchvision: key `features.S.B.layer_scale`.
  if (cfg.layerScale > 0) y = layerScale({ name, init: cfg.layerScale }).apply(y);
  if (dropRate > 0) y = dropPath({ name: `${name}.stochastic_depth`, rate: dropRate }).apply(y);
  return add({ name: `${name}.add` }).apply([y, x]);
}

/** Stochastic-depth rate of each block, counted over the whole net (torchvision's rule: 0 … dropPathRate). */
export function blockDropRates(cfg: ResolvedConvNeXtConfig): number[] {
  const total = cfg.depths.reduce((a, n) => a + n, 0);
  return Array.from({ length: total }, (_, i) => (total > 1 ? (cfg.dropPathRate * i) / (total - 1) : 0));
}

/** Builds the network a resolved config describes (see config.ts for each field). */
export function buildConvNeXt(cfg: ResolvedConvNeXtConfig, options: { name?: string; seed?: number; generator?: Generator; initialize?: boolean } = {}): ConvNeXt {
  const x = input({ name: 'input', shape: [cfg.inChannels, null, null] });
  let y = conv2d({ name: 'features.0.0', filters: cfg.widths[0]!, kernelSize: cfg.stemPatch, strides: cfg.stemPatch, useBias: true }).apply(x);
  y = norm2d('features.0.1', cfg).apply(y);
  const rates = blockDropRates(cfg);
  let id = 0;
  cfg.depths.forEach((depth, s) => {
    const stage = 1 + 2 * s;
    for (let i = 0; i < depth; i++) y = block(y, `features.${stage}.${i}`, cfg.widths[s]!, rates[id++]!, cfg);
    const next = cfg.widths[s + 1];
    if (next !== undefined) {
      y = norm2d(`features.${stage + 1}.0`, cfg).apply(y);
      y = conv2d({ name: `features.${stage + 1}.1`, filters: next, kernelSize: 2, strides: 2, useBias: true }).apply(y);
    }
  });
  y = globalAveragePool({ name: 'avgpool', keepDims: true }).apply(y);
  y = norm2d('classifier.0', cfg).apply(y);
  y = flatten({ name: 'classifier.1' }).apply(y);
  y = dense({ name: 'classifier.2', units: cfg.numClasses }).apply(y);
  return new ConvNeXt(
    { inputs: x, outputs: y, name: options.name ?? convnextDefaultName(cfg), seed: options.seed, generator: options.generator, initialize: options.initialize, defaultInputSize: cfg.inputSize },
    cfg,
  );
}

/** A name for a config without a preset: `convnext-3-3-9-3-w96`. */
export function convnextDefaultName(cfg: ResolvedConvNeXtConfig): string {
  return `convnext-${cfg.depths.join('-')}-w${cfg.widths[0]}`;
}
