import { constants as bufferConstants } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { crc32c } from '../util/crc32c.js';
import { invalidArg } from '../util/errors.js';
import { BadImageError, decodeItem, RESIZE_KERNEL, type DecodeTarget, type ResizeMode } from './decode.js';
import { jpegDecoder } from './fast-jpeg.js';
import { sha256Hex } from './random.js';
import { emptyConversionCounts, type BadFile, type ConversionCounts, type Dataset } from './types.js';

/** Bump when the file layout or anything that changes decoded pixels changes. */
export const CACHE_VERSION = 2;
const MAGIC = Buffer.from('ABLTU8C\0', 'latin1');
/** Pixel data starts page-aligned so the file can be memory-mapped by other tools. */
const DATA_OFFSET = 4096;
const PREAMBLE_CRC_AT = 76;

export interface PrepareOptions {
  height: number;
  width: number;
  resize?: ResizeMode;
  /** Folder for the on-disk cache; `null` keeps decoded images in memory only. Default: defaultCacheDir(). */
  cacheDir?: string | null;
  /** Decodes in flight at once (sharp runs each on the libuv thread pool, off the JS thread). */
  concurrency?: number;
  /** 'full' re-checks every image's CRC when an existing cache is opened; 'header' trusts the pixels. */
  verify?: 'full' | 'header';
  onProgress?: (done: number, total: number) => void;
  /** Receives one-line summaries (bad files, conversions, cache rebuilds). Default: stderr. */
  log?: (line: string) => void;
}

export function defaultCacheDir(): string {
  return process.env.ABLATE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ablate', 'images');
}

interface CacheMeta {
  key: string;
  positions: number[];
  badFiles: BadFile[];
  conversions: ConversionCounts;
  slotCrc: number[];
}

