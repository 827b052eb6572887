// Hostile .pth files: deflate bombs, devices and FIFOs, expanded views and pickle floods must be refused
// fast, in bounded memory, with the file named.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { encodeCheckpoint } from '../../src/models/pth/index.js';
import { readZipDirectory, readZipEntry } from '../../src/models/pth/zip-archive.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'ablate-bomb-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const GiB = 1 << 30;

/**
 * About 1 MB of raw deflate that inflates to exactly 1 GiB of zeros: one sync-flushed (byte-aligned,
 * non-final) run of blocks for 16 MiB, repeated 64 times (back-references only reach zeros), then an
 * empty final block.
 */
function deflateBomb(): Buffer {
  const chunk = deflateRawSync(Buffer.alloc(16 << 20), { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  return Buffer.concat([...Array<Buffer>(64).fill(chunk), Buffer.from([0x03, 0x00])]);
}

interface RawRecord { name: string; method: 0 | 8; payload: Uint8Array; size: number; crc: number }

/** A zip with exactly the given (possibly lying) directory entries. */
function zip(records: RawRecord[]): Buffer {
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const r of records) {
    const name = Buffer.from(r.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(r.method, 8);
    local.writeUInt32LE(r.crc, 14);
    local.writeUInt32LE(r.payload.length, 18);
    local.writeUInt32LE(r.size >>> 0, 22);
    local.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(r.method, 10);
    cd.writeUInt32LE(r.crc, 16);
    cd.writeUInt32LE(r.payload.length, 20);
    cd.writeUInt32LE(r.size >>> 0, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    chunks.push(local, name, Buffer.from(r.payload));
    central.push(cd, name);
    offset += 30 + name.length + r.payload.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(records.length, 8);
  end.writeUInt16LE(records.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...chunks, ...central, end]);
}

/** A real one-tensor state dict ({'fc.weight': float32 [4, 64]}), with its storage record replaced. */
function withStorage(storage: RawRecord, extra: RawRecord[] = []): Buffer {
  const good = encodeCheckpoint(new Map([['fc.weight', { dtype: 'float32' as const, shape: [4, 64], data: new Uint8Array(1024) }]]));
  const entries = readZipDirectory(good);
  const stored = (name: string): RawRecord => {
    const data = readZipEntry(good, entries.get(name)!);
    return { name, method: 0, payload: data, size: data.length, crc: crc32(data) >>> 0 };
  };
  return zip([stored('archive/data.pkl'), stored('archive/version'), storage, ...extra]);
}

interface ChildRead { file: string; ms: number; maxRssMiB: number; error?: string }

/**
 * Files read by one child process (starting one per file costs seconds): tests add their files while the file
 * loads, and the first result asked for reads them all, in order. The peak RSS reported with a file is the
 * process's peak up to and including it, so cheap files go first.
 */
function childReads(env: Record<string, string> = {}) {
  const files: string[] = [];
  let results: Map<string, ChildRead> | undefined;
  return (name: string, bytes: Uint8Array | ((file: string) => void)): (() => ChildRead) => {
    const file = join(dir, name);
    if (bytes instanceof Uint8Array) writeFileSync(file, bytes);
    else bytes(file);
    files.push(file);
    return () => {
      if (!results) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'models', 'child-read-pth.ts'), ...files],
          { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
        assert.equal(r.status, 0, `${r.error?.message ?? ''}${r.stderr}`);
        results = new Map(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as ChildRead).map((c) => [c.file, c]));
      }
      return results.get(file)!;
    };
  };
}
const read = childReads();

