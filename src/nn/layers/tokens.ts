/**
 * Layers that move between feature maps and token sequences, and the weights a transformer adds to tokens:
 * permutes, patch tokens, the class token, position embeddings, token pooling and ConvNeXt's layer scale.
 */
import { cat, keep, ones, tensor, zeros, normal_, type Generator, type Tensor } from '../../tensor/index.js';
import { noGrad } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { fill_ } from '../init.js';
import { Layer, expectRank, knownChannels, type LayerArgs, type LayerCost } from '../layer.js';
import { formatShape, sampleSize, type Shape } from '../shape.js';

export interface PermuteArgs extends LayerArgs {
  /** A permutation of all dimensions, batch included, e.g. [0, 2, 3, 1] for NCHW → NHWC (torchvision's Permute). */
  dims: readonly number[];
}

/** Reorders dimensions (a view: no copy, no cost). ConvNeXt runs its block MLP on (N, H, W, C). */
export class Permute extends Layer {
  readonly className = 'Permute';
  readonly dims: number[];
  constructor(args: PermuteArgs) {
    super(args, 'permute');
    const d = args.dims;
    if (!Array.isArray(d) || d[0] !== 0 || [...d].sort((a, b) => a - b).some((v, i) => v !== i)) {
      throw invalidArg(`permute "${this.name}" dims`, 'a permutation of 0..rank-1 that keeps the batch dimension first', d);
    }
    this.dims = [...d];
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    expectRank(s!, this.dims.length, this, `(one dimension per entry of dims [${this.dims.join(', ')}])`);
    return this.dims.map((i) => s![i]!);
  }
  call(inputs: readonly Tensor[]): Tensor {
    return inputs[0]!.permute(this.dims);
  }
}

/** (N, D, h, w) → (N, h·w, D): a patch embedding's map as a sequence of tokens, row by row (torchvision's order). */
export class PatchTokens extends Layer {
  readonly className = 'PatchTokens';
  constructor(args: LayerArgs = {}) {
    super(args, 'patch_tokens');
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    expectRank(s!, 4, this, '(N, D, h, w)');
    const [, , h, w] = s!;
    return [s![0]!, h === null || w === null ? null : h! * w!, knownChannels(s!, this)];
  }
  call(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    const [n, d, h, w] = x.shape as [number, number, number, number];
    const seq = x.reshape([n, d, h * w]);
    const out = seq.permute([0, 2, 1]);
    seq.dispose();
    return out;
  }
}

export interface ClassTokenArgs extends LayerArgs {
  /** State-dict key of the token, a model-level parameter in torchvision (`class_token`). Default the layer name. */
  key?: string;
}

/** Prepends one learned token (1, 1, D) to every sequence: (N, L, D) → (N, L + 1, D) (ViT's [class] token, zero-initialised). */
export class ClassToken extends Layer {
  readonly className = 'ClassToken';
  readonly key: string;
  constructor(args: ClassTokenArgs = {}) {
    super(args, 'class_token');
    this.key = args.key ?? this.name;
  }
  override stateKey(local: string): string {
    return local === 'token' ? this.key : super.stateKey(local);
  }
  protected override build([s]: readonly Shape[]): void {
    this.params.set('token', zeros([1, 1, this.dim(s!)]));
  }
  private dim(s: Shape): number {
    expectRank(s, 3, this, '(N, tokens, features)');
    if (s[2] === null) throw new RangeError(`ClassToken layer "${this.name}" needs a known feature dimension but received ${formatShape(s)}`);
    return s[2]!;
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    const d = this.dim(s!);
    const expected = this.params.get('token')?.shape[2] ?? d;
    if (d !== expected) throw new RangeError(`ClassToken layer "${this.name}" holds a ${expected}-wide token but received shape ${formatShape(s!)}`);
    return [s![0]!, s![1] === null ? null : s![1]! + 1, d];
  }
  call(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    const t = this.param('token');
    const expanded = t.expand([x.shape[0]!, 1, t.shape[2]!]);
    // Under autocast the tokens may be bf16; cat needs one dtype, and torch promotes to the wider one too.
    const out = cat([expanded, x], 1);
    expanded.dispose();
    return out;
  }
  override resetParameters(): void {
    fill_(this.param('token'), 0);
  }
}

export type PositionEmbeddingKind = 'learned' | 'sincos';

