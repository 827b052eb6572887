import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataSpecSchema, openDataset, parseDataSpec, prepareDataset, resolveImageSize } from '../../src/data/index.js';
import { jpeg, tempDir, writeFile } from './fixtures.js';

test('defaults are filled in', () => {
  const s = parseDataSpec({ path: '/x' });
  assert.equal(s.split, 'train');
  assert.equal(s.resize, 'stretch');
  assert.equal(s.cache, 'auto');
  assert.equal(s.imageSize, undefined);
  assert.deepEqual(parseDataSpec({ source: 'generated', generated: {} }).generated, { trainCount: 5000, testCount: 1000, classes: 4, size: 32, seed: 0, difficulty: 'medium' });
});

test('invalid specs list every problem with its field path', () => {
  assert.throws(() => parseDataSpec({ split: 3, imageSize: 'big', resize: 'squash', colour: 1 }, 'study.data'), (e: Error) => {
    assert.ok(e instanceof TypeError);
    for (const re of [/study\.data\.split: .*expected string, received number/i, /study\.data\.imageSize/, /study\.data\.resize: .*"stretch"\|"center-crop"|study\.data\.resize: .*stretch/, /colour/]) {
      assert.match(e.message, re);
    }
    return true;
  });
  assert.throws(() => parseDataSpec({}), /data\.path: expected a path for source \(auto-detected\) \(or a source ablate can fetch by name: .*\), received nothing/);
  assert.throws(() => parseDataSpec({ source: 'cifar10', path: '/x', generated: {} }), /data\.generated: only valid with source 'generated'/);
  assert.throws(() => parseDataSpec({ source: 'generated', generated: { classes: 500 } }), /data\.generated\.classes/);
  assert.equal(DataSpecSchema.safeParse({ source: 'generated' }).success, true);
});

test('image size defaults per source', async (t) => {
  const gen = await openDataset({ source: 'generated', generated: { trainCount: 4, size: 20 } });
  t.after(() => gen.close());
  assert.deepEqual(resolveImageSize(parseDataSpec({ source: 'generated', generated: { size: 20 } }), gen), { height: 20, width: 20 });
  assert.deepEqual(resolveImageSize(parseDataSpec({ source: 'generated', imageSize: [10, 12] }), gen), { height: 10, width: 12 });
});

test('prepareDataset resizes to imageSize and closes the source', async (t) => {
  const dir = tempDir(t);
  writeFile(join(dir, 'f', 'x', '0.jpg'), await jpeg(30, 20, [200, 0, 0]));
  writeFile(join(dir, 'f', 'y', '0.jpg'), await jpeg(20, 30, [0, 0, 200]));
  const set = await prepareDataset({ path: join(dir, 'f'), imageSize: [5, 7], resize: 'center-crop', cacheDir: join(dir, 'c') }, { log: () => {} });
  t.after(() => set.close());
  assert.equal(set.height, 5);
  assert.equal(set.width, 7);
  assert.deepEqual(set.classNames, ['x', 'y']);
  assert.ok(set.cachePath?.startsWith(join(dir, 'c')));
  await assert.rejects(openDataset({ path: join(dir, 'f'), split: 'validation' }), /Expected one of 'train' \(the splits of .*\) for split but received "validation"/);
});
