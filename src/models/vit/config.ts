import { z } from 'zod';
import { describe } from '../../util/errors.js';
import { formatZodIssues, type ConfigIssue } from '../../util/zod-issues.js';
import { ModelConfigError } from '../family.js';
import { paramLimitIssue } from '../limits.js';

export const VIT_POOLS = ['cls', 'gap'] as const;
export const VIT_POS_EMBEDS = ['learned', 'sincos', 'none'] as const;

/** Every ablation axis of the Vision Transformer family is one field here (Dosovitskiy et al. 2021). */
export const ViTConfigSchema = z.strictObject({
  /** Side of the square patches the image is cut into (the conv_proj kernel and stride): 16 in ViT-B/16. */
  patchSize: z.number().int().min(1).max(256),
  /** Encoder blocks: 12 (B), 24 (L), 32 (H). */
  depth: z.number().int().min(1).max(256),
  /** Attention heads per block; must divide width: 12 (B), 16 (L, H). */
  heads: z.number().int().min(1).max(256),
  /** Token width D (torchvision's hidden_dim): 768 (B), 1024 (L), 1280 (H). */
  width: z.number().int().min(1).max(16384),
  /** Hidden width of each block's MLP (torchvision's mlp_dim); default 4 × width (3072, 4096, 5120). */
  mlpDim: z.number().int().min(1).max(65536).optional(),
  /**
   * How the sequence becomes one vector for the head: `cls` prepends a learned class token (`class_token`) and
   * reads it after the encoder (the paper, torchvision); `gap` has no class token and averages all patch tokens
   * (Beyer et al. 2022 "Better plain ViT baselines"; Zhai et al. 2022).
   */
  pool: z.enum(VIT_POOLS).default('cls'),
  /**
   * Position information added to the tokens before the encoder: `learned` (a trained table
   * `encoder.pos_embedding`, the paper's), `sincos` (the fixed 2-D sine-cosine table of Beyer et al. 2022; needs a
   * width divisible by 4), or `none` (a bag of patches; the paper's appendix D.4 ablation).
   */
  posEmbed: z.enum(VIT_POS_EMBEDS).default('learned'),
  /**
   * Stochastic depth: block b of B (counted from 0) drops its attention and its MLP branch, each per sample, with
   * rate dropPathRate · b / (B − 1) (timm's linear rule; DeiT trains ViT-B with 0.1). torchvision's ViT has none.
   */
  dropPathRate: z.number().min(0).lt(1).default(0),
  /** Dropout after the embedding, the attention and each MLP layer (torchvision's `dropout`; 0 by default). */
  dropout: z.number().min(0).lt(1).default(0),
  /** Dropout on the attention weights (torchvision's `attention_dropout`). */
  attentionDropout: z.number().min(0).lt(1).default(0),
  /** Epsilon of the LayerNorms (1e-6 as torchvision). */
  normEps: z.number().positive().max(1).default(1e-6),
  numClasses: z.number().int().min(1).default(1000),
  inChannels: z.number().int().min(1).default(3),
  /**
   * Image side the model is built for (torchvision's image_size): a multiple of patchSize. A learned or sin-cos
   * table has one row per patch of this grid, so inputs must have exactly this size.
   */
  inputSize: z.number().int().min(1).max(8192).default(224),
});

export type ViTConfigInput = z.input<typeof ViTConfigSchema>;
export type ResolvedViTConfig = Omit<z.output<typeof ViTConfigSchema>, 'mlpDim'> & { mlpDim: number };

const knownKeys = (path: readonly PropertyKey[]): string[] | undefined => (path.length === 0 ? Object.keys(ViTConfigSchema.shape) : undefined);
const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** Valid fields that do not fit together, checked on the raw input so they are reported with per-field problems. */
function combinationIssues(obj: unknown): ConfigIssue[] {
  if (typeof obj !== 'object' || obj === null) return [];
  const c = obj as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  if (int(c.width) && int(c.heads) && c.width % c.heads !== 0) {
    issues.push({ path: 'heads', message: `expected a divisor of width ${c.width} (each head gets width / heads features), received ${describe(c.heads)}` });
  }
  const size = c.inputSize === undefined ? 224 : c.inputSize;
  if (int(c.patchSize) && int(size) && size % c.patchSize !== 0) {
    issues.push({
      path: 'inputSize',
      message: `expected a multiple of patchSize ${c.patchSize} (the image is cut into whole patches), received ${describe(size)}${c.inputSize === undefined ? ' (the default)' : ''}`,
    });
  }
  if (c.posEmbed === 'sincos' && int(c.width) && (c.width % 4 !== 0 || c.width < 8)) {
    issues.push({ path: 'width', message: `expected a multiple of 4, at least 8, with posEmbed "sincos" (sine and cosine of both axes share the width), received ${describe(c.width)}` });
  }
  return issues;
}

