import { crc32, inflateRawSync } from 'node:zlib';
import { CheckpointError, hexPreview } from './checkpoint-error.js';

/**
 * Just enough of the zip format for PyTorch checkpoints. The whole file is in memory, so stored
 * records come back as zero-copy views; the central directory is trusted over local headers because
 * PyTorch writes data descriptors (sizes and CRC after the data, zero in the local header).
 */

export interface ZipEntry {
  name: string;
  method: number;
  /** CRC-32 of the uncompressed data, as the central directory declares it. */
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/**
 * A deflated record may inflate to at most this many times its compressed size. PyTorch stores its
 * records uncompressed, real weights deflate by a few percent, and a deflate bomb reaches ~1000×;
 * so a higher ratio, on a record or on all records together, past RATIO_FREE_BYTES is refused before inflating.
 */
export const MAX_DEFLATE_RATIO = 100;
const RATIO_FREE_BYTES = 1 << 20;

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;

const utf8 = new TextDecoder('utf-8');

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u64(dv: DataView, at: number): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`Expected a zip64 size below 2^53 but received ${v}`);
  return Number(v);
}

function need(bytes: Uint8Array, at: number, length: number, what: string): void {
  if (at < 0 || at + length > bytes.length) {
    throw new CheckpointError(
      `Truncated zip archive: expected ${length} bytes of ${what} at offset ${at} but the file has ${bytes.length} bytes`);
  }
}

export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && view(bytes).getUint32(0, true) === SIG_LOCAL;
}

export function readZipDirectory(bytes: Uint8Array): Map<string, ZipEntry> {
  const dv = view(bytes);
  // The end record sits in the last 22 bytes plus an optional comment of up to 65535 bytes.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (dv.getUint32(i, true) === SIG_EOCD) { eocd = i; break; }
  }
  if (eocd < 0) {
    throw new CheckpointError(
      `Expected a zip end-of-central-directory record in the last 64 KiB but found none in ${bytes.length} bytes ` +
      '(the file is truncated or not a zip archive)');
  }
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
    const loc = eocd - 20;
    need(bytes, loc, 20, 'zip64 end-of-central-directory locator');
    if (dv.getUint32(loc, true) !== SIG_EOCD64_LOCATOR) {
      throw new CheckpointError(`Expected a zip64 locator at offset ${loc} but received bytes ${hexPreview(bytes, loc, 4)}`);
    }
    const rec = u64(dv, loc + 8);
    need(bytes, rec, 56, 'zip64 end-of-central-directory record');
    if (dv.getUint32(rec, true) !== SIG_EOCD64) {
      throw new CheckpointError(`Expected a zip64 end record at offset ${rec} but received bytes ${hexPreview(bytes, rec, 4)}`);
    }
    count = u64(dv, rec + 32);
    cdSize = u64(dv, rec + 40);
    cdOffset = u64(dv, rec + 48);
  }
  need(bytes, cdOffset, cdSize, 'central directory');

  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    need(bytes, p, 46, 'central directory entry');
    if (dv.getUint32(p, true) !== SIG_CENTRAL) {
      throw new CheckpointError(`Expected central directory entry ${i} at offset ${p} but received bytes ${hexPreview(bytes, p, 4)}`);
    }
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localHeaderOffset = dv.getUint32(p + 42, true);
    need(bytes, p + 46, nameLen + extraLen + commentLen, 'central directory entry name and extra fields');
    const name = utf8.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // Zip64 extra field: only the fields saturated in the fixed header are present, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const take = (): number => {
          if (q + 8 > e + 4 + len) throw new CheckpointError(`Expected more zip64 fields for ${JSON.stringify(name)} but the extra field ends`);
          const v = u64(dv, q);
          q += 8;
          return v;
        };
        if (size === U32_MAX) size = take();
        if (compressedSize === U32_MAX) compressedSize = take();
        if (localHeaderOffset === U32_MAX) localHeaderOffset = take();
      }
      e += 4 + len;
    }
    if (entries.has(name)) throw new CheckpointError(`Expected unique record names but ${JSON.stringify(name)} appears twice in the zip directory`);
    entries.set(name, { name, method, crc32: crc, compressedSize, size, localHeaderOffset });
    p = extraEnd + commentLen;
  }
  checkDeflateRatio(entries);
  return entries;
}

/**
 * Before anything is inflated: each deflated record, and all of them together, may declare at most
 * MAX_DEFLATE_RATIO times their compressed bytes once past RATIO_FREE_BYTES. Per record alone, thousands of
 * records just under the free size (a few MB of file) would each be inflated, gigabytes in all.
 */
