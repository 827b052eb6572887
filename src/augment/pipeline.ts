/**
 * A built augmentation pipeline: canonical ops applied in order to a float batch [N, 3, H, W] in
 * [0, 1] with int64 labels [N], giving images and soft targets [N, numClasses]. Every random choice
 * comes from the Generator passed to apply(), so saving its state before a batch and restoring it
 * later reproduces that batch exactly.
 */
import { Generator, Tensor, isFloatingDType, randint, rand, tidy, type Tensor as T } from '../tensor/index.js';
import { invalidArg } from '../util/errors.js';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, clipValues } from './color.js';
import { centerCrop, cropAt, flipWhere, padBatch, resizeBatch, resizedCrops, sampleResizedCropBox } from './geometry.js';
import { mixBatch, oneHotTargets, type MixRecord } from './mix.js';
import { UniformStream } from './scalar-random.js';
import { parseAugmentSpec, type AugmentOp, type MixOp, type Size } from './spec.js';

export interface AugmentContext {
  /** false: evaluation — random ops are skipped (random crops become centre crops) and nothing is mixed. */
  training: boolean;
  /** 0-based epoch; with totalEpochs, decides whether `offEpochs` has switched mixing off. */
  epoch?: number;
  totalEpochs?: number;
}

export interface AugmentInfo {
  /** What the mixing op did to this batch; null when the pipeline has none or it did not run. */
  mix: MixRecord | null;
  /** True when the pipeline mixes but `offEpochs` turned it off for this epoch. */
  mixingOff: boolean;
}

export interface AugmentResult {
  /** float [N, 3, H', W'], values in [0, 1] when the pipeline ends with clip (all presets do). Caller owns it. */
  images: T;
  /** float32 [N, numClasses], rows summing to 1. Caller owns it. */
  targets: T;
  info: AugmentInfo;
}

/** A built augmentation pipeline: applies its ops to a batch of images and labels (see `buildAugmentPipeline`). */
export interface AugmentPipeline {
  readonly ops: readonly AugmentOp[];
  readonly numClasses: number;
  apply(images: T, labels: T, generator: Generator, context: AugmentContext): AugmentResult;
  /** Remembers the epoch for apply() calls that do not pass one. */
  setEpoch(epoch: number, totalEpochs: number): void;
  state(): { epoch: number | undefined; totalEpochs: number | undefined };
  describe(): string;
}

export interface BuildOptions {
  numClasses: number;
  /** Output size of crops written without one (a number is a square); default: the input's size. */
  imageSize?: number | Size;
}

// torchvision's ImageNet evaluation resizes to 256 before a 224 centre crop: 224 / 256 = 0.875.
const EVAL_CROP_FRACTION = 0.875;

