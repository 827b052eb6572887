// Pure-TypeScript checks of the .pth reader and writer: no Python needed (pth-torch.test.ts covers real torch files).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import {
  CheckpointError, encodeCheckpoint, parseCheckpoint, readCheckpoint, readStateDict, selectStateDict,
  stripKeyPrefix, writeCheckpoint, writeStateDict, type PickleValue, type RawTensor,
} from '../../src/models/pth/index.js';
import { materialize } from '../../src/models/pth/strided.js';
import { torchHooks } from '../../src/models/pth/torch-globals.js';
import { unpickle } from '../../src/models/pth/unpickler.js';
import { buildStoredZip, readZipDirectory, readZipEntry } from '../../src/models/pth/zip-archive.js';

const dir = mkdtempSync(join(tmpdir(), 'ablate-pth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic bytes so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function tensor(dtype: RawTensor['dtype'], shape: number[], seed = 1): RawTensor {
  const size = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 }[dtype];
  const n = shape.reduce((a, b) => a * b, 1);
  const r = rng(seed);
  const data = new Uint8Array(n * size);
  for (let i = 0; i < data.length; i++) data[i] = dtype === 'bool' ? (i % 2) : Math.floor(r() * 256);
  return { dtype, shape, data };
}

function f32(shape: number[], values: number[]): RawTensor {
  return { dtype: 'float32', shape, data: new Uint8Array(Float32Array.from(values).buffer) };
}

/** Plain objects become dicts on the way out and Maps on the way back; compare them as entry lists. */
function norm(v: unknown): unknown {
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [norm(k), norm(x)]) };
  if (Array.isArray(v)) return v.map(norm);
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (typeof v === 'bigint') return { int: v.toString() };
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('dtype' in o && 'shape' in o && o.data instanceof Uint8Array) return { tensor: [o.dtype, o.shape, norm(o.data)] };
    return { dict: Object.entries(o).map(([k, x]) => [k, norm(x)]) };
  }
  return v;
}

function zipWith(records: Array<[string, Uint8Array]>): Uint8Array {
  return new Uint8Array(Buffer.concat(buildStoredZip(records.map(([name, data]) => ({ name, data })))));
}

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

