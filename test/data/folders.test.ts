// Image folders as users assemble them: symlinked classes and splits, symlinked files, loops, empty classes.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDataset } from '../../src/data/index.js';
import { jpeg, tempDir, writeFile, writeZip } from './fixtures.js';

async function classFolder(dir: string, n: number, rgb: [number, number, number]): Promise<void> {
  for (let i = 0; i < n; i++) writeFile(join(dir, `${i}.jpg`), await jpeg(8, 8, rgb));
}

function countsOf(ds: { labels(): Int32Array; classNames: readonly string[] }): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(ds.classNames.map((c) => [c, 0]));
  for (const l of ds.labels()) out[ds.classNames[l]!]!++;
  return out;
}

test('a symlinked class folder, a symlinked split folder and symlinked files are followed', async (t) => {
  const root = tempDir(t);
  const pool = join(root, 'pool');
  await classFolder(join(pool, 'dogs'), 3, [200, 10, 10]);
  await classFolder(join(pool, 'val-cats'), 2, [10, 10, 200]);
  const data = join(root, 'data');
  await classFolder(join(data, 'train', 'cats'), 4, [10, 10, 200]);
  symlinkSync(join(pool, 'dogs'), join(data, 'train', 'dogs')); // a class folder that is a link
  mkdirSync(join(root, 'valsrc', 'dogs'), { recursive: true });
  symlinkSync(join(pool, 'dogs', '0.jpg'), join(root, 'valsrc', 'dogs', 'linked.jpg')); // a file that is a link
  symlinkSync(join(pool, 'val-cats'), join(root, 'valsrc', 'cats'));
  symlinkSync(join(root, 'valsrc'), join(data, 'val')); // a split folder that is a link

  const train = await openDataset({ path: data, split: 'train' });
  const val = await openDataset({ path: data, split: 'val' });
  try {
    assert.deepEqual(train.classNames, ['cats', 'dogs']);
    assert.deepEqual(countsOf(train), { cats: 4, dogs: 3 });
    assert.deepEqual(countsOf(val), { cats: 2, dogs: 1 });
    const item = await train.read([...train.labels()].indexOf(1));
    assert.equal(item.kind, 'encoded');
  } finally {
    await train.close();
    await val.close();
  }
});

test('a symlink loop is reported with the link and where it leads, not walked forever', async (t) => {
  const root = tempDir(t);
  await classFolder(join(root, 'train', 'cats'), 2, [10, 10, 200]);
  await classFolder(join(root, 'train', 'dogs'), 2, [200, 10, 10]);
  symlinkSync('..', join(root, 'train', 'dogs', 'again'));
  const started = Date.now();
  await assert.rejects(openDataset({ path: root }), /symlink loop in .*: train\/dogs\/again\/ leads back to train\/, which contains it; remove or fix that link/);
  assert.ok(Date.now() - started < 5000);
});

test('two class folders that are links to the same folder are refused (the same images under two labels)', async (t) => {
  const root = tempDir(t);
  await classFolder(join(root, 'pool'), 2, [10, 10, 200]);
  mkdirSync(join(root, 'data'));
  symlinkSync(join(root, 'pool'), join(root, 'data', 'cats'));
  symlinkSync(join(root, 'pool'), join(root, 'data', 'dogs'));
  await assert.rejects(openDataset({ path: join(root, 'data') }), /data: dogs\/ and cats\/ are the same folder .* reached through a symlink, so its images would be used twice/);
});

test('a class folder with no image is an error naming it and what it holds; a dangling link is an unreadable file', async (t) => {
  const root = tempDir(t);
  await classFolder(join(root, 'train', 'cats'), 2, [10, 10, 200]);
  mkdirSync(join(root, 'train', 'dogs'));
  await assert.rejects(openDataset({ path: root }), /Expected every class folder in .* to hold images .* but this one has none: train\/dogs\/ \(empty\)\. Add images, or remove the folder/);
  writeFileSync(join(root, 'train', 'dogs', 'notes.txt'), 'x');
  await assert.rejects(openDataset({ path: root }), /train\/dogs\/ \(holds notes\.txt but no image\)/);

  // The same layout inside a zip, with the empty folder as an explicit directory entry.
  const zip = join(root, 'data.zip');
  writeZip(zip, [{ name: 'PetImages/Cat/0.jpg', data: await jpeg(8, 8, [1, 2, 3]) }, { name: 'PetImages/Dog/', data: new Uint8Array(0) }]);
  await assert.rejects(openDataset({ path: zip }), /PetImages\/Dog\/ \(empty\)/);

  writeFileSync(join(root, 'train', 'dogs', 'notes.txt'), 'x');
  symlinkSync(join(root, 'nowhere.jpg'), join(root, 'train', 'dogs', 'gone.jpg'));
  const ds = await openDataset({ path: root });
  try {
    assert.deepEqual(countsOf(ds), { cats: 2, dogs: 1 });
    await assert.rejects(ds.read([...ds.labels()].indexOf(1)), /^FileReadError: image \S+gone\.jpg does not exist$/);
  } finally {
    await ds.close();
  }
});