/** Validates the spec (a raw `augment:` value, or ops parsing already produced) and builds the pipeline. */
export function buildAugmentPipeline(spec: unknown, options: BuildOptions): AugmentPipeline {
  const ops = parseAugmentSpec(spec);
  const { numClasses } = options;
  if (!Number.isInteger(numClasses) || numClasses < 1) throw invalidArg('numClasses', 'a positive integer', numClasses);
  const imageSize = options.imageSize === undefined ? null : typeof options.imageSize === 'number' ? ([options.imageSize, options.imageSize] as Size) : options.imageSize;
  if (imageSize !== null && !imageSize.every((s) => Number.isInteger(s) && s > 0)) throw invalidArg('imageSize', 'a positive integer or a pair of them', options.imageSize);
  let epochState: { epoch: number | undefined; totalEpochs: number | undefined } = { epoch: undefined, totalEpochs: undefined };
  const mixOp = ops.find((o): o is MixOp => o.op === 'mix');

  const sizeOf = (size: Size | null, x: T): Size => size ?? imageSize ?? [x.size(2), x.size(3)];

  function mixingActive(ctx: AugmentContext): boolean {
    if (!mixOp || !ctx.training) return false;
    if (mixOp.offEpochs === 0) return true;
    const epoch = ctx.epoch ?? epochState.epoch;
    const total = ctx.totalEpochs ?? epochState.totalEpochs;
    if (epoch === undefined || total === undefined) {
      throw new RangeError(`augment: mixing has offEpochs: ${mixOp.offEpochs}, so apply() needs {epoch, totalEpochs} (or call setEpoch first) but received epoch ${epoch} and totalEpochs ${total}`);
    }
    return epoch < total - mixOp.offEpochs;
  }

  function step(op: AugmentOp, x: T, gen: Generator, training: boolean): T {
    const n = x.size(0);
    const perImage = (lo: number, hi: number): T => rand([n], { generator: gen }).mul(hi - lo).add(lo).to({ device: x.device });
    switch (op.op) {
      case 'flip':
        return training ? flipWhere(x, rand([n], { generator: gen }).lt(op.prob)) : x;
      case 'brightness':
        return training ? adjustBrightness(x, perImage(-op.maxDelta, op.maxDelta)) : x;
      case 'contrast':
        return training ? adjustContrast(x, perImage(op.lower, op.upper)) : x;
      case 'hue':
        return training ? adjustHue(x, perImage(-op.maxDelta, op.maxDelta)) : x;
      case 'saturation':
        return training ? adjustSaturation(x, perImage(op.lower, op.upper)) : x;
      case 'clip':
        return clipValues(x, op.min, op.max);
      case 'randomCrop': {
        const [h, w] = sizeOf(op.size, x);
        if (!training) return x.size(2) === h && x.size(3) === w ? x : centerCrop(x, h, w);
        const padded = padBatch(x, op.padding, op.paddingMode);
        const [H, W] = [padded.size(2), padded.size(3)];
        if (h > H || w > W) throw new RangeError(`augment randomCrop: crop ${h}×${w} is larger than the ${op.padding > 0 ? 'padded ' : ''}image ${H}×${W}`);
        const tops = randint(0, H - h + 1, [n], { generator: gen }).toArray();
        const lefts = randint(0, W - w + 1, [n], { generator: gen }).toArray();
        return cropAt(padded, tops, lefts, h, w);
      }
      case 'randomResizedCrop': {
        const [h, w] = sizeOf(op.size, x);
        if (!training) return centerCrop(resizeBatch(x, Math.round(Math.min(h, w) / EVAL_CROP_FRACTION)), h, w);
        const rng = new UniformStream(gen);
        const boxes = Array.from({ length: n }, () => sampleResizedCropBox(rng, x.size(2), x.size(3), op.scale, op.ratio));
        return resizedCrops(x, boxes, h, w);
      }
      case 'centerCrop': {
        const [h, w] = sizeOf(op.size, x);
        return centerCrop(op.resize === null ? x : resizeBatch(x, op.resize), h, w);
      }
      case 'resize':
        return resizeBatch(x, op.size);
      case 'mix':
        return x; // applied by apply(): it also makes the targets
    }
  }

  function apply(images: T, labels: T, generator: Generator, context: AugmentContext): AugmentResult {
    checkInputs(images, labels, generator, context);
    const training = context.training;
    const mixing = mixingActive(context);
    return tidy(() => {
      let x: T = images;
      for (const op of ops) {
        const next = step(op, x, generator, training);
        // Freeing each intermediate now, not when tidy() ends, keeps the peak at a few batches, so
        // the allocator reuses warm pages instead of faulting in fresh ones (several times faster).
        if (x !== images && next !== x) x.dispose();
        x = next;
      }
      if (mixing) {
        const mixed = mixBatch(x, labels, numClasses, mixOp!, generator);
        return { images: mixed.images, targets: mixed.targets, info: { mix: mixed.info, mixingOff: false } };
      }
      return {
        images: x === images ? images.clone() : x,
        targets: oneHotTargets(labels, numClasses).to({ device: images.device }),
        info: { mix: null, mixingOff: mixOp !== undefined && training },
      };
    });
  }

  function checkInputs(images: T, labels: T, generator: Generator, context: AugmentContext): void {
    if (!(images instanceof Tensor)) throw invalidArg('images', 'a float Tensor [N, 3, H, W]', images);
    if (images.ndim !== 4 || !isFloatingDType(images.dtype)) {
      throw new RangeError(`augment: expected images as a float tensor [N, C, H, W] but received ${images.dtype} [${images.shape.join(', ')}]`);
    }
    const colour = ops.some((o) => o.op === 'hue' || o.op === 'saturation');
    if (colour && images.size(1) !== 3) throw new RangeError(`augment: hue and saturation need 3 (RGB) channels but the images have shape [${images.shape.join(', ')}]`);
    if (!(labels instanceof Tensor)) throw invalidArg('labels', 'an int64 Tensor [N]', labels);
    if (labels.dtype !== 'int64' || labels.ndim !== 1 || labels.size(0) !== images.size(0)) {
      throw new RangeError(`augment: expected labels as int64 [${images.size(0)}] (one per image) but received ${labels.dtype} [${labels.shape.join(', ')}]`);
    }
    // Reading labels back from a GPU would make every training step wait for the device; the fit loop's labels come
    // from the dataset's own class indices, so the range is checked where it is free (CPU).
    if (labels.numel > 0 && labels.device === 'cpu') {
      const lo = tidy(() => labels.min().item());
      const hi = tidy(() => labels.max().item());
      if (lo < 0 || hi >= numClasses) throw new RangeError(`augment: labels must lie in [0, ${numClasses - 1}] (numClasses ${numClasses}) but range over [${lo}, ${hi}]`);
    }
    if (!(generator instanceof Generator)) throw invalidArg('generator', 'a Generator', generator);
    if (context === null || typeof context !== 'object' || typeof context.training !== 'boolean') throw invalidArg('context', '{ training: boolean, epoch?, totalEpochs? }', context);
  }

  return {
    ops,
    numClasses,
    apply,
    setEpoch(epoch: number, totalEpochs: number) {
      if (!Number.isInteger(epoch) || epoch < 0) throw invalidArg('epoch', 'a non-negative integer', epoch);
      if (!Number.isInteger(totalEpochs) || totalEpochs < 1) throw invalidArg('totalEpochs', 'a positive integer', totalEpochs);
      epochState = { epoch, totalEpochs };
    },
    state: () => ({ ...epochState }),
    describe: () => describePipeline(ops, imageSize),
  };
}

