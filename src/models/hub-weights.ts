/**
 * Pretrained weights by name, as `keras.applications.ResNet50(weights='imagenet')` and torchvision's
 * `ResNet50_Weights.IMAGENET1K_V2` do. Each family declares the weight files torchvision publishes for
 * its architectures (`weights` on its registration: arch → tag → file, with that weight set's own
 * preprocessing); this module looks them up for a model spec, fetches them into PyTorch's own cache
 * ($TORCH_HOME/hub/checkpoints) under PyTorch's names, so a file either side downloaded is used by the
 * other, and checks the hash prefix in the file name as torch.hub's `check_hash` does.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fetchFile, formatBytes, hashPrefixFromName, resolveMirror, torchHubCheckpointsDir, type FetchOptions } from '../data/fetch/index.js';
import { readCatalogueFile } from '../data/fetch/catalogue-file.js';
import { familyNames, findFamily, type Interpolation, type ModelFamily } from './family.js';
import { createModelFromSpec, resolveModelSpec, type ModelSpec } from './registry.js';

type Env = Record<string, string | undefined>;

/** torchvision's ImageNet preprocessing (transforms._presets.ImageClassification), shared by its classification weights. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** What a weight set's `weights.transforms()` does at evaluation: resize the short side, centre-crop, normalise. */
export interface WeightsTransforms {
  resizeSize: number;
  cropSize: number;
  interpolation: Interpolation;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** torchvision's `ImageClassification` defaults (resize 256, crop 224, bilinear, ImageNet mean/std). */
export const DEFAULT_TRANSFORMS: WeightsTransforms = { resizeSize: 256, cropSize: 224, interpolation: 'bilinear', mean: IMAGENET_MEAN, std: IMAGENET_STD };

export interface HubWeights extends WeightsTransforms {
  /** torchvision's weights enum member, e.g. `ResNet50_Weights.IMAGENET1K_V2`. */
  id: string;
  /** The torchvision architecture these tensors belong to (`resnet50`, `resnext50_32x4d`). */
  arch: string;
  /** `IMAGENET1K_V1`, `IMAGENET1K_V2`. */
  tag: string;
  url: string;
  /** File name in the checkpoint cache (the URL's last segment, as torch.hub names it). */
  fileName: string;
  sha256?: string;
  sha256Prefix?: string;
  /** Exact size in bytes, when the catalogue gives it. */
  size?: number;
  /** torchvision's listed size (MiB, 3 decimals): the download may not exceed it. */
  listedMiB?: number;
}

const PT = 'https://download.pytorch.org/models/';

interface Table {
  files: Record<string, Record<string, HubWeights>>;
  best: Record<string, string>;
}

function familiesWithWeights(): ModelFamily[] {
  return familyNames().map((n) => findFamily(n)!).filter((f) => f.weights !== undefined);
}

/** Every known weight file, arch by arch: the families' declarations, replaced or extended by ABLATE_CATALOGUE. */
function table(env: Env): Table {
  const extra = readCatalogueFile(env);
  const files: Table['files'] = {};
  const best: Table['best'] = {};
  const enums: Record<string, string> = {};
  const put = (arch: string, tag: string, w: Omit<HubWeights, 'id' | 'arch' | 'tag' | 'sha256Prefix'>) => {
    files[arch] ??= {};
    files[arch][tag] = { id: `${enums[arch] ?? arch}.${tag}`, arch, tag, ...w, sha256Prefix: hashPrefixFromName(w.fileName) };
  };
  for (const f of familiesWithWeights()) {
    for (const [arch, a] of Object.entries(f.weights!.archs)) {
      enums[arch] = a.enumName;
      best[arch] = a.best;
      for (const [tag, { file, ...w }] of Object.entries(a.tags)) {
        put(arch, tag, { ...DEFAULT_TRANSFORMS, ...w, url: w.url ?? PT + file, fileName: file });
      }
    }
  }
  for (const [arch, tags] of Object.entries(extra.weights)) {
    for (const [tag, w] of Object.entries(tags)) {
      const { name, url, ...rest } = w;
      const given = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)); // absent fields keep the defaults
      put(arch, tag, { ...DEFAULT_TRANSFORMS, ...given, url, fileName: name ?? basename(new URL(url).pathname) });
    }
  }
  return { files, best: { ...best, ...extra.best } };
}

