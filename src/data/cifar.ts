import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { readRegularFile, readRegularText } from '../util/regular-file.js';
import { join } from 'node:path';
import { checkIndex, unknownSplit, type DataSource } from './dataset-base.js';
import { sha256Hex } from './random.js';
import type { Dataset, DatasetItem } from './types.js';

const PIXELS = 32 * 32 * 3;
/** The largest batch file is CIFAR-100's train.bin, 50,000 × 3074 bytes (about 147 MiB); twice that is refused unread. */
const MAX_CIFAR_BATCH_BYTES = 2 * 50_000 * (PIXELS + 2);
const CIFAR10_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const LAYOUT = {
  cifar10: { sub: 'cifar-10-batches-bin', train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'], test: ['test_batch.bin'] },
  cifar100: { sub: 'cifar-100-binary', train: ['train.bin'], test: ['test.bin'] },
} as const;

export type CifarKind = keyof typeof LAYOUT;

/** Which CIFAR binary layout `path` holds (it may be the batches folder itself or its parent). */
export function detectCifar(path: string): { kind: CifarKind; dir: string } | null {
  for (const kind of ['cifar10', 'cifar100'] as const) {
    const l = LAYOUT[kind];
    for (const dir of [path, join(path, l.sub)]) if (existsSync(join(dir, l.train[0]))) return { kind, dir };
  }
  return null;
}

class CifarSplit implements Dataset {
  readonly length: number;
  constructor(
    readonly source: CifarKind,
    readonly description: string,
    readonly classNames: readonly string[],
    private readonly data: Uint8Array,
    private readonly recordSize: number,
    private readonly labelOffset: number,
    readonly fingerprint: string,
  ) {
    this.length = data.length / recordSize;
  }
  readonly excluded = [];
  label(i: number): number {
    checkIndex(i, this.length);
    return this.data[i * this.recordSize + this.labelOffset]!;
  }
  labels(): Int32Array {
    return Int32Array.from({ length: this.length }, (_, i) => this.data[i * this.recordSize + this.labelOffset]!);
  }
  itemName(i: number): string {
    checkIndex(i, this.length);
    return `${this.source}#${i}`;
  }
  async read(i: number): Promise<DatasetItem> {
    checkIndex(i, this.length);
    // Records store three 32x32 planes (R, G, B); the loader wants interleaved HWC.
    const base = i * this.recordSize + this.recordSize - PIXELS;
    const pixels = new Uint8Array(PIXELS);
    for (let p = 0; p < 1024; p++) {
      pixels[p * 3] = this.data[base + p]!;
      pixels[p * 3 + 1] = this.data[base + 1024 + p]!;
      pixels[p * 3 + 2] = this.data[base + 2048 + p]!;
    }
    return { kind: 'raw', pixels, height: 32, width: 32 };
  }
  async close(): Promise<void> {}
}

async function readNames(dir: string, file: string): Promise<string[] | null> {
  if (!existsSync(join(dir, file))) return null;
  return (await readRegularText(join(dir, file), { what: 'CIFAR class names file' })).split('\n').map((s) => s.trim()).filter((s) => s !== '');
}

/** CIFAR-10/100 binary version. CIFAR-100 labels are the 100 fine classes unless `labelKind: 'coarse'`. */
export async function openCifar(path: string, kind?: CifarKind, labelKind: 'fine' | 'coarse' = 'fine'): Promise<DataSource> {
  const found = detectCifar(path);
  if (!found || (kind && found.kind !== kind)) {
    const want = kind ?? 'cifar10';
    throw new Error(`Expected the ${want} binary layout (${LAYOUT[want].train[0]} in ${path} or ${path}/${LAYOUT[want].sub}) but ${found ? `found ${found.kind}` : 'found none'}`);
  }
  const { dir } = found;
  const k = found.kind;
  const recordSize = k === 'cifar10' ? PIXELS + 1 : PIXELS + 2;
  const labelOffset = k === 'cifar10' || labelKind === 'coarse' ? 0 : 1;
  const classNames =
    k === 'cifar10'
      ? (await readNames(dir, 'batches.meta.txt')) ?? CIFAR10_NAMES
      : (await readNames(dir, labelKind === 'coarse' ? 'coarse_label_names.txt' : 'fine_label_names.txt')) ??
        Array.from({ length: labelKind === 'coarse' ? 20 : 100 }, (_, i) => String(i));
  const splits = new Map<string, Dataset>();
  for (const split of ['train', 'test'] as const) {
    const files = LAYOUT[k][split];
    const parts: Buffer[] = [];
    const identity: string[] = [k, split, labelKind];
    for (const f of files) {
      const p = join(dir, f);
      if (!existsSync(p)) throw new Error(`Expected ${f} in ${dir} (CIFAR ${split} split) but it is missing`);
      // Each batch file is ~30 MB; MAX_CIFAR_BATCH_BYTES refuses anything far larger before reading it.
      const buf = await readRegularFile(p, { what: 'CIFAR batch file', maxBytes: MAX_CIFAR_BATCH_BYTES });
      if (buf.length % recordSize !== 0) {
        throw new Error(`Expected ${p} to hold whole ${recordSize}-byte records but received ${buf.length} bytes`);
      }
      const st = await stat(p);
      identity.push(`${f}\t${st.size}\t${Math.trunc(st.mtimeMs)}`);
      parts.push(buf);
    }
    splits.set(split, new CifarSplit(k, `${dir} (${split})`, classNames, Buffer.concat(parts), recordSize, labelOffset, sha256Hex(identity.join('\n'))));
  }
  return {
    source: k,
    location: dir,
    splitNames: ['train', 'test'],
    split(name: string): Dataset {
      const d = splits.get(name);
      if (!d) throw unknownSplit(name, ['train', 'test'], dir);
      return d;
    },
    close: async () => {},
  };
}