function checkDeflateRatio(entries: ReadonlyMap<string, ZipEntry>): void {
  let size = 0;
  let compressed = 0;
  let count = 0;
  for (const e of entries.values()) {
    if (e.method !== 8) continue;
    checkRecordRatio(e);
    size += e.size;
    compressed += e.compressedSize;
    count++;
  }
  if (size > RATIO_FREE_BYTES && size > compressed * MAX_DEFLATE_RATIO) {
    throw new CheckpointError(
      `Refusing a zip archive whose ${count} deflated records declare ${size} bytes in all, deflated into ${compressed} ` +
      `(ratio ${Math.round(size / Math.max(1, compressed))}:1, above ${MAX_DEFLATE_RATIO}:1), which is how a deflate bomb looks; ` +
      'PyTorch stores tensors uncompressed, so re-save the file with torch.save');
  }
}

function checkRecordRatio(entry: ZipEntry): void {
  if (entry.size > RATIO_FREE_BYTES && entry.size > entry.compressedSize * MAX_DEFLATE_RATIO) {
    throw new CheckpointError(
      `Refusing zip record ${JSON.stringify(entry.name)}: it declares ${entry.size} bytes deflated into ${entry.compressedSize} ` +
      `(ratio ${Math.round(entry.size / Math.max(1, entry.compressedSize))}:1, above ${MAX_DEFLATE_RATIO}:1), which is how a deflate bomb looks; ` +
      'PyTorch stores tensors uncompressed, so re-save the file with torch.save');
  }
}

const GP_DATA_DESCRIPTOR = 0x0008;

/**
 * One record's bytes, verified: the local header must agree with the central directory, inflation
 * stops at the declared size (never more memory than that), and the result must have exactly the
 * declared size and CRC-32. Any disagreement is damage, reported with the record's name.
 */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const dv = view(bytes);
  const h = entry.localHeaderOffset;
  const what = JSON.stringify(entry.name);
  need(bytes, h, 30, `local header of ${what}`);
  if (dv.getUint32(h, true) !== SIG_LOCAL) {
    throw new CheckpointError(
      `Expected a zip local header for ${what} at offset ${h} but received bytes ${hexPreview(bytes, h, 4)}`);
  }
  const nameLen = dv.getUint16(h + 26, true);
  need(bytes, h + 30, nameLen, `local header name of ${what}`);
  const localName = utf8.decode(bytes.subarray(h + 30, h + 30 + nameLen));
  if (localName !== entry.name) {
    throw new CheckpointError(`Damaged zip record: the local header at offset ${h} names ${JSON.stringify(localName)} but the directory says ${what}`);
  }
  // Without a data descriptor the local header repeats CRC and sizes; they must agree with the directory.
  if ((dv.getUint16(h + 6, true) & GP_DATA_DESCRIPTOR) === 0) {
    const localCrc = dv.getUint32(h + 14, true);
    const localCompressed = dv.getUint32(h + 18, true);
    const localSize = dv.getUint32(h + 22, true);
    const agrees = (local: number, central: number): boolean => local === central || local === U32_MAX;
    if (!agrees(localCrc, entry.crc32) || !agrees(localCompressed, entry.compressedSize) || !agrees(localSize, entry.size)) {
      throw new CheckpointError(
        `Damaged zip record ${what}: its local header declares CRC ${hex32(localCrc)}, ${localCompressed} → ${localSize} bytes ` +
        `but the directory declares CRC ${hex32(entry.crc32)}, ${entry.compressedSize} → ${entry.size} bytes`);
    }
  }
  const start = h + 30 + nameLen + dv.getUint16(h + 28, true);
  need(bytes, start, entry.compressedSize, `data of ${what}`);
  const raw = bytes.subarray(start, start + entry.compressedSize);
  let data: Uint8Array;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) {
      throw new CheckpointError(`Damaged zip record ${what}: stored (uncompressed) but its directory entry declares ${entry.compressedSize} stored bytes for ${entry.size} bytes of data`);
    }
    data = raw;
  } else if (entry.method === 8) {
    data = inflateBounded(raw, entry);
  } else {
    throw new CheckpointError(
      `Expected zip entry ${what} to be stored (method 0) or deflated (method 8) but received method ${entry.method}`);
  }
  const actual = crc32(data) >>> 0;
  if (actual !== entry.crc32) {
    throw new CheckpointError(
      `Damaged zip record ${what}: its CRC-32 is ${hex32(actual)} but the archive declares ${hex32(entry.crc32)} (its ${entry.size} bytes are not the bytes that were written)`);
  }
  return data;
}

