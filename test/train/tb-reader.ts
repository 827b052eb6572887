// An independent TensorBoard event-file reader for tests: TFRecord framing checked with a bitwise
// CRC-32C (not the implementation under test), a generic protobuf decoder, and the Event/Summary
// fields ablate writes.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** CRC-32C, bitwise; slow but independent of src/util/crc32c.ts. */
function crc32cRef(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function mask(c: number): number {
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

export function readRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    assert.ok(off + 12 <= buf.length, 'truncated header');
    const len = Number(buf.readBigUInt64LE(off));
    assert.equal(buf.readUInt32LE(off + 8), mask(crc32cRef(buf.subarray(off, off + 8))), 'length CRC');
    const data = buf.subarray(off + 12, off + 12 + len);
    assert.equal(buf.readUInt32LE(off + 12 + len), mask(crc32cRef(data)), 'data CRC');
    out.push(data);
    off += 12 + len + 4;
  }
  return out;
}

type Field = { wire: number; value: bigint | Buffer };
function decode(buf: Buffer): Map<number, Field[]> {
  const fields = new Map<number, Field[]>();
  let off = 0;
  const varint = (): bigint => {
    let shift = 0n;
    let v = 0n;
    for (;;) {
      const b = buf[off++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (off < buf.length) {
    const key = Number(varint());
    const field = key >> 3;
    const wire = key & 7;
    let value: bigint | Buffer;
    if (wire === 0) value = varint();
    else if (wire === 1) (value = buf.subarray(off, off + 8)), (off += 8);
    else if (wire === 5) (value = buf.subarray(off, off + 4)), (off += 4);
    else if (wire === 2) {
      const n = Number(varint());
      value = buf.subarray(off, off + n);
      off += n;
    } else throw new Error(`unexpected wire type ${wire}`);
    fields.set(field, [...(fields.get(field) ?? []), { wire, value }]);
  }
  return fields;
}

export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: Array<{ tag: string; value: number }>;
  sessionStatus?: number;
  /** Values for a plugin (Value.metadata.plugin_data), with the HParams plugin's records decoded. */
  plugins?: Array<{ tag: string; plugin: string; hparamsStart?: { hparams: Record<string, string | number | boolean>; startTimeSecs: number }; hparamsEnd?: { status: number; endTimeSecs: number } }>;
}

/** google.protobuf.Value: number_value (2), string_value (3), bool_value (4). */
function decodeProtobufValue(buf: Buffer): string | number | boolean {
  const f = decode(buf);
  if (f.has(2)) return (f.get(2)![0]!.value as Buffer).readDoubleLE(0);
  if (f.has(3)) return (f.get(3)![0]!.value as Buffer).toString('utf8');
  if (f.has(4)) return f.get(4)![0]!.value === 1n;
  throw new Error(`unexpected google.protobuf.Value fields ${[...f.keys()].join(',')}`);
}

/** HParamsPluginData { version = 1; session_start_info = 3 { hparams map = 1; start_time_secs = 5 }; session_end_info = 4 { status = 1; end_time_secs = 2 } }. */
function decodeHParams(content: Buffer): Pick<NonNullable<DecodedEvent['plugins']>[number], 'hparamsStart' | 'hparamsEnd'> {
  const f = decode(content);
  const start = f.get(3)?.[0];
  if (start) {
    const sf = decode(start.value as Buffer);
    const hparams: Record<string, string | number | boolean> = {};
    for (const entry of sf.get(1) ?? []) {
      const ef = decode(entry.value as Buffer);
      hparams[(ef.get(1)![0]!.value as Buffer).toString('utf8')] = decodeProtobufValue(ef.get(2)![0]!.value as Buffer);
    }
    return { hparamsStart: { hparams, startTimeSecs: (sf.get(5)![0]!.value as Buffer).readDoubleLE(0) } };
  }
  const end = f.get(4)?.[0];
  assert.ok(end, 'an HParams record is a session start or end');
  const ef = decode(end.value as Buffer);
  return { hparamsEnd: { status: Number(ef.get(1)![0]!.value as bigint), endTimeSecs: (ef.get(2)![0]!.value as Buffer).readDoubleLE(0) } };
}

export function decodeEvent(data: Buffer): DecodedEvent {
  const f = decode(data);
  const wt = f.get(1)?.[0];
  assert.equal(wt?.wire, 1);
  const ev: DecodedEvent = { wallTime: (wt!.value as Buffer).readDoubleLE(0), step: Number((f.get(2)?.[0]?.value as bigint | undefined) ?? 0n), scalars: [] };
  const fv = f.get(3)?.[0];
  if (fv) ev.fileVersion = (fv.value as Buffer).toString('utf8');
  for (const s of f.get(5) ?? []) {
    for (const v of decode(s.value as Buffer).get(1) ?? []) {
      const vf = decode(v.value as Buffer);
      const tag = (vf.get(1)![0]!.value as Buffer).toString('utf8');
      const meta = vf.get(9)?.[0];
      if (meta && !vf.has(2)) {
        // SummaryMetadata { plugin_data = 1 { plugin_name = 1; content = 2 } }
        const pd = decode(decode(meta.value as Buffer).get(1)![0]!.value as Buffer);
        const plugin = (pd.get(1)![0]!.value as Buffer).toString('utf8');
        const content = (pd.get(2)?.[0]?.value as Buffer | undefined) ?? Buffer.alloc(0);
        (ev.plugins ??= []).push({ tag, plugin, ...(plugin === 'hparams' ? decodeHParams(content) : {}) });
        continue;
      }
      assert.equal(vf.get(2)![0]!.wire, 5, 'simple_value is a 32-bit float');
      ev.scalars.push({ tag: (vf.get(1)![0]!.value as Buffer).toString('utf8'), value: (vf.get(2)![0]!.value as Buffer).readFloatLE(0) });
    }
  }
  const sl = f.get(6)?.[0];
  if (sl) ev.sessionStatus = Number(decode(sl.value as Buffer).get(1)![0]!.value as bigint);
  return ev;
}

export function readEventDir(dir: string): { files: string[]; events: DecodedEvent[] } {
  const files = readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.')).sort();
  const events = files.flatMap((f) => readRecords(readFileSync(join(dir, f))).map(decodeEvent));
  return { files, events };
}

/** Scalars (tag → [step, value][]) from one event file, every record's CRCs checked. */
export function readTensorBoardScalars(path: string): Map<string, Array<[number, number]>> {
  const scalars = new Map<string, Array<[number, number]>>();
  for (const ev of readRecords(readFileSync(path)).map(decodeEvent)) {
    for (const { tag, value } of ev.scalars) scalars.set(tag, [...(scalars.get(tag) ?? []), [ev.step, value]]);
  }
  return scalars;
}
