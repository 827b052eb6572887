// Hostile .pth files: a deflate bomb (1 MB inflating to 1 GiB) must be refused fast, in bounded memory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { encodeCheckpoint } from '../../src/models/pth/index.js';
import { readZipDirectory, readZipEntry } from '../../src/models/pth/zipArchive.js';

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

function readInChild(file: string): { ms: number; maxRssMiB: number; error?: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'models', 'child-read-pth.ts'), file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('deflate bomb', () => {
  const bomb = deflateBomb();
  const cases: Array<[string, Buffer, RegExp]> = [
    ['the record declares the tensor\'s 1 KiB but inflates to 1 GiB', withStorage({ name: 'archive/data/0', method: 8, payload: bomb, size: 1024, crc: 0 }),
      /^CheckpointError: Refusing zip record "archive\/data\/0": it inflates to more than the 1024 bytes it declares \(a damaged record or a deflate bomb\); inflation was stopped there$/],
    ['the record honestly declares 1 GiB, but the tensor needs 1 KiB', withStorage({ name: 'archive/data/0', method: 8, payload: bomb, size: GiB, crc: 0 }),
      /^CheckpointError: Expected 1024 bytes in archive\/data\/0 \(256 × float32\) but the record declares 1073741824$/],
    ['an extra record the pickle never uses declares 1 GiB deflated into 1 MB', withStorage(
      { name: 'archive/data/0', method: 0, payload: new Uint8Array(1024), size: 1024, crc: crc32(new Uint8Array(1024)) >>> 0 },
      [{ name: 'archive/data/1', method: 8, payload: bomb, size: GiB, crc: 0 }]),
      /^CheckpointError: Refusing zip record "archive\/data\/1": it declares 1073741824 bytes deflated into 1044162 \(ratio 1028:1, above 100:1\), which is how a deflate bomb looks; PyTorch stores tensors uncompressed, so re-save the file with torch\.save$/],
  ];
  for (const [what, bytes, message] of cases) {
    test(`${what}: refused in under 1 s with under 200 MB peak RSS`, () => {
      assert.ok(bytes.length < 1.1e6, `the file is about 1 MB (${bytes.length} bytes)`);
      const file = join(dir, 'bomb.pth');
      writeFileSync(file, bytes);
      const r = readInChild(file);
      assert.match(r.error ?? '(no error)', message);
      assert.ok(r.ms < 1000, `refused in ${r.ms.toFixed(0)} ms`);
      assert.ok(r.maxRssMiB < 200, `peak RSS of the reading process ${r.maxRssMiB.toFixed(0)} MiB`);
    });
  }

  test('a deflated record that is honest is read (bounded inflation is not a refusal of compression)', () => {
    const data = new Uint8Array(1024).map((_, i) => i % 251);
    const file = withStorage({ name: 'archive/data/0', method: 8, payload: deflateRawSync(data), size: 1024, crc: crc32(data) >>> 0 });
    writeFileSync(join(dir, 'ok.pth'), file);
    assert.equal(readInChild(join(dir, 'ok.pth')).error, undefined);
  });
});