/**
 * Most tokens a config may have: attention holds a tokens² matrix per head and sample, so a 1-pixel patch on a
 * large image would exhaust memory at the first step. 16,384 is a 128×128 grid (ViT-H/14 at 518² has 1,369).
 */
export const MAX_VIT_TOKENS = 16_384;

/** Trainable parameters of a valid config, counted without building it (checked against the built models in tests). */
export function vitParamCount(c: ResolvedViTConfig): number {
  const d = c.width;
  const tokens = gridSide(c) ** 2 + (c.pool === 'cls' ? 1 : 0);
  const block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * c.mlpDim + c.mlpDim) + (c.mlpDim * d + d);
  return c.inChannels * c.patchSize ** 2 * d + d + (c.pool === 'cls' ? d : 0) + (c.posEmbed === 'learned' ? tokens * d : 0)
    + c.depth * block + 2 * d + d * c.numClasses + c.numClasses;
}

/** Every problem in a config, or [] when valid. */
export function validateViTConfig(obj: unknown): ConfigIssue[] {
  const r = ViTConfigSchema.safeParse(obj, { reportInput: true });
  const issues = [...(r.success ? [] : formatZodIssues(r.error.issues, knownKeys)), ...combinationIssues(obj)];
  if (issues.length > 0 || !r.success) return issues;
  const c: ResolvedViTConfig = { ...r.data, mlpDim: r.data.mlpDim ?? 4 * r.data.width };
  const grid = gridSide(c);
  if (grid * grid > MAX_VIT_TOKENS) {
    return [{ path: 'patchSize', message: `expected at most ${MAX_VIT_TOKENS.toLocaleString('en')} patches (attention holds tokens² scores per head), received ${c.inputSize / c.patchSize}×${c.inputSize / c.patchSize} = ${(grid * grid).toLocaleString('en')} from inputSize ${c.inputSize} and patchSize ${c.patchSize}; use larger patches or a smaller inputSize` }];
  }
  return paramLimitIssue(vitParamCount(c), 'width');
}

/** Checks the whole config first, then fills in defaults. */
export function resolveViTConfig(obj: unknown): ResolvedViTConfig {
  const issues = validateViTConfig(obj);
  if (issues.length > 0) throw new ModelConfigError(issues);
  const c = ViTConfigSchema.parse(obj);
  return { ...c, mlpDim: c.mlpDim ?? 4 * c.width };
}

/** The patch grid side (inputSize / patchSize). */
export const gridSide = (c: ResolvedViTConfig): number => c.inputSize / c.patchSize;

export function describeViTConfig(c: ResolvedViTConfig): string[] {
  const switches: [string, unknown][] = [
    ['patchSize', c.patchSize], ['depth', c.depth], ['heads', c.heads], ['width', c.width], ['mlpDim', c.mlpDim], ['pool', c.pool], ['posEmbed', c.posEmbed],
    ['dropPathRate', c.dropPathRate], ['dropout', c.dropout], ['attentionDropout', c.attentionDropout], ['normEps', c.normEps],
    ['numClasses', c.numClasses], ['inChannels', c.inChannels], ['inputSize', c.inputSize],
  ];
  const g = gridSide(c);
  return [
    `Family: vit (${g}×${g} patches of ${c.patchSize}² = ${g * g} tokens${c.pool === 'cls' ? ' + class token' : ''}, ${c.depth} blocks, width ${c.width}, ${c.heads} heads)`,
    `Switches: ${switches.map(([k, v]) => `${k}=${String(v)}`).join(' ')}`,
  ];
}
