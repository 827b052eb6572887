/**
 * WebDataset: samples stored as consecutive tar members sharing a key (`000123.jpg` + `000123.cls`), in
 * shards named by a brace pattern (`/data/imagenet/train-{000000..001023}.tar`). Shards are read in
 * place through the tar index (no unpacking into small files); for training they are decoded once, in
 * shard order, into the decoded-image cache like any other source (data.stream: false), or streamed the
 * WebDataset way by `webDatasetStream` (and the training loader built on it, stream-loader.ts): shards
 * split over ranks and workers, a seeded shuffle buffer, resumable by position.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { checkRegularFile, readRegularTextSync } from '../util/regular-file.js';
import { basename, dirname, join, resolve } from 'node:path';
import { fetchFile, type FetchOptions } from './fetch/download.js';
import { dataCacheDir } from './fetch/places.js';
import { checkIndex, ConcatDataset, type DataSource } from './dataset-base.js';
import { IMAGE_EXT } from './image-folder.js';
import { resolveSplitName } from './layouts.js';
import { mulberry32, permutation, seedFrom, sha256Hex } from './random.js';
import { TarStore } from './stores/tar-store.js';
import type { BadFile, Dataset, DatasetItem } from './types.js';

/** More shards than this from one pattern is a typo (`{0..99999999}`), not a dataset. */
const MAX_SHARDS = 1_000_000;
/** One sample's image; anything larger is refused rather than read into memory. */
const MAX_MEMBER_BYTES = 256 << 20;

/**
 * Expand `{000000..001023}` ranges (zero-padded to the width written) and `{a,b,c}` lists, as the
 * `braceexpand` package WebDataset uses does; several groups multiply.
 */
export function expandShardPattern(pattern: string): string[] {
  const m = /\{([^{}]*)\}/.exec(pattern);
  if (!m) return [pattern];
  const head = pattern.slice(0, m.index);
  const tail = pattern.slice(m.index + m[0].length);
  const body = m[1]!;
  let items: string[];
  const range = /^(\d+)\.\.(\d+)$/.exec(body);
  if (range) {
    const [a, b] = [Number(range[1]), Number(range[2])];
    if (b < a) throw new RangeError(`Expected a shard range {FIRST..LAST} with FIRST ≤ LAST in ${pattern} but received {${body}}`);
    if (b - a + 1 > MAX_SHARDS) throw new RangeError(`Expected at most ${MAX_SHARDS} shards from ${pattern} but {${body}} names ${b - a + 1}`);
    const width = range[1]!.length;
    items = Array.from({ length: b - a + 1 }, (_, k) => String(a + k).padStart(width, '0'));
  } else if (body.includes(',')) items = body.split(',');
  else throw new RangeError(`Expected {FIRST..LAST} or {a,b,…} in the shard pattern ${pattern} but received {${body}}`);
  const out: string[] = [];
  for (const it of items) {
    for (const rest of expandShardPattern(tail)) {
      out.push(head + it + rest);
      if (out.length > MAX_SHARDS) throw new RangeError(`Expected at most ${MAX_SHARDS} shards from ${pattern}`);
    }
  }
  return out;
}

export const isWebDatasetPath = (p: string): boolean => /\.tar(\}|$)/.test(p) || /^https?:\/\/.*\.tar/.test(p);

/** A shard's split name: `train-000012.tar` → train, `imagenet-val-0001.tar` → imagenet-val. */
function splitOfShard(file: string): string {
  return basename(file).replace(/\.tar$/, '').replace(/[-_.]?\d+$/, '') || 'train';
}

/** The local shard files of a pattern, folder, or http(s) base (fetched into the data cache first). */
async function shardFiles(location: string, o: FetchOptions): Promise<string[]> {
  if (/^https?:\/\//.test(location)) {
    const urls = expandShardPattern(location);
    const u = new URL(urls[0]!);
    const dir = join(dataCacheDir(o.env), 'webdataset', u.host, dirname(u.pathname).replace(/^\/+/, ''));
    const out: string[] = [];
    for (const url of urls) {
      // No checksum is published for WebDataset shards: the tar index below rejects a damaged one.
      out.push((await fetchFile({ name: decodeURIComponent(basename(new URL(url).pathname)), url }, dir, o)).path);
    }
    return out;
  }
  const p = resolve(location);
  if (existsSync(p) && statSync(p).isDirectory()) {
    const tars = readdirSync(p).filter((n) => n.endsWith('.tar')).sort().map((n) => join(p, n));
    if (tars.length === 0) throw new Error(`Expected WebDataset shards (*.tar) in ${p} but it holds none`);
    return tars;
  }
  const files = expandShardPattern(p);
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`Expected ${files.length} shard${files.length > 1 ? 's' : ''} from ${location} but ${missing.length} ${missing.length > 1 ? 'are' : 'is'} missing, e.g. ${missing[0]}`);
  for (const f of files) checkRegularFile(f, { what: 'WebDataset shard' });
  return files;
}

