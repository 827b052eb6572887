/** torchvision's published ResNet, ResNeXt and wide-ResNet weights (torchvision/models/resnet.py, 0.14). */
import type { ArchWeights, FamilyWeights } from '../family.js';
import type { ResolvedResNetConfig } from './config.js';

// V2 weights (the "new training recipe") are evaluated at resize 232, V1 at torchvision's default 256.
// The MiB are torchvision's `meta["_file_size"]` (os.path.getsize / 2**20, 3 decimals), where known here.
const V1 = (file: string, listedMiB?: number) => ({ file, listedMiB });
const V2 = (file: string, listedMiB?: number) => ({ file, resizeSize: 232, listedMiB });
/** An architecture with V1 and V2 weights, V2 its DEFAULT. */
const pair = (enumName: string, v1: string, v2: string): ArchWeights => ({ enumName, best: 'IMAGENET1K_V2', tags: { IMAGENET1K_V1: V1(v1), IMAGENET1K_V2: V2(v2) } });

const archs: Record<string, ArchWeights> = {
  resnet18: { enumName: 'ResNet18_Weights', best: 'IMAGENET1K_V1', tags: { IMAGENET1K_V1: V1('resnet18-f37072fd.pth', 44.661) } },
  resnet34: { enumName: 'ResNet34_Weights', best: 'IMAGENET1K_V1', tags: { IMAGENET1K_V1: V1('resnet34-b627a593.pth', 83.275) } },
  resnet50: { enumName: 'ResNet50_Weights', best: 'IMAGENET1K_V2', tags: { IMAGENET1K_V1: V1('resnet50-0676ba61.pth', 97.781), IMAGENET1K_V2: V2('resnet50-11ad3fa6.pth', 97.79) } },
  resnet101: { enumName: 'ResNet101_Weights', best: 'IMAGENET1K_V2', tags: { IMAGENET1K_V1: V1('resnet101-63fe2227.pth', 170.511), IMAGENET1K_V2: V2('resnet101-cd907fc2.pth', 170.53) } },
  resnet152: { enumName: 'ResNet152_Weights', best: 'IMAGENET1K_V2', tags: { IMAGENET1K_V1: V1('resnet152-394f9c45.pth', 230.434), IMAGENET1K_V2: V2('resnet152-f82ba261.pth', 230.474) } },
  resnext50_32x4d: pair('ResNeXt50_32X4D_Weights', 'resnext50_32x4d-7cdf4587.pth', 'resnext50_32x4d-1a0047aa.pth'),
  resnext101_32x8d: pair('ResNeXt101_32X8D_Weights', 'resnext101_32x8d-8ba56ff5.pth', 'resnext101_32x8d-110c445d.pth'),
  resnext101_64x4d: { enumName: 'ResNeXt101_64X4D_Weights', best: 'IMAGENET1K_V1', tags: { IMAGENET1K_V1: V2('resnext101_64x4d-173b62eb.pth') } },
  wide_resnet50_2: pair('Wide_ResNet50_2_Weights', 'wide_resnet50_2-95faca4d.pth', 'wide_resnet50_2-9ba9bcbe.pth'),
  wide_resnet101_2: pair('Wide_ResNet101_2_Weights', 'wide_resnet101_2-32ee1156.pth', 'wide_resnet101_2-d733dc28.pth'),
};

/**
 * The torchvision net with this config's tensor shapes: the ImageNet layout at torchvision's stem and
 * stage widths, by depth, cardinality and width. Shortcut, preact and stride change no shapes (plain50
 * takes resnet50's weights) except where a shortcut adds or drops projection convs, which load non-strictly.
 */
function archOf(c: ResolvedResNetConfig): string | undefined {
  if (c.layout !== 'imagenet' || c.stemWidth !== 64 || c.inChannels !== 3) return undefined;
  const g = c.groups;
  const perGroup = c.widthPerGroup;
  const arch = g > 1 ? (c.widthMultiplier === 1 ? `resnext${c.depth}_${g}x${perGroup}d` : undefined)
    : perGroup === 64 && c.widthMultiplier === 1 ? `resnet${c.depth}`
    : perGroup === 64 && c.widthMultiplier === 2 ? `wide_resnet${c.depth}_2`
    : perGroup === 128 && c.widthMultiplier === 1 ? `wide_resnet${c.depth}_2`
    : undefined;
  return arch !== undefined && archs[arch] ? arch : undefined;
}

export const RESNET_WEIGHTS: FamilyWeights<ResolvedResNetConfig> = { archs, archOf };