/** Where decoded pixels live: one fixed-size slot per dataset index. */
interface SlotStore {
  read(slot: number, out: Uint8Array, offset: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A dataset split decoded to uint8 RGB at one size: the unit the DataLoader batches from.
 * Positions 0..length-1 are the decodable images, in dataset order.
 */
export class ImageSet {
  readonly length: number;
  readonly slotBytes: number;
  constructor(
    readonly height: number,
    readonly width: number,
    readonly classNames: readonly string[],
    /** Label of each position. */
    readonly labels: Int32Array,
    /** Dataset index of each position. */
    readonly indices: Int32Array,
    /** Files of this split that failed to decode (index = dataset index). */
    readonly badFiles: readonly BadFile[],
    /** Files dropped before indexing (JFIF filter, broken TFRecord records, missing listed files). */
    readonly excluded: readonly BadFile[],
    readonly conversions: Readonly<ConversionCounts>,
    /** The cache file, or null when held in memory. */
    readonly cachePath: string | null,
    /** True when the pixels came from an existing valid cache rather than a decode pass. */
    readonly fromCache: boolean,
    readonly description: string,
    private readonly store: SlotStore,
  ) {
    this.length = indices.length;
    this.slotBytes = height * width * 3;
  }

  /** Copy the images at `positions` into `out` (NHWC, starting at image `at`). */
  async readInto(positions: ArrayLike<number>, out: Uint8Array, at = 0): Promise<void> {
    if (out.length < (at + positions.length) * this.slotBytes) {
      throw invalidArg('out', `a Uint8Array of at least ${(at + positions.length) * this.slotBytes} bytes`, out);
    }
    const jobs: Promise<void>[] = [];
    for (let k = 0; k < positions.length; k++) {
      const p = positions[k]!;
      if (!Number.isInteger(p) || p < 0 || p >= this.length) throw invalidArg('positions', `integers in [0, ${this.length})`, p);
      jobs.push(this.store.read(this.indices[p]!, out, (at + k) * this.slotBytes));
    }
    await Promise.all(jobs);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

function cacheKey(ds: Dataset, t: DecodeTarget): string {
  // Everything that changes decoded pixels: the items, the size, the resize method and the decoder.
  return JSON.stringify({
    version: CACHE_VERSION,
    source: ds.source,
    fingerprint: ds.fingerprint,
    count: ds.length,
    height: t.height,
    width: t.width,
    resize: t.resize,
    kernel: RESIZE_KERNEL,
    vips: sharp.versions.vips,
    jpeg: jpegDecoder(),
  });
}

/**
 * Decode every image of `ds` once at the target size, into a validated cache file (or memory).
 * A valid existing cache is reused; a stale, truncated or corrupt one is rebuilt, never trusted.
 */
export async function prepareImages(ds: Dataset, opts: PrepareOptions): Promise<ImageSet> {
  for (const k of ['height', 'width'] as const) {
    if (!Number.isInteger(opts[k]) || opts[k] < 1 || opts[k] > 8192) throw invalidArg(k, 'an integer from 1 to 8192', opts[k]);
  }
  const target: DecodeTarget = { height: opts.height, width: opts.width, resize: opts.resize ?? 'stretch' };
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const cacheDir = opts.cacheDir === undefined ? defaultCacheDir() : opts.cacheDir;
  const key = cacheKey(ds, target);
  const keyHash = sha256Hex(key);
  const slotBytes = target.height * target.width * 3;

  if (cacheDir === null) {
    const total = ds.length * slotBytes;
    if (total > bufferConstants.MAX_LENGTH) {
      throw new Error(`Expected decoded images to fit in memory (at most ${bufferConstants.MAX_LENGTH} bytes) but ${ds.length} images at ${target.width}x${target.height} need ${total}; set a cacheDir`);
    }
    const mem = new Uint8Array(total);
    const built = await decodeAll(ds, target, opts, async (slot, px) => mem.set(px, slot * slotBytes));
    const store: SlotStore = {
      read: async (slot, out, offset) => out.set(mem.subarray(slot * slotBytes, (slot + 1) * slotBytes), offset),
      close: async () => {},
    };
    logSummary(log, ds, built, null, false);
    return makeSet(ds, target, built, null, false, store);
  }

  mkdirSync(cacheDir, { recursive: true });
  const file = join(cacheDir, `${ds.source}-${target.width}x${target.height}-${target.resize}-${keyHash.slice(0, 24)}.u8cache`);
  if (existsSync(file)) {
    const opened = await openCache(file, key, keyHash, ds.length, target, opts.verify ?? 'full');
    if ('meta' in opened) {
      logSummary(log, ds, opened.meta, file, true);
      return makeSet(ds, target, opened.meta, file, true, fileStore(opened.fh, slotBytes));
    }
    log(`data: cache ${file} is invalid (${opened.problem}); rebuilding it`);
    await rm(file, { force: true });
  }
  await buildCache(file, ds, target, key, keyHash, opts);
  const reopened = await openCache(file, key, keyHash, ds.length, target, 'header');
  if (!('meta' in reopened)) throw new Error(`cache ${file} failed validation right after being written: ${reopened.problem}`);
  logSummary(log, ds, reopened.meta, file, false);
  return makeSet(ds, target, reopened.meta, file, false, fileStore(reopened.fh, slotBytes));
}

function makeSet(ds: Dataset, t: DecodeTarget, meta: Omit<CacheMeta, 'key' | 'slotCrc'>, file: string | null, fromCache: boolean, store: SlotStore): ImageSet {
  const indices = Int32Array.from(meta.positions);
  const all = ds.labels();
  const labels = Int32Array.from(indices, (i) => all[i]!);
  return new ImageSet(t.height, t.width, ds.classNames, labels, indices, meta.badFiles, ds.excluded, meta.conversions, file, fromCache, ds.description, store);
}

function fileStore(fh: FileHandle, slotBytes: number): SlotStore {
  return {
    read: async (slot, out, offset) => {
      let done = 0;
      while (done < slotBytes) {
        const { bytesRead } = await fh.read(out, offset + done, slotBytes - done, DATA_OFFSET + slot * slotBytes + done);
        if (bytesRead === 0) throw new Error('cache file ended early: it was truncated while in use');
        done += bytesRead;
      }
    },
    close: () => fh.close(),
  };
}

interface Built {
  positions: number[];
  badFiles: BadFile[];
  conversions: ConversionCounts;
  slotCrc: number[];
}

async function decodeAll(ds: Dataset, t: DecodeTarget, opts: PrepareOptions, put: (slot: number, px: Uint8Array) => Promise<void>): Promise<Built> {
  const ok = new Uint8Array(ds.length);
  const slotCrc = new Array<number>(ds.length).fill(0);
  const badFiles: BadFile[] = [];
  const conversions = emptyConversionCounts();
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < ds.length) {
      const i = next++;
      const name = ds.itemName(i);
      try {
        let item;
        try {
          item = await ds.read(i);
        } catch (e) {
          throw new BadImageError('unreadable', (e as Error).message);
        }
        const { pixels, conversions: notes } = await decodeItem(item, t, name);
        for (const n of notes) conversions[n]++;
        slotCrc[i] = crc32(pixels);
        await put(i, pixels);
        ok[i] = 1;
      } catch (e) {
        if (!(e instanceof BadImageError)) throw e;
        badFiles.push({ index: i, name, reason: e.reason, detail: e.message.split('\n')[0]!.slice(0, 200) });
      }
      done++;
      opts.onProgress?.(done, ds.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, ds.length)) }, worker));
  const positions: number[] = [];
  for (let i = 0; i < ds.length; i++) if (ok[i]) positions.push(i);
  badFiles.sort((a, b) => a.index - b.index);
  return { positions, badFiles, conversions, slotCrc };
}