describe('writer → reader round trip', () => {
  test('every dtype, scalar and empty tensors survive byte-exactly, in key order', () => {
    const sd = new Map<string, RawTensor>([
      ['f32', tensor('float32', [3, 4])], ['f64', tensor('float64', [5], 2)], ['f16', tensor('float16', [2, 3], 3)],
      ['bf16', tensor('bfloat16', [4, 2], 4)], ['i64', tensor('int64', [4], 5)], ['i32', tensor('int32', [3], 6)],
      ['i16', tensor('int16', [2], 7)], ['i8', tensor('int8', [3], 8)], ['u8', tensor('uint8', [3], 9)],
      ['b', tensor('bool', [3])], ['scalar', f32([], [3.5])], ['empty', tensor('float32', [0, 3])],
      ['big', tensor('float32', [2, 3, 4, 5, 6], 10)],
    ]);
    const back = selectStateDict(parseCheckpoint(encodeCheckpoint(sd)));
    assert.deepEqual([...back.keys()], [...sd.keys()]);
    for (const [k, t] of sd) assert.deepEqual(norm(back.get(k)), norm(t), k);
  });

  test('read tensors own aligned bytes, usable as typed arrays', () => {
    const back = selectStateDict(parseCheckpoint(encodeCheckpoint(new Map([['x', f32([2], [1.5, -2])], ['y', f32([1], [7])]]))));
    const x = back.get('x')!;
    assert.equal(x.data.byteOffset, 0);
    assert.deepEqual([...new Float32Array(x.data.buffer, 0, 2)], [1.5, -2]);
  });

  test('a training checkpoint with nested values reads back with the same structure', () => {
    const value = {
      model: new Map([['w', f32([2], [1, 2])]]),
      optimizer: { state: new Map([[0, { momentum_buffer: f32([2], [0.5, 0.25]) }]]), param_groups: [{ lr: 0.1, params: [0] }] },
      epoch: 3, name: 'résumé', ok: true, nothing: null, neg: -70000, huge: 2n ** 70n, small: -(2n ** 40n), half: -0.5, list: [1, [2, 'x']],
    };
    const back = parseCheckpoint(encodeCheckpoint(value));
    const expected = norm(value) as { dict: unknown[][] };
    // bigints that fit a double come back as numbers; the rest stay bigint.
    const small = expected.dict.find(([k]) => k === 'small')!;
    small[1] = -(2 ** 40);
    assert.deepEqual(norm(back), expected);
  });

  test('tied weights (one bytes object) are stored once and read back twice', () => {
    const w = f32([2, 2], [1, 2, 3, 4]);
    const bytes = encodeCheckpoint(new Map([['a', w], ['b', { ...w }]]));
    const names = [...readZipDirectory(bytes).keys()];
    assert.deepEqual(names.filter((n) => n.includes('/data/')), ['archive/data/0']);
    const sd = selectStateDict(parseCheckpoint(bytes));
    assert.deepEqual(norm(sd.get('b')), norm(w));
  });

  test('zip layout matches PyTorch: records, 64-byte aligned data, CRCs, version 3', () => {
    const bytes = encodeCheckpoint(new Map([['a', f32([3], [1, 2, 3])], ['b', tensor('int64', [5])]]));
    const entries = readZipDirectory(bytes);
    assert.deepEqual([...entries.keys()],
      ['archive/data.pkl', 'archive/byteorder', 'archive/data/0', 'archive/data/1', 'archive/version']);
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    for (const e of entries.values()) {
      assert.equal(e.method, 0);
      const start = e.localHeaderOffset + 30 + dv.getUint16(e.localHeaderOffset + 26, true) + dv.getUint16(e.localHeaderOffset + 28, true);
      assert.equal(start % 64, 0, e.name);
      const data = readZipEntry(bytes, e);
      assert.equal(dv.getUint32(e.localHeaderOffset + 14, true), crc32(data) >>> 0, e.name);
    }
    assert.equal(Buffer.from(readZipEntry(bytes, entries.get('archive/version')!)).toString(), '3\n');
    assert.equal(Buffer.from(readZipEntry(bytes, entries.get('archive/byteorder')!)).toString(), 'little');
  });

  test('archives marked byteorder "big" are swapped to little-endian', () => {
    const sd = new Map([['a', f32([2], [1.5, -2])], ['b', tensor('int64', [3])], ['c', tensor('uint8', [2])]]);
    const file = encodeCheckpoint(sd);
    const entries = [...readZipDirectory(file).values()];
    const sizes: Record<string, number> = { 'archive/data/0': 4, 'archive/data/1': 8, 'archive/data/2': 1 };
    const big = zipWith(entries.map((e) => {
      const data = readZipEntry(file, e).slice();
      if (e.name.endsWith('byteorder')) return [e.name, new TextEncoder().encode('big')];
      const es = sizes[e.name];
      if (es) for (let i = 0; i < data.length; i += es) data.subarray(i, i + es).reverse();
      return [e.name, data];
    }));
    assert.deepEqual(norm(selectStateDict(parseCheckpoint(big))), norm(sd));
  });

  test('writeStateDict writes atomically to disk and accepts Maps or entry arrays', async () => {
    const a = join(dir, 'sub', 'a.pth');
    const b = join(dir, 'b.pth');
    await writeStateDict(a, new Map([['x', f32([1], [1])]]));
    await writeStateDict(b, [['x', f32([1], [1])], ['y', tensor('bool', [2])]]);
    assert.deepEqual([...(await readStateDict(a)).keys()], ['x']);
    assert.deepEqual([...(await readStateDict(b)).keys()], ['x', 'y']);
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')));
    await writeCheckpoint(join(dir, 'c.pth'), { model: new Map([['x', f32([1], [1])]]), epoch: 1 });
    assert.deepEqual([...(await readStateDict(join(dir, 'c.pth'), { key: 'model' })).keys()], ['x']);
  });

  test('the writer rejects malformed tensors and unsupported values with what it expected', () => {
    assert.throws(() => encodeCheckpoint(new Map([['x', { dtype: 'float32', shape: [2, 2], data: new Uint8Array(12) }]])),
      /Expected 16 bytes \(4 × float32\) for checkpoint\["x"\]\.data with shape \[2,2\] but received Uint8Array of length 12/);
    assert.throws(() => encodeCheckpoint({ x: new Float32Array(2) as never }), /Expected a RawTensor/);
    assert.throws(() => encodeCheckpoint({ f: (() => 1) as never }), /for checkpoint\["f"\] but received function/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => encodeCheckpoint(cyclic as never), /acyclic/);
    return assert.rejects(writeStateDict(join(dir, 'bad.pth'), [['x', 5 as never]]), /Expected a RawTensor \{dtype, shape, data\} for state dict entry "x" but received number 5/);
  });
});

