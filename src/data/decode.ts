import type { Metadata, OutputInfo, ResizeOptions } from 'sharp';
import { sharpLib } from '../util/sharp-lib.js';
import { byteLimitFromEnv, readRegularFile } from '../util/regular-file.js';
import { fastJpeg, fastJpegs, type FastJpegResult } from './fast-jpeg.js';
import type { BadFileReason, ConversionCounts, DatasetItem } from './types.js';

/**
 * `stretch` resizes to the target ignoring aspect ratio, like `tf.image.resize` in the course notebooks;
 * `center-crop` scales the short side to fit and crops the centre.
 */
export type ResizeMode = 'stretch' | 'center-crop';

export interface DecodeTarget {
  height: number;
  width: number;
  resize: ResizeMode;
}

/** Image files above this size are refused unread: the largest camera photos take tens of MB. */
export const DEFAULT_MAX_IMAGE_BYTES = 256 << 20;

/** The image file size limit: ABLATE_MAX_IMAGE_BYTES, else DEFAULT_MAX_IMAGE_BYTES. */
export function maxImageBytes(): number {
  return byteLimitFromEnv('ABLATE_MAX_IMAGE_BYTES', DEFAULT_MAX_IMAGE_BYTES);
}

/** The bytes of one image file: a regular file (never a device or FIFO) of at most maxImageBytes(). */
export function readImageFile(path: string): Promise<Buffer> {
  return readRegularFile(path, { what: 'image', maxBytes: maxImageBytes(), tooLargeHint: 'set ABLATE_MAX_IMAGE_BYTES to a larger number of bytes if the image is genuine' });
}

/** Bilinear, as `tf.image.resize` and Pillow's BILINEAR; part of the cache key so a change invalidates caches. */
export const RESIZE_KERNEL = 'linear';

/** An image file that could not be decoded; `reason` says why (empty, truncated, not an image, ...). */
export class BadImageError extends Error {
  constructor(
    readonly reason: BadFileReason,
    message: string,
  ) {
    super(message);
    this.name = 'BadImageError';
  }
}

export interface Decoded {
  /** height × width × 3 uint8 sRGB. */
  pixels: Uint8Array;
  conversions: (keyof ConversionCounts)[];
}

const EXT_FORMAT: Record<string, string> = { jpg: 'jpeg', jpeg: 'jpeg', png: 'png', gif: 'gif', webp: 'webp', tif: 'tiff', tiff: 'tiff', bmp: 'bmp' };

function resizeOptions(t: DecodeTarget): ResizeOptions {
  return { width: t.width, height: t.height, fit: t.resize === 'stretch' ? 'fill' : 'cover', position: 'centre', kernel: RESIZE_KERNEL };
}

/**
 * Decode any supported image to 8-bit sRGB RGB at the target size. Grayscale, CMYK, alpha and 16-bit
 * inputs are converted; anything that cannot be decoded throws BadImageError with the reason.
 * EXIF orientation is deliberately ignored: TensorFlow's decoders (and so TFDS pipelines) ignore it too.
 */
export async function decodeItem(item: DatasetItem, target: DecodeTarget, name = ''): Promise<Decoded> {
  if (item.kind === 'raw') return { pixels: await resizeRaw(item.pixels, item.height, item.width, target), conversions: [] };
  const bytes = item.bytes;
  if (bytes.length === 0) throw new BadImageError('empty', 'zero-byte file');
  const ext = extOf(name);
  if (sniffFormat(bytes) === 'jpeg') {
    const fast = await fastJpeg(bytes, target.height, target.width, target.resize === 'center-crop');
    if (fast) return fastDecoded(fast, ext);
  }
  return decodeWithSharp(bytes, target, ext);
}

/**
 * decodeItem for many items at once: the clean JPEGs in one native call (see fastJpegs), the rest through
 * sharp. Each result is the item's pixels or the BadImageError decodeItem would have thrown.
 */
