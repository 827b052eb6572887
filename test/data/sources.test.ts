import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeItem, detectSource, openDataset, openGenerated, openSource, renderGenerated, DEFAULT_GENERATED, type Dataset } from '../../src/data/index.js';
import { jpeg, png, tempDir, writeFile, writeMat, writeTar, writeTfds, writeZip } from './fixtures.js';

const RED: [number, number, number] = [220, 30, 30];
const BLUE: [number, number, number] = [30, 30, 220];

async function meanColour(ds: Dataset, i: number): Promise<number[]> {
  const { pixels } = await decodeItem(await ds.read(i), { height: 4, width: 4, resize: 'stretch' }, ds.itemName(i));
  const m = [0, 0, 0];
  for (let p = 0; p < 16; p++) for (let c = 0; c < 3; c++) m[c]! += pixels[p * 3 + c]! / 16;
  return m;
}

/** Every item decodes to its class's colour: labels and bytes stay paired through ordering and splitting. */
async function assertColoursMatchLabels(ds: Dataset, colours: [number, number, number][]): Promise<void> {
  for (let i = 0; i < ds.length; i++) {
    const m = await meanColour(ds, i);
    const want = colours[ds.label(i)]!;
    assert.ok(m.every((v, c) => Math.abs(v - want[c]!) < 12), `${ds.itemName(i)}: ${m} vs ${want}`);
  }
}

async function petImages(root: string, perClass = 6): Promise<{ name: string; data: Buffer }[]> {
  const files: { name: string; data: Buffer }[] = [];
  for (let i = 0; i < perClass; i++) {
    files.push({ name: `PetImages/Cat/${i}.jpg`, data: await jpeg(12, 10, RED) });
    files.push({ name: `PetImages/Dog/${i}.jpg`, data: await jpeg(10, 12, BLUE) });
  }
  files.push({ name: 'PetImages/Cat/Thumbs.db', data: Buffer.from('not an image, ignored by extension') });
  files.push({ name: 'readme[1].txt', data: Buffer.from('hi') });
  for (const f of files) writeFile(join(root, f.name), f.data);
  return files;
}