interface Sample {
  shard: number;
  key: string;
  image: string;
  label: number;
}

/** Class names beside the shards: classes.txt (one per line) or classes.json (a list). */
function classNamesBeside(dir: string): string[] | undefined {
  const txt = join(dir, 'classes.txt');
  const json = join(dir, 'classes.json');
  if (existsSync(txt)) return readRegularTextSync(txt, { what: 'class list' }).split('\n').map((s) => s.trim()).filter((s) => s !== '');
  if (existsSync(json)) {
    let v: unknown;
    try {
      v = JSON.parse(readRegularTextSync(json, { what: 'class list' }));
    } catch (e) {
      if (e instanceof SyntaxError) throw new Error(`Expected a JSON list of class names in ${json} but it does not parse: ${e.message}`);
      throw e;
    }
    if (!Array.isArray(v)) throw new Error(`Expected a JSON list of class names in ${json} but received ${typeof v}`);
    return v.map(String);
  }
  return undefined;
}

function parseLabel(ext: string, bytes: Uint8Array): number | undefined {
  const text = Buffer.from(bytes).toString('utf8').trim();
  if (ext === 'cls' || ext === 'cls2' || ext === 'index') return /^-?\d+$/.test(text) ? Number(text) : undefined;
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    for (const k of ['label', 'cls', 'class']) if (Number.isInteger(v?.[k])) return v[k] as number;
  } catch {
    /* not JSON */
  }
  return undefined;
}

class WdsSplit implements Dataset {
  readonly source = 'webdataset' as const;
  readonly length: number;
  constructor(
    readonly description: string,
    readonly classNames: readonly string[],
    private readonly stores: TarStore[],
    readonly shardPaths: readonly string[],
    readonly samples: readonly Sample[],
    readonly fingerprint: string,
    readonly excluded: readonly BadFile[],
  ) {
    this.length = samples.length;
  }
  label(i: number): number {
    checkIndex(i, this.length);
    return this.samples[i]!.label;
  }
  labels(): Int32Array {
    return Int32Array.from(this.samples, (s) => s.label);
  }
  itemName(i: number): string {
    checkIndex(i, this.length);
    return `${basename(this.shardPaths[this.samples[i]!.shard]!)}#${this.samples[i]!.image}`;
  }
  async read(i: number): Promise<DatasetItem> {
    checkIndex(i, this.length);
    const s = this.samples[i]!;
    return { kind: 'encoded', bytes: await this.stores[s.shard]!.read(s.image) };
  }
  async close(): Promise<void> {}
}

/**
 * Open WebDataset shards: a brace pattern, a folder of `*.tar`, or an http(s) pattern. Shards group into
 * splits by name (`train-*.tar`, `validation-*.tar`); a sample needs an image member and a `.cls` (or a
 * `.json` with `label`/`cls`); samples without one are listed as excluded.
 */
