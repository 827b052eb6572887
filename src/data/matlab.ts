import { inflateSync } from 'node:zlib';

/**
 * Reader for MATLAB Level 5 MAT-files, enough for dataset split lists (Stanford Dogs' `train_list.mat`):
 * numeric arrays of every class, char arrays, cell arrays and structs, compressed (miCOMPRESSED) or not.
 * Level 7.3 files are HDF5 and rejected with a clear message.
 */
export type MatValue =
  | { type: 'numeric'; className: string; dims: number[]; data: Float64Array }
  | { type: 'char'; dims: number[]; rows: string[] }
  | { type: 'cell'; dims: number[]; cells: MatValue[] }
  | { type: 'struct'; dims: number[]; fields: Record<string, MatValue[]> }
  | { type: 'unsupported'; className: string; dims: number[] };

const mi = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15, UTF8: 16, UTF16: 17, UTF32: 18 } as const;
const CLASS_NAMES: Record<number, string> = { 1: 'cell', 2: 'struct', 3: 'object', 4: 'char', 5: 'sparse', 6: 'double', 7: 'single', 8: 'int8', 9: 'uint8', 10: 'int16', 11: 'uint16', 12: 'int32', 13: 'uint32', 14: 'int64', 15: 'uint64' };

interface Element {
  type: number;
  data: Uint8Array;
}

class MatReader {
  constructor(private readonly le: boolean) {}

  /** Read the data elements in buf[start, end), honouring the small-element format and 8-byte padding. */
  *elements(buf: Uint8Array, start = 0, end = buf.length): Generator<Element> {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let pos = start;
    while (pos + 8 <= end) {
      const first = dv.getUint32(pos, this.le);
      // Small data element: type and byte count share the first word, data fills the second.
      const small = first >>> 16;
      if (small !== 0 && small <= 4) {
        yield { type: first & 0xffff, data: buf.subarray(pos + 4, pos + 4 + small) };
        pos += 8;
        continue;
      }
      const type = first;
      const n = dv.getUint32(pos + 4, this.le);
      if (pos + 8 + n > end) throw new Error(`MAT element of ${n} bytes at ${pos} runs past the end of the data`);
      yield { type, data: buf.subarray(pos + 8, pos + 8 + n) };
      pos += 8 + (type === mi.COMPRESSED ? n : Math.ceil(n / 8) * 8);
    }
  }

  numbers(e: Element): Float64Array {
    const d = e.data;
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const sizes: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4 };
    const size = sizes[e.type];
    if (!size) throw new Error(`unsupported MAT numeric element type ${e.type}`);
    const out = new Float64Array(d.length / size);
    for (let i = 0; i < out.length; i++) {
      const o = i * size;
      switch (e.type) {
        case mi.INT8: out[i] = dv.getInt8(o); break;
        case mi.UINT8: case mi.UTF8: out[i] = dv.getUint8(o); break;
        case mi.INT16: out[i] = dv.getInt16(o, this.le); break;
        case mi.UINT16: case mi.UTF16: out[i] = dv.getUint16(o, this.le); break;
        case mi.INT32: out[i] = dv.getInt32(o, this.le); break;
        case mi.UINT32: case mi.UTF32: out[i] = dv.getUint32(o, this.le); break;
        case mi.SINGLE: out[i] = dv.getFloat32(o, this.le); break;
        case mi.DOUBLE: out[i] = dv.getFloat64(o, this.le); break;
        case mi.INT64: out[i] = Number(dv.getBigInt64(o, this.le)); break;
        case mi.UINT64: out[i] = Number(dv.getBigUint64(o, this.le)); break;
      }
    }
    return out;
  }

  /** Decode a top-level element: returns [name, value], or null for elements that are not arrays. */
  top(e: Element): [string, MatValue] | null {
    if (e.type === mi.COMPRESSED) {
      const inner = inflateBounded(e.data);
      for (const x of this.elements(inner)) return this.top(x);
      return null;
    }
    if (e.type !== mi.MATRIX) return null;
    return this.matrix(e.data);
  }

  matrix(data: Uint8Array): [string, MatValue] {
    if (data.length === 0) return ['', { type: 'numeric', className: 'double', dims: [0, 0], data: new Float64Array(0) }];
    const it = this.elements(data);
    const next = (what: string): Element => {
      const r = it.next();
      if (r.done) throw new Error(`MAT array is missing its ${what}`);
      return r.value;
    };
    const flags = this.numbers(next('array flags'));
    const cls = flags[0]! & 0xff;
    const complex = (flags[0]! & 0x800) !== 0;
    const dims = Array.from(this.numbers(next('dimensions')));
    const nameEl = next('name');
    const name = Buffer.from(nameEl.data).toString('latin1');
    const count = dims.reduce((a, b) => a * b, 1);
    const className = CLASS_NAMES[cls] ?? `class ${cls}`;
    if (cls === 1) {
      const cells: MatValue[] = [];
      for (let i = 0; i < count; i++) cells.push(this.matrix(next('cell element').data)[1]);
      return [name, { type: 'cell', dims, cells }];
    }
    if (cls === 2) {
      const fieldLen = this.numbers(next('field name length'))[0]!;
      const namesEl = next('field names');
      const fieldNames: string[] = [];
      for (let o = 0; o + fieldLen <= namesEl.data.length; o += fieldLen) {
        fieldNames.push(Buffer.from(namesEl.data.subarray(o, o + fieldLen)).toString('latin1').replace(/\0.*$/s, ''));
      }
      const fields: Record<string, MatValue[]> = Object.fromEntries(fieldNames.map((f) => [f, [] as MatValue[]]));
      for (let i = 0; i < count; i++) for (const f of fieldNames) fields[f]!.push(this.matrix(next(`field ${f}`).data)[1]);
      return [name, { type: 'struct', dims, fields }];
    }
    if (cls === 4) {
      const el = next('character data');
      // UTF-8 char data is a byte stream; every other encoding is one code unit per element.
      const codes = el.type === mi.UTF8 ? Array.from(Buffer.from(el.data).toString('utf8'), (c) => c.codePointAt(0)!) : Array.from(this.numbers(el));
      const rows = dims[0] ?? 0;
      const cols = rows === 0 ? 0 : codes.length / rows;
      const out: string[] = [];
      for (let r = 0; r < rows; r++) {
        let s = '';
        for (let c = 0; c < cols; c++) s += String.fromCodePoint(codes[c * rows + r]!); // column-major
        out.push(s);
      }
      return [name, { type: 'char', dims, rows: out }];
    }
    if (cls >= 6 && cls <= 15 && !complex) {
      return [name, { type: 'numeric', className, dims, data: this.numbers(next('real part')) }];
    }
    return [name, { type: 'unsupported', className: complex ? `complex ${className}` : className, dims }];
  }
}

