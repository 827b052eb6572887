import { existsSync } from 'node:fs';
import { readdir, type FileHandle } from 'node:fs/promises';
import { openRegularFile, readRegularText } from '../util/regular-file.js';
import { join } from 'node:path';
import { maskedCrc32c } from '../util/crc32c.js';
import { checkIndex, unknownSplit, type DataSource } from './dataset-base.js';
import { sha256Hex } from './random.js';
import { decodeExample } from './tf-example.js';
import { scanTfRecords } from './tfrecord.js';
import type { BadFile, Dataset, DatasetItem } from './types.js';

const SHARD = /^(.+)-([A-Za-z0-9_]+)\.tfrecord-(\d{5})-of-(\d{5})$/;

/** `~/tensorflow_datasets/cats_vs_dogs` holds version folders; pick the highest that is prepared. */
export function resolveTfdsDir(path: string): string | null {
  if (existsSync(join(path, 'dataset_info.json'))) return path;
  return null;
}

export async function findTfdsVersionDir(path: string): Promise<string | null> {
  if (resolveTfdsDir(path)) return path;
  const versions = (await readdir(path, { withFileTypes: true }).catch(() => []))
    .filter((d) => d.isDirectory() && /^\d+\.\d+\.\d+$/.test(d.name) && existsSync(join(path, d.name, 'dataset_info.json')))
    .map((d) => d.name)
    .sort((a, b) => {
      const pa = a.split('.').map(Number);
      const pb = b.split('.').map(Number);
      return pa[0]! - pb[0]! || pa[1]! - pb[1]! || pa[2]! - pb[2]!;
    });
  return versions.length ? join(path, versions[versions.length - 1]!) : null;
}

