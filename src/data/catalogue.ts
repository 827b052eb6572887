/**
 * Datasets ablate can fetch by name, as `tfds.load('cats_vs_dogs')` does: each file's official URL,
 * size and SHA-256. The values are TFDS's (tensorflow_datasets/url_checksums/*.txt); cats_vs_dogs'
 * current zip (kagglecatsanddogs_5340.zip) is recorded in Hugging Face's dataset_infos.json for the
 * same download, since the TFDS checksum file we could read still lists the older 3367a zip.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { fetchFile, formatBytes, dataCacheDir, resolveMirror, type FetchOptions, type RemoteFile } from './fetch/index.js';
import { readCatalogueFile } from './fetch/catalogue-file.js';
import { writeJsonAtomic } from '../util/atomic.js';

export type DownloadableSource = 'cats_vs_dogs' | 'stanford_dogs' | 'cifar10' | 'cifar100';
export const DOWNLOADABLE: readonly DownloadableSource[] = ['cats_vs_dogs', 'stanford_dogs', 'cifar10', 'cifar100'];

export interface CatalogueEntry {
  name: string;
  /** Which reader opens it. */
  source: DownloadableSource;
  title: string;
  /** Where a person downloads it by hand. */
  homepage?: string;
  /**
   * 'file': the dataset is files[0], read in place (the zip); 'folder': the folder holding the files, read
   * in place (Stanford Dogs' tars, through a tar index); 'extract': files[0] is a .tar.gz unpacked once.
   */
  open: 'file' | 'folder' | 'extract';
  /** For 'extract': the folder the archive creates. */
  extracted?: string;
  files: RemoteFile[];
}

const STANFORD = 'http://vision.stanford.edu/aditya86/ImageNetDogs/';
const CIFAR_PAGE = 'https://www.cs.toronto.edu/~kriz/cifar.html';

