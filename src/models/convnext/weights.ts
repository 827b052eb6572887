/** torchvision's published ConvNeXt weights (torchvision/models/convnext.py, 0.14). */
import type { ArchWeights, FamilyWeights } from '../family.js';
import type { ResolvedConvNeXtConfig } from './config.js';

// Each is evaluated after resizing to its own short side (236, 230, 232, 232), then a 224 crop.
const one = (enumName: string, file: string, resizeSize: number): ArchWeights => ({ enumName, best: 'IMAGENET1K_V1', tags: { IMAGENET1K_V1: { file, resizeSize } } });

const archs: Record<string, ArchWeights> = {
  convnext_tiny: one('ConvNeXt_Tiny_Weights', 'convnext_tiny-983f1562.pth', 236),
  convnext_small: one('ConvNeXt_Small_Weights', 'convnext_small-0c510722.pth', 230),
  convnext_base: one('ConvNeXt_Base_Weights', 'convnext_base-6075fbad.pth', 232),
  convnext_large: one('ConvNeXt_Large_Weights', 'convnext_large-ea097f82.pth', 232),
};

const LAYOUTS: Record<string, { depths: number[]; widths: number[] }> = {
  convnext_tiny: { depths: [3, 3, 9, 3], widths: [96, 192, 384, 768] },
  convnext_small: { depths: [3, 3, 27, 3], widths: [96, 192, 384, 768] },
  convnext_base: { depths: [3, 3, 27, 3], widths: [128, 256, 512, 1024] },
  convnext_large: { depths: [3, 3, 27, 3], widths: [192, 384, 768, 1536] },
};

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * The torchvision net this config can take weights from: same layout, 7×7 kernels, 4×4 stem, LayerNorm and a
 * layer scale. A BatchNorm variant has tensors of the same names and shapes but other meanings, and layerScale 0
 * drops trained scales, so neither takes the weights (a partial load would silently compute something else).
 * Stochastic depth holds no weights.
 */
function archOf(c: ResolvedConvNeXtConfig): string | undefined {
  if (c.kernelSize !== 7 || c.stemPatch !== 4 || c.norm !== 'layernorm' || c.layerScale === 0 || c.inChannels !== 3) return undefined;
  return Object.keys(LAYOUTS).find((a) => same(LAYOUTS[a]!.depths, c.depths) && same(LAYOUTS[a]!.widths, c.widths));
}

export const CONVNEXT_WEIGHTS: FamilyWeights<ResolvedConvNeXtConfig> = { archs, archOf };
