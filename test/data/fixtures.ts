// Test fixtures written from scratch (never from /work/shared/data): images, zips, tars, .mat files, TFDS dirs.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { crc32, deflateRawSync, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { encodeExample, frameTfRecord } from '../../src/data/index.js';

export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'ablate-data-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeFile(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/** Flat-colour RGB pixels, so a decoded image can be checked against the colour it was made with. */
export function flat(width: number, height: number, rgb: [number, number, number]): Buffer {
  const b = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) b.set(rgb, i * 3);
  return b;
}

/**
 * sharp's mozjpeg writes no JFIF APP0 segment; real camera/web JPEGs usually have one, and TFDS's
 * cats_vs_dogs filter looks for it — so insert one after SOI (byte surgery).
 */
export function withJfif(jpeg: Buffer): Buffer {
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
  return Buffer.concat([jpeg.subarray(0, 2), app0, jpeg.subarray(2)]);
}

export async function jpeg(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return withJfif(await sharp(flat(width, height, rgb), { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).toBuffer());
}

export async function png(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp(flat(width, height, rgb), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** Minimal zip writer (deflate or store), enough to stand in for the Kaggle download. */
export function writeZip(path: string, entries: { name: string; data: Uint8Array }[], compress = true): void {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const body = compress ? deflateRawSync(e.data) : Buffer.from(e.data);
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(compress ? 8 : 0, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(compress ? 8 : 0, 10);
    cd.writeUInt16LE(0x21, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(e.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    central.push(cd, name);
    offset += 30 + name.length + body.length;
  }
  const cdBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  writeFile(path, Buffer.concat([...locals, cdBuf, end]));
}

export function writeTar(path: string, entries: { name: string; data: Uint8Array }[]): void {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(e.data.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const x of h) sum += x;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h, Buffer.from(e.data), Buffer.alloc((512 - (e.data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  writeFile(path, Buffer.concat(blocks));
}

// ---- MATLAB v5 writer (little-endian), for Stanford Dogs list files ----
function element(type: number, data: Buffer, small = false): Buffer {
  if (small && data.length <= 4) {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(type | (data.length << 16), 0);
    data.copy(b, 4);
    return b;
  }
  const tag = Buffer.alloc(8);
  tag.writeUInt32LE(type, 0);
  tag.writeUInt32LE(data.length, 4);
  return Buffer.concat([tag, data, Buffer.alloc((8 - (data.length % 8)) % 8)]);
}
function u32s(...v: number[]): Buffer {
  const b = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => { b.writeUInt32LE(x, i * 4); });
  return b;
}
function matrix(cls: number, dims: number[], name: string, body: Buffer[]): Buffer {
  const inner = Buffer.concat([element(6, u32s(cls, 0)), element(5, u32s(...dims)), element(1, Buffer.from(name, 'latin1'), true), ...body]);
  return element(14, inner);
}
function charArray(s: string): Buffer {
  const d = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) d.writeUInt16LE(s.charCodeAt(i), i * 2);
  return matrix(4, [1, s.length], '', [element(4, d)]);
}
export type MatVar = { name: string; strings: string[] } | { name: string; doubles: number[] };

export function writeMat(path: string, vars: MatVar[], compress = true): void {
  const header = Buffer.alloc(128, 0x20);
  header.write('MATLAB 5.0 MAT-file, Platform: GLNXA64, written by ablate tests', 0, 'latin1');
  header.fill(0, 116, 124);
  header.writeUInt16LE(0x0100, 124);
  header.write('IM', 126, 'latin1');
  const parts: Buffer[] = [header];
  for (const v of vars) {
    let m: Buffer;
    if ('strings' in v) m = matrix(1, [v.strings.length, 1], v.name, v.strings.map(charArray));
    else {
      const d = Buffer.alloc(v.doubles.length * 8);
      v.doubles.forEach((x, i) => { d.writeDoubleLE(x, i * 8); });
      m = matrix(6, [v.doubles.length, 1], v.name, [element(9, d)]);
    }
    if (compress) {
      const z = deflateSync(m);
      const tag = u32s(15, z.length);
      parts.push(tag, z);
    } else parts.push(m);
  }
  writeFile(path, Buffer.concat(parts));
}

// ---- TFDS prepared dataset writer ----
export interface TfdsExample {
  image: Uint8Array;
  label: number;
  filename: string;
}

export function writeTfds(dir: string, name: string, classNames: string[], splits: Record<string, TfdsExample[][]>): string[] {
  const shardFiles: string[] = [];
  const splitInfo = [];
  for (const [split, shards] of Object.entries(splits)) {
    shards.forEach((examples, s) => {
      const file = join(dir, `${name}-${split}.tfrecord-${String(s).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}`);
      const recs = examples.map((e) =>
        frameTfRecord(
          encodeExample({
            image: { kind: 'bytes', value: [e.image] },
            'image/filename': { kind: 'bytes', value: [Buffer.from(e.filename)] },
            label: { kind: 'int64', value: [e.label] },
          }),
        ),
      );
      writeFile(file, Buffer.concat(recs));
      shardFiles.push(file);
    });
    splitInfo.push({ name: split, shardLengths: shards.map((s) => String(s.length)), numBytes: '0' });
  }
  writeFile(
    join(dir, 'dataset_info.json'),
    JSON.stringify({ name, version: '4.0.1', fileFormat: 'tfrecord', splits: splitInfo, supervisedKeys: { tuple: { items: [{ featureKey: 'image' }, { featureKey: 'label' }] } } }),
  );
  writeFile(
    join(dir, 'features.json'),
    JSON.stringify({
      pythonClassName: 'tensorflow_datasets.core.features.features_dict.FeaturesDict',
      featuresDict: {
        features: {
          image: { pythonClassName: 'tensorflow_datasets.core.features.image_feature.Image', image: { shape: { dimensions: ['-1', '-1', '3'] }, dtype: 'uint8', encodingFormat: 'jpeg' } },
          'image/filename': { pythonClassName: 'tensorflow_datasets.core.features.text_feature.Text', text: {} },
          label: { pythonClassName: 'tensorflow_datasets.core.features.class_label_feature.ClassLabel', classLabel: { numClasses: String(classNames.length) } },
        },
      },
    }),
  );
  writeFile(join(dir, 'label.labels.txt'), classNames.join('\n') + '\n');
  return shardFiles;
}