export async function openWebDataset(location: string, o: FetchOptions = {}): Promise<DataSource> {
  const files = await shardFiles(location, o);
  const stores: TarStore[] = [];
  try {
    for (const f of files) stores.push(await TarStore.open(f));
    const bySplit = new Map<string, number[]>();
    files.forEach((f, k) => {
      const list = bySplit.get(splitOfShard(f));
      if (list) list.push(k);
      else bySplit.set(splitOfShard(f), [k]);
    });
    const names = classNamesBeside(dirname(files[0]!));
    const splits = new Map<string, Dataset>();
    for (const [split, shardIdx] of bySplit) {
      const samples: Sample[] = [];
      const excluded: BadFile[] = [];
      const identity: string[] = [];
      for (const k of shardIdx) {
        const st = statSync(files[k]!);
        identity.push(`${basename(files[k]!)}\t${st.size}\t${Math.trunc(st.mtimeMs)}`);
        const groups = new Map<string, Map<string, { path: string; size: number }>>();
        for (const e of await stores[k]!.list()) {
          const base = basename(e.path);
          const dot = base.indexOf('.');
          if (dot <= 0) continue;
          const key = `${dirname(e.path) === '.' ? '' : `${dirname(e.path)}/`}${base.slice(0, dot)}`;
          const ext = base.slice(dot + 1).toLowerCase();
          const g = groups.get(key) ?? new Map();
          g.set(ext, { path: e.path, size: e.size });
          groups.set(key, g);
        }
        for (const [key, g] of groups) {
          const img = [...g.entries()].find(([ext]) => IMAGE_EXT.test(`.${ext}`));
          const lab = g.get('cls') ?? g.get('cls2') ?? g.get('index') ?? g.get('json');
          const labExt = g.has('cls') ? 'cls' : g.has('cls2') ? 'cls2' : g.has('index') ? 'index' : 'json';
          const name = `${basename(files[k]!)}#${key}`;
          if (!img) {
            excluded.push({ index: -1, name, reason: 'missing', detail: `no image member (.jpg/.png/…) for key ${key}; has ${[...g.keys()].join(', ')}` });
            continue;
          }
          if (img[1].size > MAX_MEMBER_BYTES) {
            excluded.push({ index: -1, name, reason: 'unreadable', detail: `${img[1].size} bytes, over the ${MAX_MEMBER_BYTES >> 20} MiB a sample may have` });
            continue;
          }
          const label = lab && lab.size < 4096 ? parseLabel(labExt, await stores[k]!.read(lab.path)) : undefined;
          if (label === undefined || label < 0 || (names !== undefined && label >= names.length)) {
            excluded.push({ index: -1, name, reason: 'corrupt-record', detail: lab ? `label member ${lab.path} does not hold a class index${names ? ` below ${names.length}` : ''}` : 'no .cls or .json label member' });
            continue;
          }
          samples.push({ shard: k, key, image: img[1].path, label });
        }
      }
      const max = samples.reduce((m, s) => Math.max(m, s.label), -1);
      const classNames = names ?? Array.from({ length: max + 1 }, (_, i) => String(i));
      const fp = sha256Hex(['webdataset', split, ...identity].join('\n'));
      const desc = `${location} (${split}, ${shardIdx.length} shard${shardIdx.length > 1 ? 's' : ''}${excluded.length ? `, ${excluded.length} samples left out` : ''})`;
      splits.set(split, new WdsSplit(desc, classNames, stores, files, samples, fp, excluded));
    }
    return {
      source: 'webdataset',
      location,
      splitNames: [...splits.keys()],
      split(name: string): Dataset {
        // One pattern is one split: any split name reads it, as a path to a folder of images would.
        const d = splits.get(resolveSplitName(name, [...splits.keys()]) ?? name) ?? (splits.size === 1 && name === 'train' ? [...splits.values()][0] : undefined);
        if (!d) throw new RangeError(`Expected split '${name}' among the shards of ${location} but they hold ${[...splits.keys()].map((s) => `'${s}'`).join(', ')} (split names come from shard names: train-000000.tar)`);
        return d;
      },
      close: async () => {
        await Promise.all(stores.map((s) => s.close()));
      },
    };
  } catch (e) {
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    throw e;
  }
}

/**
 * The shards one loader worker of one rank reads in epoch `epoch`, in reading order. A rank's shards are fixed
 * for the run (shard k goes to rank k mod worldSize), so every rank streams the same number of samples each
 * epoch and data-parallel ranks can agree on an epoch's length without talking; within a rank the shard
 * order is shuffled per (seed, epoch) and dealt to its workers in turn. Every shard is read by exactly one
 * worker of one rank per epoch.
 */
export function assignShards(count: number, o: { seed: number; epoch: number; rank?: number; worldSize?: number; worker?: number; workers?: number }): number[] {
  const { rank = 0, worldSize = 1, worker = 0, workers = 1 } = o;
  for (const [k, v, hi] of [['worldSize', worldSize, Infinity], ['workers', workers, Infinity], ['rank', rank, worldSize - 1], ['worker', worker, workers - 1]] as const) {
    if (!Number.isInteger(v) || v < (k === 'rank' || k === 'worker' ? 0 : 1) || v > hi) throw new RangeError(`Expected ${k} to be an integer${hi === Infinity ? ' ≥ 1' : ` from 0 to ${hi}`} but received ${v}`);
  }
  const ranks: number[] = [];
  for (let k = rank; k < count; k += worldSize) ranks.push(k);
  const order = permutation(ranks.length, seedFrom('wds-shards', o.seed, rank), o.epoch);
  const out: number[] = [];
  for (let j = worker; j < order.length; j += workers) out.push(ranks[order[j]!]!);
  return out;
}

