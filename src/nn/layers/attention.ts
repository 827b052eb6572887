import { F, zeros, type Generator, type Tensor } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { fill_, kaimingUniformTorchDefault_, xavierUniform_ } from '../init.js';
import { Layer, expectRank, type LayerArgs, type LayerCost } from '../layer.js';
import { formatShape, type Shape } from '../shape.js';

export interface MultiHeadSelfAttentionArgs extends LayerArgs {
  /** Number of heads; must divide the embedding dimension D. */
  heads: number;
  /** Dropout on the attention weights, in training only (torch's `dropout` argument; ViT's attention_dropout). */
  dropout?: number;
}

/**
 * Multi-head self-attention over tokens (N, L, D), as torch.nn.MultiheadAttention(D, heads, batch_first=True)
 * applied to (x, x, x): the same weights under the same names (`in_proj_weight` [3D, D], `in_proj_bias`,
 * `out_proj.weight`, `out_proj.bias`), so torchvision's ViT state dicts load unchanged. The work is one native
 * op (libtorch's scaled-dot-product attention where the version has it, the math path on 1.13).
 */
export class MultiHeadSelfAttention extends Layer {
  readonly className = 'MultiHeadSelfAttention';
  readonly heads: number;
  readonly dropout: number;

  constructor(args: MultiHeadSelfAttentionArgs) {
    super(args, 'multi_head_self_attention');
    if (!Number.isInteger(args.heads) || args.heads < 1) throw invalidArg(`multiHeadSelfAttention "${this.name}" heads`, 'a positive integer', args.heads);
    this.heads = args.heads;
    this.dropout = args.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout < 1)) throw invalidArg(`multiHeadSelfAttention "${this.name}" dropout`, 'a number in [0, 1)', args.dropout);
  }

  private dim(s: Shape): number {
    expectRank(s, 3, this, '(N, tokens, features)');
    const d = s[2];
    if (d === null || d === undefined) throw new RangeError(`MultiHeadSelfAttention layer "${this.name}" needs a known feature dimension but received ${formatShape(s)}`);
    if (d % this.heads !== 0) {
      throw new RangeError(`MultiHeadSelfAttention layer "${this.name}": expected a feature dimension divisible by heads=${this.heads}, received ${d} (input ${formatShape(s)})`);
    }
    return d;
  }

  protected override build([s]: readonly Shape[]): void {
    const d = this.dim(s!);
    this.params.set('in_proj_weight', zeros([3 * d, d]));
    this.params.set('in_proj_bias', zeros([3 * d]));
    this.params.set('out_proj.weight', zeros([d, d]));
    this.params.set('out_proj.bias', zeros([d]));
  }

  computeOutputShape([s]: readonly Shape[]): Shape {
    const d = this.dim(s!);
    const expected = this.params.get('out_proj.weight')?.shape[0] ?? d;
    if (d !== expected) throw new RangeError(`MultiHeadSelfAttention layer "${this.name}" expects ${expected} features but received shape ${formatShape(s!)}`);
    return s!;
  }

  call(inputs: readonly Tensor[], training: boolean): Tensor {
    return F.selfAttention(inputs[0]!, {
      inProjWeight: this.param('in_proj_weight'),
      inProjBias: this.param('in_proj_bias'),
      outProjWeight: this.param('out_proj.weight'),
      outProjBias: this.param('out_proj.bias'),
    }, this.heads, { dropout: this.dropout, training });
  }

  /** torch's MultiheadAttention._reset_parameters: Xavier in-projection, zero biases, Linear's default out-projection. */
  override resetParameters(generator?: Generator): void {
    xavierUniform_(this.param('in_proj_weight'), generator);
    fill_(this.param('in_proj_bias'), 0);
    kaimingUniformTorchDefault_(this.param('out_proj.weight'), generator);
    fill_(this.param('out_proj.bias'), 0);
  }

  override cost([s]: readonly Shape[]): LayerCost {
    const d = this.dim(s!);
    const l = s![1] ?? 0;
    // Projections 4·L·D², scores and weighted sum 2·L²·D; softmax about 3 operations per score.
    const macs = 4 * l * d * d + 2 * l * l * d;
    return { macs, flops: 2 * macs + 3 * this.heads * l * l };
  }
}

/** Multi-head self-attention layer (see {@link MultiHeadSelfAttentionArgs}). */
export function multiHeadSelfAttention(args: MultiHeadSelfAttentionArgs): MultiHeadSelfAttention {
  return new MultiHeadSelfAttention(args);
}