export interface PositionEmbeddingArgs extends LayerArgs {
  /**
   * `learned`: a trained (1, L, D) table `pos_embedding` (normal, std 0.02, as torchvision and BERT);
   * `sincos`: the fixed 2-D sine-cosine table of Beyer et al. 2022 ("Better plain ViT baselines"; no weights).
   */
  kind: PositionEmbeddingKind;
  /** The patch grid (rows, columns) the table is for; sequences must have exactly this many patch tokens. */
  grid: readonly [number, number];
  /** Tokens before the patches (the class token): learned rows of their own, zeros for `sincos` (as MAE). */
  prefixTokens?: number;
  /** What a sequence of another length should be told to do (a model knows its image size; the layer only its grid). */
  hint?: string;
}

/** Adds a position embedding to every sequence (N, L, D). torchvision keeps it under `encoder.pos_embedding`. */
export class PositionEmbedding extends Layer {
  readonly className = 'PositionEmbedding';
  readonly kind: PositionEmbeddingKind;
  readonly grid: [number, number];
  readonly prefixTokens: number;
  readonly hint: string;
  #table = new Map<string, Tensor>();

  constructor(args: PositionEmbeddingArgs) {
    super(args, 'position_embedding');
    if (args.kind !== 'learned' && args.kind !== 'sincos') throw invalidArg(`positionEmbedding "${this.name}" kind`, '"learned" or "sincos"', args.kind);
    this.kind = args.kind;
    const g = args.grid;
    if (!Array.isArray(g) || g.length !== 2 || !g.every((v) => Number.isInteger(v) && v >= 1)) throw invalidArg(`positionEmbedding "${this.name}" grid`, 'two positive integers [rows, columns]', g);
    this.grid = [g[0]!, g[1]!];
    this.prefixTokens = args.prefixTokens ?? 0;
    if (!Number.isInteger(this.prefixTokens) || this.prefixTokens < 0) throw invalidArg(`positionEmbedding "${this.name}" prefixTokens`, 'a non-negative integer', args.prefixTokens);
    this.hint = args.hint ?? 'feed images of the size the model was built for (inputSize)';
  }

  get tokens(): number {
    return this.prefixTokens + this.grid[0] * this.grid[1];
  }

  private dim(s: Shape): number {
    expectRank(s, 3, this, '(N, tokens, features)');
    const d = s[2];
    if (d === null || d === undefined) throw new RangeError(`PositionEmbedding layer "${this.name}" needs a known feature dimension but received ${formatShape(s)}`);
    if (this.kind === 'sincos' && (d % 4 !== 0 || d < 8)) {
      throw new RangeError(`PositionEmbedding layer "${this.name}": a 2-D sin-cos table needs a feature dimension divisible by 4 and at least 8, received ${d}`);
    }
    return d;
  }

  protected override build([s]: readonly Shape[]): void {
    if (this.kind === 'learned') this.params.set('pos_embedding', zeros([1, this.tokens, this.dim(s!)]));
  }

  computeOutputShape([s]: readonly Shape[]): Shape {
    this.dim(s!);
    if (s![1] !== null && s![1] !== this.tokens) {
      throw new RangeError(
        `PositionEmbedding layer "${this.name}" is for ${this.tokens} tokens (${this.prefixTokens ? `${this.prefixTokens} + ` : ''}a ${this.grid[0]}×${this.grid[1]} patch grid) but received shape ${formatShape(s!)}; ${this.hint}`,
      );
    }
    return s!;
  }

  call(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    if (x.shape[1] !== this.tokens) {
      throw new RangeError(`PositionEmbedding layer "${this.name}" is for ${this.tokens} tokens (a ${this.grid[0]}×${this.grid[1]} patch grid${this.prefixTokens ? ' and a class token' : ''}) but received ${x.shape[1]}: ${this.hint}`);
    }
    return x.add(this.kind === 'learned' ? this.param('pos_embedding') : this.sincos(x.shape[2]!, x.device));
  }

  /** The fixed table on `device`, made once per device and kept until dispose (not state: torch's non-persistent buffer). */
  private sincos(d: number, device: string): Tensor {
    let t = this.#table.get(device);
    if (t) return t;
    const [h, w] = this.grid;
    const q = d / 4;
    const data = new Float32Array(this.tokens * d);
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        const row = (this.prefixTokens + r * w + c) * d;
        for (let i = 0; i < q; i++) {
          // big_vision's posemb_sincos_2d: ω_i = 1 / 10000^(i / (q − 1)); [sin(x·ω), cos(x·ω), sin(y·ω), cos(y·ω)].
          const omega = 1 / 10000 ** (i / (q - 1));
          data[row + i] = Math.sin(c * omega);
          data[row + q + i] = Math.cos(c * omega);
          data[row + 2 * q + i] = Math.sin(r * omega);
          data[row + 3 * q + i] = Math.cos(r * omega);
        }
      }
    }
    const cpu = tensor(data, [1, this.tokens, d]);
    t = keep(device === 'cpu' ? cpu : noGrad(() => cpu.to({ device })));
    if (t !== cpu) cpu.dispose();
    this.#table.set(device, t);
    return t;
  }

  override resetParameters(generator?: Generator): void {
    const p = this.params.get('pos_embedding');
    if (p) noGrad(() => normal_(p, 0, 0.02, generator));
  }

  override dispose(): void {
    super.dispose();
    for (const t of this.#table.values()) t.dispose();
    this.#table.clear();
  }

  override cost(_in: readonly Shape[], out: Shape): LayerCost {
    return { macs: 0, flops: sampleSize(out) ?? 0 };
  }
}

