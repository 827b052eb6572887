import { constants as bufferConstants } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { sharpVersion } from '../util/sharp-lib.js';
import { crc32c } from '../util/crc32c.js';
import { invalidArg } from '../util/errors.js';
import { BadImageError, decodeItems, RESIZE_KERNEL, type Decoded, type DecodeTarget, type ResizeMode } from './decode.js';
import { jpegDecoder } from './fast-jpeg.js';
import { sha256Hex } from './random.js';
import { emptyConversionCounts, type BadFile, type ConversionCounts, type Dataset, type DatasetItem } from './types.js';
import { openRegularFile } from '../util/regular-file.js';

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
  /**
   * Return at once, without a valid cache, and decode in the background: the set is *tentative* (every file
   * assumed decodable, so its positions are the dataset's indices) and a read waits for its images. A DataLoader
   * made with `early: true` trains on it while it decodes, asking for its epoch's order first. If a file turns
   * out undecodable, reads of the tentative set throw SplitChangedError and `settled()` gives the real split.
   */
  background?: boolean;
  /** With `background`: start decoding once this settles (e.g. the training split's decode, before validation's). */
  after?: Promise<unknown>;
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
 * A tentative ImageSet (see PrepareOptions.background) found undecodable files: the split it assumed is not the
 * real one, so anything trained on it must start again from `settled()`, which gives the same results as a run
 * that decoded everything first.
 */
export class SplitChangedError extends Error {
  constructor(readonly files: readonly BadFile[], description: string) {
    super(`${files.length} file(s) of ${description} turned out undecodable (${files.slice(0, 3).map((f) => f.name).join(', ')}${files.length > 3 ? ', …' : ''}) ` +
      'after training had started on the split that assumed them decodable');
    this.name = 'SplitChangedError';
  }
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
    private readonly background?: BackgroundDecode,
  ) {
    this.length = indices.length;
    this.slotBytes = height * width * 3;
  }

  /** Still decoding (or found to be wrong): positions are the dataset's indices until settled() says otherwise. */
  get tentative(): boolean {
    return this.background !== undefined && !this.background.clean;
  }

  /** The set once every image is decoded: this one, or (when files turned out undecodable) the real split. */
  settled(): Promise<ImageSet> {
    return this.background ? this.background.settled.then((set) => set ?? this) : Promise.resolve(this);
  }

  /** Decode these positions first, in this order (an epoch's order, read `batchSize` at a time); nothing to do once decoded. */
  prioritize(positions: ArrayLike<number>, batchSize = 1): void {
    if (this.tentative) this.background!.prioritize(positions, batchSize);
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

  async close(): Promise<void> {
    await this.background?.cancel();
    await this.store.close();
  }
}

/** Which image to decode next: the sequential order, or a background decode's (priority first). */
interface Scheduler {
  /** A dataset index not yet handed out, or -1 when none is left. */
  next(): number;
  finish(index: number, ok: boolean, bad?: BadFile): void;
  stopped(): boolean;
}

function sequential(n: number): Scheduler {
  let next = 0;
  return { next: () => (next < n ? next++ : -1), finish: () => {}, stopped: () => false };
}

/** The background decode behind a tentative ImageSet: which images are done, who waits for which. */
class BackgroundDecode implements Scheduler {
  private readonly state: Uint8Array; // 0 to do, 1 handed out, 2 decoded, 3 undecodable
  private readonly waiters = new Map<number, { resolve: () => void; reject: (e: Error) => void }[]>();
  private priority: Int32Array = new Int32Array(0);
  private pAt = 0;
  private dAt = 0;
  private cancelled = false;
  private readonly bad: BadFile[] = [];
  /** Set once a file turned out undecodable (SplitChangedError) or decoding failed. */
  failure: Error | null = null;
  /** True once every image decoded: the tentative set is then the real one. */
  clean = false;
  /** null once every image decoded (the tentative set is the real one), else the real split. */
  settled!: Promise<ImageSet | null>;
  private work: Promise<unknown> = Promise.resolve();

  constructor(private readonly n: number, private readonly description: string) {
    this.state = new Uint8Array(n);
  }

  run(work: Promise<ImageSet | null>): void {
    this.work = work.catch(() => {});
    this.settled = work.then(
      (set) => {
        if (set === null) this.clean = true;
        return set;
      },
      (e: Error) => {
        this.fail(e);
        throw e;
      },
    );
    this.settled.catch(() => {}); // surfaced to whoever awaits it or reads an image
  }

  next(): number {
    while (this.pAt < this.priority.length) {
      const i = this.priority[this.pAt++]!;
      if (this.state[i] === 0) return this.take(i);
    }
    while (this.dAt < this.n) {
      const i = this.dAt++;
      if (this.state[i] === 0) return this.take(i);
    }
    return -1;
  }

  private take(i: number): number {
    this.state[i] = 1;
    return i;
  }

