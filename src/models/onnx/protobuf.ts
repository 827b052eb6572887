/**
 * A minimal protobuf writer and reader, just enough for ONNX files (like src/data/tf-example.ts does for
 * tf.train.Example): varints, length-delimited fields and nested messages. A message is built bottom-up
 * as a list of already-encoded chunks, so writing a 100 MB model copies each weight once.
 */

/** Wire types ONNX uses: varint, length-delimited, and fixed32 for float attributes. */
const VARINT = 0;
const LEN = 2;
const FIXED32 = 5;

function varintBytes(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value)); // negative int64 → two's complement, 10 bytes, as protobuf wants
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

/** An encoded message under construction. Fields are appended in the order they are written. */
export class ProtoWriter {
  readonly #chunks: Uint8Array[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  #push(b: Uint8Array): void {
    this.#chunks.push(b);
    this.#length += b.length;
  }

  #tag(field: number, wire: number): void {
    this.#push(varintBytes((field << 3) | wire));
  }

  /** int32/int64/enum/bool field. */
  int(field: number, value: number | bigint | boolean): this {
    this.#tag(field, VARINT);
    this.#push(varintBytes(typeof value === 'boolean' ? (value ? 1 : 0) : value));
    return this;
  }

  /** A `float` field (fixed32, little-endian). */
  float(field: number, value: number): this {
    this.#tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.#push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, LEN);
    this.#push(varintBytes(value.length));
    this.#push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, msg: ProtoWriter): this {
    this.#tag(field, LEN);
    this.#push(varintBytes(msg.length));
    for (const c of msg.#chunks) this.#push(c);
    return this;
  }

  /** A packed repeated int64 field (`repeated int64 ints = 8 [packed]` and friends). */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const parts = values.map((v) => varintBytes(v));
    const len = parts.reduce((a, p) => a + p.length, 0);
    this.#tag(field, LEN);
    this.#push(varintBytes(len));
    for (const p of parts) this.#push(p);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let o = 0;
    for (const c of this.#chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** One field as read back: varints as bigint, length-delimited fields as a view of their bytes. */
export type ProtoField = { field: number; wire: 0; value: bigint } | { field: number; wire: 2; value: Uint8Array } | { field: number; wire: 1 | 5 };

/** The top-level fields of a message, in order. Throws on truncated or malformed input. */
export function readProtoFields(buf: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated protobuf varint');
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('protobuf varint longer than 10 bytes');
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw new Error(`protobuf field ${field} runs past the end of its message`);
      out.push({ field, wire, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      if (pos > buf.length) throw new Error(`protobuf field ${field} runs past the end of its message`);
      out.push({ field, wire });
    } else throw new Error(`unsupported protobuf wire type ${wire} (field ${field})`);
  }
  return out;
}
