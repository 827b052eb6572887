/**
 * CutMix (Yun et al. 2019) and MixUp (Zhang et al. 2018) on a batch, with the partner of each image
 * taken from a random permutation of the batch, as both papers' reference code does.
 */
import { arange, oneHot, randperm, tensor, tidy, where, type Generator, type Tensor } from '../tensor/index.js';
import type { Box } from './geometry.js';
import { UniformStream, sampleBeta } from './scalar-random.js';

export type MixKind = 'cutmix' | 'mixup' | 'none';

export interface MixSettings {
  /** Beta(α, α) for CutMix's λ; null disables CutMix. */
  cutmixAlpha: number | null;
  /** Beta(α, α) for MixUp's λ; null disables MixUp. */
  mixupAlpha: number | null;
  /** Chance that a batch (or, in 'sample' mode, an image) is mixed at all. */
  prob: number;
  /** With both enabled: chance of CutMix rather than MixUp (timm's switch_prob). */
  switchProb: number;
  /** 'batch': one coin, one λ and one box for the whole batch (the papers' code); 'sample': per image (timm 'elem'). */
  mode: 'batch' | 'sample';
}

/** What one call mixed, per image: enough to redraw the batch or label a preview. */
export interface MixRecord {
  kind: MixKind[];
  /** Weight of the image's own label; 1 − lambda goes to the partner's label. */
  lambda: number[];
  /** CutMix only: the pasted rectangle (from the partner), else null. */
  box: (Box | null)[];
  /** Index in the batch of the image mixed in. */
  partner: number[];
}

/**
 * The reference rand_bbox: a √(1−λ)·W × √(1−λ)·H box (truncated to whole pixels) centred on a uniform
 * pixel, clipped to the image; λ is then recomputed from the clipped box so labels match pixels exactly.
 */
export function sampleCutmixBox(rng: UniformStream, lam: number, H: number, W: number): { box: Box; lambda: number } {
  const cutRatio = Math.sqrt(1 - lam);
  const cutW = Math.trunc(W * cutRatio);
  const cutH = Math.trunc(H * cutRatio);
  const cx = rng.int(W);
  const cy = rng.int(H);
  const x1 = Math.min(Math.max(cx - Math.floor(cutW / 2), 0), W);
  const x2 = Math.min(Math.max(cx + Math.floor(cutW / 2), 0), W);
  const y1 = Math.min(Math.max(cy - Math.floor(cutH / 2), 0), H);
  const y2 = Math.min(Math.max(cy + Math.floor(cutH / 2), 0), H);
  const box: Box = { top: y1, left: x1, height: y2 - y1, width: x2 - x1 };
  return { box, lambda: 1 - (box.width * box.height) / (W * H) };
}

/** One-hot float targets [N, C]: what an unmixed batch trains on. */
export function oneHotTargets(labels: Tensor, numClasses: number): Tensor {
  return tidy(() => oneHot(labels, numClasses).to('float32'));
}

/** Mixes images [N, C, H, W] and int64 labels [N] into soft targets [N, numClasses]. */
export function mixBatch(
  images: Tensor,
  labels: Tensor,
  numClasses: number,
  settings: MixSettings,
  generator: Generator,
): { images: Tensor; targets: Tensor; info: MixRecord } {
  const [n, , H, W] = images.shape as [number, number, number, number];
  const rng = new UniformStream(generator);
  const kinds: MixKind[] = [];
  const lambdas: number[] = [];
  const boxes: (Box | null)[] = [];
  const draw = (): { kind: MixKind; lambda: number; box: Box | null } => {
    if (!(rng.next() < settings.prob)) return { kind: 'none', lambda: 1, box: null };
    const useCutmix = settings.mixupAlpha === null || (settings.cutmixAlpha !== null && rng.next() < settings.switchProb);
    if (useCutmix) {
      const alpha = settings.cutmixAlpha!;
      const { box, lambda } = sampleCutmixBox(rng, sampleBeta(rng, alpha, alpha), H, W);
      return { kind: 'cutmix', lambda, box };
    }
    const alpha = settings.mixupAlpha!;
    return { kind: 'mixup', lambda: sampleBeta(rng, alpha, alpha), box: null };
  };
  if (settings.mode === 'batch') {
    const d = draw();
    for (let i = 0; i < n; i++) {
      kinds.push(d.kind);
      lambdas.push(d.lambda);
      boxes.push(d.box);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const d = draw();
      kinds.push(d.kind);
      lambdas.push(d.lambda);
      boxes.push(d.box);
    }
  }
  const identity = Array.from({ length: n }, (_, i) => i);
  if (kinds.every((k) => k === 'none')) {
    return { images: images.clone(), targets: oneHotTargets(labels, numClasses), info: { kind: kinds, lambda: lambdas, box: boxes, partner: identity } };
  }
  return tidy(() => {
    const perm = randperm(n, { generator });
    const partner = perm.toArray();
    const device = images.device;
    const permDev = perm.to({ device });
    const other = images.indexSelect(0, permDev);
    let out = images;
    if (kinds.includes('mixup')) {
      const w = lambdas.map((l, i) => (kinds[i] === 'mixup' ? l : 1));
      const wt = tensor(w, [n, 1, 1, 1], 'float32').to({ device, dtype: images.dtype });
      out = images.mul(wt).add(other.mul(wt.neg().add(1)));
    }
    if (kinds.includes('cutmix')) {
      const edges = (pick: (b: Box) => number): Tensor =>
        tensor(boxes.map((b) => (b === null ? 0 : pick(b))), [n, 1, 1, 1], 'int64').to({ device });
      const rows = arange(0, H, 1, { device }).view([1, 1, H, 1]);
      const cols = arange(0, W, 1, { device }).view([1, 1, 1, W]);
      const inRows = rows.ge(edges((b) => b.top)).logicalAnd(rows.lt(edges((b) => b.top + b.height)));
      const inCols = cols.ge(edges((b) => b.left)).logicalAnd(cols.lt(edges((b) => b.left + b.width)));
      out = where(inRows.logicalAnd(inCols), other, out);
    }
    const lam = tensor(lambdas, [n, 1], 'float32').to({ device });
    const own = oneHot(labels.to({ device }), numClasses).to('float32');
    const theirs = own.indexSelect(0, permDev);
    const targets = own.mul(lam).add(theirs.mul(lam.neg().add(1)));
    return { images: out === images ? images.clone() : out, targets, info: { kind: kinds, lambda: lambdas, box: boxes, partner } };
  });
}