interface FeatureSpec {
  imageKey: string;
  labelKey: string;
  classNames: string[];
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Features of a TFDS FeaturesDict, in either the current (`featuresDict`) or the pre-4.5 (`content`) format. */
function featureEntries(features: Json): [string, Json][] {
  const dict = isObj(features.featuresDict) && isObj(features.featuresDict.features) ? features.featuresDict.features : isObj(features.content) ? features.content : {};
  return Object.entries(dict).filter((e): e is [string, Json] => isObj(e[1]));
}
const className = (f: Json): string => String(f.pythonClassName ?? f.type ?? '');

async function readFeatureSpec(dir: string, info: Json): Promise<FeatureSpec> {
  const features = existsSync(join(dir, 'features.json')) ? (JSON.parse(await readRegularText(join(dir, 'features.json'), { what: 'TFDS features.json' })) as Json) : {};
  const entries = featureEntries(features);
  let imageKey = entries.find(([, f]) => className(f).endsWith('.Image'))?.[0];
  let labelKey = entries.find(([, f]) => className(f).endsWith('.ClassLabel'))?.[0];
  // supervisedKeys names the (input, label) pair explicitly; both JSON shapes occur in the wild.
  const sk = info.supervisedKeys;
  if (isObj(sk)) {
    if (typeof sk.input === 'string') imageKey = sk.input;
    if (typeof sk.output === 'string') labelKey = sk.output;
    const items = isObj(sk.tuple) && Array.isArray(sk.tuple.items) ? sk.tuple.items : null;
    if (items && items.length === 2 && isObj(items[0]) && isObj(items[1])) {
      if (typeof items[0].featureKey === 'string') imageKey = items[0].featureKey;
      if (typeof items[1].featureKey === 'string') labelKey = items[1].featureKey;
    }
  }
  imageKey ??= 'image';
  labelKey ??= 'label';
  const label = entries.find(([k]) => k === labelKey)?.[1];
  const body = label && (isObj(label.classLabel) ? label.classLabel : isObj(label.content) ? label.content : {});
  let classNames: string[] = [];
  if (body && Array.isArray(body.names)) classNames = body.names.map(String);
  else if (existsSync(join(dir, `${labelKey}.labels.txt`))) {
    classNames = (await readRegularText(join(dir, `${labelKey}.labels.txt`), { what: 'TFDS labels file' })).split('\n').map((s) => s.trim()).filter((s) => s !== '');
  } else {
    const n = Number(body?.numClasses ?? body?.num_classes ?? 0);
    classNames = Array.from({ length: n }, (_, i) => String(i));
  }
  return { imageKey, labelKey, classNames };
}

interface TfdsRecord {
  shard: number;
  offset: number;
  length: number;
  label: number;
  name: string;
}

class TfdsSplit implements Dataset {
  readonly source = 'tfds' as const;
  readonly length: number;
  constructor(
    readonly description: string,
    readonly classNames: readonly string[],
    private readonly handles: FileHandle[],
    private readonly shardNames: string[],
    private readonly records: TfdsRecord[],
    private readonly imageKey: string,
    readonly fingerprint: string,
    readonly excluded: readonly BadFile[],
  ) {
    this.length = records.length;
  }
  label(i: number): number {
    checkIndex(i, this.length);
    return this.records[i]!.label;
  }
  labels(): Int32Array {
    return Int32Array.from(this.records, (r) => r.label);
  }
  itemName(i: number): string {
    checkIndex(i, this.length);
    const r = this.records[i]!;
    return r.name || `${this.shardNames[r.shard]}#${r.offset}`;
  }
  async read(i: number): Promise<DatasetItem> {
    checkIndex(i, this.length);
    const r = this.records[i]!;
    const buf = Buffer.alloc(r.length + 4);
    await this.handles[r.shard]!.read(buf, 0, r.length + 4, r.offset);
    // Verified when indexed, verified again now: the file may have changed or rotted since.
    if (buf.readUInt32LE(r.length) !== maskedCrc32c(buf, 0, r.length)) {
      throw new Error(`payload CRC mismatch in ${this.shardNames[r.shard]} at byte ${r.offset}`);
    }
    const image = decodeExample(buf.subarray(0, r.length)).get(this.imageKey);
    if (image?.kind !== 'bytes' || image.value.length === 0) throw new Error(`record has no '${this.imageKey}' bytes feature`);
    return { kind: 'encoded', bytes: image.value[0]! };
  }
  async close(): Promise<void> {}
}

/**
 * A TFDS prepared dataset (`dataset_info.json`, `features.json`, `<name>-<split>.tfrecord-NNNNN-of-NNNNN`),
 * read without TensorFlow. Records keep TFDS's order, so `train[:80%]` selects the same examples as `tfds.load`.
 * Opening reads every shard once to verify CRCs and collect labels.
 */
export async function openTfds(path: string): Promise<DataSource> {
  const dir = await findTfdsVersionDir(path);
  if (!dir) throw new Error(`Expected a TFDS prepared dataset (a folder with dataset_info.json, or version folders holding one) at ${path} but found none`);
  const info = JSON.parse(await readRegularText(join(dir, 'dataset_info.json'), { what: 'TFDS dataset_info.json' })) as Json;
  if (info.fileFormat !== undefined && info.fileFormat !== 'tfrecord') {
    throw new Error(`Expected TFDS file format 'tfrecord' in ${dir} but received '${String(info.fileFormat)}'`);
  }
  const spec = await readFeatureSpec(dir, info);
  const files = (await readdir(dir)).filter((f) => SHARD.test(f)).sort();
  const splitNames = [...new Set(files.map((f) => SHARD.exec(f)![2]!))];
  const declared = new Map<string, number[]>();
  if (Array.isArray(info.splits)) {
    for (const s of info.splits) if (isObj(s) && Array.isArray(s.shardLengths)) declared.set(String(s.name), s.shardLengths.map(Number));
  }

  const handles: FileHandle[] = [];
  const splits = new Map<string, Dataset>();
  try {
    for (const split of splitNames) {
      const shardFiles = files.filter((f) => SHARD.exec(f)![2] === split);
      const records: TfdsRecord[] = [];
      const excluded: BadFile[] = [];
      const identity: string[] = [];
      const firstHandle = handles.length;
      for (let s = 0; s < shardFiles.length; s++) {
        const file = join(dir, shardFiles[s]!);
        // Opened once as a regular file (a FIFO or device among the shards is refused by name), read whole to
        // index it, then kept open for reading records.
        const { fh } = await openRegularFile(file, { what: 'TFRecord shard' });
        handles.push(fh);
        const st = await fh.stat();
        identity.push(`${shardFiles[s]}\t${st.size}\t${Math.trunc(st.mtimeMs)}`);
        const buf = await fh.readFile();
        const scan = scanTfRecords(buf);
        for (const c of scan.corrupt) excluded.push({ index: -1, name: `${shardFiles[s]}#${c.offset}`, reason: 'corrupt-record', detail: c.detail });
        if (scan.framingLostAt) {
          excluded.push({ index: -1, name: `${shardFiles[s]}#${scan.framingLostAt.offset}`, reason: 'corrupt-record', detail: `${scan.framingLostAt.detail}; rest of shard skipped` });
        }
        for (const rec of scan.records) {
          const ex = decodeExample(buf.subarray(rec.offset, rec.offset + rec.length));
          const lab = ex.get(spec.labelKey);
          const fname = ex.get('image/filename');
          const name = fname?.kind === 'bytes' && fname.value[0] ? Buffer.from(fname.value[0]).toString('utf8') : '';
          if (lab?.kind !== 'int64' || lab.value.length !== 1) {
            excluded.push({ index: -1, name: name || `${shardFiles[s]}#${rec.offset}`, reason: 'corrupt-record', detail: `no int64 '${spec.labelKey}' feature` });
            continue;
          }
          records.push({ shard: s, offset: rec.offset, length: rec.length, label: lab.value[0]!, name });
        }
      }
      const expected = declared.get(split)?.reduce((a, b) => a + b, 0);
      const classNames = spec.classNames.length ? spec.classNames : inferClassNames(records);
      const fp = sha256Hex(['tfds', dir.split('/').slice(-2).join('/'), split, spec.imageKey, ...identity].join('\n'));
      const desc = `${dir} (${split}${expected !== undefined && expected !== records.length ? `, ${records.length} of ${expected} declared records readable` : ''})`;
      splits.set(split, new TfdsSplit(desc, classNames, handles.slice(firstHandle), shardFiles, records, spec.imageKey, fp, excluded));
    }
  } catch (e) {
    await Promise.all(handles.map((h) => h.close()));
    throw e;
  }
  return {
    source: 'tfds',
    location: dir,
    splitNames: [...splits.keys()],
    split(name: string): Dataset {
      const d = splits.get(name);
      if (!d) throw unknownSplit(name, [...splits.keys()], dir);
      return d;
    },
    close: async () => {
      await Promise.all(handles.map((h) => h.close()));
    },
  };
}

function inferClassNames(records: TfdsRecord[]): string[] {
  const max = records.reduce((m, r) => Math.max(m, r.label), -1);
  return Array.from({ length: max + 1 }, (_, i) => String(i));
}
