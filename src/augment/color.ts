/**
 * Colour adjustments on float batches [N, 3, H, W] with one parameter per image (a [N] tensor or a
 * number for all), with TensorFlow's semantics (tf.image.adjust_*): none of them clips, values
 * outside [0, 1] (e.g. after a brightness shift) go through the same formulas TF's kernels use.
 */
import { cat, tidy, where, type Tensor } from '../tensor/index.js';

type Param = Tensor | number;

/** [N] → [N, 1, 1, 1] so a per-image parameter broadcasts over channels and pixels. */
function perImage(p: Param): Tensor | number {
  return typeof p === 'number' ? p : p.view([-1, 1, 1, 1]);
}

/** tf.image.adjust_brightness: adds delta to every channel. */
export function adjustBrightness(x: Tensor, delta: Param): Tensor {
  return tidy(() => x.add(perImage(delta)));
}

/** tf.image.adjust_contrast: (x − mean) · factor + mean, the mean taken per image and per channel. */
export function adjustContrast(x: Tensor, factor: Param): Tensor {
  return tidy(() => {
    const mean = x.mean([2, 3], true);
    return x.sub(mean).mul(perImage(factor)).add(mean);
  });
}

/**
 * tf.image.adjust_hue: rotates hue by delta (in turns, [-0.5, 0.5]) keeping each pixel's min and max
 * channel, as TF's kernel does (it never divides by the value, so it is defined for any real input).
 */
export function adjustHue(x: Tensor, delta: Param): Tensor {
  return tidy(() => {
    const max = x.max(1, true);
    const min = x.min(1, true);
    const chroma = max.sub(min);
    const safe = where(chroma.gt(0), chroma, 1);
    const [r, g, b] = [0, 1, 2].map((c) => x.narrow(1, c, 1)) as [Tensor, Tensor, Tensor];
    // Hue in sextants [0, 6): which channel is largest picks the 120° sector.
    const hR = g.sub(b).div(safe);
    const hG = b.sub(r).div(safe).add(2);
    const hB = r.sub(g).div(safe).add(4);
    const hue = where(max.eq(r), hR, where(max.eq(g), hG, hB));
    const shift = typeof delta === 'number' ? delta * 6 : perImage(delta.mul(6));
    const rotated = hue.add(shift).remainder(6);
    // HSV → RGB with V = max, V·S = chroma: channel = max − chroma · clamp(min(k, 4 − k), 0, 1), k = (n + h) mod 6.
    const channel = (n: number): Tensor => {
      const k = rotated.add(n).remainder(6);
      return max.sub(chroma.mul(k.minimum(k.neg().add(4)).clamp(0, 1)));
    };
    return cat([channel(5), channel(3), channel(1)], 1);
  });
}

/**
 * tf.image.adjust_saturation: S ← clamp(S · factor, 0, 1) in HSV with H and V kept. Keeping H and V
 * means every channel moves towards V in proportion, so no hue needs computing: x' = V − (V − x)·S'/S.
 * Like TF, a pixel whose V ≤ 0 gets S = 0 and so becomes grey at V.
 */
export function adjustSaturation(x: Tensor, factor: Param): Tensor {
  return tidy(() => {
    const v = x.max(1, true);
    const chroma = v.sub(x.min(1, true));
    const positive = v.gt(0);
    const s = where(positive, chroma.div(where(positive, v, 1)), 0);
    const scaled = s.mul(perImage(factor)).clamp(0, 1);
    const ratio = where(s.gt(0), scaled.div(where(s.gt(0), s, 1)), 0);
    return v.sub(v.sub(x).mul(ratio));
  });
}

/** tf.clip_by_value. */
export function clipValues(x: Tensor, min = 0, max = 1): Tensor {
  return x.clamp(min, max);
}
