import { maskedCrc32c } from '../util/crc32c.js';

/** Where one record's payload lives inside a TFRecord file. */
export interface RecordSpan {
  offset: number;
  length: number;
}

export interface ScanResult {
  records: RecordSpan[];
  /** Records whose payload CRC failed: skipped, framing intact. */
  corrupt: { offset: number; detail: string }[];
  /** Set when a length CRC failed or the file ends mid-record: the rest of the file is unreadable. */
  framingLostAt: { offset: number; detail: string } | null;
}

/**
 * Walk TFRecord framing — u64 length, masked CRC32C(length), payload, masked CRC32C(payload) —
 * verifying both CRCs. Corrupt payloads are reported, not thrown, so one bad record never stops a run.
 */
export function scanTfRecords(buf: Uint8Array): ScanResult {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: ScanResult = { records: [], corrupt: [], framingLostAt: null };
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) {
      out.framingLostAt = { offset: pos, detail: `file ends inside a record header (${buf.length - pos} trailing bytes)` };
      break;
    }
    const length = Number(dv.getBigUint64(pos, true));
    if (dv.getUint32(pos + 8, true) !== maskedCrc32c(buf, pos, pos + 8)) {
      out.framingLostAt = { offset: pos, detail: 'length CRC mismatch' };
      break;
    }
    const start = pos + 12;
    if (start + length + 4 > buf.length) {
      out.framingLostAt = { offset: pos, detail: `record of ${length} bytes runs past the end of the file` };
      break;
    }
    if (dv.getUint32(start + length, true) !== maskedCrc32c(buf, start, start + length)) {
      out.corrupt.push({ offset: start, detail: 'payload CRC mismatch' });
    } else out.records.push({ offset: start, length });
    pos = start + length + 4;
  }
  return out;
}

/** Frame one payload as a TFRecord (the writer side, for fixtures and TensorBoard-style logs). */
export function frameTfRecord(data: Uint8Array): Uint8Array {
  const out = Buffer.alloc(data.length + 16);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out, 0, 8), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}