/** Samples per shard of a WebDataset split (0 for a shard whose samples were all left out). */
export function shardSampleCounts(ds: Dataset): number[] {
  const wds = webDatasetSplitOf(ds);
  if (!wds) throw new TypeError(`Expected a WebDataset split (source webdataset) but received source ${ds.source}`);
  const counts = new Array<number>(wds.shardPaths.length).fill(0);
  for (const s of wds.samples) counts[s.shard]!++;
  return counts;
}

/**
 * The WebDataset split under `ds` when `ds` is one whole split (openDataset wraps it in a one-part
 * ConcatDataset), else undefined: a slice (`train[:80%]`) or a sum of splits cuts across shards and cannot
 * be streamed shard by shard.
 */
export function webDatasetSplitOf(ds: Dataset): WdsSplit | undefined {
  if (ds instanceof WdsSplit) return ds;
  if (ds instanceof ConcatDataset && ds.parts.length === 1 && ds.parts[0] instanceof WdsSplit) return ds.parts[0];
  return undefined;
}

export interface StreamOptions {
  seed: number;
  epoch: number;
  rank?: number;
  worldSize?: number;
  worker?: number;
  workers?: number;
  /** Samples held for shuffling (WebDataset's shuffle(n)); 0 keeps shard order. Default 1000. */
  bufferSize?: number;
  /** Resume: leave out the first `skip` samples this worker would yield (same order as an uninterrupted epoch). */
  skip?: number;
}

export interface StreamedSample {
  /** Index in the split (its canonical order). */
  index: number;
  label: number;
  bytes: Uint8Array;
}

/**
 * Samples of a WebDataset split the way WebDataset streams them: the shard order shuffled per (seed, epoch),
 * this worker's shards read one after another, each sample passed through a seeded shuffle buffer. The same
 * options give the same sequence; `skip` resumes mid-epoch without changing what follows.
 */
export async function* webDatasetStream(ds: Dataset, o: StreamOptions): AsyncGenerator<StreamedSample> {
  const wds = webDatasetSplitOf(ds);
  if (!wds) throw new TypeError(`Expected one whole WebDataset split (source webdataset, no slice like train[:80%]) but received ${ds.source} ${ds.description}`);
  const { rank = 0, worker = 0, bufferSize = 1000, skip = 0 } = o;
  const shards = assignShards(wds.shardPaths.length, o);
  const mine = new Set(shards);
  // Samples of a shard are consecutive in the split's order; shards are read in the order assigned.
  const byShard = new Map<number, number[]>();
  wds.samples.forEach((s, i) => {
    if (!mine.has(s.shard)) return;
    const list = byShard.get(s.shard);
    if (list) list.push(i);
    else byShard.set(s.shard, [i]);
  });
  const sequence = shards.flatMap((k) => byShard.get(k) ?? []);
  const order = shuffleBufferOrder(sequence, bufferSize, seedFrom('wds-buffer', o.seed, o.epoch, rank, worker));
  // Where each sample leaves the buffer: the ones a resume skips are never read.
  const leavesAt = new Map<number, number>();
  order.forEach((i, k) => {
    leavesAt.set(i, k);
  });
  // Bytes are read as samples enter the buffer, in shard order (one sequential pass per shard, as WebDataset
  // reads a tar stream), and handed out in the buffer's order: memory holds at most bufferSize + 1 samples.
  const held = new Map<number, Uint8Array>();
  let next = 0;
  for (let k = skip; k < order.length; k++) {
    const i = order[k]!;
    while (!held.has(i)) {
      const j = sequence[next++]!;
      if (leavesAt.get(j)! < skip) continue;
      const item = await wds.read(j);
      if (item.kind !== 'encoded') throw new Error('webdataset items are encoded bytes');
      held.set(j, item.bytes);
    }
    const bytes = held.get(i)!;
    held.delete(i);
    yield { index: i, label: wds.label(i), bytes };
  }
}

/**
 * The order samples leave a shuffle buffer of `size` (WebDataset's shuffle(n)): filled in `sequence` order,
 * each new sample swapped for a random one held, the rest drained at random. A function of the seed alone.
 */
function shuffleBufferOrder(sequence: readonly number[], size: number, seed: number): number[] {
  if (size <= 0) return [...sequence];
  const rand = mulberry32(seed);
  const buffer: number[] = [];
  const out: number[] = [];
  for (const i of sequence) {
    if (buffer.length < size) {
      buffer.push(i);
      continue;
    }
    const j = Math.floor(rand() * buffer.length);
    out.push(buffer[j]!);
    buffer[j] = i;
  }
  while (buffer.length) {
    const j = Math.floor(rand() * buffer.length);
    out.push(buffer[j]!);
    buffer[j] = buffer[buffer.length - 1]!;
    buffer.pop();
  }
  return out;
}