/** True when `spec` asks for weights by name rather than by file: `imagenet`, `IMAGENET1K_V2`, `ResNet50_Weights.DEFAULT`. */
export function isWeightsName(spec: string): boolean {
  return /^(imagenet|default|([A-Za-z][A-Za-z0-9_]*_Weights\.)?(IMAGENET1K_[A-Z0-9_]+|DEFAULT))$/i.test(spec);
}

const label = (model: ModelSpec): string => (typeof model === 'string' ? model : JSON.stringify(model));

/**
 * The torchvision architecture whose tensors fit a model spec (same names and shapes, classifier aside),
 * as its family decides: resnet50 and plain50 → `resnet50`, `{ preset: resnet50, widthMultiplier: 2 }`
 * → `wide_resnet50_2`; undefined for an invalid spec or one torchvision has no architecture for.
 */
export function weightsArch(model: ModelSpec): string | undefined {
  try {
    const r = resolveModelSpec(model);
    return findFamily(r.family)?.weights?.archOf(r.config);
  } catch {
    return undefined;
  }
}

/**
 * Which weights a `pretrained:` name means for this model (a preset name or a spec object); throws a
 * RangeError naming what exists when there is no such weight (a CIFAR preset, V2 for resnet18, a misspelling).
 */
export function lookupHubWeights(spec: string, model: ModelSpec, env: Env = process.env): HubWeights {
  const { files, best } = table(env);
  const arch = weightsArch(model);
  if (!arch || !files[arch]) {
    const archs = familiesWithWeights().flatMap((f) => Object.keys(f.weights!.archs));
    throw new RangeError(`Expected a model with ImageNet weights for pretrained: ${spec} (torchvision publishes them for ${archs.join(', ')}), but ${label(model)} has none (only a config with the names and shapes of one of those architectures has); give a .pth file instead`);
  }
  const m = /^(?:([A-Za-z0-9_]+)_Weights\.)?(.+)$/i.exec(spec)!;
  const enumName = files[arch][best[arch]!]?.id.split('.')[0] ?? `${arch}_Weights`;
  if (m[1] !== undefined && `${m[1]}_Weights`.toLowerCase() !== enumName.toLowerCase()) {
    throw new RangeError(`Expected ${enumName} (the weights of ${arch}, the architecture of ${label(model)}) but pretrained names ${spec}`);
  }
  const wanted = /^(imagenet|default)$/i.test(m[2]!) ? best[arch]! : m[2]!.toUpperCase();
  const w = files[arch][wanted];
  if (!w) throw new RangeError(`Expected one of ${Object.keys(files[arch]).join(', ')} (or imagenet, the best of them) for pretrained with ${label(model)} but received ${JSON.stringify(spec)}`);
  return w;
}

/** A torchvision file name (`resnet50-0676ba61.pth`) that is not a path here: the known weights with that name, if any. */
export function hubWeightsByFileName(fileName: string, env: Env = process.env): HubWeights | undefined {
  if (fileName.includes('/')) return undefined;
  for (const tags of Object.values(table(env).files)) for (const w of Object.values(tags)) if (w.fileName === fileName) return w;
  return undefined;
}

/** A file may carry a little more than its tensors: pickle records, names, storage headers. */
const PICKLE_MARGIN = 0.05;
const PICKLE_SLACK_BYTES = 1 << 20;

/**
 * How big a weights file may be, so a hostile mirror cannot fill the disk: the catalogue's exact size;
 * else torchvision's listed size (rounded to 1/1000 MiB, so at most half of that more); else the
 * architecture's parameters and buffers as float32 (1000 classes), plus 5% and 1 MiB.
 */
export function weightsSizeLimit(w: HubWeights): { size: number } | { maxBytes: number; why: string } | undefined {
  if (w.size !== undefined) return { size: w.size };
  if (w.listedMiB !== undefined) {
    return { maxBytes: Math.ceil((w.listedMiB + 0.0005) * 2 ** 20), why: `torchvision lists ${w.fileName} as ${w.listedMiB} MiB` };
  }
  let params: number;
  try {
    const model = createModelFromSpec(w.arch, { numClasses: 1000, initialize: false });
    try {
      params = model.countParams().total;
    } finally {
      model.dispose();
    }
  } catch {
    return undefined; // not one of our architectures: the default ceiling for files of unknown size applies
  }
  return {
    maxBytes: Math.ceil(params * 4 * (1 + PICKLE_MARGIN)) + PICKLE_SLACK_BYTES,
    why: `${w.arch} has ${(params / 1e6).toFixed(1)} M parameters and buffers, ${formatBytes(params * 4)} as float32, plus a margin; give the file's "size" in ABLATE_CATALOGUE if it holds more`,
  };
}

