import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeJsonAtomic } from '../../util/atomic.js';
import { fileKind, openRegularFile, readRegularTextSync } from '../../util/regular-file.js';

/** What a file must be: its SHA-256 (full, or a prefix as in torchvision's file names) and size when known. */
export interface Expected {
  sha256?: string;
  /** First hex digits of the SHA-256; torchvision names its weights `resnet50-0676ba61.pth`. */
  sha256Prefix?: string;
  size?: number;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  // A regular file only: hashing reads to the end, which a device never reaches.
  const { fh } = await openRegularFile(path, { what: 'file to verify' });
  for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** torch.hub's HASH_REGEX `-([a-f0-9]*)\.`: the hex digits after the first '-' that a '.' follows. */
export function hashPrefixFromName(fileName: string): string | undefined {
  const m = /-([a-f0-9]*)\./.exec(fileName);
  return m?.[1] ? m[1] : undefined;
}

/** Does this digest satisfy the expectation? (A prefix is compared as torch.hub does: digest[:len(prefix)].) */
export function digestMatches(digest: string, e: Expected): boolean {
  if (e.sha256 && digest !== e.sha256.toLowerCase()) return false;
  if (e.sha256Prefix && !digest.startsWith(e.sha256Prefix.toLowerCase())) return false;
  return true;
}

export function describeExpected(e: Expected): string {
  if (e.sha256) return `SHA-256 ${e.sha256}`;
  if (e.sha256Prefix) return `a SHA-256 starting with ${e.sha256Prefix}`;
  return 'any content';
}

/**
 * A record next to a verified file (`.<name>.verified`), so an 800 MB archive is hashed once rather than
 * at every run. It is trusted only while the file's size and mtime are the ones recorded.
 */
interface VerifiedStamp {
  size: number;
  mtimeMs: number;
  sha256: string;
}

function stampPath(file: string): string {
  return join(dirname(file), `.${basename(file)}.verified`);
}

export function writeVerifiedStamp(file: string, sha256: string): void {
  const st = statSync(file);
  writeJsonAtomic(stampPath(file), { size: st.size, mtimeMs: st.mtimeMs, sha256 } satisfies VerifiedStamp);
}

function readStamp(file: string): VerifiedStamp | undefined {
  try {
    return JSON.parse(readRegularTextSync(stampPath(file), { maxBytes: 64 * 1024 })) as VerifiedStamp;
  } catch {
    return undefined;
  }
}

export type CheckResult = { ok: true; sha256: string } | { ok: false; reason: string; sha256?: string };

/**
 * Is the file at `path` the expected one? Size first (free), then the stamp, then the full hash.
 * `useStamp: false` always hashes (for folders that are not ours, such as PyTorch's cache).
 */
export async function checkFile(path: string, e: Expected, o: { useStamp?: boolean } = {}): Promise<CheckResult> {
  if (!existsSync(path)) return { ok: false, reason: 'it does not exist' };
  const st = statSync(path);
  // Hashing reads to the end: a device never ends and a FIFO may never start.
  if (!st.isFile()) return { ok: false, reason: `it is ${fileKind(st)}, not a regular file` };
  if (e.size !== undefined && st.size !== e.size) return { ok: false, reason: `it has ${st.size} bytes, expected ${e.size}` };
  const stamp = o.useStamp === false ? undefined : readStamp(path);
  if (stamp && stamp.size === st.size && stamp.mtimeMs === st.mtimeMs && digestMatches(stamp.sha256, e)) return { ok: true, sha256: stamp.sha256 };
  const digest = await sha256File(path);
  if (!digestMatches(digest, e)) return { ok: false, reason: `its SHA-256 is ${digest}, expected ${e.sha256 ?? `one starting with ${e.sha256Prefix}`}`, sha256: digest };
  if (o.useStamp !== false) writeVerifiedStamp(path, digest);
  return { ok: true, sha256: digest };
}
