/**
 * A PNG grid of original vs augmented samples, each captioned with its (mixed) label, so a user sees
 * exactly what the model is fed. Text is an SVG overlay that sharp (librsvg) composites.
 */
import type { OverlayOptions } from 'sharp';
import { sharpLib } from '../util/sharp-lib.js';
import { Generator, tensor, tidy, type Tensor } from '../tensor/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { invalidArg } from '../util/errors.js';
import { buildAugmentPipeline } from './pipeline.js';
import type { Size } from './spec.js';

/** Decoded images as the data layer yields them: uint8 RGB, row-major NHWC. */
export interface PreviewBatch {
  images: Uint8Array;
  labels: ArrayLike<number>;
  n: number;
  height: number;
  width: number;
  classNames?: readonly string[];
}

/** Options of `renderAugmentPreview`. */
export interface PreviewOptions {
  seed?: number;
  /** PNG path; when omitted the PNG is only returned. */
  out?: string;
  /** Rows of (original, augmented) pairs; columns follow. Default: about square. */
  rows?: number;
  /** Default: classNames.length, else the largest label + 1. */
  numClasses?: number;
  imageSize?: number | Size;
}

/** The preview PNG, its size and the caption of each augmented sample. */
export interface PreviewResult {
  png: Buffer;
  width: number;
  height: number;
  /** The caption of each augmented sample, e.g. "0.62 cat / 0.38 dog". */
  captions: string[];
}

/** uint8 NHWC bytes → float32 [N, 3, H, W] in [0, 1] and int64 labels [N]: the pipeline's input. */
export function batchToTensors(b: { images: Uint8Array; labels: ArrayLike<number>; n: number; height: number; width: number }): { images: Tensor; labels: Tensor } {
  const expected = b.n * b.height * b.width * 3;
  if (!(b.images instanceof Uint8Array) || b.images.length !== expected) {
    throw invalidArg('images', `a Uint8Array of n·height·width·3 = ${expected} bytes (RGB, NHWC)`, b.images);
  }
  if (b.labels.length !== b.n) throw invalidArg('labels', `${b.n} labels (one per image)`, b.labels);
  return tidy(() => ({
    images: tensor(b.images, [b.n, b.height, b.width, 3], 'uint8').permute([0, 3, 1, 2]).to('float32').div(255).contiguous(),
    labels: tensor(Array.from(b.labels), [b.n], 'int64'),
  }));
}