async function buildCache(file: string, ds: Dataset, t: DecodeTarget, key: string, keyHash: string, opts: PrepareOptions): Promise<void> {
  const slotBytes = t.height * t.width * 3;
  const tmp = join(file, '..', `.${file.split('/').pop()}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w+');
  try {
    const built = await decodeAll(ds, t, opts, async (slot, px) => {
      await fh.write(px, 0, px.length, DATA_OFFSET + slot * slotBytes);
    });
    const meta: CacheMeta = { key, ...built };
    const metaBuf = Buffer.from(JSON.stringify(meta), 'utf8');
    const metaOffset = DATA_OFFSET + ds.length * slotBytes;
    await fh.write(metaBuf, 0, metaBuf.length, metaOffset);
    const pre = Buffer.alloc(DATA_OFFSET);
    MAGIC.copy(pre, 0);
    pre.writeUInt32LE(CACHE_VERSION, 8);
    pre.writeUInt32LE(ds.length, 12);
    pre.writeUInt32LE(t.height, 16);
    pre.writeUInt32LE(t.width, 20);
    pre.writeUInt32LE(3, 24);
    Buffer.from(keyHash, 'hex').copy(pre, 28);
    pre.writeBigUInt64LE(BigInt(metaOffset), 60);
    pre.writeUInt32LE(metaBuf.length, 68);
    pre.writeUInt32LE(crc32c(metaBuf), 72);
    pre.writeUInt32LE(crc32c(pre, 0, PREAMBLE_CRC_AT), PREAMBLE_CRC_AT);
    await fh.write(pre, 0, pre.length, 0);
    await fh.sync();
    await fh.close();
    // Readers see either no cache or a complete one: the rename is atomic.
    await rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
}

type Opened = { meta: CacheMeta; fh: FileHandle } | { problem: string };

async function openCache(file: string, key: string, keyHash: string, count: number, t: DecodeTarget, verify: 'full' | 'header'): Promise<Opened> {
  const fh = await open(file, 'r');
  const fail = async (problem: string): Promise<Opened> => {
    await fh.close();
    return { problem };
  };
  try {
    const size = (await stat(file)).size;
    if (size < DATA_OFFSET) return fail(`only ${size} bytes, shorter than its header`);
    const pre = Buffer.alloc(DATA_OFFSET);
    await fh.read(pre, 0, DATA_OFFSET, 0);
    if (!pre.subarray(0, 8).equals(MAGIC)) return fail('bad magic');
    if (pre.readUInt32LE(PREAMBLE_CRC_AT) !== crc32c(pre, 0, PREAMBLE_CRC_AT)) return fail('header checksum mismatch');
    if (pre.readUInt32LE(8) !== CACHE_VERSION) return fail(`format version ${pre.readUInt32LE(8)}, expected ${CACHE_VERSION}`);
    if (pre.subarray(28, 60).toString('hex') !== keyHash) return fail('key mismatch (stale)');
    if (pre.readUInt32LE(12) !== count || pre.readUInt32LE(16) !== t.height || pre.readUInt32LE(20) !== t.width || pre.readUInt32LE(24) !== 3) {
      return fail('count or dimensions differ');
    }
    const slotBytes = t.height * t.width * 3;
    const metaOffset = Number(pre.readBigUInt64LE(60));
    const metaLength = pre.readUInt32LE(68);
    if (metaOffset !== DATA_OFFSET + count * slotBytes) return fail('data region has the wrong size');
    if (metaOffset + metaLength !== size) return fail(`file is ${size} bytes, expected ${metaOffset + metaLength} (truncated or padded)`);
    const metaBuf = Buffer.alloc(metaLength);
    await fh.read(metaBuf, 0, metaLength, metaOffset);
    if (crc32c(metaBuf) !== pre.readUInt32LE(72)) return fail('index checksum mismatch');
    const meta = JSON.parse(metaBuf.toString('utf8')) as CacheMeta;
    if (meta.key !== key) return fail('key mismatch (stale)');
    if (verify === 'full') {
      // Sequential pass in large chunks: cheap next to decoding, and it catches bit rot in the pixels.
      const per = Math.max(1, Math.floor((8 << 20) / slotBytes));
      const buf = Buffer.alloc(per * slotBytes);
      const good = new Set(meta.positions);
      for (let s = 0; s < count; s += per) {
        const n = Math.min(per, count - s);
        await fh.read(buf, 0, n * slotBytes, DATA_OFFSET + s * slotBytes);
        for (let k = 0; k < n; k++) {
          if (good.has(s + k) && crc32(buf.subarray(k * slotBytes, (k + 1) * slotBytes)) !== meta.slotCrc[s + k]) {
            return fail(`pixel checksum mismatch in image ${s + k}`);
          }
        }
      }
    }
    return { meta, fh };
  } catch (e) {
    return fail(`unreadable: ${(e as Error).message}`);
  }
}

function countBy(files: readonly BadFile[]): string {
  const c = new Map<string, number>();
  for (const f of files) c.set(f.reason, (c.get(f.reason) ?? 0) + 1);
  return [...c].map(([r, n]) => `${n} ${r}`).join(', ');
}

function logSummary(log: (l: string) => void, ds: Dataset, b: Omit<CacheMeta, 'key' | 'slotCrc'>, file: string | null, fromCache: boolean): void {
  const where = file ? `${fromCache ? 'cached in' : 'decoded into'} ${file}` : 'decoded into memory';
  log(`data: ${b.positions.length} of ${ds.length} images of ${ds.description} ${where}`);
  if (b.badFiles.length) {
    const names = b.badFiles.slice(0, 10).map((f) => f.name).join(', ');
    log(`data: skipped ${b.badFiles.length} undecodable files (${countBy(b.badFiles)}): ${names}${b.badFiles.length > 10 ? `, … (+${b.badFiles.length - 10} more)` : ''}`);
  }
  if (ds.excluded.length) log(`data: ${ds.excluded.length} files were excluded before indexing (${countBy(ds.excluded)})`);
  const conv = Object.entries(b.conversions).filter(([, n]) => n > 0);
  if (conv.length) log(`data: converted to 8-bit RGB: ${conv.map(([k, n]) => `${n} ${k}`).join(', ')}`);
}
