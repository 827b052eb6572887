/**
 * The one rule for every file ablate reads: it must be a regular file (symlinks are followed, but what they
 * lead to must be a regular file), and its size is known and checked before a byte is read. A character
 * device such as /dev/zero never ends, a FIFO may never start, a socket is not a file: each would hang or
 * fill memory, so they are refused by name.
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';

/** Why a file was not read; `code` tells a missing file from the wrong kind of file or one too large. */
export class FileReadError extends Error {
  override name = 'FileReadError';
  constructor(message: string, readonly code: 'missing' | 'not-regular' | 'too-large' | 'unreadable', readonly path: string) {
    super(message);
  }
}

export interface RegularFileOptions {
  /** What the file is to the user ("checkpoint", "image", "study file"): messages name it. */
  what?: string;
  /** Refuse a larger file before reading it (default: the largest Buffer Node can hold). */
  maxBytes?: number;
  /** Told to the user when the file is over maxBytes, e.g. how to raise the limit. */
  tooLargeHint?: string;
}

/**
 * O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer (the fd is refused by fstat
 * right after); regular files ignore it. Windows has neither flag, and no FIFOs to open.
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** The largest file read whole into memory: what a Buffer may hold on this Node. */
export const MAX_WHOLE_FILE_BYTES = bufferConstants.MAX_LENGTH;

/** "a character device", "a FIFO (named pipe)", … for messages. */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a folder';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** A byte count for messages: "1.5 MiB", "647 bytes". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** A positive byte limit from an environment variable, or the default; a bad value is refused by name. */
export function byteLimitFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v <= 0) throw new TypeError(`Expected a positive whole number of bytes in ${name} but received ${JSON.stringify(raw)}`);
  return v;
}

/** True for an error saying the file does not exist (from fs or from this module). */
export function isMissingFile(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT' || (e instanceof FileReadError && e.code === 'missing');
}

function openError(path: string, what: string, e: unknown): FileReadError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new FileReadError(`${what} ${path} does not exist`, 'missing', path);
  if (code === 'EISDIR') return notRegular(path, what, 'a folder');
  if (code === 'ENXIO') return notRegular(path, what, 'a socket');
  return new FileReadError(`cannot read the ${what} ${path}: ${code ?? (e as Error).message}`, 'unreadable', path);
}

function notRegular(path: string, what: string, kind: string): FileReadError {
  let target = '';
  try {
    const real = realpathSync(path);
    if (real !== path) target = ` (${real})`;
  } catch { /* the kind is enough */ }
  const fix = kind === 'a folder' ? `point it at a file inside` : 'devices, FIFOs and sockets may never end or never start, so ablate reads only real files; point it at one';
  return new FileReadError(`Expected a regular file for the ${what} but received ${kind}${target} at ${path}: ${fix}`, 'not-regular', path);
}

/** Checks the opened file: regular, and no larger than allowed. Returns its size. */
function check(st: Stats, path: string, o: RegularFileOptions): number {
  const what = o.what ?? 'file';
  if (!st.isFile()) throw notRegular(path, what, fileKind(st));
  const max = o.maxBytes ?? MAX_WHOLE_FILE_BYTES;
  if (st.size > max) {
    throw new FileReadError(`Expected ${/^[aeiou]/i.test(what) ? 'an' : 'a'} ${what} of at most ${formatBytes(max)} but ${path} has ${formatBytes(st.size)}` +
      (o.tooLargeHint ? `: ${o.tooLargeHint}` : ''), 'too-large', path);
  }
  return st.size;
}

/** Refuses, without opening it, a path that is not a regular file within the limits; returns its size. For early checks. */
export function checkRegularFile(path: string, o: RegularFileOptions = {}): number {
  try {
    return check(statSync(path), path, o);
  } catch (e) {
    throw e instanceof FileReadError ? e : openError(path, o.what ?? 'file', e);
  }
}

/**
 * Opens a regular file for reading (never blocking on a FIFO) and returns its descriptor and size. The path is
 * checked before it is opened, since opening some devices acts (a watchdog starts, a tape rewinds), and the
 * opened descriptor again, in case the path was replaced in between.
 */
export function openRegularFileSync(path: string, o: RegularFileOptions = {}): { fd: number; size: number } {
  let fd: number;
  checkRegularFile(path, o);
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    throw openError(path, o.what ?? 'file', e);
  }
  try {
    return { fd, size: check(fstatSync(fd), path, o) };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Async openRegularFileSync: a FileHandle on a regular file, and its size. The caller closes it. */
export async function openRegularFile(path: string, o: RegularFileOptions = {}): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    check(await stat(path), path, o);
  } catch (e) {
    throw e instanceof FileReadError ? e : openError(path, o.what ?? 'file', e);
  }
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (e) {
    throw openError(path, o.what ?? 'file', e);
  }
  try {
    return { fh, size: check(await fh.stat(), path, o) };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

function grew(path: string, o: RegularFileOptions, size: number): FileReadError {
  return new FileReadError(`Expected the ${o.what ?? 'file'} ${path} to keep its ${formatBytes(size)} while it was read, but it grew; read it again once it is complete`, 'unreadable', path);
}

/** The whole content of a regular file (see openRegularFile); never more than the size it had when opened. */
export async function readRegularFile(path: string, o: RegularFileOptions = {}): Promise<Buffer> {
  const { fh, size } = await openRegularFile(path, o);
  try {
    // One byte of headroom tells a file that grew since fstat from one that did not.
    const buf = Buffer.allocUnsafe(Math.min(size + 1, MAX_WHOLE_FILE_BYTES));
    let n = 0;
    for (let got; n < buf.length && (got = (await fh.read(buf, n, buf.length - n, n)).bytesRead) > 0;) n += got;
    if (n > size) throw grew(path, o, size);
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

/** Synchronous readRegularFile. */
export function readRegularFileSync(path: string, o: RegularFileOptions = {}): Buffer {
  const { fd, size } = openRegularFileSync(path, o);
  try {
    const buf = Buffer.allocUnsafe(Math.min(size + 1, MAX_WHOLE_FILE_BYTES));
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, n)) > 0;) n += got;
    if (n > size) throw grew(path, o, size);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Small text files the program itself wrote (JSON state in run folders): 64 MiB is far above any of them. */
export const MAX_STATE_FILE_BYTES = 64 << 20;

/** UTF-8 text of a regular file, by default at most MAX_STATE_FILE_BYTES. */
export function readRegularTextSync(path: string, o: RegularFileOptions = {}): string {
  return readRegularFileSync(path, { maxBytes: MAX_STATE_FILE_BYTES, ...o }).toString('utf8');
}

/** Async readRegularTextSync. */
export async function readRegularText(path: string, o: RegularFileOptions = {}): Promise<string> {
  return (await readRegularFile(path, { maxBytes: MAX_STATE_FILE_BYTES, ...o })).toString('utf8');
}
