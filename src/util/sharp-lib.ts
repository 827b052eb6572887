// sharp (libvips) loaded on first use. Clean JPEGs are decoded by the libjpeg-turbo addon, so a training
// process may never need libvips; importing it eagerly cost ~45 MiB of resident memory in every such
// process (measured with /proc/self/status), which counts against the run's peak.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type SharpModule from 'sharp';

export type Sharp = typeof SharpModule;

let loading: Promise<Sharp> | undefined;

/** The sharp function, loading libvips the first time. */
export function sharpLib(): Promise<Sharp> {
  loading ??= import('sharp').then((m) => {
    const sharp = m.default;
    // Every image is decoded once and then read from our own cache: libvips' operation cache would only
    // hold memory (it counts toward a training run's peak RSS) without ever being hit.
    sharp.cache(false);
    return sharp;
  });
  return loading;
}

/**
 * Which sharp decodes what the addon leaves to it, without loading libvips: sharp pins its prebuilt libvips
 * to an exact version, so sharp's own version names the pixels it produces.
 */
export function sharpVersion(): string {
  // sharp's `exports` does not list its package.json; its entry point is lib/index.js.
  const entry = createRequire(import.meta.url).resolve('sharp');
  return (JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
}
