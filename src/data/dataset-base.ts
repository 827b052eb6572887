import { invalidArg } from '../util/errors.js';
import { sha256Hex } from './random.js';
import type { BadFile, Dataset, DatasetItem, SourceName } from './types.js';
import type { ByteStore, StoreEntry } from './stores/store.js';
import { resolveSplitName } from './layouts.js';

/** A source opened once, offering one Dataset per named split (`train`, `test`, ...). */
export interface DataSource {
  readonly source: SourceName;
  readonly location: string;
  readonly splitNames: readonly string[];
  split(name: string): Dataset;
  close(): Promise<void>;
}

export function checkIndex(i: number, length: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= length) throw invalidArg('index', `an integer in [0, ${length})`, i);
}

export function unknownSplit(name: string, available: readonly string[], location: string): Error {
  return invalidArg('split', `one of ${available.map((s) => `'${s}'`).join(', ')} (the splits of ${location})`, name);
}

/** A DataSource over named splits that share one file store (image folders, Stanford Dogs). */
export function sourceFromSplits(source: SourceName, location: string, datasets: ReadonlyMap<string, Dataset>, store: { close(): Promise<void> }): DataSource {
  return {
    source,
    location,
    splitNames: [...datasets.keys()],
    split(name: string): Dataset {
      const d = datasets.get(resolveSplitName(name, [...datasets.keys()]) ?? name);
      if (!d) throw unknownSplit(name, [...datasets.keys()], location);
      return d;
    },
    close: () => store.close(),
  };
}

export interface LabeledEntry {
  entry: StoreEntry;
  label: number;
}

/** Files in a ByteStore with labels, in canonical order: image folders, zips, Stanford Dogs. */
export class FileDataset implements Dataset {
  readonly length: number;
  readonly fingerprint: string;
  constructor(
    readonly source: SourceName,
    readonly description: string,
    private readonly store: ByteStore,
    private readonly files: readonly LabeledEntry[],
    readonly classNames: readonly string[],
    readonly excluded: readonly BadFile[] = [],
  ) {
    this.length = files.length;
    // Content identity, not location: moving a folder keeps its cache, touching a file invalidates it.
    this.fingerprint = sha256Hex(
      [source, classNames.join('/'), ...files.map((f) => `${f.entry.path}\t${f.entry.size}\t${f.entry.stamp}\t${f.label}`)].join('\n'),
    );
  }
  label(i: number): number {
    checkIndex(i, this.length);
    return this.files[i]!.label;
  }
  labels(): Int32Array {
    return Int32Array.from(this.files, (f) => f.label);
  }
  itemName(i: number): string {
    checkIndex(i, this.length);
    return this.files[i]!.entry.path;
  }
  async read(i: number): Promise<DatasetItem> {
    checkIndex(i, this.length);
    return { kind: 'encoded', bytes: await this.store.read(this.files[i]!.entry.path) };
  }
  async close(): Promise<void> {}
}

/** Items of `base` at `indices`, in that order: what a split slice like `train[:80%]` yields. */
export class SubsetDataset implements Dataset {
  readonly length: number;
  readonly fingerprint: string;
  readonly source: SourceName;
  readonly classNames: readonly string[];
  readonly excluded: readonly BadFile[];
  readonly revision?: string;
  constructor(
    private readonly base: Dataset,
    private readonly indices: Int32Array,
    readonly description: string,
  ) {
    this.length = indices.length;
    this.source = base.source;
    this.classNames = base.classNames;
    this.excluded = base.excluded;
    this.revision = base.revision;
    this.fingerprint = sha256Hex(`${base.fingerprint}\n${description}\n${Buffer.from(indices.buffer, indices.byteOffset, indices.byteLength).toString('base64')}`);
  }
  label(i: number): number {
    checkIndex(i, this.length);
    return this.base.label(this.indices[i]!);
  }
  labels(): Int32Array {
    const all = this.base.labels();
    return Int32Array.from(this.indices, (j) => all[j]!);
  }
  itemName(i: number): string {
    checkIndex(i, this.length);
    return this.base.itemName(this.indices[i]!);
  }
  read(i: number): Promise<DatasetItem> {
    checkIndex(i, this.length);
    return this.base.read(this.indices[i]!);
  }
  close(): Promise<void> {
    return this.base.close();
  }
}

/** Several datasets one after another (`train+test`); they must share class names. */
export class ConcatDataset implements Dataset {
  readonly length: number;
  readonly fingerprint: string;
  readonly source: SourceName;
  readonly classNames: readonly string[];
  readonly excluded: readonly BadFile[];
  readonly revision?: string;
  private readonly starts: number[] = [];
  constructor(
    readonly parts: readonly Dataset[],
    readonly description: string,
    private readonly onClose: () => Promise<void>,
  ) {
    let n = 0;
    for (const p of parts) {
      this.starts.push(n);
      n += p.length;
    }
    this.length = n;
    this.source = parts[0]!.source;
    this.classNames = parts[0]!.classNames;
    this.excluded = parts.flatMap((p) => p.excluded).filter((b, i, all) => all.findIndex((o) => o.name === b.name) === i);
    this.revision = parts[0]!.revision;
    this.fingerprint = parts.length === 1 ? parts[0]!.fingerprint : sha256Hex(parts.map((p) => p.fingerprint).join('+'));
  }
  private locate(i: number): [Dataset, number] {
    checkIndex(i, this.length);
    let k = this.parts.length - 1;
    while (this.starts[k]! > i) k--;
    return [this.parts[k]!, i - this.starts[k]!];
  }
  label(i: number): number {
    const [d, j] = this.locate(i);
    return d.label(j);
  }
  labels(): Int32Array {
    const out = new Int32Array(this.length);
    this.parts.forEach((p, k) => { out.set(p.labels(), this.starts[k]!); });
    return out;
  }
  itemName(i: number): string {
    const [d, j] = this.locate(i);
    return d.itemName(j);
  }
  read(i: number): Promise<DatasetItem> {
    const [d, j] = this.locate(i);
    return d.read(j);
  }
  close(): Promise<void> {
    return this.onClose();
  }
}

/** Run `fn` over items with at most `limit` in flight; results keep input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
