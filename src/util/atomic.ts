import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, renameSync, statfsSync, writeSync, rmSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** A write that failed because the file system is full (ENOSPC) or the user's quota is spent (EDQUOT). */
export class DiskFullError extends Error {
  override name = 'DiskFullError';
  readonly code = 'ENOSPC';
  constructor(readonly path: string, readonly neededBytes: number, readonly freeBytes: number | undefined, cause: Error) {
    super(
      `no space left on the device to write ${path}: it needs ${formatBytes(neededBytes)}` +
      (freeBytes === undefined ? '' : ` and ${formatBytes(freeBytes)} are free there`) +
      ` (${cause.message}); free some space, then run the same command again (with --resume for a single run) to continue`,
      { cause });
  }
}

export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return e instanceof DiskFullError || code === 'ENOSPC' || code === 'EDQUOT';
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(1)} ${units[u]} (${n} bytes)`;
}

function freeBytesAt(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/**
 * Content produced while it is written: `write` hands it to `out` part by part, in order (each part may be
 * reused once `out` returns), adding up to `size` bytes, so large files need no copy in memory at all.
 */
export interface StreamedContent {
  size: number;
  write(out: (part: Uint8Array) => void): void;
}

export interface AtomicWriteOptions {
  /**
   * Runs once the new content is complete and synced, just before it replaces `path`: the last moment
   * to move the old file aside (keeping it as a backup) without ever leaving neither.
   */
  beforeReplace?: () => void;
}

/**
 * Write a file so that readers see either the old content or the new one, never a torn mix:
 * write to a temp file in the same directory, fsync, then rename over the target.
 * A crash mid-write leaves the previous file intact (rename is atomic on POSIX filesystems); so does
 * a full disk, which is reported as a DiskFullError naming the file and the space it needed.
 * `data` may be a list of parts, written in order, or StreamedContent, which produces its parts as they are
 * written, so large files need not be assembled in memory first. An error thrown by `data.write` fails
 * the write like a disk error: the temp file is removed and `path` stays as it was.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[] | StreamedContent, options: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const content: StreamedContent = typeof data === 'string' ? partsContent([Buffer.from(data, 'utf8')])
    : data instanceof Uint8Array ? partsContent([data])
    : Array.isArray(data) ? partsContent(data as readonly Uint8Array[])
    : data as StreamedContent;
  const size = content.size;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    let written = 0;
    const out = (buf: Uint8Array): void => {
      let off = 0;
      while (off < buf.length) off += writeSync(fd!, buf, off, buf.length - off);
      written += off;
    };
    content.write(out);
    if (written !== size) throw new Error(`writing ${path} produced ${written} bytes where ${size} were announced`);
    fsyncSync(fd);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    // Measured after the partial file is gone: the space a retry would have.
    if (isDiskFull(e)) throw new DiskFullError(path, size, freeBytesAt(dir), e as Error);
    throw e;
  }
  closeSync(fd);
  try {
    options.beforeReplace?.();
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  // fsync the directory so the rename itself survives a power cut.
  try {
    const dfd = openSync(dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch { /* some filesystems refuse fsync on directories; the rename is still atomic */ }
}

function partsContent(parts: readonly Uint8Array[]): StreamedContent {
  return { size: parts.reduce((s, p) => s + p.length, 0), write: (out) => { for (const p of parts) out(p); } };
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Overwrite an existing small file in place: not atomic, but it needs no new disk blocks as long as
 * the new content is no longer than the blocks the file already has. Only for recording a final
 * state when the disk is full.
 */
export function overwriteInPlace(path: string, text: string): void {
  const fd = openSync(path, 'r+');
  try {
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, off);
    ftruncateSync(fd, buf.length);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
