/** Small stand-ins for the official dataset archives, served by the test server under their real file names. */
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { jpeg, withJfif, writeMat, writeTar, writeZip } from '../fixtures.js';
import { sha256 } from './server.js';

export interface FixtureFile {
  name: string;
  body: Buffer;
}

/** `kagglecatsanddogs_5340.zip`: PetImages/{Cat,Dog}/N.jpg, JFIF headers included (TFDS's filter keeps them). */
export async function catsVsDogsZip(perClass = 3): Promise<FixtureFile> {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-fx-'));
  const entries: { name: string; data: Uint8Array }[] = [];
  for (const [cls, rgb] of [['Cat', [200, 30, 30]], ['Dog', [30, 30, 200]]] as const) {
    for (let i = 0; i < perClass; i++) entries.push({ name: `PetImages/${cls}/${i}.jpg`, data: withJfif(await jpeg(12, 10, [...rgb])) });
  }
  writeZip(join(dir, 'z.zip'), entries);
  const body = readFileSync(join(dir, 'z.zip'));
  rmSync(dir, { recursive: true, force: true });
  return { name: 'kagglecatsanddogs_5340.zip', body };
}

const record = (label: number, v: number) => Buffer.concat([Buffer.from([label]), Buffer.alloc(3072, v)]);

/** `cifar-10-binary.tar.gz` holding cifar-10-batches-bin/ with two records per batch. */
export async function cifar10TarGz(): Promise<FixtureFile> {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-fx-'));
  const inner = join(dir, 'cifar-10-batches-bin');
  mkdirSync(inner);
  for (let k = 1; k <= 5; k++) writeFileSync(join(inner, `data_batch_${k}.bin`), Buffer.concat([record(k, 10 * k), record(9, 0)]));
  writeFileSync(join(inner, 'test_batch.bin'), record(3, 7));
  writeFileSync(join(inner, 'batches.meta.txt'), 'airplane\n');
  await tar.c({ gzip: true, file: join(dir, 'c.tar.gz'), cwd: dir, portable: true }, ['cifar-10-batches-bin']);
  const body = readFileSync(join(dir, 'c.tar.gz'));
  rmSync(dir, { recursive: true, force: true });
  return { name: 'cifar-10-binary.tar.gz', body };
}

/** images.tar, annotation.tar and lists.tar as the Stanford Dogs site ships them (two breeds, 3 + 1 per breed). */
export async function stanfordDogsTars(): Promise<FixtureFile[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-fx-'));
  const breeds = ['n02085620-Chihuahua', 'n02116738-African_hunting_dog'];
  const images: { name: string; data: Uint8Array }[] = [];
  const train: string[] = [];
  const test: string[] = [];
  for (const [b, breed] of breeds.entries()) {
    for (let i = 0; i < 4; i++) {
      const rel = `${breed}/${breed.slice(0, 9)}_${i}.jpg`;
      images.push({ name: `Images/${rel}`, data: await jpeg(8, 8, b ? [0, 0, 255] : [255, 0, 0]) });
      (i < 3 ? train : test).push(rel);
    }
  }
  writeMat(join(dir, 'train_list.mat'), [{ name: 'file_list', strings: train }, { name: 'labels', doubles: train.map((f) => (f.startsWith('n0208') ? 1 : 2)) }]);
  writeMat(join(dir, 'test_list.mat'), [{ name: 'file_list', strings: test }, { name: 'labels', doubles: test.map((f) => (f.startsWith('n0208') ? 1 : 2)) }]);
  writeTar(join(dir, 'images.tar'), images);
  writeTar(join(dir, 'lists.tar'), ['train_list.mat', 'test_list.mat'].map((n) => ({ name: n, data: readFileSync(join(dir, n)) })));
  writeTar(join(dir, 'annotation.tar'), [{ name: `Annotation/${breeds[0]}/${breeds[0]!.slice(0, 9)}_0`, data: Buffer.from('<annotation/>') }]);
  const out = ['images.tar', 'annotation.tar', 'lists.tar'].map((name) => ({ name, body: readFileSync(join(dir, name)) }));
  rmSync(dir, { recursive: true, force: true });
  return out;
}

/** A catalogue entry (ABLATE_CATALOGUE form) for fixture files; `url` is a fake official host, so only a mirror can serve them. */
export function entryFor(files: FixtureFile[], extra: Record<string, unknown>): Record<string, unknown> {
  return {
    ...extra,
    files: files.map((f) => ({ name: f.name, url: `https://official.invalid/${f.name}`, size: f.body.length, sha256: sha256(f.body) })),
  };
}
