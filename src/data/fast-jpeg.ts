/**
 * JPEG decode + resize through libjpeg-turbo directly (native/src/image_ops.cc), for the files where that gives
 * sharp's pixels: 8-bit grayscale or colour JPEGs, no warnings, no ICC profile other than sRGB. Everything else
 * answers `null` and is decoded by sharp, so broken-file handling and its messages stay sharp's.
 *
 * Why: a libvips pipeline costs ~1.5 ms of CPU per image before any pixel work, three times Pillow's whole
 * decode + resize of a 180-px photo; libjpeg's DCT-domain scaling gives the same shrink-on-load for big photos.
 * Pixels: within ±1 of sharp's when the photo is decoded at full scale (resampling rounding). Decoded at 1/2,
 * 1/4 or 1/8 scale (photos more than twice the target size), libjpeg-turbo's reduced-size IDCT differs from
 * the one in sharp's bundled mozjpeg: a mean difference of 0.2-5 levels on detailed photos, as Pillow's draft
 * mode gives (Pillow uses the same libjpeg-turbo). test/data/fast-jpeg.test.ts holds both bounds.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';

export interface FastJpegResult {
  /** height × width × 3 sRGB. */
  pixels: Uint8Array;
  /** The file's components: 1 for grayscale (converted to RGB), 3 for colour. */
  components: number;
  /** The DCT-domain reduction libjpeg applied (1, 2, 4 or 8). */
  scaleDenom: number;
}

/**
 * native/build/Release/ablate_image.node, built beside ablate_native from the same binding.gyp, or null when it
 * was not built. Loaded here rather than through src/tensor: it needs no libtorch, and the data layer should
 * not load libtorch just to decode images.
 */
interface ImageAddon {
  /** libjpeg's version ("libjpeg 80"), or null when the addon was built without libjpeg's headers. */
  jpeg: string | null;
  decode_jpegs(files: readonly Uint8Array[], height: number, width: number, cover: boolean): Promise<(FastJpegResult | { fallback: string })[]>;
  resize_rgb(pixels: Uint8Array, h: number, w: number, height: number, width: number): Uint8Array;
}

function loadImageAddon(): ImageAddon | null {
  const root = packageRoot();
  if (root === null) return null;
  const path = join(root, 'native', 'build', 'Release', 'ablate_image.node');
  try {
    return existsSync(path) ? (createRequire(import.meta.url)(path) as ImageAddon) : null;
  } catch {
    return null;
  }
}

const addon = loadImageAddon();
const libjpeg = addon && typeof addon.jpeg === 'string' ? addon.jpeg : null;

/**
 * Which decoder handles clean JPEGs: 'libjpeg N' or 'sharp' (addon not built, built without libjpeg's headers,
 * or ABLATE_JPEG_DECODER=sharp). Part of the decoded-image cache key.
 */
export function jpegDecoder(): string {
  return libjpeg && process.env.ABLATE_JPEG_DECODER !== 'sharp' ? libjpeg : 'sharp';
}

/**
 * Decode and resize JPEGs off the JS thread, one after another on one libuv thread; null for each file sharp
 * must do (see the module comment). Many files per call: while a training step holds the JS thread a call's
 * completion waits for the step, so one file per call would decode only a few files per step.
 */
export async function fastJpegs(files: readonly Uint8Array[], height: number, width: number, cover: boolean): Promise<(FastJpegResult | null)[]> {
  if (jpegDecoder() === 'sharp' || files.length === 0) return files.map(() => null);
  const rs = await addon!.decode_jpegs(files, height, width, cover);
  return rs.map((r) => ('fallback' in r ? null : r));
}

export async function fastJpeg(bytes: Uint8Array, height: number, width: number, cover: boolean): Promise<FastJpegResult | null> {
  return (await fastJpegs([bytes], height, width, cover))[0]!;
}

/** The resampling alone (antialiased bilinear, sharp's sampling positions), for tests; null without the addon. */
export function resizeRgbNative(pixels: Uint8Array, h: number, w: number, height: number, width: number): Uint8Array | null {
  return addon ? (addon.resize_rgb(pixels, h, w, height, width)) : null;
}
