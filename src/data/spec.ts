import { existsSync, statSync } from 'node:fs';
import { fileKind } from '../util/regular-file.js';
import { resolve } from 'node:path';
import { z } from 'zod';
import { detectCifar, openCifar } from './cifar.js';
import { ConcatDataset, SubsetDataset, type DataSource } from './dataset-base.js';
import { DEFAULT_GENERATED, MAX_GENERATED_CLASSES, openGenerated } from './generated.js';
import { openImageFolder } from './image-folder.js';
import { prepareImages, type ImageSet, type PrepareOptions } from './image-cache.js';
import { parseSplit, resolveRange } from './split.js';
import { looksLikeStanfordDogs, openStanfordDogs } from './stanford-dogs.js';
import { findTfdsVersionDir, openTfds } from './tfds.js';
import { ensureDataset, isDownloadable, type EnsureOptions } from './catalogue.js';
import type { Dataset } from './types.js';
import { openHf } from './hf/source.js';
import { isWebDatasetPath, openWebDataset } from './webdataset.js';
import { checkRepoId } from './hf/hub.js';

/** The dataset sources ablate reads. */
export const SOURCE_NAMES = ['image-folder', 'cats_vs_dogs', 'tfds', 'stanford_dogs', 'cifar10', 'cifar100', 'generated', 'hf', 'webdataset'] as const;

const posInt = (max: number) => z.number().int().min(1).max(max);

export const GeneratedSpecSchema = z
  .object({
    /** Images in the `train` split. */
    trainCount: posInt(10_000_000).default(DEFAULT_GENERATED.trainCount),
    /** Images in the `test` split. */
    testCount: posInt(10_000_000).default(DEFAULT_GENERATED.testCount),
    classes: z.number().int().min(2).max(MAX_GENERATED_CLASSES).default(DEFAULT_GENERATED.classes),
    /** Side of the square images as generated (imageSize then resizes if it differs). */
    size: z.number().int().min(8).max(1024).default(DEFAULT_GENERATED.size),
    seed: z.number().int().default(DEFAULT_GENERATED.seed),
    difficulty: z.enum(['easy', 'medium', 'hard']).default(DEFAULT_GENERATED.difficulty),
  })
  .strict();

export const DataSpecSchema = z
  .object({
    /** Omit to detect from `path`. */
    source: z.enum(SOURCE_NAMES).optional(),
    /**
     * Folder, zip, TFDS prepared dir, Stanford Dogs root or CIFAR dir; not used by `generated`. For `webdataset`:
     * a shard pattern (`/data/train-{000000..001023}.tar`, an http(s) one too) or a folder of `*.tar` shards. Omit it for
     * cats_vs_dogs, stanford_dogs, cifar10 and cifar100 to fetch the official files into the data cache.
     */
    path: z.string().min(1).optional(),
    /** TFDS split syntax: 'train', 'test', 'train[:80%]', 'train[80%:]', 'train[:1000]', 'train[10%:20%]', 'a+b'. */
    split: z.string().min(1).default('train'),
    /** Output side in pixels, or [height, width]. Default: 224, 32 for CIFAR, the generated size for `generated`. */
    imageSize: z
      .union([z.number().int().min(1).max(8192), z.tuple([z.number().int().min(1).max(8192), z.number().int().min(1).max(8192)])], {
        error: (iss) => `expected an integer side from 1 to 8192 or [height, width], received ${JSON.stringify(iss.input)}`,
      })
      .optional(),
    /** 'stretch' ignores aspect ratio like tf.image.resize; 'center-crop' keeps it and crops. */
    resize: z.enum(['stretch', 'center-crop']).default('stretch'),
    /** Keep only files whose first 10 bytes contain "JFIF" (TFDS's cats_vs_dogs filter). Default: true for cats_vs_dogs folders/zips. */
    jfifOnly: z.boolean().optional(),
    /** CIFAR-100 label set. */
    labelKind: z.enum(['fine', 'coarse']).default('fine'),
    generated: GeneratedSpecSchema.optional(),
    /** source hf: the Hub dataset id, `ethz/food101` (`--data hf:ethz/food101`). */
    name: z.string().min(1).optional(),
    /** source hf: branch, tag or commit; a branch is resolved to its commit once and the run records the commit. */
    revision: z.string().min(1).max(255).optional(),
    /** source hf: the `datasets` config (subset); default: the card's default config. */
    config: z.string().min(1).max(255).optional(),
    /** source hf: columns holding the image and the label; default: the Image and ClassLabel features. */
    imageColumn: z.string().min(1).max(255).optional(),
    labelColumn: z.string().min(1).max(255).optional(),
    /** Decoded-image cache folder. Default: $ABLATE_CACHE_DIR or ~/.cache/ablate/images. */
    cacheDir: z.string().min(1).optional(),
    /** 'auto': in memory for generated and CIFAR (cheap to redo), on disk otherwise. */
    cache: z.enum(['auto', 'disk', 'memory']).default('auto'),
    verifyCache: z.enum(['full', 'header']).default('full'),
    /** Decodes in flight while building the cache. */
    concurrency: z.number().int().min(1).max(256).default(4),
    /**
     * WebDataset training split: stream the shards (decoded on the fly, no decoded-image cache) or decode them
     * into the cache like a folder. 'auto' (the default) streams http(s) shards and sets whose decoded images would
     * take more than half the cache folder's free space; the choice is recorded in the run's plan.
     */
    stream: z.union([z.literal('auto'), z.boolean()]).optional(),
    /** Streaming: independent shard streams per rank (loader workers). Default 2. */
    streamWorkers: z.number().int().min(1).max(64).optional(),
    /** Streaming: samples each stream holds for its seeded shuffle (WebDataset's shuffle(n)). Default 1000. */
    shuffleBuffer: z.number().int().min(0).max(1_000_000).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const hfOnly = (['name', 'revision', 'config', 'imageColumn', 'labelColumn'] as const).filter((k) => spec[k] !== undefined);
    if (spec.source === 'hf') {
      if (spec.name === undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: "expected a Hub dataset id for source hf (name: ethz/food101, or --data hf:ethz/food101), received nothing" });
      else {
        try {
          checkRepoId(spec.name);
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: ['name'], message: (e as Error).message });
        }
      }
      if (spec.path !== undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: `not used by source hf (files come from the Hub cache, HF_HOME), received ${JSON.stringify(spec.path)}` });
      return;
    }
    for (const k of hfOnly) ctx.addIssue({ code: 'custom', path: [k], message: `only valid with source 'hf', received source '${spec.source ?? '(auto-detected)'}'` });
    if (spec.source !== 'generated' && !isDownloadable(spec.source) && spec.path === undefined) {
      ctx.addIssue({
        code: 'custom', path: ['path'],
        message: `expected a path for source ${spec.source ?? '(auto-detected)'} (or a source ablate can fetch by name: cats_vs_dogs, stanford_dogs, cifar10, cifar100), received nothing`,
      });
    }
    if (spec.generated && spec.source !== undefined && spec.source !== 'generated') {
      ctx.addIssue({ code: 'custom', path: ['generated'], message: `only valid with source 'generated', received source '${spec.source}'` });
    }
  });