/**
 * The preprocessing weights named `pretrained` were trained with: the named set's, a known torchvision
 * file's (by its base name, also for a local copy), else torchvision's defaults. Needs no file and no network.
 */
export function pretrainedTransforms(pretrained: string, model: ModelSpec, env: Env = process.env): WeightsTransforms & { id?: string } {
  let hub: HubWeights | undefined;
  try {
    hub = isWeightsName(pretrained) ? lookupHubWeights(pretrained, model, env) : hubWeightsByFileName(basename(pretrained), env);
  } catch { /* reported when the weights load */ }
  if (!hub) return { ...DEFAULT_TRANSFORMS };
  const { id, resizeSize, cropSize, interpolation, mean, std } = hub;
  return { id, resizeSize, cropSize, interpolation, mean, std };
}

/** The model family's renaming of old checkpoint keys, if it has one. */
export function checkpointKeyRenamer(model: ModelSpec): ((key: string) => string) | undefined {
  try {
    const w = findFamily(resolveModelSpec(model).family)?.weights;
    return w?.renameKey?.bind(w);
  } catch {
    return undefined;
  }
}

export interface ResolvedWeights extends WeightsTransforms {
  path: string;
  /** Set when the weights came by name from the catalogue. */
  hub?: HubWeights;
  /** Downloaded now (false: found in PyTorch's cache, or a local file). */
  fetched: boolean;
  /** Renames old checkpoint keys to the model's (the family's `renameKey`), when the family needs it. */
  renameKey?: (key: string) => string;
}

export interface ResolveWeightsOptions extends Omit<FetchOptions, 'mirror' | 'env' | 'useStamp'> {
  mirror?: string;
  env?: Env;
}

/**
 * `pretrained:` to a local file: a path as given; a weights name or a torchvision file name through
 * PyTorch's checkpoint cache, downloading (from the mirror, if one is set) and checking the hash
 * prefix when it is missing or does not match.
 */
export async function resolvePretrained(spec: string, model: ModelSpec, o: ResolveWeightsOptions = {}): Promise<ResolvedWeights> {
  const env = o.env ?? process.env;
  const renameKey = checkpointKeyRenamer(model);
  const { id: _id, ...transforms } = pretrainedTransforms(spec, model, env);
  if (existsSync(spec)) return { path: spec, fetched: false, ...transforms, renameKey };
  const hub = isWeightsName(spec) ? lookupHubWeights(spec, model, env) : hubWeightsByFileName(spec, env);
  if (!hub) {
    throw new Error(`pretrained weights not found: expected a PyTorch .pth file at ${spec}, "imagenet", or a torchvision weights name (IMAGENET1K_V1, IMAGENET1K_V2) — a torchvision file name such as resnet50-0676ba61.pth is looked up in ${torchHubCheckpointsDir(env)}`);
  }
  if (!hub.sha256 && !hub.sha256Prefix) {
    throw new Error(`pretrained ${hub.id}: no checksum is known for ${hub.url} (no SHA-256 and no hash in the file name ${hub.fileName}); ablate does not load weights it cannot verify: download it yourself and give its path`);
  }
  const dir = torchHubCheckpointsDir(env);
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  if (!existsSync(join(dir, hub.fileName))) log(`pretrained ${hub.id}: not in PyTorch's cache yet, fetching ${hub.fileName} into ${dir}`);
  // PyTorch's folder is not ours: no stamps there, so the hash is checked each time (about 1 s for resnet152).
  const limit = weightsSizeLimit(hub);
  const bound = limit === undefined ? {} : 'size' in limit ? { size: limit.size } : { maxBytes: limit.maxBytes, maxBytesWhy: limit.why };
  const r = await fetchFile({ name: hub.fileName, url: hub.url, sha256: hub.sha256, sha256Prefix: hub.sha256Prefix, ...bound }, dir, {
    ...o, env, log, mirror: resolveMirror(o.mirror, env), useStamp: false,
  });
  const { resizeSize, cropSize, interpolation, mean, std } = hub;
  return { path: r.path, hub, fetched: r.fetched, resizeSize, cropSize, interpolation, mean, std, renameKey };
}
