/**
 * The Vision Transformer (Dosovitskiy et al. 2021) in one builder: patch embedding, class token, position
 * embedding, pre-norm encoder blocks, pooling, head. Layer names are torchvision's module paths
 * (`conv_proj`, `class_token`, `encoder.pos_embedding`, `encoder.layers.encoder_layer_i.ln_1`, `…self_attention`,
 * `…mlp.0`/`mlp.3`, `encoder.ln`, `heads.head`), so state dicts move to and from `torchvision.models.vit_*` unchanged.
 */
import { F, noGrad, normal_, type Generator } from '../../tensor/index.js';
import {
  Model, add, classToken, conv2d, dense, dropPath, dropout, gelu, input, layerNorm, multiHeadSelfAttention, patchTokens, positionEmbedding, tokenPool,
  xavierUniform_, type ModelArgs, type SymbolicTensor,
} from '../../nn/index.js';
import { fill_, fans } from '../../nn/init.js';
import { describeViTConfig, gridSide, type ResolvedViTConfig } from './config.js';

/** The model object: the compiled graph plus the resolved config; initialised as torchvision's VisionTransformer. */
export class VisionTransformer extends Model {
  constructor(args: ModelArgs, readonly config: ResolvedViTConfig) {
    super(args);
  }
  override describeConfig(): string[] {
    return describeViTConfig(this.config);
  }
  /**
   * torchvision's init: patch projection truncated-normal with std √(1/fan_in) and zero bias, MLP layers Xavier
   * with N(0, 1e-6) biases; attention, norms, class token and position table by their layers. The head is timm's
   * truncated normal (std 0.02, zero bias) rather than torchvision's zeros, under which a first step could only
   * move the head (every other gradient is multiplied by its zero weights).
   */
  override initialize(generator?: Generator): void {
    super.initialize(generator);
    for (const l of this.layers) {
      const w = l.params.get('weight');
      const b = l.params.get('bias');
      if (l.name === 'conv_proj') {
        noGrad(() => F.truncNormal_(w!, 0, Math.sqrt(1 / fans(w!.shape).fanIn), -2, 2, generator));
        fill_(b!, 0);
      } else if (/\.mlp\.[03]$/.test(l.name)) {
        xavierUniform_(w!, generator);
        noGrad(() => normal_(b!, 0, 1e-6, generator));
      } else if (l.name === 'heads.head') {
        noGrad(() => F.truncNormal_(w!, 0, 0.02, -0.04, 0.04, generator));
        fill_(b!, 0);
      }
    }
  }
}

/** Stochastic-depth rate of each block (timm's linspace(0, rate, depth)). */
export function blockDropRates(cfg: ResolvedViTConfig): number[] {
  return Array.from({ length: cfg.depth }, (_, i) => (cfg.depth > 1 ? (cfg.dropPathRate * i) / (cfg.depth - 1) : 0));
}

const maybeDropout = (x: SymbolicTensor, name: string, rate: number): SymbolicTensor => (rate > 0 ? dropout({ name, rate }).apply(x) : x);
const maybeDropPath = (x: SymbolicTensor, name: string, rate: number): SymbolicTensor => (rate > 0 ? dropPath({ name, rate }).apply(x) : x);

/** A pre-norm encoder block: x + attention(LN(x)), then + MLP(LN(·)), each branch with dropout and drop-path. */
function encoderBlock(x: SymbolicTensor, i: number, dropRate: number, cfg: ResolvedViTConfig): SymbolicTensor {
  const p = `encoder.layers.encoder_layer_${i}`;
  let a = layerNorm({ name: `${p}.ln_1`, epsilon: cfg.normEps }).apply(x);
  a = multiHeadSelfAttention({ name: `${p}.self_attention`, heads: cfg.heads, dropout: cfg.attentionDropout }).apply(a);
  a = maybeDropout(a, `${p}.dropout`, cfg.dropout);
  a = maybeDropPath(a, `${p}.drop_path1`, dropRate);
  const h = add({ name: `${p}.add1` }).apply([a, x]);
  let m = layerNorm({ name: `${p}.ln_2`, epsilon: cfg.normEps }).apply(h);
  m = dense({ name: `${p}.mlp.0`, units: cfg.mlpDim }).apply(m);
  m = gelu({ name: `${p}.mlp.1` }).apply(m);
  m = maybeDropout(m, `${p}.mlp.2`, cfg.dropout);
  m = dense({ name: `${p}.mlp.3`, units: cfg.width }).apply(m);
  m = maybeDropout(m, `${p}.mlp.4`, cfg.dropout);
  m = maybeDropPath(m, `${p}.drop_path2`, dropRate);
  return add({ name: `${p}.add2` }).apply([m, h]);
}

/** Builds the network a resolved config describes (see config.ts for each field). */
export function buildViT(cfg: ResolvedViTConfig, options: { name?: string; seed?: number; generator?: Generator; initialize?: boolean } = {}): VisionTransformer {
  const x = input({ name: 'input', shape: [cfg.inChannels, null, null] });
  let y = conv2d({ name: 'conv_proj', filters: cfg.width, kernelSize: cfg.patchSize, strides: cfg.patchSize, useBias: true, kernelInitializer: 'torch-default' }).apply(x);
  y = patchTokens({ name: 'patch_tokens' }).apply(y);
  if (cfg.pool === 'cls') y = classToken({ name: 'class_token', key: 'class_token' }).apply(y);
  const g = gridSide(cfg);
  const hint = `this ViT takes ${cfg.inputSize}×${cfg.inputSize} images (inputSize ${cfg.inputSize}, ${g}×${g} patches of ${cfg.patchSize}²): resize the images to ${cfg.inputSize} (data.imageSize) or build the model for their size (model.inputSize)`;
  if (cfg.posEmbed !== 'none') y = positionEmbedding({ name: 'encoder', kind: cfg.posEmbed, grid: [g, g], prefixTokens: cfg.pool === 'cls' ? 1 : 0, hint }).apply(y);
  y = maybeDropout(y, 'encoder.dropout', cfg.dropout);
  blockDropRates(cfg).forEach((rate, i) => {
    y = encoderBlock(y, i, rate, cfg);
  });
  y = layerNorm({ name: 'encoder.ln', epsilon: cfg.normEps }).apply(y);
  y = tokenPool({ name: 'pool', mode: cfg.pool }).apply(y);
  y = dense({ name: 'heads.head', units: cfg.numClasses }).apply(y);
  return new VisionTransformer(
    { inputs: x, outputs: y, name: options.name ?? vitDefaultName(cfg), seed: options.seed, generator: options.generator, initialize: options.initialize, defaultInputSize: cfg.inputSize },
    cfg,
  );
}

/** A name for a config without a preset: `vit-d12-w768-p16`. */
export function vitDefaultName(cfg: ResolvedViTConfig): string {
  return `vit-d${cfg.depth}-w${cfg.width}-p${cfg.patchSize}`;
}