const BUILT_IN: CatalogueEntry[] = [
  {
    name: 'cats_vs_dogs',
    source: 'cats_vs_dogs',
    title: 'Microsoft/Kaggle cats vs dogs (PetImages, 25,000 photos; TFDS keeps 23,262 with a JFIF header)',
    homepage: 'https://www.microsoft.com/en-us/download/details.aspx?id=54765',
    open: 'file',
    files: [{
      name: 'kagglecatsanddogs_5340.zip',
      url: 'https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip',
      size: 824_887_076,
      sha256: 'b7974bd00a84a99921f36ee4403f089853777b5ae8d151c76a86e64900334af9',
    }],
  },
  {
    name: 'stanford_dogs',
    source: 'stanford_dogs',
    title: 'Stanford Dogs (20,580 photos of 120 breeds; official 12,000 / 8,580 split)',
    homepage: STANFORD,
    open: 'folder',
    files: [
      { name: 'images.tar', url: `${STANFORD}images.tar`, size: 793_579_520, sha256: 'a443fc2f9a851aa1a7b8e4fa4af94b8459fce2c9f5a2f4dd4669cf9673a4ec58' },
      { name: 'annotation.tar', url: `${STANFORD}annotation.tar`, size: 21_852_160, sha256: '662ed36f707be6b195c2fda392d8e153e83af28cedc8e2134a649f198def30fd' },
      { name: 'lists.tar', url: `${STANFORD}lists.tar`, size: 481_280, sha256: '34b47cacd9a98b5d150e084f24d29391c084c55272295ec65c85651bc35f4d6c' },
    ],
  },
  {
    name: 'cifar10',
    source: 'cifar10',
    title: 'CIFAR-10, binary version (60,000 32×32 images, 10 classes)',
    homepage: CIFAR_PAGE,
    open: 'extract',
    extracted: 'cifar-10-batches-bin',
    files: [{ name: 'cifar-10-binary.tar.gz', url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz', size: 170_052_171, sha256: 'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd' }],
  },
  {
    name: 'cifar100',
    source: 'cifar100',
    title: 'CIFAR-100, binary version (60,000 32×32 images, 100 fine / 20 coarse classes)',
    homepage: CIFAR_PAGE,
    open: 'extract',
    extracted: 'cifar-100-binary',
    files: [{ name: 'cifar-100-binary.tar.gz', url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz', size: 168_513_733, sha256: '58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec' }],
  },
];

type Env = Record<string, string | undefined>;

/** Every dataset ablate can fetch: the built-in ones, replaced or extended by ABLATE_CATALOGUE. */
export function knownDatasets(env: Env = process.env): CatalogueEntry[] {
  const extra = readCatalogueFile(env).datasets;
  const out = new Map(BUILT_IN.map((e) => [e.name, e]));
  for (const [name, e] of Object.entries(extra)) out.set(name, { name, ...e });
  return [...out.values()];
}

export function findDataset(name: string, env: Env = process.env): CatalogueEntry | undefined {
  return knownDatasets(env).find((e) => e.name === name);
}

export function isDownloadable(source: string | undefined): source is DownloadableSource {
  return DOWNLOADABLE.includes(source as DownloadableSource);
}

export function datasetDir(entry: CatalogueEntry, env: Env = process.env): string {
  return join(dataCacheDir(env), entry.name);
}

/** The path the dataset's reader is given once its files are in place. */
export function datasetPath(entry: CatalogueEntry, env: Env = process.env): string {
  const dir = datasetDir(entry, env);
  return entry.open === 'file' ? join(dir, entry.files[0]!.name) : dir;
}

export function totalSize(entry: CatalogueEntry): number | undefined {
  return entry.files.every((f) => f.size !== undefined) ? entry.files.reduce((s, f) => s + f.size!, 0) : undefined;
}

export interface EnsureOptions extends Omit<FetchOptions, 'mirror' | 'env'> {
  /** --mirror; falls back to ABLATE_MIRROR. */
  mirror?: string;
  env?: Env;
}

function unverifiable(entry: CatalogueEntry, f: RemoteFile, dir: string): Error {
  return new Error(`No checksum is known for ${f.name} of ${entry.name}, and ablate does not download files it cannot verify.\n` +
    `  Download it yourself from ${f.manualUrl ?? entry.homepage ?? f.url}, then give its location with data.path (--data), or add its SHA-256 to a catalogue (ABLATE_CATALOGUE) and put it at ${join(dir, f.name)}`);
}

/**
 * Makes a known dataset ready to open and returns its path: fetches the files that are missing (saying
 * what, how big and where), verifies them, and unpacks a .tar.gz once. Files already verified are reused.
 */
export async function ensureDataset(name: string, o: EnsureOptions = {}): Promise<{ path: string; entry: CatalogueEntry; fetched: string[] }> {
  const env = o.env ?? process.env;
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const entry = findDataset(name, env);
  if (!entry) throw new RangeError(`Unknown dataset ${JSON.stringify(name)}; ablate can fetch: ${knownDatasets(env).map((e) => e.name).join(', ')}`);
  const dir = datasetDir(entry, env);
  for (const f of entry.files) if (!f.sha256 && !f.sha256Prefix) throw unverifiable(entry, f, dir);
  const mirror = resolveMirror(o.mirror, env);
  const path = datasetPath(entry, env);
  if (entry.open === 'extract' && isExtracted(dir, entry)) return { path, entry, fetched: [] };

  const missing = entry.files.filter((f) => !existsSync(join(dir, f.name)));
  if (missing.length) {
    const size = missing.every((f) => f.size !== undefined) ? formatBytes(missing.reduce((s, f) => s + f.size!, 0)) : 'size unknown';
    log(`${entry.name} is not in the data cache yet: fetching ${missing.map((f) => f.name).join(', ')} (${size}) from ${mirror ?? new URL(missing[0]!.url).host} into ${dir}`);
  }
  const fetched: string[] = [];
  for (const f of entry.files) {
    const r = await fetchFile({ ...f, manualUrl: f.manualUrl ?? entry.homepage }, dir, { ...o, mirror, env, log });
    if (r.fetched) fetched.push(f.name);
  }
  if (entry.open === 'extract') await extractOnce(entry, dir, log);
  return { path, entry, fetched };
}

const EXTRACTED_STAMP = '.extracted.json';

export function isExtracted(dir: string, entry: CatalogueEntry): boolean {
  return existsSync(join(dir, entry.extracted ?? '', EXTRACTED_STAMP));
}

/**
 * Unpack files[0] (a .tar.gz, with the `tar` package that npm itself uses) into a private folder, then
 * rename the result into place: a crash mid-way or a second process never leaves a half-filled folder
 * where the reader would trust it.
 */
async function extractOnce(entry: CatalogueEntry, dir: string, log: (l: string) => void): Promise<void> {
  if (isExtracted(dir, entry)) return;
  const archive = join(dir, entry.files[0]!.name);
  const target = join(dir, entry.extracted ?? 'extracted');
  const work = join(dir, `.extract-${process.pid}-${Date.now()}`);
  log(`${entry.name}: unpacking ${entry.files[0]!.name} into ${target} (once)`);
  mkdirSync(work, { recursive: true });
  try {
    await tar.x({ file: archive, cwd: work, strict: true });
    const made = entry.extracted ? join(work, entry.extracted) : work;
    if (!existsSync(made) || !statSync(made).isDirectory()) {
      throw new Error(`Expected ${entry.files[0]!.name} to hold a folder ${entry.extracted} but it holds: ${readdirSync(work).join(', ') || 'nothing'}`);
    }
    writeJsonAtomic(join(made, EXTRACTED_STAMP), { from: entry.files[0]!.name, sha256: entry.files[0]!.sha256, at: new Date().toISOString() });
    if (isExtracted(dir, entry)) return; // another process finished first: keep theirs (it may be reading it)
    if (existsSync(target)) rmSync(target, { recursive: true, force: true }); // an unstamped copy: an interrupted rename
    try {
      renameSync(made, target);
    } catch (e) {
      if (!isExtracted(dir, entry)) throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface CachedFileState {
  name: string;
  size?: number;
  /** Bytes on disk: the file, or its .part while incomplete. */
  present: number;
  state: 'verified' | 'unverified' | 'partial' | 'missing';
}

/** What of a dataset is in the cache, without hashing anything (a stamp marks a verified file). */
export function cachedState(entry: CatalogueEntry, env: Env = process.env): CachedFileState[] {
  const dir = datasetDir(entry, env);
  return entry.files.map((f) => {
    const p = join(dir, f.name);
    if (existsSync(p)) {
      const size = statSync(p).size;
      const stamp = join(dir, `.${f.name}.verified`);
      const verified = existsSync(stamp) && statSync(stamp).mtimeMs >= statSync(p).mtimeMs && (f.size === undefined || f.size === size);
      return { name: f.name, size: f.size, present: size, state: verified ? 'verified' : 'unverified' };
    }
    if (existsSync(`${p}.part`)) return { name: f.name, size: f.size, present: statSync(`${p}.part`).size, state: 'partial' };
    return { name: f.name, size: f.size, present: 0, state: 'missing' };
  });
}
