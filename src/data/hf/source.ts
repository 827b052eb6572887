/**
 * A Hugging Face Hub dataset read from its Parquet shards in place: labels are read once per shard,
 * image bytes row group by row group as the decoder asks for them (hyparquet, with
 * hyparquet-compressors for zstd/gzip/brotli/lz4 pages).
 */
import type { FileHandle } from 'node:fs/promises';
import { FileReadError, openRegularFile, readRegularText } from '../../util/regular-file.js';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { checkIndex, type DataSource } from '../dataset-base.js';
import { sha256Hex } from '../random.js';
import { resolveSplitName } from '../layouts.js';
import type { BadFile, Dataset, DatasetItem } from '../types.js';
import { globToRegExp, parseCard, parquetFeatures, type DatasetCard, type Feature } from './card.js';
import { ensureHubFiles, hfOffline, HubError, offlineMissing, resolveRevision, type HubFile, type HubOptions, type HubRevision } from './hub.js';

export interface HfOpenOptions extends HubOptions {
  id: string;
  /** Branch, tag or commit; default 'main'. */
  revision?: string;
  /** The `datasets` config (subset); default: the card's default config. */
  config?: string;
  imageColumn?: string;
  labelColumn?: string;
  /** Only these splits are fetched (the others stay listed but are not downloaded). */
  splits?: readonly string[];
}

/** A row group larger than this is refused rather than read into memory whole. */
const MAX_ROW_GROUP_BYTES = 1 << 30;
/** Parquet footers of real shards are KBs to a few MB. */
const MAX_FOOTER_BYTES = 64 << 20;
/** Rows one shard may claim: real shards hold thousands; a footer claiming billions is damaged or hostile. */
const MAX_SHARD_ROWS = 50_000_000;
/** Row groups kept decoded: the image cache reads in index order with a few decodes in flight. */
const ROW_GROUP_CACHE = 4;

const SHARD_OF = /-(\d{5})-of-(\d{5})/;

/** Split → shards, from the card's `configs` data_files, else from the file names as `datasets` infers them. */
export function splitFiles(files: readonly HubFile[], card: DatasetCard, config: string | undefined): { config: string; splits: Map<string, HubFile[]> } {
  const parquet = files.filter((f) => f.path.endsWith('.parquet')).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const splits = new Map<string, HubFile[]>();
  if (card.configs.length > 0) {
    const chosen = config === undefined ? card.configs.find((c) => c.isDefault) ?? card.configs.find((c) => c.name === 'default') ?? card.configs[0]! : card.configs.find((c) => c.name === config);
    if (!chosen) throw new HubError(`Expected data.config to be one of ${card.configs.map((c) => `'${c.name}'`).join(', ')} (the configs in the dataset card) but received '${config}'`);
    for (const [split, globs] of chosen.dataFiles) {
      const res = globs.map(globToRegExp);
      const hit = parquet.filter((f) => res.some((r) => r.test(f.path)));
      if (hit.length) splits.set(split, hit);
    }
    return { config: chosen.name, splits };
  }
  // No card configs: `<config>/<split>/NNNN.parquet` (the Hub's parquet conversion) or `[dir/]<split>-NNNNN-of-NNNNN.parquet`.
  const configs = new Set(parquet.map((f) => f.path.split('/')).filter((p) => p.length === 3).map((p) => p[0]!));
  const cfg = config ?? (configs.has('default') ? 'default' : configs.size === 1 ? [...configs][0]! : undefined);
  if (cfg === undefined && configs.size > 1) throw new HubError(`Expected data.config to name one of the dataset's configs (${[...configs].join(', ')}) but received none`);
  for (const f of parquet) {
    const parts = f.path.split('/');
    let split: string | undefined;
    if (parts.length === 3 && cfg !== undefined && parts[0] === cfg) split = parts[1]!.replace(/^partial-/, '');
    else if (parts.length !== 3 || cfg === undefined) split = /^([A-Za-z][A-Za-z0-9_]*?)(?=[-.])/.exec(parts[parts.length - 1]!)?.[1];
    if (!split) continue;
    const list = splits.get(split);
    if (list) list.push(f);
    else splits.set(split, [f]);
  }
  if (config !== undefined && splits.size === 0) throw new HubError(`Expected Parquet files under '${config}/' (data.config) but the revision has none; configs present: ${[...configs].join(', ') || 'none'}`);
  return { config: cfg ?? 'default', splits };
}