function inflateBounded(raw: Uint8Array, entry: ZipEntry): Uint8Array {
  const what = JSON.stringify(entry.name);
  checkRecordRatio(entry);
  let out: Buffer;
  try {
    // One byte of headroom tells "exactly the declared size" from "more than declared".
    out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size + 1) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      throw new CheckpointError(`Refusing zip record ${what}: it inflates to more than the ${entry.size} bytes it declares (a damaged record or a deflate bomb); inflation was stopped there`);
    }
    throw new CheckpointError(`Expected deflate data for ${what} but inflating failed: ${e.message}`);
  }
  if (out.length !== entry.size) {
    throw new CheckpointError(`Damaged zip record ${what}: it inflates to ${out.length} bytes but declares ${entry.size}`);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
}

export interface ZipRecord {
  name: string;
  data: Uint8Array;
}

/** What a record's headers need: its name, and the size and CRC-32 of its (stored) data. */
export interface ZipRecordInfo {
  name: string;
  size: number;
  crc32: number;
}

/** The bytes around the records' data in a stored zip, for writers that stream the data itself. */
export interface StoredZipLayout {
  /** Each record's local header, padding included; the record's data follows it directly. */
  localHeaders: Uint8Array[];
  /** Central directory and end record, after the last record's data. */
  tail: Uint8Array[];
  /** Bytes of the whole archive. */
  size: number;
}

/**
 * Stored (uncompressed) zip, laid out like PyTorch's writer: each record's data starts on an
 * `alignment`-byte boundary, padded with an extra field tagged "FB", so readers can map tensors
 * straight out of the file. Returns the pieces to concatenate, so tensor bytes are copied once.
 */
export function buildStoredZip(records: readonly ZipRecord[], alignment = 64): Uint8Array[] {
  const layout = storedZipLayout(records.map((r) => ({ name: r.name, size: r.data.length, crc32: crc32(r.data) >>> 0 })), alignment);
  const chunks: Uint8Array[] = [];
  records.forEach((r, i) => { chunks.push(layout.localHeaders[i]!, r.data); });
  chunks.push(...layout.tail);
  return chunks;
}

/**
 * The headers and directory of buildStoredZip's archive for records whose sizes and CRCs are known before their
 * data is: write localHeaders[i] then record i's data, for each record in order, then the tail.
 */
export function storedZipLayout(records: readonly ZipRecordInfo[], alignment = 64): StoredZipLayout {
  const enc = new TextEncoder();
  const localHeaders: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const rec of records) {
    const name = enc.encode(rec.name);
    const base = offset + 30 + name.length + 4;
    const pad = (alignment - (base % alignment)) % alignment;
    const crc = rec.crc32 >>> 0;
    const size = rec.size;
    if (offset + 30 + name.length + 4 + pad + size > U32_MAX) {
      throw new CheckpointError(`Expected a checkpoint smaller than 4 GiB but record ${JSON.stringify(rec.name)} ends beyond it`);
    }
    const local = new Uint8Array(30 + name.length + 4 + pad);
    const lv = view(local);
    lv.setUint32(0, SIG_LOCAL, true);
    lv.setUint16(4, 20, true); // version needed: 2.0
    lv.setUint16(8, 0, true); // stored
    lv.setUint32(14, crc, true);
    lv.setUint32(18, size, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, 4 + pad, true);
    local.set(name, 30);
    const x = 30 + name.length;
    local[x] = 0x46; local[x + 1] = 0x42; // "FB", PyTorch's padding tag
    lv.setUint16(x + 2, pad, true);
    local.fill(0x5a, x + 4); // 'Z', as PyTorch pads
    localHeaders.push(local);

    const cd = new Uint8Array(46 + name.length);
    const cv = view(cd);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, size, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    central.push(cd);
    offset += local.length + size;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  if (records.length > 0xfffe || offset + cdSize > U32_MAX) {
    throw new CheckpointError(`Expected fewer than 65535 records and under 4 GiB in total but received ${records.length} records`);
  }
  const end = new Uint8Array(22);
  const ev = view(end);
  ev.setUint32(0, SIG_EOCD, true);
  ev.setUint16(8, records.length, true);
  ev.setUint16(10, records.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return { localHeaders, tail: [...central, end], size: offset + cdSize + end.length };
}
