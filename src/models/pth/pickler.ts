/**
 * Pickle protocol 2 writer limited to the opcodes torch's weights-only unpickler accepts
 * (torch ≥ 2.6 loads with weights_only=True by default), so files we write load everywhere.
 */
export class Pickler {
  private buf = new Uint8Array(1024);
  private len = 0;
  private readonly memo = new Map<string, number>();
  private readonly enc = new TextEncoder();

  constructor() {
    this.byte(0x80, 2); // PROTO 2
  }

  finish(): Uint8Array {
    this.byte(0x2e); // STOP
    return this.buf.slice(0, this.len);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(...ops: number[]): void {
    this.reserve(ops.length);
    for (const b of ops) this.buf[this.len++] = b;
  }

  private raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  mark(): void { this.byte(0x28); }
  none(): void { this.byte(0x4e); }
  bool(v: boolean): void { this.byte(v ? 0x88 : 0x89); }
  emptyTuple(): void { this.byte(0x29); }
  emptyList(): void { this.byte(0x5d); }
  emptyDict(): void { this.byte(0x7d); }
  tuple(): void { this.byte(0x74); }
  reduce(): void { this.byte(0x52); }
  appends(): void { this.byte(0x65); }
  setitems(): void { this.byte(0x75); }
  binpersid(): void { this.byte(0x51); }

  int(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v < 0x100) return this.byte(0x4b, v);
    if (typeof v === 'number' && v >= 0 && v < 0x10000) return this.byte(0x4d, v & 0xff, v >>> 8);
    if (typeof v === 'number' && v >= -0x80000000 && v <= 0x7fffffff) {
      return this.byte(0x4a, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    }
    // LONG1: minimal little-endian two's complement.
    let b = BigInt(v);
    const out: number[] = [];
    for (;;) {
      const lo = Number(b & 0xffn);
      out.push(lo);
      b >>= 8n;
      if ((b === 0n && (lo & 0x80) === 0) || (b === -1n && (lo & 0x80) !== 0)) break;
    }
    if (out.length > 255) throw new RangeError(`Expected an integer under 2040 bits but received one of ${out.length} bytes`);
    this.byte(0x8a, out.length, ...out);
  }

  float(v: number): void {
    const b = new Uint8Array(9);
    b[0] = 0x47;
    new DataView(b.buffer).setFloat64(1, v, false);
    this.raw(b);
  }

  str(s: string): void {
    const bytes = this.enc.encode(s);
    const head = new Uint8Array(5);
    head[0] = 0x58; // BINUNICODE
    new DataView(head.buffer).setUint32(1, bytes.length, true);
    this.raw(head);
    this.raw(bytes);
  }

  /** GLOBAL module.name, memoised so repeated tensors cost a 2-byte BINGET. */
  global(module: string, name: string): void {
    const qual = `${module}\n${name}\n`;
    const slot = this.memo.get(qual);
    if (slot !== undefined) return slot < 256 ? this.byte(0x68, slot) : this.longOp(0x6a, slot);
    this.byte(0x63);
    this.raw(this.enc.encode(qual));
    const id = this.memo.size;
    this.memo.set(qual, id);
    if (id < 256) this.byte(0x71, id);
    else this.longOp(0x72, id);
  }

  private longOp(op: number, v: number): void {
    this.byte(op, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }

  /** Python's pickler writes short tuples with TUPLE1..3; torch accepts both forms. */
  intTuple(values: readonly number[]): void {
    if (values.length === 0) return this.emptyTuple();
    if (values.length <= 3) {
      for (const v of values) this.int(v);
      return this.byte(0x84 + values.length);
    }
    this.mark();
    for (const v of values) this.int(v);
    this.tuple();
  }
}
