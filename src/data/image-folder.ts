import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { DirStore } from './stores/dir-store.js';
import { ZipStore } from './stores/zip-store.js';
import type { ByteStore, StoreEntry } from './stores/store.js';
import { FileDataset, mapLimit, sourceFromSplits, type DataSource, type LabeledEntry } from './dataset-base.js';
import { hashOrder } from './random.js';
import { isSplitFolderName } from './layouts.js';
import type { BadFile, Dataset, SourceName } from './types.js';

export const IMAGE_EXT = /\.(jpe?g|png|bmp|gif|webp|tiff?)$/i;

export interface ImageFolderOptions {
  /** Keep only files whose first 10 bytes contain "JFIF", the filter TFDS applies to cats_vs_dogs. */
  jfifOnly?: boolean;
  /** Force the source name ('cats_vs_dogs' lower-cases class names as TFDS does). */
  source?: 'image-folder' | 'cats_vs_dogs';
}

/** True when the first bytes carry a JFIF APP0 marker; TFDS checks `b"JFIF" in fobj.peek(10)`. */
export function hasJfifHeader(head: Uint8Array): boolean {
  return Buffer.from(head.buffer, head.byteOffset, Math.min(head.length, 10)).includes('JFIF');
}

/**
 * Open `root/<class>/<image>` layouts from a folder or a zip, wherever the class folders sit inside
 * (`PetImages/Cat/0.jpg` in the Kaggle zip). A parent with `train/`, `val/`, `test/` children, each
 * holding class folders, gives one split per child; otherwise the single split is `train`, as in TFDS.
 */
export async function openImageFolder(path: string, opts: ImageFolderOptions = {}): Promise<DataSource> {
  const isFile = (await stat(path)).isFile();
  const store: ByteStore = isFile ? await ZipStore.open(path) : new DirStore(path);
  try {
    return await buildImageFolder(store, path, opts);
  } catch (e) {
    await store.close();
    throw e;
  }
}