const fmtSize = (s: Size | null, imageSize: Size | null): string => {
  const v = s ?? imageSize;
  return v === null ? 'input size' : `${v[0]}×${v[1]}`;
};
const num = (v: number): string => String(Math.round(v * 1e4) / 1e4);

function describeOp(op: AugmentOp, imageSize: Size | null): string {
  switch (op.op) {
    case 'flip': return `horizontal flip (p=${num(op.prob)})`;
    case 'brightness': return `brightness +U[-${num(op.maxDelta)}, ${num(op.maxDelta)}]`;
    case 'contrast': return `contrast ×U[${num(op.lower)}, ${num(op.upper)}] about the channel mean`;
    case 'hue': return `hue rotation U[-${num(op.maxDelta)}, ${num(op.maxDelta)}] turn`;
    case 'saturation': return `saturation ×U[${num(op.lower)}, ${num(op.upper)}]`;
    case 'clip': return `clip to [${num(op.min)}, ${num(op.max)}]`;
    case 'randomCrop':
      return `random crop ${fmtSize(op.size, imageSize)}${op.padding > 0 ? ` after ${op.padding}px ${op.paddingMode} padding` : ''}`;
    case 'randomResizedCrop':
      return `random resized crop ${fmtSize(op.size, imageSize)} (scale ${num(op.scale[0])}–${num(op.scale[1])}, ratio ${num(op.ratio[0])}–${num(op.ratio[1])})`;
    case 'centerCrop': return `${op.resize !== null ? `resize shorter side to ${op.resize}, ` : ''}centre crop ${fmtSize(op.size, imageSize)}`;
    case 'resize': return typeof op.size === 'number' ? `resize shorter side to ${op.size}` : `resize to ${op.size[0]}×${op.size[1]}`;
    case 'mix': {
      const parts: string[] = [];
      if (op.cutmixAlpha !== null) parts.push(`CutMix α=${num(op.cutmixAlpha)}`);
      if (op.mixupAlpha !== null) parts.push(`MixUp α=${num(op.mixupAlpha)}`);
      const which = parts.length === 2 ? `${parts[0]} (p=${num(op.switchProb)}) or ${parts[1]}` : parts[0]!;
      return `${which}, p=${num(op.prob)} per ${op.mode === 'batch' ? 'batch' : 'image'}${op.offEpochs > 0 ? `, off for the last ${op.offEpochs} epoch(s)` : ''}`;
    }
  }
}

function evalCounterpart(op: AugmentOp, imageSize: Size | null): string | null {
  switch (op.op) {
    case 'clip':
    case 'centerCrop':
    case 'resize':
      return describeOp(op, imageSize);
    case 'randomCrop':
      return op.size === null && imageSize === null ? null : `centre crop ${fmtSize(op.size, imageSize)}`;
    case 'randomResizedCrop':
      return `resize shorter side to size/${EVAL_CROP_FRACTION}, centre crop ${fmtSize(op.size, imageSize)}`;
    default:
      return null;
  }
}

function describePipeline(ops: readonly AugmentOp[], imageSize: Size | null): string {
  const train = ops.map((op) => describeOp(op, imageSize));
  const evaluation = ops.map((op) => evalCounterpart(op, imageSize)).filter((s): s is string => s !== null);
  return [
    `training:   ${train.length > 0 ? train.join(' → ') : 'none'}`,
    `evaluation: ${evaluation.length > 0 ? evaluation.join(' → ') : 'none'}`,
  ].join('\n');
}
