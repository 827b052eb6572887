import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | null | undefined;

/**
 * The folder holding `native/binding.gyp` above this file (the checkout, or the installed package; from src/
 * and from dist/), or null. Both addons (libtorch ops and the JPEG decoder) are built under it.
 */
export function packageRoot(): string | null {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'native', 'binding.gyp'))) return (cached = dir);
  }
  return (cached = null);
}