/** float [N, 3, H, W] in [0, 1] → uint8 NHWC bytes. */
function toBytes(x: Tensor): Uint8Array {
  return tidy(() => x.clamp(0, 1).mul(255).round().to('uint8').permute([0, 2, 3, 1]).contiguous().toBytes());
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Weights above zero, largest first: "0.62 cat / 0.38 dog". */
export function mixedLabelCaption(row: ArrayLike<number>, classNames: readonly string[]): string {
  const parts = Array.from(row, (w, c) => ({ w, c }))
    .filter((p) => p.w > 1e-6)
    .sort((a, b) => b.w - a.w)
    .slice(0, 3);
  return parts.map((p) => `${p.w.toFixed(2)} ${classNames[p.c] ?? String(p.c)}`).join(' / ');
}

const CAPTION_H = 18;
const FONT_PX = 12;
const GAP = 6;
const TITLE_H = 22;

/** Applies `spec` (training mode, epoch 0) to the batch with a seeded Generator and draws the grid. */
export async function renderAugmentPreview(batch: PreviewBatch, spec: unknown, options: PreviewOptions = {}): Promise<PreviewResult> {
  const sharp = await sharpLib();
  const { n, height, width } = batch;
  if (!Number.isInteger(n) || n < 1) throw invalidArg('n', 'a positive integer', n);
  if (!Number.isInteger(height) || height < 1 || !Number.isInteger(width) || width < 1) throw invalidArg('height/width', 'positive integers', [height, width]);
  const maxLabel = Math.max(...Array.from(batch.labels));
  const classNames = batch.classNames ?? [];
  const numClasses = options.numClasses ?? (classNames.length > 0 ? classNames.length : maxLabel + 1);
  const rows = options.rows ?? Math.max(1, Math.round(Math.sqrt(n / 2)));
  if (!Number.isInteger(rows) || rows < 1) throw invalidArg('rows', 'a positive integer', options.rows);
  const seed = options.seed ?? 0;

  const pipeline = buildAugmentPipeline(spec, { numClasses, imageSize: options.imageSize });
  const input = batchToTensors(batch);
  let augBytes: Uint8Array;
  let augShape: [number, number];
  let targetRows: number[][];
  try {
    // Epoch 0 of a long run: what the model sees at the start, mixing on even with offEpochs.
    const out = pipeline.apply(input.images, input.labels, new Generator(seed), { training: true, epoch: 0, totalEpochs: Number.MAX_SAFE_INTEGER });
    try {
      augShape = [out.images.size(2), out.images.size(3)];
      augBytes = toBytes(out.images);
      const t = out.targets.toArray();
      targetRows = Array.from({ length: n }, (_, i) => t.slice(i * numClasses, (i + 1) * numClasses));
    } finally {
      out.images.dispose();
      out.targets.dispose();
    }
  } finally {
    input.images.dispose();
    input.labels.dispose();
  }

  // Small images (CIFAR) are enlarged with nearest neighbour so pixels stay visible.
  const side = Math.max(height, width, augShape[0], augShape[1]);
  const scale = Math.max(1, Math.round(128 / side));
  const tile = side * scale;
  const cols = Math.ceil(n / rows);
  const cellW = 2 * tile + GAP;
  const cellH = tile + 2 * CAPTION_H;
  const W = cols * cellW + (cols + 1) * GAP * 2;
  const H = TITLE_H + rows * cellH + (rows + 1) * GAP;

  const tileOf = (bytes: Uint8Array, i: number, h: number, w: number): Promise<Buffer> =>
    sharp(Buffer.from(bytes.buffer, bytes.byteOffset + i * h * w * 3, h * w * 3), { raw: { width: w, height: h, channels: 3 } })
      .resize(tile, tile, { fit: 'contain', kernel: 'nearest', background: { r: 255, g: 255, b: 255 } })
      .raw()
      .toBuffer();

  const composites: OverlayOptions[] = [];
  const texts: string[] = [];
  const captions: string[] = [];
  const charsFit = Math.floor(tile / (FONT_PX * 0.6));
  const fit = (s: string, chars: number): string => (s.length <= chars ? s : s.slice(0, Math.max(1, chars - 1)) + '…');
  for (let i = 0; i < n; i++) {
    const r = Math.floor(i / cols);
    const c = i % cols;
    const left = GAP * 2 + c * (cellW + GAP * 2);
    const top = TITLE_H + GAP + r * (cellH + GAP);
    const raw = { width: tile, height: tile, channels: 3 as const };
    composites.push({ input: await tileOf(batch.images, i, height, width), raw, left, top });
    composites.push({ input: await tileOf(augBytes, i, augShape[0], augShape[1]), raw, left: left + tile + GAP, top });
    const label = Number(batch.labels[i]);
    const caption = mixedLabelCaption(targetRows[i]!, classNames);
    captions.push(caption);
    const y = top + tile + FONT_PX + 3;
    texts.push(`<text x="${left}" y="${y}">${escapeXml(fit(classNames[label] ?? String(label), charsFit))}</text>`);
    // The mixed caption may need both lines' width: it goes under the augmented tile and wraps to a second line.
    const [first, ...rest] = caption.split(' / ');
    texts.push(`<text x="${left + tile + GAP}" y="${y}">${escapeXml(fit(first!, charsFit))}</text>`);
    if (rest.length > 0) texts.push(`<text x="${left + tile + GAP}" y="${y + CAPTION_H - 2}">${escapeXml(fit('/ ' + rest.join(' / '), charsFit))}</text>`);
  }
  const title = `original | augmented — seed ${seed} — ${pipeline.describe().split('\n')[0]!.replace(/^training:\s*/, '')}`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><style>text { font-family: 'DejaVu Sans', sans-serif; font-size: ${FONT_PX}px; fill: #222; }</style>`
    + `<text x="${GAP * 2}" y="${TITLE_H - 6}">${escapeXml(fit(title, Math.floor(W / (FONT_PX * 0.6))))}</text>${texts.join('')}</svg>`;
  composites.push({ input: Buffer.from(svg), left: 0, top: 0 });

  const png = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(composites)
    .png()
    .toBuffer();
  if (options.out !== undefined) writeFileAtomic(options.out, png);
  return { png, width: W, height: H, captions };
}