test('image folder: PetImages layout from the folder, its parent, and a zip give the same dataset', async (t) => {
  const dir = tempDir(t);
  const files = await petImages(join(dir, 'extracted'));
  writeZip(join(dir, 'kagglecatsanddogs_5340.zip'), files);

  const views: Dataset[] = [];
  for (const path of [join(dir, 'extracted'), join(dir, 'extracted', 'PetImages'), join(dir, 'kagglecatsanddogs_5340.zip')]) {
    const ds = await openDataset({ path });
    t.after(() => ds.close());
    assert.equal(ds.source, 'cats_vs_dogs');
    assert.deepEqual(ds.classNames, ['cat', 'dog']);
    assert.equal(ds.length, 12);
    views.push(ds);
  }
  const names = (d: Dataset) => Array.from({ length: d.length }, (_, i) => d.itemName(i).replace(/^.*?(Cat|Dog)\//, '$1/'));
  assert.deepEqual(names(views[0]!), names(views[1]!));
  assert.deepEqual(names(views[0]!), names(views[2]!));
  // Canonical order interleaves classes (hash order), so a prefix slice is not all cats.
  assert.ok(new Set(Array.from(views[0]!.labels()).slice(0, 6)).size === 2);
  await assertColoursMatchLabels(views[2]!, [RED, BLUE]);
});

test('image folder: splits slice deterministically and partition the data', async (t) => {
  const dir = tempDir(t);
  await petImages(dir, 10);
  const a = await openDataset({ path: dir, split: 'train[:70%]' });
  const b = await openDataset({ path: dir, split: 'train[70%:]' });
  const again = await openDataset({ path: dir, split: 'train[:70%]' });
  t.after(() => Promise.all([a.close(), b.close(), again.close()]));
  assert.equal(a.length, 14);
  assert.equal(b.length, 6);
  const na = Array.from({ length: a.length }, (_, i) => a.itemName(i));
  const nb = Array.from({ length: b.length }, (_, i) => b.itemName(i));
  assert.equal(new Set([...na, ...nb]).size, 20);
  assert.deepEqual(Array.from({ length: again.length }, (_, i) => again.itemName(i)), na);
  assert.notEqual(a.fingerprint, b.fingerprint);
  assert.equal(a.fingerprint, again.fingerprint);
});

test('image folder: train/val folders become splits; a plain class-folder root keeps its folder names', async (t) => {
  const dir = tempDir(t);
  for (const split of ['train', 'val']) {
    for (let i = 0; i < 3; i++) {
      writeFile(join(dir, 'data', split, 'ants', `${i}.jpg`), await jpeg(8, 8, RED));
      writeFile(join(dir, 'data', split, 'bees', `${i}.png`), await png(8, 8, BLUE));
    }
  }
  const src = await openSource({ path: join(dir, 'data') });
  t.after(() => src.close());
  assert.equal(src.source, 'image-folder');
  assert.deepEqual([...src.splitNames].sort(), ['train', 'val']);
  assert.deepEqual(src.split('val').classNames, ['ants', 'bees']);
  await assertColoursMatchLabels(src.split('val'), [RED, BLUE]);
  assert.throws(() => src.split('test'), /Expected one of 'train', 'val'|Expected one of 'val', 'train'/);
});

test('image folder: a folder without class folders is refused clearly', async (t) => {
  const dir = tempDir(t);
  writeFile(join(dir, 'a.jpg'), await jpeg(8, 8, RED));
  await assert.rejects(openDataset({ path: dir }), /Expected class folders with images .* but found images without class folders/);
  await assert.rejects(openDataset({ path: join(dir, 'missing') }), /Expected a dataset at .*missing but nothing exists there/);
});

test('TFDS prepared dir: shards in order, labels, names from label.labels.txt, corrupt records excluded', async (t) => {
  const dir = tempDir(t);
  const v = join(dir, 'cats_vs_dogs', '4.0.1');
  const ex = async (k: number, label: number) => ({ image: await jpeg(9, 7, label ? BLUE : RED), label, filename: `PetImages/${label ? 'Dog' : 'Cat'}/${k}.jpg` });
  const shards = writeTfds(v, 'cats_vs_dogs', ['cat', 'dog'], {
    train: [[await ex(0, 0), await ex(1, 1), await ex(2, 1)], [await ex(3, 0), await ex(4, 1)]],
    test: [[await ex(5, 0)]],
  });
  assert.equal(await detectSource(join(dir, 'cats_vs_dogs')), 'tfds');
  const ds = await openDataset({ path: join(dir, 'cats_vs_dogs'), split: 'train' });
  assert.equal(ds.source, 'tfds');
  assert.deepEqual(ds.classNames, ['cat', 'dog']);
  assert.deepEqual(Array.from(ds.labels()), [0, 1, 1, 0, 1]);
  assert.equal(ds.itemName(3), 'PetImages/Cat/3.jpg');
  await assertColoursMatchLabels(ds, [RED, BLUE]);
  const head = await openDataset({ path: v, split: 'train[:40%]' });
  assert.deepEqual(Array.from(head.labels()), [0, 1]);
  await Promise.all([ds.close(), head.close()]);

  // Flip one byte inside the second shard's first record payload: that record is dropped and listed.
  const buf = readFileSync(shards[1]!);
  buf[40]! ^= 0xff;
  writeFileSync(shards[1]!, buf);
  const damaged = await openDataset({ path: v, split: 'train' });
  t.after(() => damaged.close());
  assert.equal(damaged.length, 4);
  assert.deepEqual(damaged.excluded.map((e) => e.reason), ['corrupt-record']);
  assert.notEqual(damaged.fingerprint, ds.fingerprint);
});

async function stanfordLayout(root: string, asTar: boolean): Promise<void> {
  const breeds = ['n02085620-Chihuahua', 'n02116738-African_hunting_dog'];
  const images: { name: string; data: Buffer }[] = [];
  const train: string[] = [];
  const test: string[] = [];
  for (const [b, breed] of breeds.entries()) {
    for (let i = 0; i < 4; i++) {
      const rel = `${breed}/${breed.slice(0, 9)}_${i}.jpg`;
      images.push({ name: `Images/${rel}`, data: await jpeg(8, 8, b ? BLUE : RED) });
      (i < 3 ? train : test).push(rel);
    }
  }
  test.push('n02085620-Chihuahua/n02085620_999.jpg'); // listed but missing
  const lists = join(root, asTar ? 'tmp-lists' : 'lists');
  writeMat(join(lists, 'train_list.mat'), [{ name: 'file_list', strings: train }, { name: 'labels', doubles: train.map((f) => (f.startsWith('n0208') ? 1 : 2)) }]);
  writeMat(join(lists, 'test_list.mat'), [{ name: 'file_list', strings: test }, { name: 'labels', doubles: test.map(() => 1) }], false);
  if (asTar) {
    writeTar(join(root, 'Images.tar'), images);
    writeTar(join(root, 'lists.tar'), ['train_list.mat', 'test_list.mat'].map((n) => ({ name: n, data: readFileSync(join(lists, n)) })));
  } else for (const f of images) writeFile(join(root, f.name), f.data);
}

for (const asTar of [false, true]) {
  test(`Stanford Dogs raw (${asTar ? 'Images.tar + lists.tar' : 'Images/ + lists/'}): official split from the .mat lists`, async (t) => {
    const dir = tempDir(t);
    await stanfordLayout(dir, asTar);
    assert.equal(await detectSource(dir), 'stanford_dogs');
    const train = await openDataset({ path: dir, split: 'train' });
    const test_ = await openDataset({ path: dir, split: 'test' });
    t.after(() => Promise.all([train.close(), test_.close()]));
    assert.deepEqual(train.classNames, ['n02085620-chihuahua', 'n02116738-african_hunting_dog']);
    assert.equal(train.length, 6);
    assert.equal(test_.length, 2);
    assert.deepEqual(test_.excluded.map((e) => [e.reason, e.name]), [['missing', 'Images/n02085620-Chihuahua/n02085620_999.jpg']]);
    await assertColoursMatchLabels(train, [RED, BLUE]);
  });
}

test('CIFAR-10 and CIFAR-100 binaries: planar records become HWC pixels with the right labels', async (t) => {
  const dir = tempDir(t);
  const record = (labels: number[], r: number, g: number, b: number) => Buffer.concat([Buffer.from(labels), Buffer.alloc(1024, r), Buffer.alloc(1024, g), Buffer.alloc(1024, b)]);
  const c10 = join(dir, 'c10', 'cifar-10-batches-bin');
  for (let k = 1; k <= 5; k++) writeFile(join(c10, `data_batch_${k}.bin`), Buffer.concat([record([k], 10 * k, 1, 2), record([9], 0, 0, 0)]));
  writeFile(join(c10, 'test_batch.bin'), record([3], 1, 2, 3));
  const train = await openDataset({ path: join(dir, 'c10') });
  assert.equal(train.source, 'cifar10');
  assert.equal(train.length, 10);
  assert.deepEqual(Array.from(train.labels()), [1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
  assert.equal(train.classNames[9], 'truck');
  const item = await train.read(2);
  assert.equal(item.kind, 'raw');
  if (item.kind === 'raw') assert.deepEqual(Array.from(item.pixels.subarray(0, 6)), [20, 1, 2, 20, 1, 2]);

  const c100 = join(dir, 'cifar-100-binary');
  writeFile(join(c100, 'train.bin'), Buffer.concat([record([4, 77], 5, 6, 7), record([1, 3], 0, 0, 0)]));
  writeFile(join(c100, 'test.bin'), record([0, 0], 0, 0, 0));
  const fine = await openDataset({ path: dir + '/cifar-100-binary', source: 'cifar100' });
  const coarse = await openDataset({ path: c100, source: 'cifar100', labelKind: 'coarse' });
  assert.deepEqual(Array.from(fine.labels()), [77, 3]);
  assert.deepEqual(Array.from(coarse.labels()), [4, 1]);
  assert.equal(fine.classNames.length, 100);
  await assert.rejects(openDataset({ path: join(dir, 'c10'), source: 'cifar100' }), /Expected the cifar100 binary layout .* but found cifar10/);
  writeFile(join(c100, 'test.bin'), Buffer.alloc(100));
  await assert.rejects(openDataset({ path: c100 }), /to hold whole 3074-byte records but received 100 bytes/);
});

test('generated: deterministic per (seed, split, index), balanced labels, seeds and splits differ', async () => {
  const opts = { ...DEFAULT_GENERATED, trainCount: 40, testCount: 8, classes: 4, size: 16 };
  const a = openGenerated(opts).split('train');
  const b = openGenerated(opts).split('train');
  const c = openGenerated({ ...opts, seed: 1 }).split('train');
  assert.deepEqual(a.labels(), b.labels());
  const counts = [0, 0, 0, 0];
  for (const l of a.labels()) counts[l]!++;
  assert.deepEqual(counts, [10, 10, 10, 10]);
  const px = async (d: Dataset, i: number) => ((await d.read(i)) as { pixels: Uint8Array }).pixels;
  assert.deepEqual(await px(a, 5), await px(b, 5));
  assert.notDeepEqual(await px(a, 5), await px(c, 5));
  assert.notDeepEqual(renderGenerated(opts, 'train', 0, 0), renderGenerated(opts, 'test', 0, 0));
  assert.equal((await px(a, 0)).length, 16 * 16 * 3);
  assert.deepEqual(a.classNames, ['triangle', 'square', 'cross', 'disk']);
  assert.equal(openGenerated({ ...opts, classes: 30 }).split('test').classNames[29], '2xstar-solid');
  assert.throws(() => openGenerated({ ...opts, classes: 1 }), /Expected an integer from 2 to 72 for generated.classes but received 1/);
});
