/**
 * Pretrained weights by name, as `keras.applications.ResNet50(weights='imagenet')` and torchvision's
 * `ResNet50_Weights.IMAGENET1K_V2` do: the URLs are torchvision's (torchvision/models/resnet.py), the
 * files go to PyTorch's own cache ($TORCH_HOME/hub/checkpoints) under PyTorch's names, so a file
 * either side downloaded is used by the other. The hash prefix in the file name is checked as
 * torch.hub's `check_hash` does: the file's SHA-256 must start with it.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fetchFile, formatBytes, hashPrefixFromName, resolveMirror, torchHubCheckpointsDir, type FetchOptions } from '../data/fetch/index.js';
import { readCatalogueFile } from '../data/fetch/catalogue-file.js';
import { resolveModelConfig } from './presets.js';
import { createModelFromSpec } from './registry.js';

type Env = Record<string, string | undefined>;

/** torchvision's ImageNet preprocessing (transforms._presets.ImageClassification), shared by every ResNet weight. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

export interface HubWeights {
  /** torchvision's weights enum member, e.g. `ResNet50_Weights.IMAGENET1K_V2`. */
  id: string;
  /** The torchvision architecture these tensors belong to (`resnet50`). */
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
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

const PT = 'https://download.pytorch.org/models/';
/**
 * torchvision's ResNet weights: depth → tag → [file, size in MiB]. The sizes are torchvision's own
 * metadata (`meta["_file_size"]` in torchvision/models/resnet.py: os.path.getsize / 2**20, to 3 decimals).
 */
const TORCHVISION: Record<string, Record<string, readonly [string, number]>> = {
  resnet18: { IMAGENET1K_V1: ['resnet18-f37072fd.pth', 44.661] },
  resnet34: { IMAGENET1K_V1: ['resnet34-b627a593.pth', 83.275] },
  resnet50: { IMAGENET1K_V1: ['resnet50-0676ba61.pth', 97.781], IMAGENET1K_V2: ['resnet50-11ad3fa6.pth', 97.79] },
  resnet101: { IMAGENET1K_V1: ['resnet101-63fe2227.pth', 170.511], IMAGENET1K_V2: ['resnet101-cd907fc2.pth', 170.53] },
  resnet152: { IMAGENET1K_V1: ['resnet152-394f9c45.pth', 230.434], IMAGENET1K_V2: ['resnet152-f82ba261.pth', 230.474] },
};
/** torchvision's DEFAULT (its best) for each: V2 where it exists (80.9 vs 76.1 top-1 for resnet50). */
const BEST: Record<string, string> = { resnet18: 'IMAGENET1K_V1', resnet34: 'IMAGENET1K_V1', resnet50: 'IMAGENET1K_V2', resnet101: 'IMAGENET1K_V2', resnet152: 'IMAGENET1K_V2' };

const enumName = (arch: string) => `ResNet${arch.slice('resnet'.length)}_Weights`;

/** Every known weight file for an architecture: torchvision's, replaced or extended by ABLATE_CATALOGUE. */
function table(env: Env): { files: Record<string, Record<string, HubWeights>>; best: Record<string, string> } {
  const extra = readCatalogueFile(env);
  const files: Record<string, Record<string, HubWeights>> = {};
  const put = (arch: string, tag: string, w: Omit<HubWeights, 'id' | 'arch' | 'tag' | 'sha256Prefix'>) => {
    files[arch] ??= {};
    files[arch][tag] = { id: `${enumName(arch)}.${tag}`, arch, tag, ...w, sha256Prefix: hashPrefixFromName(w.fileName) };
  };
  for (const [arch, tags] of Object.entries(TORCHVISION)) {
    for (const [tag, [file, mib]] of Object.entries(tags)) put(arch, tag, { url: PT + file, fileName: file, listedMiB: mib, mean: IMAGENET_MEAN, std: IMAGENET_STD });
  }
  for (const [arch, tags] of Object.entries(extra.weights)) {
    for (const [tag, w] of Object.entries(tags)) {
      put(arch, tag, { url: w.url, fileName: w.name ?? basename(new URL(w.url).pathname), sha256: w.sha256, size: w.size, mean: w.mean ?? IMAGENET_MEAN, std: w.std ?? IMAGENET_STD });
    }
  }
  return { files, best: { ...BEST, ...extra.best } };
}

/** True when `spec` asks for weights by name rather than by file: `imagenet`, `IMAGENET1K_V2`, `ResNet50_Weights.DEFAULT`. */
export function isWeightsName(spec: string): boolean {
  return /^(imagenet|default|(ResNet\d+_Weights\.)?(IMAGENET1K_V\d+|DEFAULT))$/i.test(spec);
}

/** The torchvision architecture whose tensors fit a preset best: same depth, ImageNet layout (plain34 → resnet34). */
export function weightsArch(model: string): string | undefined {
  try {
    const cfg = resolveModelConfig(model);
    const arch = `resnet${cfg.depth}`;
    if (!TORCHVISION[arch]) return undefined;
    // Same stage widths as torchvision's net (plain and pre-activation variants qualify; wide ones do not).
    const ref = resolveModelConfig(arch) as unknown as Record<string, unknown>;
    const own = cfg as unknown as Record<string, unknown>;
    const same = (k: string) => JSON.stringify(own[k]) === JSON.stringify(ref[k]);
    return same('layout') && same('widths') && same('baseWidths') && same('stemWidth') ? arch : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Which weights a `pretrained:` name means for this model; throws a RangeError naming what exists when
 * there is no such weight (a CIFAR preset, V2 for resnet18, a misspelling).
 */
export function lookupHubWeights(spec: string, model: string, env: Env = process.env): HubWeights {
  const { files, best } = table(env);
  const arch = weightsArch(model);
  const available = Object.entries(files).map(([a, t]) => `${a}: ${Object.keys(t).join(', ')}`).join('; ');
  if (!arch || !files[arch]) {
    throw new RangeError(`Expected a model with ImageNet weights for pretrained: ${spec} (torchvision publishes ${available}), but ${model} has none (CIFAR-layout and widened presets have no torchvision ResNet weights); give a .pth file instead`);
  }
  const m = /^(?:ResNet(\d+)_Weights\.)?(.+)$/i.exec(spec)!;
  if (m[1] !== undefined && `resnet${m[1]}` !== arch) {
    throw new RangeError(`Expected weights for ${arch} (the depth of ${model}) but pretrained names ${spec}`);
  }
  const wanted = /^(imagenet|default)$/i.test(m[2]!) ? best[arch]! : m[2]!.toUpperCase();
  const w = files[arch][wanted];
  if (!w) throw new RangeError(`Expected one of ${Object.keys(files[arch]).join(', ')} (or imagenet, the best of them) for pretrained with ${model} but received ${JSON.stringify(spec)}`);
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

export interface ResolvedWeights {
  path: string;
  /** Set when the weights came by name from the catalogue. */
  hub?: HubWeights;
  /** Downloaded now (false: found in PyTorch's cache, or a local file). */
  fetched: boolean;
  /** The preprocessing the weights were trained with. */
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
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
export async function resolvePretrained(spec: string, model: string, o: ResolveWeightsOptions = {}): Promise<ResolvedWeights> {
  const env = o.env ?? process.env;
  if (existsSync(spec)) return { path: spec, fetched: false, mean: IMAGENET_MEAN, std: IMAGENET_STD };
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
  return { path: r.path, hub, fetched: r.fetched, mean: hub.mean, std: hub.std };
}
