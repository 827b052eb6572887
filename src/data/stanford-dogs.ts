import { existsSync, statSync } from 'node:fs';
import { readRegularFile } from '../util/regular-file.js';
import { join } from 'node:path';
import { DirStore } from './stores/dir-store.js';
import { TarStore } from './stores/tar-store.js';
import type { ByteStore, StoreEntry } from './stores/store.js';
import { FileDataset, sourceFromSplits, type DataSource, type LabeledEntry } from './dataset-base.js';
import { matStrings, readMat } from './matlab.js';
import { hashOrder } from './random.js';
import type { BadFile, Dataset } from './types.js';

const LIST_DIRS = ['lists', 'list', 'list.tar', 'lists.tar'];

/** True for a folder that looks like the raw Stanford Dogs download (Images/ or images.tar with wnid-named breeds). */
export function looksLikeStanfordDogs(path: string): boolean {
  if (existsSync(join(path, 'Images.tar')) || existsSync(join(path, 'images.tar'))) return true;
  const images = join(path, 'Images');
  if (!existsSync(images) || !statSync(images).isDirectory()) return false;
  return existsSync(join(path, 'lists')) || existsSync(join(path, 'list.tar')) || existsSync(join(path, 'lists.tar')) || existsSync(join(path, 'train_list.mat'));
}

async function readList(root: string, name: string): Promise<Uint8Array | null> {
  // Split lists are ~1 MB; 64 MiB is far above any.
  const read = (p: string) => readRegularFile(p, { what: 'split list', maxBytes: 64 << 20 });
  if (existsSync(join(root, name))) return read(join(root, name));
  for (const d of LIST_DIRS) {
    const p = join(root, d);
    if (!existsSync(p)) continue;
    if (statSync(p).isDirectory()) {
      if (existsSync(join(p, name))) return read(join(p, name));
    } else {
      const tar = await TarStore.open(p);
      try {
        const hit = (await tar.list()).find((e) => e.path === name || e.path.endsWith(`/${name}`));
        if (hit) return await tar.read(hit.path);
      } finally {
        await tar.close();
      }
    }
  }
  return null;
}

/**
 * Raw Stanford Dogs: `Images/<wnid>-<Breed>/*.jpg` (a folder, or `Images.tar` read in place) and the official
 * 12,000 / 8,580 split from `train_list.mat` / `test_list.mat` (in `lists/`, an extracted `list.tar/`, or `lists.tar`).
 * Class names follow TFDS: the lower-cased breed folder names, sorted.
 */
export async function openStanfordDogs(path: string): Promise<DataSource> {
  const tarPath = ['Images.tar', 'images.tar'].map((f) => join(path, f)).find((p) => existsSync(p) && statSync(p).isFile());
  const useDir = existsSync(join(path, 'Images')) && statSync(join(path, 'Images')).isDirectory();
  if (!useDir && !tarPath) throw new Error(`Expected Stanford Dogs images (an Images/ folder or Images.tar) in ${path} but found neither`);
  const store: ByteStore = useDir ? new DirStore(path) : await TarStore.open(tarPath!);
  try {
    const lists: Record<string, string[]> = {};
    for (const split of ['train', 'test']) {
      const buf = await readList(path, `${split}_list.mat`);
      if (!buf) throw new Error(`Expected ${split}_list.mat (in ${path}/lists/, ${path}/list.tar/ or ${path}/lists.tar) for the official split but found none`);
      lists[split] = matStrings(readMat(buf).get('file_list'), `file_list in ${split}_list.mat`);
    }
    const classNames = [...new Set(lists.train!.map((f) => f.split('/')[0]!.toLowerCase()))].sort();
    const present = new Map<string, StoreEntry>();
    for (const e of await store.list()) {
      const m = /^(?:.*\/)?Images\/([^/]+\/[^/]+)$/i.exec(e.path);
      if (m) present.set(m[1]!, e);
    }
    const datasets = new Map<string, Dataset>();
    for (const [split, names] of Object.entries(lists)) {
      const files: LabeledEntry[] = [];
      const excluded: BadFile[] = [];
      for (const n of names) {
        const entry = present.get(n);
        const label = classNames.indexOf(n.split('/')[0]!.toLowerCase());
        if (!entry) excluded.push({ index: -1, name: `Images/${n}`, reason: 'missing', detail: `listed in ${split}_list.mat but not found` });
        else if (label < 0) excluded.push({ index: -1, name: entry.path, reason: 'missing', detail: 'breed not in train_list.mat' });
        else files.push({ entry, label });
      }
      const order = hashOrder(files.map((f) => f.entry.path), split);
      const desc = `${path} (${split}${excluded.length ? `, ${files.length} of ${names.length} listed images present` : ''})`;
      datasets.set(split, new FileDataset('stanford_dogs', desc, store, Array.from(order, (i) => files[i]!), classNames, excluded));
    }
    return sourceFromSplits('stanford_dogs', path, datasets, store);
  } catch (e) {
    await store.close();
    throw e;
  }
}