/** The file's name as a regular expression, for messages that must name it. */
const named = (file: string): string => file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('deflate bomb', () => {
  const bomb = deflateBomb();
  const cases: Array<[string, Buffer, RegExp]> = [
    ['the record declares the tensor\'s 1 KiB but inflates to 1 GiB', withStorage({ name: 'archive/data/0', method: 8, payload: bomb, size: 1024, crc: 0 }),
      /^CheckpointError: checkpoint \S+bomb-\d\.pth: Refusing zip record "archive\/data\/0": it inflates to more than the 1024 bytes it declares \(a damaged record or a deflate bomb\); inflation was stopped there$/],
    ['the record honestly declares 1 GiB, but the tensor needs 1 KiB', withStorage({ name: 'archive/data/0', method: 8, payload: bomb, size: GiB, crc: 0 }),
      // The directory's ratio check comes first now: nothing is inflated before the whole archive passes it.
      /^CheckpointError: checkpoint \S+bomb-\d\.pth: Refusing zip record "archive\/data\/0": it declares 1073741824 bytes deflated into 1044162 \(ratio 1028:1, above 100:1\)/],
    ['an extra record the pickle never uses declares 1 GiB deflated into 1 MB', withStorage(
      { name: 'archive/data/0', method: 0, payload: new Uint8Array(1024), size: 1024, crc: crc32(new Uint8Array(1024)) >>> 0 },
      [{ name: 'archive/data/1', method: 8, payload: bomb, size: GiB, crc: 0 }]),
      /^CheckpointError: checkpoint \S+bomb-\d\.pth: Refusing zip record "archive\/data\/1": it declares 1073741824 bytes deflated into 1044162 \(ratio 1028:1, above 100:1\), which is how a deflate bomb looks; PyTorch stores tensors uncompressed, so re-save the file with torch\.save$/],
  ];
  cases.forEach(([what, bytes, message], i) => {
    const result = read(`bomb-${i}.pth`, bytes);
    test(`${what}: refused in under 1 s with under 200 MB peak RSS`, () => {
      assert.ok(bytes.length < 1.1e6, `the file is about 1 MB (${bytes.length} bytes)`);
      const r = result();
      assert.match(r.error ?? '(no error)', message);
      assert.ok(r.ms < 1000, `refused in ${r.ms.toFixed(0)} ms`);
      assert.ok(r.maxRssMiB < 200, `peak RSS of the reading process ${r.maxRssMiB.toFixed(0)} MiB`);
    });
  });

  const data = new Uint8Array(1024).map((_, i) => i % 251);
  const honest = read('ok.pth', withStorage({ name: 'archive/data/0', method: 8, payload: deflateRawSync(data), size: 1024, crc: crc32(data) >>> 0 }));
  test('a deflated record that is honest is read (bounded inflation is not a refusal of compression)', () => {
    assert.equal(honest().error, undefined);
  });
});

/** A stored zip record of `data`, with its true size and CRC. */
const storedRecord = (name: string, data: Uint8Array): RawRecord => ({ name, method: 0, payload: data, size: data.length, crc: crc32(data) >>> 0 });

/** Protocol-2 pickle pieces, enough to spell a tensor by hand. */
const pk = {
  str: (s: string) => { const b = Buffer.from(s); const h = Buffer.alloc(5); h[0] = 0x58; h.writeUInt32LE(b.length, 1); return Buffer.concat([h, b]); },
  int: (v: number) => { const b = Buffer.alloc(5); b[0] = 0x4a; b.writeInt32LE(v, 1); return b; },
  global: (module: string, name: string) => Buffer.from(`c${module}\n${name}\n`, 'latin1'),
  op: (...codes: number[]) => Buffer.from(codes),
};

/** {'w': float32 tensor viewing storage "0" of `numel` floats with the given size and stride}, as torch.save spells it. */
function viewPickle(numel: number, size: number[], stride: number[]): Buffer {
  const tuple = (xs: number[]) => Buffer.concat([pk.op(0x28), ...xs.map(pk.int), pk.op(0x74)]);
  return Buffer.concat([
    pk.op(0x80, 2, 0x7d), pk.str('w'), pk.global('torch._utils', '_rebuild_tensor_v2'), pk.op(0x28),
    pk.op(0x28), pk.str('storage'), pk.global('torch', 'FloatStorage'), pk.str('0'), pk.str('cpu'), pk.int(numel), pk.op(0x74, 0x51),
    pk.int(0), tuple(size), tuple(stride), pk.op(0x89), pk.global('collections', 'OrderedDict'), pk.op(0x29, 0x52),
    pk.op(0x74, 0x52, 0x73, 0x2e),
  ]);
}

function checkpointOf(pickle: Uint8Array, storage?: Uint8Array): Buffer {
  return zip([storedRecord('archive/data.pkl', pickle), ...(storage ? [storedRecord('archive/data/0', storage)] : [])]);
}

describe('files that are not regular files', () => {
  const cases: Array<[string, (file: string) => void, RegExp]> = [
    ['a symlink to /dev/zero', (f) => symlinkSync('/dev/zero', f), /^FileReadError: Expected a regular file for the checkpoint but received a character device \(\/dev\/zero\) at (\S+): devices, FIFOs and sockets may never end or never start/],
    ['a FIFO (nothing ever writes to it)', (f) => execFileSync('mkfifo', [f]), /^FileReadError: Expected a regular file for the checkpoint but received a FIFO \(named pipe\) at (\S+):/],
    ['a folder', (f) => execFileSync('mkdir', [f]), /^FileReadError: Expected a regular file for the checkpoint but received a folder at (\S+):/],
  ];
  cases.forEach(([what, make, message], i) => {
    const result = read(`special-${i}.pth`, make);
    test(`${what}: refused by name in under 1 s with under 200 MB peak RSS`, () => {
      const r = result();
      assert.match(r.error ?? '(no error)', message);
      assert.equal(message.exec(r.error!)![1], r.file);
      assert.ok(r.ms < 1000, `refused in ${r.ms.toFixed(0)} ms`);
      assert.ok(r.maxRssMiB < 200, `peak RSS of the reading process ${r.maxRssMiB.toFixed(0)} MiB`);
    });
  });
});

