import { crc32, inflateRawSync } from 'node:zlib';
import { CheckpointError, hexPreview } from './checkpointError.js';

/**
 * Just enough of the zip format for PyTorch checkpoints. The whole file is in memory, so stored
 * records come back as zero-copy views; the central directory is trusted over local headers because
 * PyTorch writes data descriptors (sizes and CRC after the data, zero in the local header).
 */

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

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
    entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

export function readZipEntry(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const dv = view(bytes);
  const h = entry.localHeaderOffset;
  need(bytes, h, 30, `local header of ${JSON.stringify(entry.name)}`);
  if (dv.getUint32(h, true) !== SIG_LOCAL) {
    throw new CheckpointError(
      `Expected a zip local header for ${JSON.stringify(entry.name)} at offset ${h} but received bytes ${hexPreview(bytes, h, 4)}`);
  }
  const start = h + 30 + dv.getUint16(h + 26, true) + dv.getUint16(h + 28, true);
  need(bytes, start, entry.compressedSize, `data of ${JSON.stringify(entry.name)}`);
  const raw = bytes.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return raw;
  if (entry.method === 8) {
    try {
      const out = inflateRawSync(raw);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (err) {
      throw new CheckpointError(`Expected deflate data for ${JSON.stringify(entry.name)} but inflating failed: ${(err as Error).message}`);
    }
  }
  throw new CheckpointError(
    `Expected zip entry ${JSON.stringify(entry.name)} to be stored (method 0) or deflated (method 8) but received method ${entry.method}`);
}

export interface ZipRecord {
  name: string;
  data: Uint8Array;
}

/**
 * Stored (uncompressed) zip, laid out like PyTorch's writer: each record's data starts on an
 * `alignment`-byte boundary, padded with an extra field tagged "FB", so readers can map tensors
 * straight out of the file. Returns the pieces to concatenate, so tensor bytes are copied once.
 */
export function buildStoredZip(records: readonly ZipRecord[], alignment = 64): Uint8Array[] {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const rec of records) {
    const name = enc.encode(rec.name);
    const base = offset + 30 + name.length + 4;
    const pad = (alignment - (base % alignment)) % alignment;
    const crc = crc32(rec.data) >>> 0;
    const size = rec.data.length;
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
    chunks.push(local, rec.data);

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
  chunks.push(...central, end);
  return chunks;
}