/** `train-00003-of-00008` names say how many shards a split has: refuse a split with some missing. */
function checkShardsComplete(split: string, files: readonly HubFile[]): void {
  const named = files.map((f) => SHARD_OF.exec(f.path)).filter((m): m is RegExpExecArray => m !== null);
  if (named.length !== files.length || named.length === 0) return;
  const total = Number(named[0]![2]);
  const have = new Set(named.map((m) => Number(m[1])));
  const missing = Array.from({ length: total }, (_, i) => i).filter((i) => !have.has(i));
  if (missing.length) {
    throw new HubError(`Expected all ${total} shards of split '${split}' but ${missing.length} are missing (e.g. shard ${missing[0]}): the cached snapshot is incomplete.\n` +
      '  Run once with network (without HF_HUB_OFFLINE) to fetch the rest.');
  }
}

/** An AsyncBuffer over an open file handle (hyparquet reads footers and column chunks through it). */
function fileBuffer(fh: FileHandle, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const e = Math.min(end ?? size, size);
      const buf = Buffer.allocUnsafeSlow(Math.max(0, e - start));
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, start + off);
        if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${start + off}`);
        off += bytesRead;
      }
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
    },
  };
}

interface Shard {
  path: string;
  repoPath: string;
  fh: FileHandle;
  file: AsyncBuffer;
  metadata: FileMetaData;
  /** First row of each row group, and the total at the end. */
  groupStarts: number[];
}

// Loaded with the first Parquet file: 46 modules that every command importing the data layer would otherwise load.
let parquetLib: Promise<{ parquetMetadata: typeof import('hyparquet').parquetMetadata; parquetRead: typeof import('hyparquet').parquetRead; compressors: typeof import('hyparquet-compressors').compressors }> | undefined;
function parquet() {
  parquetLib ??= Promise.all([import('hyparquet'), import('hyparquet-compressors')]).then(([h, c]) => ({ parquetMetadata: h.parquetMetadata, parquetRead: h.parquetRead, compressors: c.compressors }));
  return parquetLib;
}

async function readFooter(path: string, fh: FileHandle, size: number): Promise<FileMetaData> {
  const bad = (what: string) => new HubError(`Expected a Parquet file at ${path} but ${what}; delete it (the next run fetches it again)`);
  if (size < 12) throw bad(`it has ${size} bytes`);
  const tail = Buffer.alloc(8);
  await fh.read(tail, 0, 8, size - 8);
  if (tail.toString('latin1', 4) !== 'PAR1') throw bad('it does not end with PAR1');
  const len = tail.readUInt32LE(0);
  if (len > size - 12 || len > MAX_FOOTER_BYTES) throw bad(`its footer claims ${len} bytes (the file has ${size})`);
  const footer = await fileBuffer(fh, size).slice(size - 8 - len, size);
  try {
    // parquetMetadata wants the footer and its trailing 8 bytes; the offsets inside stay file-absolute.
    return (await parquet()).parquetMetadata(footer);
  } catch (e) {
    throw bad(`its footer does not parse (${(e as Error).message})`);
  }
}

async function openShard(path: string, repoPath: string): Promise<Shard> {
  const { fh, size } = await openRegularFile(path, { what: 'Parquet shard' });
  try {
    const metadata = await readFooter(path, fh, size);
    if (Number(metadata.num_rows) > MAX_SHARD_ROWS || metadata.row_groups.length > MAX_SHARD_ROWS) {
      throw new HubError(`Expected at most ${MAX_SHARD_ROWS} rows in the Parquet file ${path} but its footer claims ${metadata.num_rows}; delete it (the next run fetches it again)`);
    }
    const groupStarts = [0];
    for (const g of metadata.row_groups) groupStarts.push(groupStarts[groupStarts.length - 1]! + Number(g.num_rows));
    if (groupStarts[groupStarts.length - 1] !== Number(metadata.num_rows)) {
      throw new HubError(`Expected the row groups of ${path} to add up to its ${metadata.num_rows} rows but they hold ${groupStarts[groupStarts.length - 1]}`);
    }
    return { path, repoPath, fh, file: fileBuffer(fh, size), metadata, groupStarts };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

function topColumns(md: FileMetaData): string[] {
  const out: string[] = [];
  let i = 1;
  const root = md.schema[0]!;
  for (let c = 0; c < (root.num_children ?? 0); c++) {
    const el = md.schema[i]!;
    out.push(el.name);
    // skip the subtree
    let pending = el.num_children ?? 0;
    i++;
    while (pending > 0) {
      pending += (md.schema[i]!.num_children ?? 0) - 1;
      i++;
    }
  }
  return out;
}

interface Columns {
  image: string;
  label: string;
  classNames?: string[];
}

function chooseColumns(features: Feature[], present: string[], o: HfOpenOptions, where: string): Columns {
  const image = o.imageColumn ?? features.find((f) => f.kind === 'image')?.name ?? ['image', 'img', 'pixel_values'].find((c) => present.includes(c));
  const labelFeature = o.labelColumn !== undefined ? features.find((f) => f.name === o.labelColumn) : features.find((f) => f.kind === 'class_label');
  const label = o.labelColumn ?? labelFeature?.name ?? ['label', 'labels', 'fine_label'].find((c) => present.includes(c));
  if (!image || !present.includes(image)) {
    throw new HubError(`Expected an image column ${image ? `'${image}'` : '(an Image feature, or one named image/img)'} in ${where} but its columns are ${present.join(', ')}; name it with data.imageColumn`);
  }
  if (!label || !present.includes(label)) {
    throw new HubError(`Expected a label column ${label ? `'${label}'` : '(a ClassLabel feature, or one named label/labels)'} in ${where} but its columns are ${present.join(', ')}; name it with data.labelColumn`);
  }
  return { image, label, classNames: labelFeature?.kind === 'class_label' ? labelFeature.names : undefined };
}

type Rows = Record<string, unknown>[];

async function readRows(s: Shard, column: string, rowStart: number, rowEnd: number): Promise<Rows> {
  let rows: Rows = [];
  const { parquetRead, compressors } = await parquet();
  await parquetRead({
    file: s.file, metadata: s.metadata, columns: [column], rowStart, rowEnd, utf8: false, compressors, rowFormat: 'object',
    onComplete: (r: Rows) => {
      rows = r;
    },
  });
  return rows;
}

interface Item {
  shard: number;
  row: number;
}

class HfSplit implements Dataset {
  readonly source = 'hf' as const;
  readonly length: number;
  private readonly groups = new Map<string, Promise<Rows>>();
  constructor(
    readonly description: string,
    readonly classNames: readonly string[],
    private readonly shards: Shard[],
    private readonly items: Item[],
    private readonly labelValues: Int32Array,
    private readonly imageColumn: string,
    readonly fingerprint: string,
    readonly excluded: readonly BadFile[],
    readonly revision: string,
  ) {
    this.length = items.length;
  }
  label(i: number): number {
    checkIndex(i, this.length);
    return this.labelValues[i]!;
  }
  labels(): Int32Array {
    return this.labelValues.slice();
  }
  itemName(i: number): string {
    checkIndex(i, this.length);
    return `${this.shards[this.items[i]!.shard]!.repoPath}#${this.items[i]!.row}`;
  }
  private rowGroup(s: Shard, k: number, g: number): Promise<Rows> {
    const key = `${k}:${g}`;
    let p = this.groups.get(key);
    if (p) {
      this.groups.delete(key); // re-insert: most recently used last
      this.groups.set(key, p);
      return p;
    }
    const rg = s.metadata.row_groups[g]!;
    const bytes = rg.columns.filter((c) => c.meta_data?.path_in_schema[0] === this.imageColumn)
      .reduce((a, c) => a + Number(c.meta_data?.total_uncompressed_size ?? 0n) + Number(c.meta_data?.total_compressed_size ?? 0n), 0);
    if (bytes > MAX_ROW_GROUP_BYTES) {
      return Promise.reject(new Error(`row group ${g} of ${s.repoPath} holds ${bytes} bytes of '${this.imageColumn}', over the ${MAX_ROW_GROUP_BYTES >> 20} MiB ablate reads at once; rewrite the shard with smaller row groups`));
    }
    p = readRows(s, this.imageColumn, s.groupStarts[g]!, s.groupStarts[g + 1]!);
    this.groups.set(key, p);
    p.catch(() => this.groups.delete(key));
    while (this.groups.size > ROW_GROUP_CACHE) this.groups.delete(this.groups.keys().next().value!);
    return p;
  }
  async read(i: number): Promise<DatasetItem> {
    checkIndex(i, this.length);
    const it = this.items[i]!;
    const s = this.shards[it.shard]!;
    let g = 0;
    while (s.groupStarts[g + 1]! <= it.row) g++;
    const rows = await this.rowGroup(s, it.shard, g);
    const v = rows[it.row - s.groupStarts[g]!]?.[this.imageColumn];
    const bytes = v instanceof Uint8Array ? v : typeof v === 'object' && v !== null && (v as { bytes?: unknown }).bytes instanceof Uint8Array ? (v as { bytes: Uint8Array }).bytes : undefined;
    if (!bytes) {
      const path = typeof v === 'object' && v !== null ? (v as { path?: unknown }).path : undefined;
      throw new Error(path ? `image stored by path (${Buffer.from(path as Uint8Array).toString()}) rather than bytes in the Parquet file` : `no image bytes in column '${this.imageColumn}'`);
    }
    return { kind: 'encoded', bytes };
  }
  async close(): Promise<void> {}
}