/** A data spec as written in configs and study files: source, path, split, image size, cache settings. */
export type DataSpecInput = z.input<typeof DataSpecSchema>;
/** A data spec after validation, with defaults filled in. */
export type DataSpec = z.output<typeof DataSpecSchema>;

/** Validate a data spec, throwing one TypeError that lists every problem as `where.field: message`. */
export function parseDataSpec(input: unknown, where = 'data'): DataSpec {
  const r = DataSpecSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${[where, ...i.path.map(String)].join('.')}: ${i.message}`);
  throw new TypeError(`Invalid data spec:\n  ${lines.join('\n  ')}`);
}

type Detected = 'tfds' | 'cifar' | 'stanford_dogs' | 'image-folder';

/** What kind of dataset lives at `path`, from its layout alone. */
export async function detectSource(path: string): Promise<Detected> {
  if (!existsSync(path)) throw new Error(`Expected a dataset at ${path} but nothing exists there`);
  const st = statSync(path);
  if (!st.isFile() && !st.isDirectory()) {
    throw new Error(`Expected a dataset folder or a .zip of class folders at ${path} but received ${fileKind(st)}: point the data path at a real folder or file`);
  }
  if (st.isFile()) {
    if (/\.zip$/i.test(path)) return 'image-folder';
    throw new Error(`Expected a folder or a .zip of class folders at ${path} but received a file of another kind`);
  }
  if (await findTfdsVersionDir(path)) return 'tfds';
  if (detectCifar(path)) return 'cifar';
  if (looksLikeStanfordDogs(path)) return 'stanford_dogs';
  return 'image-folder';
}

/** How a known dataset named without a path is fetched (where progress and messages go, a mirror, Ctrl-C). */
export type OpenOptions = Pick<EnsureOptions, 'log' | 'progress' | 'mirror' | 'signal'>;

/** The spec's path, after fetching a known dataset named without one into the data cache. */
export async function resolveDataPath(spec: DataSpec, o: OpenOptions = {}): Promise<string | undefined> {
  if (spec.path !== undefined || !isDownloadable(spec.source)) return spec.path;
  return (await ensureDataset(spec.source, o)).path;
}

export async function openSource(input: DataSpecInput | DataSpec, o: OpenOptions = {}): Promise<DataSource> {
  const spec = parseDataSpec(input);
  if (spec.source === 'generated' || (spec.source === undefined && spec.generated)) {
    return openGenerated({ ...DEFAULT_GENERATED, ...GeneratedSpecSchema.parse(spec.generated ?? {}) });
  }
  if (spec.source === 'hf') return openHfSpec(spec, o);
  if (spec.source === 'webdataset' || (spec.source === undefined && spec.path !== undefined && isWebDatasetPath(spec.path))) {
    return openWebDataset(/^https?:\/\//.test(spec.path!) ? spec.path! : resolve(spec.path!), { log: o.log, progress: o.progress, signal: o.signal });
  }
  const path = resolve((await resolveDataPath(spec, o))!);
  const detected = await detectSource(path);
  switch (spec.source) {
    case undefined:
      if (detected === 'tfds') return openTfds(path);
      if (detected === 'cifar') return openCifar(path, undefined, spec.labelKind);
      if (detected === 'stanford_dogs') return openStanfordDogs(path);
      return openImageFolder(path, { jfifOnly: spec.jfifOnly });
    case 'tfds':
      return openTfds(path);
    case 'cifar10':
    case 'cifar100':
      return openCifar(path, spec.source, spec.labelKind);
    case 'stanford_dogs':
      return detected === 'tfds' ? openTfds(path) : openStanfordDogs(path);
    case 'cats_vs_dogs':
      return detected === 'tfds' ? openTfds(path) : openImageFolder(path, { jfifOnly: spec.jfifOnly, source: 'cats_vs_dogs' });
    case 'image-folder':
      return openImageFolder(path, { jfifOnly: spec.jfifOnly ?? false, source: 'image-folder' });
  }
}

/** A Hub dataset: only the splits that `spec.split` names are fetched. */
function openHfSpec(spec: DataSpec, o: OpenOptions): Promise<DataSource> {
  return openHf({
    id: spec.name!, revision: spec.revision, config: spec.config, imageColumn: spec.imageColumn, labelColumn: spec.labelColumn,
    splits: [...new Set(parseSplit(spec.split).map((p) => p.name))], log: o.log, progress: o.progress, signal: o.signal,
  });
}

/** The split names a spec's source offers (`train`, `valid`, `test_set`, …), opening it briefly. */
export async function sourceSplitNames(input: DataSpecInput | DataSpec, o: OpenOptions = {}): Promise<readonly string[]> {
  const source = await openSource(input, o);
  try {
    return [...source.splitNames];
  } finally {
    await source.close();
  }
}

/** Open the source and apply the split string; closing the result closes the source. */
export async function openDataset(input: DataSpecInput | DataSpec, o: OpenOptions = {}): Promise<Dataset> {
  const spec = parseDataSpec(input);
  const source = await openSource(spec, o);
  try {
    const parts = parseSplit(spec.split).map((part) => {
      const base = source.split(part.name);
      if (!part.from && !part.to) return base;
      const [a, b] = resolveRange(part, base.length);
      return new SubsetDataset(base, Int32Array.from({ length: b - a }, (_, k) => a + k), `${base.description}[${a}:${b}]`);
    });
    const classes = parts[0]!.classNames.join('\n');
    if (parts.some((p) => p.classNames.join('\n') !== classes)) throw new Error(`Expected the splits in '${spec.split}' to share class names but they differ`);
    return new ConcatDataset(parts, parts.length === 1 ? parts[0]!.description : parts.map((p) => p.description).join(' + '), () => source.close());
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** The output size a spec asks for, with per-source defaults. */
export function resolveImageSize(spec: DataSpec, ds: Dataset): { height: number; width: number } {
  if (Array.isArray(spec.imageSize)) return { height: spec.imageSize[0], width: spec.imageSize[1] };
  if (typeof spec.imageSize === 'number') return { height: spec.imageSize, width: spec.imageSize };
  const side = ds.source === 'generated' ? (spec.generated?.size ?? DEFAULT_GENERATED.size) : ds.source === 'cifar10' || ds.source === 'cifar100' ? 32 : 224;
  return { height: side, width: side };
}

/**
 * Spec to decoded images in one call: open, split, decode into the cache (or reuse it), close the source.
 * The returned ImageSet is what a DataLoader batches from.
 */
export async function prepareDataset(input: DataSpecInput | DataSpec, opts: Pick<PrepareOptions, 'onProgress' | 'log'> = {}): Promise<ImageSet> {
  const spec = parseDataSpec(input);
  const ds = await openDataset(spec);
  try {
    const memory = spec.cache === 'memory' || (spec.cache === 'auto' && (ds.source === 'generated' || ds.source === 'cifar10' || ds.source === 'cifar100'));
    return await prepareImages(ds, {
      ...resolveImageSize(spec, ds),
      resize: spec.resize,
      cacheDir: memory ? null : spec.cacheDir,
      verify: spec.verifyCache,
      concurrency: spec.concurrency,
      ...opts,
    });
  } finally {
    await ds.close();
  }
}
