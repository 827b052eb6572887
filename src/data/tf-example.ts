/**
 * Hand-rolled protobuf codec for tf.train.Example — the only message TFDS shards contain, so a
 * protobuf dependency would be heavier than these ~100 lines.
 *   Example { Features features = 1 }   Features { map<string, Feature> feature = 1 }
 *   Feature { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3 } }
 */
export type FeatureValue =
  | { kind: 'bytes'; value: Uint8Array[] }
  | { kind: 'float'; value: number[] }
  | { kind: 'int64'; value: number[] };

export type ExampleFeatures = Map<string, FeatureValue>;

class Reader {
  pos: number;
  constructor(readonly buf: Uint8Array, start = 0, readonly end = buf.length) {
    this.pos = start;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('varint longer than 10 bytes');
    }
  }
  /** Varints that are lengths or tags: small, so plain numbers are fast and exact. */
  uint(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
      if (mul > 2 ** 49) throw new Error('length varint too large');
    }
  }
  sub(): Reader {
    const len = this.uint();
    if (this.pos + len > this.end) throw new Error('length-delimited field runs past its message');
    const r = new Reader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.sub();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (this.pos > this.end) throw new Error('field runs past its message');
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
}

const int64 = (v: bigint): number => Number(BigInt.asIntN(64, v));

function decodeFeature(r: Reader): FeatureValue {
  let out: FeatureValue = { kind: 'bytes', value: [] };
  while (!r.done) {
    const tag = r.uint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire !== 2 || field < 1 || field > 3) {
      r.skip(wire);
      continue;
    }
    const list = r.sub();
    if (field === 1) {
      const value: Uint8Array[] = [];
      while (!list.done) {
        const t = list.uint();
        if (t === (1 << 3) + 2) {
          const s = list.sub();
          value.push(s.buf.subarray(s.pos, s.end));
        } else list.skip(t & 7);
      }
      out = { kind: 'bytes', value };
    } else if (field === 2) {
      const value: number[] = [];
      while (!list.done) {
        const t = list.uint();
        if (t === (1 << 3) + 2) {
          const s = list.sub(); // packed
          const dv = new DataView(s.buf.buffer, s.buf.byteOffset + s.pos, s.end - s.pos);
          for (let o = 0; o + 4 <= dv.byteLength; o += 4) value.push(dv.getFloat32(o, true));
        } else if (t === (1 << 3) + 5) {
          value.push(new DataView(list.buf.buffer, list.buf.byteOffset + list.pos, 4).getFloat32(0, true));
          list.pos += 4;
        } else list.skip(t & 7);
      }
      out = { kind: 'float', value };
    } else {
      const value: number[] = [];
      while (!list.done) {
        const t = list.uint();
        if (t === (1 << 3) + 2) {
          const s = list.sub(); // packed
          while (!s.done) value.push(int64(s.varint()));
        } else if (t === (1 << 3) + 0) value.push(int64(list.varint()));
        else list.skip(t & 7);
      }
      out = { kind: 'int64', value };
    }
  }
  return out;
}

/** Decode a serialized tf.train.Example. Byte values are views into `buf` (no copy). */
export function decodeExample(buf: Uint8Array): ExampleFeatures {
  const features: ExampleFeatures = new Map();
  const r = new Reader(buf);
  while (!r.done) {
    const tag = r.uint();
    if (tag !== (1 << 3) + 2) {
      r.skip(tag & 7);
      continue;
    }
    const f = r.sub(); // Features
    while (!f.done) {
      const t = f.uint();
      if (t !== (1 << 3) + 2) {
        f.skip(t & 7);
        continue;
      }
      const entry = f.sub(); // map entry { string key = 1; Feature value = 2; }
      let key = '';
      let value: FeatureValue | undefined;
      while (!entry.done) {
        const et = entry.uint();
        if (et === (1 << 3) + 2) {
          const k = entry.sub();
          key = Buffer.from(k.buf.buffer, k.buf.byteOffset + k.pos, k.end - k.pos).toString('utf8');
        } else if (et === (2 << 3) + 2) value = decodeFeature(entry.sub());
        else entry.skip(et & 7);
      }
      if (value) features.set(key, value);
    }
  }
  return features;
}

function varintBytes(v: bigint): number[] {
  let x = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out.push(b);
  } while (x > 0n);
  return out;
}

function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from(varintBytes(BigInt((field << 3) | 2))), Buffer.from(varintBytes(BigInt(payload.length))), payload]);
}

/** Encode a tf.train.Example (used to write test fixtures and, later, any TFRecord export). */
export function encodeExample(features: Record<string, FeatureValue>): Uint8Array {
  const entries: Uint8Array[] = [];
  for (const key of Object.keys(features).sort()) {
    const f = features[key]!;
    let list: Uint8Array;
    if (f.kind === 'bytes') list = lengthDelimited(1, Buffer.concat(f.value.map((v) => lengthDelimited(1, v))));
    else if (f.kind === 'float') {
      const b = Buffer.alloc(f.value.length * 4);
      f.value.forEach((v, i) => { b.writeFloatLE(v, i * 4); });
      list = lengthDelimited(2, lengthDelimited(1, b));
    } else list = lengthDelimited(3, lengthDelimited(1, Buffer.from(f.value.flatMap((v) => varintBytes(BigInt(v))))));
    entries.push(lengthDelimited(1, Buffer.concat([lengthDelimited(1, Buffer.from(key, 'utf8')), lengthDelimited(2, list)])));
  }
  return lengthDelimited(1, Buffer.concat(entries));
}
