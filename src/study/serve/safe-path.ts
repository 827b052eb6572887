/**
 * Maps a URL path to a file inside the study folder, or refuses: the dashboard must never serve
 * anything outside it — not through `..`, encoded slashes, absolute paths, nor symlinks that point out.
 */
import { realpathSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';

export type Resolved =
  | { ok: true; path: string; stat: Stats }
  | { ok: false; status: 400 | 403 | 404; reason: string };

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..'));
}

/**
 * `urlPath` is the part after `/files/`, still percent-encoded. `root` must be the real path of the
 * study folder (symlinks resolved), so the comparison is between real paths on both sides.
 */
export function resolveInside(root: string, urlPath: string): Resolved {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { ok: false, status: 400, reason: 'malformed percent-encoding in the path' };
  }
  if (decoded.includes('\0')) return { ok: false, status: 400, reason: 'NUL byte in the path' };
  const parts = decoded.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { ok: false, status: 403, reason: 'paths outside the study folder are not served' };
  const candidate = resolve(root, ...parts);
  if (!inside(root, candidate)) return { ok: false, status: 403, reason: 'paths outside the study folder are not served' };
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    return { ok: false, status: 404, reason: 'no such file in the study folder' };
  }
  // A symlink inside the folder that leads out of it is refused like `..`.
  if (!inside(root, real)) return { ok: false, status: 403, reason: 'this path leads outside the study folder (symlink)' };
  let stat: Stats;
  try {
    stat = statSync(real);
  } catch {
    return { ok: false, status: 404, reason: 'no such file in the study folder' };
  }
  if (!stat.isFile() && !stat.isDirectory()) return { ok: false, status: 403, reason: 'only files and folders are served' };
  return { ok: true, path: real, stat };
}