  finish(i: number, ok: boolean, bad?: BadFile): void {
    this.state[i] = ok ? 2 : 3;
    if (!ok && bad) {
      this.bad.push(bad);
      if (!(this.failure instanceof SplitChangedError)) this.fail(new SplitChangedError(this.bad, this.description));
    }
    for (const w of this.waiters.get(i) ?? []) (ok ? w.resolve() : w.reject(this.failure!));
    this.waiters.delete(i);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const ws of this.waiters.values()) for (const w of ws) w.reject(this.failure);
    this.waiters.clear();
  }

  stopped(): boolean {
    return this.cancelled;
  }

  /** The reader's batch size: the least a chunk should hold (see prepareImages). */
  batchSize = 0;

  prioritize(slots: ArrayLike<number>, batchSize: number): void {
    this.priority = Int32Array.from(slots);
    this.pAt = 0;
    this.batchSize = batchSize;
  }

  /** Resolves once image `i` is decoded; rejects once the tentative split is known to be wrong. */
  wait(i: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.state[i] === 2) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(i) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(i, list);
    });
  }

  async cancel(): Promise<void> {
    this.cancelled = true;
    await this.work;
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
    sharp: sharpVersion(),
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

  let file: string | null = null;
  if (cacheDir === null) {
    const total = ds.length * slotBytes;
    if (total > bufferConstants.MAX_LENGTH) {
      throw new Error(`Expected decoded images to fit in memory (at most ${bufferConstants.MAX_LENGTH} bytes) but ${ds.length} images at ${target.width}x${target.height} need ${total}; set a cacheDir`);
    }
  } else {
    mkdirSync(cacheDir, { recursive: true });
    file = join(cacheDir, `${ds.source}-${target.width}x${target.height}-${target.resize}-${keyHash.slice(0, 24)}.u8cache`);
    if (existsSync(file)) {
      const opened = await openCache(file, key, keyHash, ds.length, target, opts.verify ?? 'full');
      if ('meta' in opened) {
        logSummary(log, ds, opened.meta, file, true);
        return makeSet(ds, target, opened.meta, file, true, fileStore(opened.fh, slotBytes));
      }
      log(`data: cache ${file} is invalid (${opened.problem}); rebuilding it`);
      await rm(file, { force: true });
    }
  }
  const sink = file === null ? memorySink(ds.length, slotBytes) : await cacheFileSink(file, ds, target, key, keyHash);
  if (!opts.background) {
    let store: SlotStore;
    let built: Built;
    try {
      built = await decodeAll(ds, target, opts, sink.put, sequential(ds.length), 16);
      store = await sink.finish(built);
    } catch (e) {
      await sink.abort();
      throw e;
    }
    logSummary(log, ds, built, file, false);
    return makeSet(ds, target, built, file, false, store);
  }

  // Background: a tentative set now (every file assumed decodable), the real one when decoding ends.
  const ctrl = new BackgroundDecode(ds.length, ds.description);
  const conversions = emptyConversionCounts();
  let current: SlotStore = { read: sink.read, close: async () => {} };
  const tentative: SlotStore = {
    read: async (slot, out, offset) => {
      await ctrl.wait(slot);
      await current.read(slot, out, offset);
    },
    close: () => current.close(),
  };
  ctrl.run((async (): Promise<ImageSet | null> => {
    let built: Built;
    let store: SlotStore;
    try {
      await opts.after?.catch(() => {});
      // Large in-flight chunks, from two workers: while a training step holds the JS thread, a chunk advances
      // one stage (read, decode, write) per step, so chunks smaller than a batch would fall behind the steps.
      // (Their files are in memory together: 2 × max(64, batch) × the average file size.)
      built = await decodeAll(ds, target, opts, sink.put, ctrl, () => Math.max(64, ctrl.batchSize), 2);
      if (ctrl.stopped()) throw new Error(`${ds.description}: closed while its images were being decoded`);
      store = await sink.finish(built);
    } catch (e) {
      await sink.abort();
      throw e;
    }
    Object.assign(conversions, built.conversions);
    logSummary(log, ds, built, file, false);
    if (built.badFiles.length === 0) {
      current = store;
      return null;
    }
    return makeSet(ds, target, built, file, false, store);
  })());
  const all = { positions: Array.from({ length: ds.length }, (_, i) => i), badFiles: [], conversions };
  return makeSet(ds, target, all, file, false, tentative, ctrl);
}

/** Where decoded pixels go while a split is decoded, and the store they are read from afterwards. */
interface Sink {
  put(slot: number, px: Uint8Array): Promise<void>;
  /** A slot already put (reads while decoding). */
  read(slot: number, out: Uint8Array, offset: number): Promise<void>;
  /** Everything is decoded: make it durable and give the store the finished set reads from. */
  finish(built: Built): Promise<SlotStore>;
  abort(): Promise<void>;
}

function memorySink(count: number, slotBytes: number): Sink {
  const mem = new Uint8Array(count * slotBytes);
  const read = async (slot: number, out: Uint8Array, offset: number) => out.set(mem.subarray(slot * slotBytes, (slot + 1) * slotBytes), offset);
  return {
    put: async (slot, px) => mem.set(px, slot * slotBytes),
    read,
    finish: async () => ({ read, close: async () => {} }),
    abort: async () => {},
  };
}

