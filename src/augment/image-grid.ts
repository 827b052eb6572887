/**
 * A PNG grid of uint8 RGB images, each with caption lines under it, in the style of the augmentation
 * preview (same font, spacing and nearest-neighbour enlargement of small images).
 */
import type { OverlayOptions } from 'sharp';
import { sharpLib } from '../util/sharp-lib.js';

export interface GridImage {
  /** height × width × 3 uint8 RGB, row-major. */
  pixels: Uint8Array;
  height: number;
  width: number;
  /** Lines under the image; each may carry its own colour (CSS colour, default dark grey). */
  lines: { text: string; color?: string }[];
}

const FONT_PX = 12;
const LINE_H = 16;
const GAP = 8;
const TITLE_H = 24;

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Renders the images `columns` per row under `title`; returns the PNG bytes. */
export async function renderImageGrid(images: readonly GridImage[], o: { title: string; columns?: number; tile?: number }): Promise<Buffer> {
  const sharp = await sharpLib();
  const n = images.length;
  const cols = Math.max(1, Math.min(o.columns ?? Math.ceil(Math.sqrt(n)), Math.max(1, n)));
  const rows = Math.max(1, Math.ceil(n / cols));
  const side = Math.max(1, ...images.map((im) => Math.max(im.height, im.width)));
  // Small images (CIFAR) are enlarged by a whole factor with nearest neighbour so pixels stay visible; large ones shrink.
  const tile = o.tile ?? (side < 128 ? side * Math.max(1, Math.round(128 / side)) : 160);
  const lines = Math.max(0, ...images.map((im) => im.lines.length));
  const cellH = tile + lines * LINE_H + 4;
  const W = Math.max(cols * (tile + GAP) + GAP, 240);
  const H = TITLE_H + rows * (cellH + GAP) + GAP;
  const chars = Math.floor(tile / (FONT_PX * 0.6));
  const fit = (s: string, k: number): string => (s.length <= k ? s : s.slice(0, Math.max(1, k - 1)) + '…');
  const composites: OverlayOptions[] = [];
  const texts: string[] = [];
  for (const [i, im] of images.entries()) {
    const left = GAP + (i % cols) * (tile + GAP);
    const top = TITLE_H + GAP + Math.floor(i / cols) * (cellH + GAP);
    const input = await sharp(Buffer.from(im.pixels.buffer, im.pixels.byteOffset, im.height * im.width * 3), { raw: { width: im.width, height: im.height, channels: 3 } })
      .resize(tile, tile, { fit: 'contain', kernel: side < 128 ? 'nearest' : 'lanczos3', background: { r: 255, g: 255, b: 255 } })
      .raw()
      .toBuffer();
    composites.push({ input, raw: { width: tile, height: tile, channels: 3 }, left, top });
    im.lines.forEach((l, j) => {
      texts.push(`<text x="${left}" y="${top + tile + FONT_PX + 2 + j * LINE_H}" fill="${l.color ?? '#222'}">${escapeXml(fit(l.text, chars))}</text>`);
    });
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><style>text { font-family: 'DejaVu Sans', sans-serif; font-size: ${FONT_PX}px; }</style>`
    + `<text x="${GAP}" y="${TITLE_H - 6}" fill="#222">${escapeXml(fit(o.title, Math.floor(W / (FONT_PX * 0.6))))}</text>${texts.join('')}</svg>`;
  composites.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width: W, height: H, channels: 3, background: { r: 255, g: 255, b: 255 } } }).composite(composites).png().toBuffer();
}
