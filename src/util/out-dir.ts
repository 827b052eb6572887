import { existsSync, mkdirSync, statSync } from 'node:fs';

/**
 * Create an output folder, or say clearly why it cannot be one: a file already at that path (or at a
 * parent of it) gives a message naming the path instead of a raw EEXIST/ENOTDIR from mkdir.
 */
export function ensureOutDir(dir: string, what = 'output folder'): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new TypeError(`Expected a folder for the ${what} but ${dir} is a file: choose another path or move the file away`);
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new TypeError(`Expected a folder for the ${what} but a parent of ${dir} is a file: choose another path`);
    }
    throw new Error(`cannot create the ${what} ${dir}: ${(e as Error).message}`);
  }
}