function makeSet(ds: Dataset, t: DecodeTarget, meta: Omit<CacheMeta, 'key' | 'slotCrc'>, file: string | null, fromCache: boolean, store: SlotStore, background?: BackgroundDecode): ImageSet {
  const indices = Int32Array.from(meta.positions);
  const all = ds.labels();
  const labels = Int32Array.from(indices, (i) => all[i]!);
  return new ImageSet(t.height, t.width, ds.classNames, labels, indices, meta.badFiles, ds.excluded, meta.conversions, file, fromCache, ds.description, store, background);
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

async function decodeAll(
  ds: Dataset, t: DecodeTarget, opts: PrepareOptions, put: (slot: number, px: Uint8Array) => Promise<void>,
  sched: Scheduler, chunkSize: number | (() => number), maxWorkers = Infinity,
): Promise<Built> {
  const ok = new Uint8Array(ds.length);
  const slotCrc = new Array<number>(ds.length).fill(0);
  const badFiles: BadFile[] = [];
  const conversions = emptyConversionCounts();
  const concurrency = Math.min(maxWorkers, Math.max(1, opts.concurrency ?? 4));
  let done = 0;
  // Each worker takes a chunk of images: their bytes read together, the JPEGs among them decoded in one native
  // call (one thread hand-off for the chunk, not one per image), then written.
  const worker = async (): Promise<void> => {
    for (;;) {
      if (sched.stopped()) return;
      const slots: number[] = [];
      const chunk = typeof chunkSize === 'number' ? chunkSize : chunkSize();
      while (slots.length < chunk) {
        const i = sched.next();
        if (i < 0) break;
        slots.push(i);
      }
      if (slots.length === 0) return;
      const names = slots.map((i) => ds.itemName(i));
      const results: (Decoded | BadImageError)[] = await Promise.all(slots.map(async (i) => {
        try {
          return await ds.read(i);
        } catch (e) {
          return new BadImageError('unreadable', (e as Error).message);
        }
      })).then(async (items) => {
        const readable = items.flatMap((item, k) => (item instanceof BadImageError ? [] : [k]));
        const decoded = await decodeItems(readable.map((k) => ({ item: items[k] as DatasetItem, name: names[k]! })), t);
        const out = items as (Decoded | BadImageError | DatasetItem)[];
        readable.forEach((k, j) => { out[k] = decoded[j]!; });
        return out as (Decoded | BadImageError)[];
      });
      await Promise.all(slots.map(async (i, k) => {
        const r = results[k]!;
        if (r instanceof BadImageError) return;
        slotCrc[i] = crc32(r.pixels);
        await put(i, r.pixels);
      }));
      for (let k = 0; k < slots.length; k++) {
        const i = slots[k]!;
        const r = results[k]!;
        if (r instanceof BadImageError) {
          const bad: BadFile = { index: i, name: names[k]!, reason: r.reason, detail: r.message.split('\n')[0]!.slice(0, 200) };
          badFiles.push(bad);
          sched.finish(i, false, bad);
        } else {
          for (const n of r.conversions) conversions[n]++;
          ok[i] = 1;
          sched.finish(i, true);
        }
        done++;
        opts.onProgress?.(done, ds.length);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, ds.length)) }, worker));
  const positions: number[] = [];
  for (let i = 0; i < ds.length; i++) if (ok[i]) positions.push(i);
  badFiles.sort((a, b) => a.index - b.index);
  return { positions, badFiles, conversions, slotCrc };
}

/** The cache file, written under a temporary name and renamed into place once complete. */
async function cacheFileSink(file: string, ds: Dataset, t: DecodeTarget, key: string, keyHash: string): Promise<Sink> {
  const slotBytes = t.height * t.width * 3;
  const tmp = join(file, '..', `.${file.split('/').pop()}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w+');
  const store = fileStore(fh, slotBytes);
  return {
    put: async (slot, px) => {
      await fh.write(px, 0, px.length, DATA_OFFSET + slot * slotBytes);
    },
    read: store.read,
    finish: async (built) => {
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
      // Readers see either no cache or a complete one: the rename is atomic.
      await rename(tmp, file);
      const reopened = await openCache(file, key, keyHash, ds.length, t, 'header');
      if (!('meta' in reopened)) throw new Error(`cache ${file} failed validation right after being written: ${reopened.problem}`);
      const final = fileStore(reopened.fh, slotBytes);
      // A tentative set may still be reading through the first handle: both close with the finished set.
      return { read: final.read, close: async () => { await final.close(); await fh.close(); } };
    },
    abort: async () => {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
    },
  };
}

type Opened = { meta: CacheMeta; fh: FileHandle } | { problem: string };

async function openCache(file: string, key: string, keyHash: string, count: number, t: DecodeTarget, verify: 'full' | 'header'): Promise<Opened> {
  let fh: FileHandle;
  let size: number;
  try {
    // A FIFO or device in place of the cache is a problem to rebuild over, never something to wait on.
    ({ fh, size } = await openRegularFile(file, { what: 'image cache' }));
  } catch (e) {
    return { problem: (e as Error).message };
  }
  const fail = async (problem: string): Promise<Opened> => {
    await fh.close();
    return { problem };
  };
  try {
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