export function readMat(buf: Uint8Array): Map<string, MatValue> {
  const header = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.length, 128));
  if (header.length < 128 || !header.toString('latin1', 0, 6).startsWith('MATLAB')) {
    throw new Error(`Expected a MATLAB 5.0 MAT-file but the file starts with ${JSON.stringify(header.toString('latin1', 0, 16))}`);
  }
  if (header.toString('latin1', 0, 19).includes('7.3')) {
    throw new Error('Expected a MATLAB 5.0 MAT-file but received a 7.3 (HDF5) file; re-save it with `save -v7`');
  }
  const endian = header.toString('latin1', 126, 128);
  if (endian !== 'IM' && endian !== 'MI') throw new Error(`Expected endian marker 'IM' or 'MI' in the MAT header but received ${JSON.stringify(endian)}`);
  const reader = new MatReader(endian === 'IM');
  const out = new Map<string, MatValue>();
  for (const e of reader.elements(buf, 128)) {
    const v = reader.top(e);
    if (v) out.set(v[0], v[1]);
  }
  return out;
}

/** Strings from a char matrix (one per row) or a cell array of char arrays. */
export function matStrings(v: MatValue | undefined, what: string): string[] {
  if (v?.type === 'char') return v.rows;
  if (v?.type === 'cell') return v.cells.map((c) => matStrings(c, what).join(''));
  throw new Error(`Expected ${what} to be a cell array of strings or a char matrix but received ${v ? v.type : 'nothing'}`);
}

export function matNumbers(v: MatValue | undefined, what: string): Float64Array {
  if (v?.type === 'numeric') return v.data;
  throw new Error(`Expected ${what} to be a numeric array but received ${v ? v.type : 'nothing'}`);
}

/** A compressed element holds one variable: split lists and labels, a few MB. More is damage or a deflate bomb. */
const MAX_MAT_INFLATED_BYTES = 256 << 20;

function inflateBounded(data: Uint8Array): Buffer {
  try {
    return inflateSync(data, { maxOutputLength: MAX_MAT_INFLATED_BYTES });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new Error(`Expected a compressed MAT element of at most ${MAX_MAT_INFLATED_BYTES >> 20} MiB inflated, but ${data.length} compressed bytes inflate to more (a damaged file or a deflate bomb); inflation was stopped there`);
    }
    throw new Error(`Expected a zlib-compressed MAT element but inflating it failed: ${err.message}`);
  }
}
