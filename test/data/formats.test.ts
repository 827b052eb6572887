import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeExample, encodeExample, frameTfRecord, matNumbers, matStrings, readMat, scanTfRecords } from '../../src/data/index.js';
import { tempDir, writeMat } from './fixtures.js';

test('tf.train.Example round-trips bytes, floats and int64 (incl. negative and large)', () => {
  const buf = encodeExample({
    image: { kind: 'bytes', value: [new Uint8Array([1, 2, 3]), new Uint8Array(0)] },
    label: { kind: 'int64', value: [7, -1, 2 ** 40] },
    score: { kind: 'float', value: [0.5, -2] },
  });
  const ex = decodeExample(buf);
  const image = ex.get('image')!;
  assert.equal(image.kind, 'bytes');
  assert.deepEqual((image.value as Uint8Array[]).map((v) => Array.from(v)), [[1, 2, 3], []]);
  assert.deepEqual(ex.get('label'), { kind: 'int64', value: [7, -1, 2 ** 40] });
  assert.deepEqual(ex.get('score'), { kind: 'float', value: [0.5, -2] });
});

test('TFRecord scan verifies both CRCs: corrupt payloads are skipped, broken framing stops the file', () => {
  const recs = [1, 2, 3].map((k) => frameTfRecord(new Uint8Array(10 + k).fill(k)));
  const good = Buffer.concat(recs);
  assert.deepEqual(scanTfRecords(good).records.map((r) => r.length), [11, 12, 13]);

  const payloadFlip = Buffer.from(good);
  payloadFlip[recs[0]!.length + 12 + 3]! ^= 0xff; // inside record 2's payload
  const s1 = scanTfRecords(payloadFlip);
  assert.deepEqual(s1.records.map((r) => r.length), [11, 13]);
  assert.equal(s1.corrupt.length, 1);
  assert.equal(s1.framingLostAt, null);

  const lengthFlip = Buffer.from(good);
  lengthFlip[recs[0]!.length]! ^= 0x01; // record 2's length field
  const s2 = scanTfRecords(lengthFlip);
  assert.deepEqual(s2.records.map((r) => r.length), [11]);
  assert.match(s2.framingLostAt!.detail, /length CRC/);

  const s3 = scanTfRecords(good.subarray(0, good.length - 5));
  assert.equal(s3.records.length, 2);
  assert.match(s3.framingLostAt!.detail, /runs past the end/);
});

for (const compress of [true, false]) {
  test(`MAT v5 reader: cell arrays of strings and doubles (${compress ? 'miCOMPRESSED' : 'uncompressed'})`, (t) => {
    const dir = tempDir(t);
    const files = ['n02085620-Chihuahua/n02085620_5927.jpg', 'n02116738-African_hunting_dog/n02116738_2503.jpg', 'a/b.jpg'];
    writeMat(join(dir, 'l.mat'), [{ name: 'file_list', strings: files }, { name: 'labels', doubles: [1, 120, 3] }, { name: 'x', strings: ['ab'] }], compress);
    const m = readMat(readFileSync(join(dir, 'l.mat')));
    assert.deepEqual([...m.keys()], ['file_list', 'labels', 'x']);
    assert.deepEqual(matStrings(m.get('file_list'), 'file_list'), files);
    assert.deepEqual(Array.from(matNumbers(m.get('labels'), 'labels')), [1, 120, 3]);
    assert.throws(() => matNumbers(m.get('file_list'), 'file_list'), /Expected file_list to be a numeric array but received cell/);
  });
}

test('MAT reader rejects other files with a clear message', () => {
  assert.throws(() => readMat(Buffer.from('not a mat file'.padEnd(200))), /Expected a MATLAB 5.0 MAT-file but the file starts with "not a mat file/);
  const v73 = Buffer.alloc(200, 0x20);
  v73.write('MATLAB 7.3 MAT-file', 0);
  assert.throws(() => readMat(v73), /7\.3 \(HDF5\)/);
});
