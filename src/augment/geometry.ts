/** Geometric transforms on float batches [N, C, H, W]; per-image parameters come in as JS arrays. */
import { F, arange, cat, tensor, tidy, where, type Tensor } from '../tensor/index.js';
import type { UniformStream } from './scalar-random.js';

export type PaddingMode = 'zeros' | 'reflect' | 'replicate';

/** A crop rectangle: top-left corner and size, in pixels. */
export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

function hw(x: Tensor): [number, number] {
  const s = x.shape;
  return [s[2]!, s[3]!];
}

/** Mirrors the images whose entry of `mask` (bool [N]) is true. */
export function flipWhere(x: Tensor, mask: Tensor): Tensor {
  return tidy(() => where(mask.view([-1, 1, 1, 1]).to({ device: x.device }), x.flip([3]), x));
}

/** Crops an h×w window at a different corner per image, as two gathers (no per-image loop). */
export function cropAt(x: Tensor, tops: readonly number[], lefts: readonly number[], h: number, w: number): Tensor {
  return tidy(() => {
    const [n, c] = x.shape as [number, number];
    const device = x.device;
    const rows = tensor([...tops], [n, 1, 1, 1], 'int64').to({ device }).add(arange(0, h, 1, { device }).view([1, 1, h, 1]));
    const byRow = x.gather(2, rows.expand([n, c, h, x.size(3)]));
    const cols = tensor([...lefts], [n, 1, 1, 1], 'int64').to({ device }).add(arange(0, w, 1, { device }).view([1, 1, 1, w]));
    return byRow.gather(3, cols.expand([n, c, h, w]));
  });
}

export function padBatch(x: Tensor, padding: number, mode: PaddingMode): Tensor {
  if (padding === 0) return x.clone();
  return F.pad(x, [padding, padding, padding, padding], mode === 'zeros' ? 'constant' : mode, 0);
}

/** Python's round(): halves go to the even neighbour (torchvision's centre crop relies on it). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d !== 0.5) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision center_crop: a window centred as torchvision rounds it; pads with zeros when the image is smaller. */
export function centerCrop(x: Tensor, h: number, w: number): Tensor {
  return tidy(() => {
    let [H, W] = hw(x);
    let img = x;
    if (h > H || w > W) {
      const padTop = Math.floor(Math.max(0, h - H) / 2);
      const padLeft = Math.floor(Math.max(0, w - W) / 2);
      img = F.pad(x, [padLeft, Math.max(0, w - W) - padLeft, padTop, Math.max(0, h - H) - padTop], 'constant', 0);
      [H, W] = hw(img);
    }
    const top = roundHalfEven((H - h) / 2);
    const left = roundHalfEven((W - w) / 2);
    return img.narrow(2, top, h).narrow(3, left, w).contiguous();
  });
}

/** Target size of torchvision's Resize: a number sets the shorter side, a pair sets both. */
export function resizedShape(H: number, W: number, size: number | readonly [number, number]): [number, number] {
  if (typeof size !== 'number') return [size[0], size[1]];
  return H <= W ? [size, Math.floor((size * W) / H)] : [Math.floor((size * H) / W), size];
}

/** Bilinear with antialiasing, as torchvision's tensor Resize does by default. */
export function resizeBatch(x: Tensor, size: number | readonly [number, number]): Tensor {
  const [H, W] = hw(x);
  const [h, w] = resizedShape(H, W, size);
  if (h === H && w === W) return x.clone();
  return F.interpolate(x, { size: [h, w], mode: 'bilinear', alignCorners: false, antialias: true });
}

/** Crops each image to its own box and resizes every crop to h×w. */
export function resizedCrops(x: Tensor, boxes: readonly Box[], h: number, w: number): Tensor {
  return tidy(() => {
    const crops = boxes.map((b, i) =>
      F.interpolate(x.narrow(0, i, 1).narrow(2, b.top, b.height).narrow(3, b.left, b.width), {
        size: [h, w], mode: 'bilinear', alignCorners: false, antialias: true,
      }),
    );
    return cat(crops, 0);
  });
}

/** torchvision RandomResizedCrop.get_params: 10 tries at a random area and aspect, else a central crop. */
export function sampleResizedCropBox(rng: UniformStream, H: number, W: number, scale: readonly [number, number], ratio: readonly [number, number]): Box {
  const area = H * W;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const width = roundHalfEven(Math.sqrt(targetArea * aspect));
    const height = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (width > 0 && width <= W && height > 0 && height <= H) {
      return { top: rng.int(H - height + 1), left: rng.int(W - width + 1), height, width };
    }
  }
  const inRatio = W / H;
  let width = W;
  let height = H;
  if (inRatio < ratio[0]) height = roundHalfEven(width / ratio[0]);
  else if (inRatio > ratio[1]) width = roundHalfEven(height * ratio[1]);
  return { top: Math.floor((H - height) / 2), left: Math.floor((W - width) / 2), height, width };
}