export interface TokenPoolArgs extends LayerArgs {
  /** `cls`: the first token (the class token); `gap`: the mean of all tokens. */
  mode: 'cls' | 'gap';
}

/** (N, L, D) → (N, D): how a ViT turns its sequence into one feature vector for the head. */
export class TokenPool extends Layer {
  readonly className = 'TokenPool';
  readonly mode: 'cls' | 'gap';
  constructor(args: TokenPoolArgs) {
    super(args, 'token_pool');
    if (args.mode !== 'cls' && args.mode !== 'gap') throw invalidArg(`tokenPool "${this.name}" mode`, '"cls" or "gap"', args.mode);
    this.mode = args.mode;
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    expectRank(s!, 3, this, '(N, tokens, features)');
    return [s![0]!, s![2]!];
  }
  call(inputs: readonly Tensor[]): Tensor {
    // select() is a view; the head's matmul reads it with its strides, as torchvision's x[:, 0].
    return this.mode === 'cls' ? inputs[0]!.select(1, 0) : inputs[0]!.mean(1);
  }
  override cost([s]: readonly Shape[]): LayerCost {
    return { macs: 0, flops: this.mode === 'gap' ? sampleSize(s!) ?? 0 : 0 };
  }
}

export interface LayerScaleArgs extends LayerArgs {
  /** Initial value of every per-channel scale (ConvNeXt: 1e-6, Touvron et al. 2021's CaiT). */
  init: number;
  /** State-dict key suffix; torchvision's ConvNeXt keeps it on the block as `layer_scale`. */
  key?: string;
}

/** Multiplies each channel of (N, C, H, W) by a learned scale γ of shape (C, 1, 1). */
export class LayerScale extends Layer {
  readonly className = 'LayerScale';
  readonly init: number;
  readonly key: string;
  constructor(args: LayerScaleArgs) {
    super(args, 'layer_scale');
    if (typeof args.init !== 'number' || !Number.isFinite(args.init)) throw invalidArg(`layerScale "${this.name}" init`, 'a finite number', args.init);
    this.init = args.init;
    this.key = args.key ?? 'layer_scale';
  }
  protected override build([s]: readonly Shape[]): void {
    expectRank(s!, 4, this, '(N, C, H, W)');
    this.params.set(this.key, ones([knownChannels(s!, this), 1, 1]));
  }
  computeOutputShape([s]: readonly Shape[]): Shape {
    expectRank(s!, 4, this, '(N, C, H, W)');
    const c = knownChannels(s!, this);
    const expected = this.params.get(this.key)?.shape[0] ?? c;
    if (c !== expected) throw new RangeError(`LayerScale layer "${this.name}" scales ${expected} channels but received shape ${formatShape(s!)}`);
    return s!;
  }
  call(inputs: readonly Tensor[]): Tensor {
    return inputs[0]!.mul(this.param(this.key));
  }
  override resetParameters(): void {
    fill_(this.param(this.key), this.init);
  }
  override cost(_in: readonly Shape[], out: Shape): LayerCost {
    return { macs: 0, flops: sampleSize(out) ?? 0 };
  }
}

/** Permute layer (see {@link PermuteArgs}). */
export function permute(args: PermuteArgs): Permute {
  return new Permute(args);
}
/** Feature map → token sequence. */
export function patchTokens(args: LayerArgs = {}): PatchTokens {
  return new PatchTokens(args);
}
/** Learned class token (see {@link ClassTokenArgs}). */
export function classToken(args: ClassTokenArgs = {}): ClassToken {
  return new ClassToken(args);
}
/** Position embedding (see {@link PositionEmbeddingArgs}). */
export function positionEmbedding(args: PositionEmbeddingArgs): PositionEmbedding {
  return new PositionEmbedding(args);
}
/** Sequence → vector (see {@link TokenPoolArgs}). */
export function tokenPool(args: TokenPoolArgs): TokenPool {
  return new TokenPool(args);
}
/** Per-channel learned scale (see {@link LayerScaleArgs}). */
export function layerScale(args: LayerScaleArgs): LayerScale {
  return new LayerScale(args);
}
