/** torchvision's published Vision Transformer weights (torchvision/models/vision_transformer.py, 0.14). */
import type { ArchWeights, FamilyWeights, WeightFile } from '../family.js';
import type { ResolvedViTConfig } from './config.js';

// The SWAG weights (Singh et al. 2022) are evaluated with bicubic resizing; the end-to-end fine-tuned ones at a
// larger image (384, 512, 518), whose position table has more rows, so they belong to a model of that inputSize:
// such an architecture is keyed `<arch>@<size>` here. The linear-probe SWAG and the V1 weights are for 224².
const swag = (file: string, size: number): WeightFile => ({ file, resizeSize: size, cropSize: size, interpolation: 'bicubic' });

const archs: Record<string, ArchWeights> = {
  vit_b_16: {
    enumName: 'ViT_B_16_Weights', best: 'IMAGENET1K_V1',
    tags: { IMAGENET1K_V1: { file: 'vit_b_16-c867db91.pth' }, IMAGENET1K_SWAG_LINEAR_V1: swag('vit_b_16_lc_swag-4e70ced5.pth', 224) },
  },
  'vit_b_16@384': { enumName: 'ViT_B_16_Weights', best: 'IMAGENET1K_SWAG_E2E_V1', tags: { IMAGENET1K_SWAG_E2E_V1: swag('vit_b_16_swag-9ac1b537.pth', 384) } },
  vit_b_32: { enumName: 'ViT_B_32_Weights', best: 'IMAGENET1K_V1', tags: { IMAGENET1K_V1: { file: 'vit_b_32-d86f8d99.pth' } } },
  vit_l_16: {
    enumName: 'ViT_L_16_Weights', best: 'IMAGENET1K_V1',
    tags: { IMAGENET1K_V1: { file: 'vit_l_16-852ce7e3.pth', resizeSize: 242 }, IMAGENET1K_SWAG_LINEAR_V1: swag('vit_l_16_lc_swag-4d563306.pth', 224) },
  },
  'vit_l_16@512': { enumName: 'ViT_L_16_Weights', best: 'IMAGENET1K_SWAG_E2E_V1', tags: { IMAGENET1K_SWAG_E2E_V1: swag('vit_l_16_swag-4f3808c9.pth', 512) } },
  vit_l_32: { enumName: 'ViT_L_32_Weights', best: 'IMAGENET1K_V1', tags: { IMAGENET1K_V1: { file: 'vit_l_32-c7638314.pth' } } },
  // torchvision's DEFAULT for vit_h_14 is the 518² end-to-end set; at 224² the linear-probe set is the only one that fits.
  vit_h_14: { enumName: 'ViT_H_14_Weights', best: 'IMAGENET1K_SWAG_LINEAR_V1', tags: { IMAGENET1K_SWAG_LINEAR_V1: swag('vit_h_14_lc_swag-c1eb923e.pth', 224) } },
  'vit_h_14@518': { enumName: 'ViT_H_14_Weights', best: 'IMAGENET1K_SWAG_E2E_V1', tags: { IMAGENET1K_SWAG_E2E_V1: swag('vit_h_14_swag-80465313.pth', 518) } },
};

const LAYOUTS: Record<string, Pick<ResolvedViTConfig, 'patchSize' | 'depth' | 'heads' | 'width' | 'mlpDim'>> = {
  vit_b_16: { patchSize: 16, depth: 12, heads: 12, width: 768, mlpDim: 3072 },
  vit_b_32: { patchSize: 32, depth: 12, heads: 12, width: 768, mlpDim: 3072 },
  vit_l_16: { patchSize: 16, depth: 24, heads: 16, width: 1024, mlpDim: 4096 },
  vit_l_32: { patchSize: 32, depth: 24, heads: 16, width: 1024, mlpDim: 4096 },
  vit_h_14: { patchSize: 14, depth: 32, heads: 16, width: 1280, mlpDim: 5120 },
};

/**
 * The torchvision net (and image size) this config can take weights from: same layout, a class token and a
 * learned position table for exactly that image size. `gap` pooling or another position embedding has no
 * trained tensor for the class token or the table, so such configs take no weights rather than half of them.
 */
function archOf(c: ResolvedViTConfig): string | undefined {
  if (c.pool !== 'cls' || c.posEmbed !== 'learned' || c.inChannels !== 3) return undefined;
  const arch = Object.keys(LAYOUTS).find((a) => (Object.keys(LAYOUTS[a]!) as (keyof typeof LAYOUTS[string])[]).every((k) => LAYOUTS[a]![k] === c[k]));
  if (arch === undefined) return undefined;
  const keyed = c.inputSize === 224 ? arch : `${arch}@${c.inputSize}`;
  return archs[keyed] ? keyed : undefined;
}

export const VIT_WEIGHTS: FamilyWeights<ResolvedViTConfig> = { archs, archOf };