describe('restricted unpickler', () => {
  const expected = {
    dict: [
      ['a', [1, -2, 2.5, 'xé', null, true, false, [1, 2], 300, 70000, -70000, 2 ** 40, { bytes: '00ff' }]],
      ['b', { dict: [['n', 3]] }],
    ],
  };
  // pickle.dumps({'a': [...], 'b': {'n': 3}}, protocol=p) from CPython 3.11.
  const pickles: Record<string, string> = {
    0: '286470300a56610a70310a286c70320a49310a61492d320a6146322e350a615678e90a70330a614e614930310a614930300a612849310a49320a7470340a61493330300a614937303030300a61492d37303030300a614c313039393531313632373737364c0a61635f636f646563730a656e636f64650a70350a28565c7530303030ff0a70360a566c6174696e310a70370a7470380a5270390a617356620a7031300a28647031310a566e0a7031320a49330a73732e',
    2: '80027d71002858010000006171015d7102284b014afeffffff474004000000000000580300000078c3a971034e88894b014b028671044d2c014a701101004a90eefeff8a06000000000001635f636f646563730a656e636f64650a7105580300000000c3bf710658060000006c6174696e31710786710852710965580100000062710a7d710b58010000006e710c4b0373752e',
    5: '80059553000000000000007d94288c0161945d94284b014afeffffff4740040000000000008c0378c3a9944e88894b014b0286944d2c014a701101004a90eefeff8a06000000000001430200ff94658c0162947d948c016e944b0373752e',
  };
  const hooks = torchHooks(() => { throw new Error('no storages here'); }, { bigEndian: false });
  for (const [proto, h] of Object.entries(pickles)) {
    test(`reads CPython protocol ${proto}`, () => {
      assert.deepEqual(norm(unpickle(hex(h), hooks).value), expected);
    });
  }

  const rejects: Array<[string, string, RegExp]> = [
    ['GLOBAL os.system', '8002636f730a73797374656d0a71005805000000746f75636871018571025271032e', /Refusing to load global os\.system/],
    ['GLOBAL posix.system', '800263706f7369780a73797374656d0a', /Refusing to load global posix\.system/],
    ['STACK_GLOBAL builtins.eval', '80048c086275696c74696e73948c046576616c94935800000000855200', /Refusing to load global builtins\.eval/],
    ['py2 __builtin__.eval', '8002635f5f6275696c74696e5f5f0a6576616c0a2e', /Refusing to load global builtins\.eval/],
    ['a storage class called as a function', '800263746f7263680a466c6f617453746f726167650a29522e', /Refusing to call torch\.FloatStorage/],
    ['stack underflow', '8002522e', /Corrupt pickle at offset 2 \(opcode 0x52\): stack underflow/],
    ['missing memo', '800268052e', /memo key 5 was never stored/],
    ['unknown opcode', '8002ff', /unsupported pickle opcode/],
    ['truncated string', '800258ff000000616263', /Truncated pickle: expected 255 more bytes at offset 7 but only 3 remain/],
    ['no STOP', '80024b01', /Truncated pickle: expected 1 more bytes at offset 4 but only 0 remain/],
  ];
  for (const [what, h, re] of rejects) {
    test(`rejects ${what}`, () => {
      assert.throws(() => unpickle(hex(h), hooks), (e: Error) => e instanceof CheckpointError && re.test(e.message));
    });
  }

  test('never throws anything but CheckpointError on truncated or mutated checkpoint pickles', () => {
    const file = encodeCheckpoint({ sd: new Map([['a', f32([2, 2], [1, 2, 3, 4])], ['b', tensor('int64', [3])]]), epoch: 2, lr: [0.1, 'x'] });
    const entries = readZipDirectory(file);
    const pkl = readZipEntry(file, entries.get('archive/data.pkl')!).slice();
    const swap = (p: Uint8Array): Uint8Array => zipWith([...entries.values()].map((e) => [e.name, e.name.endsWith('data.pkl') ? p : readZipEntry(file, e)]));
    const isCheckpointError = (f: () => unknown): void => {
      try { f(); } catch (e) { assert.ok(e instanceof CheckpointError, `${(e as Error).name}: ${(e as Error).message}`); }
    };
    for (let n = 0; n < pkl.length; n++) {
      assert.throws(() => parseCheckpoint(swap(pkl.subarray(0, n))), CheckpointError);
    }
    const r = rng(42);
    for (let i = 0; i < 400; i++) {
      const m = pkl.slice();
      for (let j = 0; j < 3; j++) m[Math.floor(r() * m.length)] = Math.floor(r() * 256);
      isCheckpointError(() => parseCheckpoint(swap(m)));
    }
  });
});