async function buildImageFolder(store: ByteStore, path: string, opts: ImageFolderOptions): Promise<DataSource> {
  const all = await store.list();
  const images = all.filter((e) => IMAGE_EXT.test(e.path));
  // root (path of the folder holding class folders) -> class -> entries
  const roots = new Map<string, Map<string, StoreEntry[]>>();
  for (const e of images) {
    const parts = e.path.split('/');
    if (parts.length < 2) continue; // images directly in the root have no class folder
    const cls = parts[parts.length - 2]!;
    const root = parts.slice(0, -2).join('/');
    if (!roots.has(root)) roots.set(root, new Map());
    const byClass = roots.get(root)!;
    if (!byClass.has(cls)) byClass.set(cls, []);
    byClass.get(cls)!.push(e);
  }
  if (roots.size === 0) {
    throw new Error(`Expected class folders with images (<root>/<class>/<image>.jpg) in ${path} but found ${images.length === 0 ? 'no image files' : 'images without class folders'}`);
  }

  // split name -> [root prefix, class -> entries]
  let splits: Map<string, [string, Map<string, StoreEntry[]>]>;
  if (roots.size === 1) {
    splits = new Map([['train', [...roots][0]!]]);
  } else {
    const names = [...roots.keys()];
    const parent = (r: string): string => r.split('/').slice(0, -1).join('/');
    const base = (r: string): string => r.split('/').pop()!;
    const splitLike = names.every((r) => parent(r) === parent(names[0]!) && isSplitFolderName(base(r)));
    if (!splitLike) {
      throw new Error(`Expected one folder of class folders in ${path} but found several: ${names.map((n) => n || '.').slice(0, 6).join(', ')}; point the path at one of them`);
    }
    splits = new Map(names.map((r) => [base(r), [r, roots.get(r)!]]));
  }

  await requireImagesInEveryClass(store, path, [...splits.values()].map(([root, byClass]) => [root, new Set(byClass.keys())]), all);

  const firstRoot = [...roots.keys()][0]!;
  const rootName = firstRoot ? firstRoot.split('/').pop()! : basename(path);
  const dirClasses = [...new Set([...splits.values()].flatMap(([, m]) => [...m.keys()]))].sort();
  const isPets = rootName === 'PetImages' && dirClasses.join() === 'Cat,Dog';
  const source: SourceName = opts.source ?? (isPets ? 'cats_vs_dogs' : 'image-folder');
  // TFDS names cats_vs_dogs classes 'cat', 'dog'; keep folder names elsewhere.
  const classNames = source === 'cats_vs_dogs' ? dirClasses.map((c) => c.toLowerCase()) : dirClasses;
  const jfifOnly = opts.jfifOnly ?? source === 'cats_vs_dogs';

  const datasets = new Map<string, Dataset>();
  for (const [name, [root, byClass]] of splits) {
    let files: LabeledEntry[] = [];
    for (const [cls, entries] of byClass) for (const entry of entries) files.push({ entry, label: dirClasses.indexOf(cls) });
    const excluded: BadFile[] = [];
    if (jfifOnly) {
      // true, false, or why the file could not be read (a device or FIFO is unreadable, not "not JFIF").
      const keep = await mapLimit(files, 16, async (f): Promise<boolean | string> => {
        try {
          return hasJfifHeader(await store.head(f.entry.path, 10));
        } catch (e) {
          return (e as Error).message.split('\n')[0]!.slice(0, 200);
        }
      });
      for (let i = 0; i < files.length; i++) {
        const k = keep[i]!;
        if (typeof k === 'string') excluded.push({ index: -1, name: files[i]!.entry.path, reason: 'unreadable', detail: k });
        else if (!k) excluded.push({ index: -1, name: files[i]!.entry.path, reason: 'not-jfif', detail: 'first 10 bytes lack "JFIF"' });
      }
      files = files.filter((_, i) => keep[i] === true);
    }
    // Hash paths relative to the class root, so the folder, its parent and the zip agree on the order.
    const order = hashOrder(files.map((f) => (root ? f.entry.path.slice(root.length + 1) : f.entry.path)), name);
    const ordered = Array.from(order, (i) => files[i]!);
    datasets.set(name, new FileDataset(source, `${path} (${name}${jfifOnly ? ', JFIF only' : ''})`, store, ordered, classNames, excluded));
  }

  return sourceFromSplits(source, path, datasets, store);
}

/**
 * A class folder without a single image file would silently drop a class (a "cats vs dogs" run that
 * only ever saw cats): refuse, naming the folder and what it holds instead.
 */
async function requireImagesInEveryClass(store: ByteStore, path: string, roots: [root: string, classes: Set<string>][], all: readonly StoreEntry[]): Promise<void> {
  if (!store.listDirs) return;
  const dirs = await store.listDirs();
  const problems: string[] = [];
  for (const [root, classes] of roots) {
    const prefix = root ? `${root}/` : '';
    for (const d of dirs) {
      if (!d.startsWith(prefix)) continue;
      const name = d.slice(prefix.length);
      if (name === '' || name.includes('/') || name.startsWith('.') || name === '__MACOSX' || classes.has(name)) continue;
      const inside = all.filter((e) => e.path.startsWith(`${d}/`)).map((e) => e.path.slice(d.length + 1));
      problems.push(`${d}/ (${inside.length === 0 ? 'empty' : `holds ${inside.slice(0, 4).join(', ')}${inside.length > 4 ? `, … ${inside.length} files` : ''} but no image`})`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`Expected every class folder in ${path} to hold images (.jpg, .jpeg, .png, .bmp, .gif, .webp, .tif) but ` +
      `${problems.length === 1 ? 'this one has none' : `${problems.length} have none`}: ${problems.join('; ')}. Add images, or remove the folder so the class is not silently dropped`);
  }
}
