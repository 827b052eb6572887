import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** ablate's version, from the package.json above this file (works from src/ and from dist/). */
export function ablateVersion(): string {
  if (cached !== undefined) return cached;
  cached = 'unknown';
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'ablate' && pkg.version) {
          cached = pkg.version;
          break;
        }
      } catch { /* keep looking upward */ }
    }
    dir = dirname(dir);
  }
  return cached;
}