describe('tensor views that expand their storage', () => {
  const bytes = checkpointOf(viewPickle(1, [2 ** 28], [0]), new Uint8Array(4));
  const result = read('stride0.pth', bytes);
  test('a 2^28-element stride-0 view of one float (a 700-byte file) is refused before it is copied, naming the file', () => {
    assert.ok(bytes.length < 1000, `${bytes.length} bytes`);
    const r = result();
    assert.match(r.error ?? '(no error)', new RegExp(`^CheckpointError: checkpoint ${named(r.file)}: Refusing a float32 tensor of size \\[268435456\\] with stride \\[0\\]: ` +
      'it views 4 bytes of storage but would take 1\\.0 GiB as a contiguous tensor, more than the file\'s tensors may take \\(twice its \\d+ bytes of storage plus 64 MiB\\)\\. ' +
      'A stride-0 \\(expanded\\) or overlapping view was saved, or one storage is rebuilt many times; save tensor\\.contiguous\\(\\) or \\.clone\\(\\) instead of the view$'));
    assert.ok(r.ms < 1000, `refused in ${r.ms.toFixed(0)} ms`);
    assert.ok(r.maxRssMiB < 200, `peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
  });

  test('one 1 MiB storage rebuilt as 100 tensors is refused once the copies pass twice the file plus 64 MiB', async () => {
    const { parseCheckpoint } = await import('../../src/models/pth/index.js');
    const one = viewPickle(1 << 18, [1 << 18], [1]);
    // The body of viewPickle's dict (between EMPTY_DICT and STOP), once per key: every entry rebuilds storage "0".
    const entry = (k: number) => Buffer.concat([pk.str(`w${k}`), one.subarray(one.indexOf(0x7d) + 1 + pk.str('w').length, one.length - 1)]);
    const pickle = Buffer.concat([pk.op(0x80, 2, 0x7d), ...Array.from({ length: 100 }, (_, k) => entry(k)), pk.op(0x2e)]);
    assert.throws(() => parseCheckpoint(checkpointOf(pickle, new Uint8Array(4 << 18))),
      /^CheckpointError: Refusing a float32 tensor of size \[262144\] with stride \[1\]: it views 1\.0 MiB of storage but would take 1\.0 MiB as a contiguous tensor, more than the file's tensors may take \(twice its 1\.0 MiB of storage plus 64 MiB\)/);
    // Tied weights (each storage used twice) are far inside the budget.
    const tied = Buffer.concat([pk.op(0x80, 2, 0x7d), entry(0), entry(1), pk.op(0x2e)]);
    assert.equal((parseCheckpoint(checkpointOf(tied, new Uint8Array(4 << 18))) as Map<string, unknown>).size, 2);
  });

  test('a small stride-0 view still loads, copied into a contiguous tensor as torch.load would give it', async () => {
    const { readCheckpoint } = await import('../../src/models/pth/index.js');
    const row = new Float32Array([1, 2, 3]);
    const value = await readCheckpoint(checkpointOf(viewPickle(3, [4, 3], [0, 1]), new Uint8Array(row.buffer)));
    const w = (value as Map<string, { shape: number[]; data: Uint8Array }>).get('w')!;
    assert.deepEqual(w.shape, [4, 3]);
    assert.deepEqual([...new Float32Array(w.data.slice().buffer)], [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
  });
});

describe('many small deflated records', () => {
  const zeros = new Uint8Array(1 << 20);
  const payload = deflateRawSync(zeros, { level: 9 });
  const crc = crc32(zeros) >>> 0;
  const records: RawRecord[] = Array.from({ length: 4000 }, (_, i) => ({ name: `archive/data/${i}`, method: 8 as const, payload, size: zeros.length, crc }));
  const result = read('many.pth', zip([storedRecord('archive/data.pkl', Buffer.from([0x80, 2, 0x7d, 0x2e])), ...records]));
  test('4000 records of 1 MiB of zeros each (a 4.6 MB file, 4 GiB inflated) are refused before any is inflated', () => {
    const r = result();
    assert.match(r.error ?? '(no error)', new RegExp(`^CheckpointError: checkpoint ${named(r.file)}: Refusing a zip archive whose 4000 deflated records declare 4194304000 bytes in all, ` +
      `deflated into ${4000 * payload.length} \\(ratio \\d+:1, above 100:1\\), which is how a deflate bomb looks`));
    assert.ok(r.ms < 1000, `refused in ${r.ms.toFixed(0)} ms`);
    assert.ok(r.maxRssMiB < 200, `peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
  });
});

describe('pickle floods', () => {
  const flood = (n: number, fill: number, head: number[], tail: number[]) => {
    const b = Buffer.alloc(head.length + n + tail.length, fill);
    b.set(head, 0);
    b.set(tail, head.length + n);
    return b;
  };
  // APPENDS of n small ints into one list: ] ( K1 K1 … e .
  const appends = (n: number) => {
    const b = Buffer.alloc(4 + 2 * n + 2, 1);
    b.set([0x80, 2, 0x5d, 0x28]);
    for (let i = 0; i < n; i++) b[4 + 2 * i] = 0x4b;
    b.set([0x65, 0x2e], 4 + 2 * n);
    return b;
  };
  const cases: Array<[string, Buffer, RegExp, true?]> = [
    ['16 MB of MARK opcodes', flood(16 << 20, 0x28, [0x80, 2], [0x2e]),
      /Corrupt pickle at offset 1002 \(opcode 0x28\): more than 1000 MARKs open at once/],
    ['2 million nested tuples', flood(2_000_000, 0x85, [0x80, 2, 0x29], [0x2e]),
      /Corrupt pickle at offset 1000001 \(opcode 0x85\): more than 1,000,000 opcodes, far more than a checkpoint needs \(about 24 per tensor\); if this file is genuine, raise ABLATE_PICKLE_MAX_OPS$/],
    ['one APPENDS of 1.2 million items (opcode limit raised)', appends(1_200_000),
      /Corrupt pickle at offset 2000002 \(opcode 0x4b\): more than 1,000,000 values on the pickle stack/, true],
    ['an integer of 10 million digits', Buffer.concat([Buffer.from([0x80, 2, 0x4c]), Buffer.alloc(10_000_000, 0x37), Buffer.from('L\n.')]),
      /Corrupt pickle at offset 2 \(opcode 0x4c\): integer of 10,000,000 digits is larger than any checkpoint uses \(at most 620\)$/],
  ];
  const raisedOps = childReads({ ABLATE_PICKLE_MAX_OPS: '5000000' });
  cases.forEach(([what, pickle, message, env], i) => {
    const result = (env ? raisedOps : read)(`flood-${i}.pth`, checkpointOf(pickle));
    test(`${what}: refused quickly in bounded memory, naming the file in a short message`, () => {
      const r = result();
      assert.match(r.error ?? '(no error)', new RegExp(`^CheckpointError: checkpoint ${named(r.file)}: ${message.source}`));
      assert.ok(r.error!.length < 400, `a ${r.error!.length}-character message`);
      assert.ok(r.ms < 5000, `refused in ${r.ms.toFixed(0)} ms`);
      assert.ok(r.maxRssMiB < 300, `peak RSS (all files so far) ${r.maxRssMiB.toFixed(0)} MiB`);
    });
  });

  test('the memo is bounded too (limits passed explicitly)', async () => {
    const { unpickle, DEFAULT_PICKLE_LIMITS } = await import('../../src/models/pth/unpickler.js');
    const hooks = { resolveGlobal: () => undefined, call: () => null, persistentLoad: () => null, build: () => {} };
    // ] MEMOIZE × 11 . : eleven entries for a memo of ten.
    const pickle = Buffer.from([0x80, 2, 0x5d, ...Array<number>(11).fill(0x94), 0x2e]);
    assert.throws(() => unpickle(pickle, hooks, 0, { ...DEFAULT_PICKLE_LIMITS, maxMemo: 10 }), /^CheckpointError: Corrupt pickle at offset 13 \(opcode 0x94\): more than 10 memo entries$/);
    assert.deepEqual(unpickle(pickle, hooks, 0, { ...DEFAULT_PICKLE_LIMITS, maxMemo: 11 }).value, []);
  });

  test('a 5 MB key is quoted short in the message, which names the file', async () => {
    const { readStateDict } = await import('../../src/models/pth/index.js');
    const file = join(dir, 'long-key.pth');
    writeFileSync(file, checkpointOf(Buffer.concat([pk.op(0x80, 2, 0x7d), pk.str('k'.repeat(5_000_000)), pk.op(0x4b, 1, 0x73, 0x2e)])));
    await assert.rejects(readStateDict(file), (e: Error) => {
      assert.match(e.message, new RegExp(`^checkpoint ${named(file)}: Expected a state dict .* but received a dict with keys \\["k{37}"… \\(5,000,000 characters\\)\\]; pass \\{ key \\} to choose$`));
      return e.message.length < 500;
    });
  });

  test('an APPENDS of 300,000 items (more than a spread into push() survives) loads', async () => {
    const { unpickle } = await import('../../src/models/pth/unpickler.js');
    const hooks = { resolveGlobal: () => undefined, call: () => null, persistentLoad: () => null, build: () => {} };
    const list = unpickle(appends(300_000), hooks).value as number[];
    assert.equal(list.length, 300_000);
    assert.ok(list.every((v) => v === 1));
  });
});