/** Labels as ints: ClassLabel ints as they are, strings mapped to their sorted order. */
function labelIndex(values: unknown[], names: string[] | undefined): { labels: (number | null)[]; names: string[] } {
  if (values.every((v) => typeof v === 'string' || v instanceof Uint8Array || v === null || v === undefined) && values.some((v) => v !== null && v !== undefined)) {
    const str = values.map((v) => (v === null || v === undefined ? null : typeof v === 'string' ? v : Buffer.from(v as Uint8Array).toString('utf8')));
    const uniq = names ?? [...new Set(str.filter((s): s is string => s !== null))].sort();
    const at = new Map(uniq.map((n, i) => [n, i]));
    return { labels: str.map((s) => (s === null ? null : at.get(s) ?? null)), names: uniq };
  }
  const ints = values.map((v) => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' && Number.isInteger(v) ? v : null));
  const max = ints.reduce<number>((m, v) => (v !== null && v > m ? v : m), -1);
  return { labels: ints, names: names ?? Array.from({ length: max + 1 }, (_, i) => String(i)) };
}

/** Does a cached snapshot hold the card (if any) and complete shards for every wanted split? */
function cacheHolds(rev: HubRevision, o: HfOpenOptions): boolean {
  try {
    const { splits } = splitFiles(rev.files, { features: new Map(), configs: [] }, o.config);
    const wanted = o.splits?.map((s) => resolveSplitName(s, [...splits.keys()]) ?? s) ?? [...splits.keys()];
    for (const s of wanted) {
      if (!splits.has(s)) return false;
      checkShardsComplete(s, splits.get(s)!);
    }
    return wanted.length > 0;
  } catch {
    return false;
  }
}

/** What an open resolved: the commit read (and its file list) and the config used. */
export interface HfOpened {
  revision: HubRevision;
  config: string;
}

/**
 * Open `id@revision` from the Hub: resolve the revision (once, to a commit), fetch the card and the
 * requested splits' shards into the Hub cache, and index them.
 */
export async function openHf(o: HfOpenOptions): Promise<DataSource & { hf: HfOpened }> {
  const env = o.env ?? process.env;
  let rev = await resolveRevision(o.id, o.revision ?? 'main', o);
  if (rev.from === 'cache' && !hfOffline(env) && !cacheHolds(rev, o)) {
    // A pinned commit whose snapshot lacks a wanted split (Python fetched only part of it): list it from the Hub.
    rev = await resolveRevision(o.id, o.revision ?? 'main', o, true);
  }
  const readme = rev.files.find((f) => f.path === 'README.md');
  let card: DatasetCard = { features: new Map(), configs: [] };
  if (readme) {
    const [p] = await ensureHubFiles(rev, [readme], o);
    try {
      card = parseCard(await readRegularText(p!, { what: 'dataset card', maxBytes: 8 << 20 }));
    } catch (e) {
      // A card past 8 MiB is prose, not metadata: the Parquet files' own features are used instead.
      if (!(e instanceof FileReadError && e.code === 'too-large')) throw e;
    }
  }
  const { config, splits } = splitFiles(rev.files, card, o.config);
  const where = `${o.id}@${rev.commit.slice(0, 12)}`;
  if (splits.size === 0) {
    throw new HubError(`Expected Parquet files in ${o.id}@${rev.revision} (commit ${rev.commit}) but found none${rev.from === 'cache' ? ' in the cached snapshot' : ''}.\n` +
      `  Datasets stored as scripts or other formats have a Parquet conversion on the branch refs/convert/parquet: set data.revision to refs/convert/parquet.`);
  }
  const wanted = o.splits?.map((s) => resolveSplitName(s, [...splits.keys()]) ?? s) ?? [...splits.keys()];
  for (const s of wanted) {
    if (!splits.has(s) && rev.from === 'cache') throw offlineMissing(o.id, rev.revision, env, { name: s, have: [...splits.keys()] });
    if (!splits.has(s)) throw new HubError(`Expected split '${s}' in ${where} (config '${config}') but it has ${[...splits.keys()].map((n) => `'${n}'`).join(', ')}`);
  }
  const cardFeatures = card.features.get(config) ?? card.features.get('default') ?? (card.features.size === 1 ? [...card.features.values()][0]! : []);
  const opened = new Map<string, Dataset>();
  const allShards: Shard[] = [];
  try {
    for (const split of wanted) {
      const files = splits.get(split)!;
      checkShardsComplete(split, files);
      const paths = await ensureHubFiles(rev, files, o);
      const shards: Shard[] = [];
      for (let k = 0; k < files.length; k++) {
        const s = await openShard(paths[k]!, files[k]!.path);
        shards.push(s);
        allShards.push(s);
      }
      const features = cardFeatures.length ? cardFeatures : parquetFeatures(shards[0]!.metadata.key_value_metadata);
      const cols = chooseColumns(features, topColumns(shards[0]!.metadata), o, `${where} ${shards[0]!.repoPath}`);
      const items: Item[] = [];
      const raw: unknown[] = [];
      for (let k = 0; k < shards.length; k++) {
        const s = shards[k]!;
        const present = topColumns(s.metadata);
        if (!present.includes(cols.image) || !present.includes(cols.label)) {
          throw new HubError(`Expected columns '${cols.image}' and '${cols.label}' in every shard of '${split}' but ${s.repoPath} has ${present.join(', ')}`);
        }
        const labelBytes = s.metadata.row_groups.reduce((a, g) => a + g.columns.filter((c) => c.meta_data?.path_in_schema[0] === cols.label)
          .reduce((b, c) => b + Number(c.meta_data?.total_uncompressed_size ?? 0n), 0), 0);
        if (labelBytes > MAX_ROW_GROUP_BYTES) throw new HubError(`Expected a label column '${cols.label}' of at most ${MAX_ROW_GROUP_BYTES >> 20} MiB in ${s.repoPath} but it has ${labelBytes} bytes; name the class column with data.labelColumn`);
        const rows = await readRows(s, cols.label, 0, Number(s.metadata.num_rows));
        for (let r = 0; r < rows.length; r++) {
          items.push({ shard: k, row: r });
          raw.push(rows[r]![cols.label]);
        }
      }
      const { labels, names } = labelIndex(raw, cols.classNames);
      const keep: number[] = [];
      const excluded: BadFile[] = [];
      labels.forEach((l, i) => {
        if (l !== null && l >= 0 && l < names.length) keep.push(i);
        else excluded.push({ index: -1, name: `${shards[items[i]!.shard]!.repoPath}#${items[i]!.row}`, reason: 'corrupt-record', detail: `label ${String(raw[i])} is not one of the ${names.length} classes` });
      });
      const fp = sha256Hex(['hf', o.id, rev.commit, config, split, cols.image, cols.label, ...files.map((f, k) => `${f.path}\t${shards[k]!.metadata.num_rows}`)].join('\n'));
      const desc = `hf:${o.id}@${rev.commit.slice(0, 12)} (${config}/${split}${excluded.length ? `, ${excluded.length} unlabelled rows left out` : ''})`;
      opened.set(split, new HfSplit(desc, names, shards, keep.map((i) => items[i]!), Int32Array.from(keep, (i) => labels[i]!), cols.image, fp, excluded, rev.commit));
    }
  } catch (e) {
    await Promise.all(allShards.map((s) => s.fh.close().catch(() => undefined)));
    throw e;
  }
  return {
    source: 'hf',
    location: `hf:${o.id}@${rev.commit}`,
    splitNames: [...splits.keys()],
    hf: { revision: rev, config },
    split(name: string): Dataset {
      const key = resolveSplitName(name, [...splits.keys()]) ?? name;
      const d = opened.get(key);
      if (d) return d;
      if (splits.has(key)) throw new HubError(`Split '${name}' of ${where} was not fetched (this open asked for ${wanted.join(', ')})`);
      throw new HubError(`Expected split '${name}' in ${where} (config '${config}') but it has ${[...splits.keys()].map((n) => `'${n}'`).join(', ')}`);
    },
    close: async () => {
      await Promise.all(allShards.map((s) => s.fh.close().catch(() => undefined)));
    },
  };
}