describe('file-level errors', () => {
  const good = encodeCheckpoint(new Map([['w', f32([2], [1, 2])]]));

  test('not a checkpoint', () => {
    assert.throws(() => parseCheckpoint(new TextEncoder().encode('hello world')),
      /Expected a PyTorch checkpoint \(a zip archive starting with bytes 50 4b 03 04, or a legacy torch\.save pickle starting with 80 02\) but received 11 bytes starting with 68 65 6c 6c 6f 20 77 6f …/);
    assert.throws(() => parseCheckpoint(new Uint8Array(0)), /received 0 bytes starting with \(no bytes\)/);
    assert.throws(() => parseCheckpoint(hex('80024b012e')), /Expected the torch\.save magic number 0x1950a86a20f9469cfc6c but received int 1/);
  });

  test('truncated zip', () => {
    for (const n of [10, 100, good.length - 1]) {
      assert.throws(() => parseCheckpoint(good.subarray(0, n)), CheckpointError);
    }
    assert.throws(() => parseCheckpoint(good.subarray(0, 100)), /Expected a zip end-of-central-directory record .* \(the file is truncated or not a zip archive\)/);
  });

  test('missing storage record', () => {
    const pkl = readZipEntry(good, readZipDirectory(good).get('archive/data.pkl')!);
    assert.throws(() => parseCheckpoint(zipWith([['archive/data.pkl', pkl]])),
      /Expected record archive\/data\/0 for storage "0" but the archive has no such record \(records: \["archive\/data.pkl"\]\)/);
    assert.throws(() => parseCheckpoint(zipWith([['archive/data.pkl', pkl], ['archive/data/0', new Uint8Array(3)]])),
      /Expected 8 bytes in archive\/data\/0 \(2 × float32\) but the record declares 3/);
  });

  test('zip without data.pkl, or a malicious data.pkl', () => {
    assert.throws(() => parseCheckpoint(zipWith([['model/code/x.py', new Uint8Array(1)], ['model/constants.pkl', new Uint8Array(1)]])),
      /Expected a zip checkpoint with a <archive>\/data\.pkl record .*TorchScript/);
    assert.throws(() => parseCheckpoint(zipWith([['x/data.pkl', hex('8002636f730a73797374656d0a71005805000000746f75636871018571025271032e')]])),
      /Refusing to load global os\.system/);
  });

  test('readCheckpoint validates its argument', async () => {
    await assert.rejects(readCheckpoint(42 as never), /Expected a file path or a Uint8Array for source but received number 42/);
    await assert.rejects(readCheckpoint(join(dir, 'nope.pth')), { name: 'FileReadError', code: 'missing', message: `checkpoint ${join(dir, 'nope.pth')} does not exist` });
  });
});