export async function decodeItems(items: readonly { item: DatasetItem; name: string }[], target: DecodeTarget): Promise<(Decoded | BadImageError)[]> {
  const jpegs = items.flatMap(({ item }, k) => (item.kind === 'encoded' && item.bytes.length > 0 && sniffFormat(item.bytes) === 'jpeg' ? [k] : []));
  const fast = await fastJpegs(jpegs.map((k) => (items[k]!.item as { bytes: Uint8Array }).bytes), target.height, target.width, target.resize === 'center-crop');
  const out: (Decoded | BadImageError | undefined)[] = new Array(items.length);
  jpegs.forEach((k, j) => {
    if (fast[j]) out[k] = fastDecoded(fast[j]!, extOf(items[k]!.name));
  });
  // The rest through sharp, a few at a time: each libvips pipeline holds a whole decoded photo.
  const rest = items.flatMap((_, k) => (out[k] ? [] : [k]));
  let at = 0;
  await Promise.all(Array.from({ length: Math.min(4, rest.length) }, async () => {
    while (at < rest.length) {
      const k = rest[at++]!;
      const { item, name } = items[k]!;
      const bytes = item.kind === 'encoded' ? item.bytes : null;
      try {
        out[k] = bytes && bytes.length > 0 ? await decodeWithSharp(bytes, target, extOf(name)) : await decodeItem(item, target, name);
      } catch (e) {
        if (!(e instanceof BadImageError)) throw e;
        out[k] = e;
      }
    }
  }));
  return out as (Decoded | BadImageError)[];
}

const extOf = (name: string): string | undefined => /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase();

function fastDecoded(fast: FastJpegResult, ext: string | undefined): Decoded {
  const conversions: (keyof ConversionCounts)[] = fast.components === 1 ? ['grayscale'] : [];
  if (ext && EXT_FORMAT[ext] && EXT_FORMAT[ext] !== 'jpeg') conversions.push('misnamed');
  return { pixels: fast.pixels, conversions };
}

async function decodeWithSharp(bytes: Uint8Array, target: DecodeTarget, ext: string | undefined): Promise<Decoded> {
  const sharp = await sharpLib();
  let meta: Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (e) {
    // A known signature with a broken header is a damaged image (e.g. cut off early), not a foreign file.
    throw new BadImageError(sniffFormat(bytes) ? 'undecodable' : 'not-an-image', firstLine(e));
  }
  const conversions: (keyof ConversionCounts)[] = [];
  if (meta.space === 'cmyk') conversions.push('cmyk');
  else if ((meta.channels ?? 3) < 3 || meta.space === 'b-w' || meta.space === 'grey16') conversions.push('grayscale');
  if (meta.hasAlpha) conversions.push('alpha');
  if (meta.depth && meta.depth !== 'uchar' && meta.depth !== 'char') conversions.push('highBitDepth');
  if (ext && EXT_FORMAT[ext] && meta.format && EXT_FORMAT[ext] !== meta.format && !(ext.startsWith('tif') && meta.format === 'tiff')) {
    conversions.push('misnamed');
  }
  let out: { data: Buffer; info: OutputInfo };
  try {
    // failOn 'error' rejects truncated and corrupt data but tolerates libjpeg *warnings*
    // ("extraneous bytes before marker"), which TensorFlow and Pillow also accept.
    out = await sharp(bytes, { failOn: 'error', sequentialRead: true, pages: 1 })
      .resize(resizeOptions(target))
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new BadImageError('undecodable', firstLine(e));
  }
  const { data, info } = out;
  if (info.channels !== 3 || info.width !== target.width || info.height !== target.height || data.length !== target.width * target.height * 3) {
    throw new BadImageError('undecodable', `decoder produced ${info.width}x${info.height}x${info.channels}, expected ${target.width}x${target.height}x3`);
  }
  return { pixels: data, conversions };
}

const firstLine = (e: unknown): string => String((e as Error).message ?? e).split('\n')[0]!;

/** Image format from magic bytes, or null. */
export function sniffFormat(b: Uint8Array): string | null {
  const s = (i: number, text: string): boolean => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1', i, i + text.length) === text;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (s(0, '\x89PNG')) return 'png';
  if (s(0, 'GIF8')) return 'gif';
  if (s(0, 'BM')) return 'bmp';
  if (s(0, 'RIFF') && s(8, 'WEBP')) return 'webp';
  if (s(0, 'II*\0') || s(0, 'MM\0*')) return 'tiff';
  return null;
}

async function resizeRaw(pixels: Uint8Array, height: number, width: number, t: DecodeTarget): Promise<Uint8Array> {
  if (height === t.height && width === t.width) return pixels;
  const sharp = await sharpLib();
  return sharp(pixels, { raw: { width, height, channels: 3 } }).resize(resizeOptions(t)).raw().toBuffer();
}