describe('state dict selection', () => {
  const w = f32([1], [1]);
  test('flat, nested under a known key, or under an explicit path', () => {
    const flat = new Map<PickleValue, PickleValue>([['a', w]]);
    assert.deepEqual([...selectStateDict(flat).keys()], ['a']);
    const ckpt = new Map<PickleValue, PickleValue>([['epoch', 3], ['state_dict', flat]]);
    assert.deepEqual([...selectStateDict(ckpt).keys()], ['a']);
    const deep = new Map<PickleValue, PickleValue>([['ema', new Map([['weights', flat]])], ['epoch', 1]]);
    assert.deepEqual([...selectStateDict(deep, { key: ['ema', 'weights'] }).keys()], ['a']);
    assert.throws(() => selectStateDict(deep), /Expected a state dict \(a dict of tensors\) or a checkpoint holding one under 'state_dict'\/.* but received a dict with keys \["ema", "epoch"\]; pass \{ key \} to choose/);
    assert.throws(() => selectStateDict(deep, { key: ['ema', 'x'] }), /Expected key "x" in the checkpoint\["ema"\] but it holds keys \["weights"\]/);
    assert.throws(() => selectStateDict(ckpt, { key: 'epoch' }), /Expected a dict of tensors at the checkpoint\["epoch"\] but received int 3/);
    assert.throws(() => selectStateDict(new Map<PickleValue, PickleValue>([['state_dict', new Map<PickleValue, PickleValue>([['a', w], ['b', 'x']])]])),
      /Expected a tensor for "b" in the state dict at the checkpoint\["state_dict"\] but received str "x"/);
  });

  test('module. prefix stripping', () => {
    const sd = new Map([['module.conv.weight', w], ['module.fc.bias', w], ['head', w]]);
    assert.deepEqual([...stripKeyPrefix(sd).keys()], ['conv.weight', 'fc.bias', 'head']);
    assert.deepEqual([...selectStateDict(new Map<PickleValue, PickleValue>(sd), { stripPrefix: 'module.' }).keys()], ['conv.weight', 'fc.bias', 'head']);
    assert.throws(() => stripKeyPrefix(new Map([['module.a', w], ['a', w]])), /"a" occurs twice/);
  });
});

describe('strided materialisation', () => {
  function reference(src: Uint8Array, es: number, offset: number, size: number[], stride: number[]): Uint8Array {
    const n = size.reduce((a, b) => a * b, 1);
    const out = new Uint8Array(n * es);
    for (let i = 0; i < n; i++) {
      let rem = i;
      let at = offset;
      for (let d = size.length - 1; d >= 0; d--) {
        at += (rem % size[d]!) * stride[d]!;
        rem = Math.floor(rem / size[d]!);
      }
      out.set(src.subarray(at * es, at * es + es), i * es);
    }
    return out;
  }
  test('random views of every element size match a per-element reference', () => {
    const r = rng(7);
    const src = new Uint8Array(8 * 4096);
    for (let i = 0; i < src.length; i++) src[i] = Math.floor(r() * 256);
    for (let trial = 0; trial < 300; trial++) {
      const es = [1, 2, 4, 8][trial % 4]!;
      const rank = 1 + Math.floor(r() * 4);
      const size = Array.from({ length: rank }, () => 1 + Math.floor(r() * 5));
      const perm = [...size.keys()].sort(() => r() - 0.5);
      const stride = new Array<number>(rank);
      let s = 1;
      for (const d of [...perm].reverse()) { stride[d] = r() < 0.15 ? 0 : s; s *= size[d]! + (r() < 0.3 ? 1 : 0); }
      const offset = Math.floor(r() * 50);
      const storage = src.subarray(es === 8 ? 4 : 0, 4096 * es); // misaligned for 8-byte elements on purpose
      assert.deepEqual(materialize(storage, es, offset, size, stride), reference(storage, es, offset, size, stride),
        `es=${es} size=${size} stride=${stride} offset=${offset}`);
    }
  });
  test('views reaching past their storage are rejected', () => {
    assert.throws(() => materialize(new Uint8Array(16), 4, 1, [4], [1]),
      /Expected a tensor view inside its storage of 4 elements but received offset 1, size \[4\], stride \[1\] \(reaching element 4\)/);
    assert.throws(() => materialize(new Uint8Array(16), 4, 0, [2 ** 40], [0]), /at most 4 GiB/);
  });
});
