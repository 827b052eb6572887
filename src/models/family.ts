/**
 * What a model family is, and the table families register themselves in. A family (ResNet, a ViT, a
 * VGG, ...) lives in its own folder and calls `registerFamily` once; `families.ts` imports the folders,
 * and everything else (presets, specs, the run config, summaries) goes through the registry.
 */
import type { z } from 'zod';
import type { Generator } from '../tensor/index.js';
import type { Model } from '../nn/index.js';
import type { ConfigIssue } from '../util/zod-issues.js';

/** Thrown for an invalid model config or spec; `issues` lists every problem (path, expected, received). */
export class ModelConfigError extends TypeError {
  constructor(readonly issues: ConfigIssue[]) {
    super(`Invalid model config:\n${issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
    this.name = 'ModelConfigError';
  }
}

export interface FamilyBuildOptions {
  /** The model's name (summaries, logs); default the family's name for the config. */
  name?: string;
  /** Same generator state, same initial weights; without it the global generator is used. */
  generator?: Generator;
  /** Default true; false leaves weights uninitialised (structure-only uses such as summaries). */
  initialize?: boolean;
}

/**
 * A family: a config schema whose fields are its switches, a resolver that checks a whole config and
 * fills in defaults, a builder, and named presets (plain config objects).
 */
export interface ModelFamily<Input extends object = object, Resolved extends object = object> {
  /** Lower-case name used in specs: `{ family: resnet, depth: 56 }`. */
  readonly name: string;
  /** One line for listings. */
  readonly description: string;
  /** The config schema: a strict zod object whose keys are the family's switches (documented there). */
  readonly schema: z.ZodObject;
  /** A key that marks a spec as this family's when it names no family or preset (`{ torchscript: net.pt }`). */
  readonly specKey?: string;
  /** Named configs, e.g. `resnet56-cifar` → `{ depth: 56 }`. Names are unique across all families. */
  readonly presets: ReadonlyMap<string, Input>;
  /** Every problem in a config object, [] when valid; never throws. */
  validate(config: unknown): ConfigIssue[];
  /** Checks everything first (throwing ModelConfigError with all issues), then fills in defaults. */
  resolve(config: unknown): Resolved;
  build(config: Resolved, options: FamilyBuildOptions): Model;
  /** A name for a config without a preset, e.g. `preact-resnet56-cifar`. */
  defaultName(config: Resolved): string;
  /** Summary header lines: the layout and every switch with its value. */
  describe(config: Resolved): string[];
  /** The pretrained weights torchvision publishes for the family's architectures (`pretrained: imagenet`). */
  readonly weights?: FamilyWeights<Resolved>;
}

/** Interpolation of torchvision's resize (`InterpolationMode`). */
export type Interpolation = 'bilinear' | 'bicubic' | 'nearest';

/**
 * One published weight file, with the preprocessing its `weights.transforms()` applies (torchvision's
 * `ImageClassification`: resize the short side, centre-crop, normalise). Defaults are torchvision's.
 */
export interface WeightFile {
  /** Cache file name with torchvision's hash prefix, e.g. `resnet50-11ad3fa6.pth`. */
  file: string;
  /** Default `https://download.pytorch.org/models/<file>`. */
  url?: string;
  /** Short side after resizing (default 256). */
  resizeSize?: number;
  /** Centre crop (default 224). */
  cropSize?: number;
  interpolation?: Interpolation;
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
  /** torchvision's listed file size (`meta["_file_size"]`, MiB to 3 decimals): a download may not exceed it. */
  listedMiB?: number;
}

/** A torchvision architecture's weight sets: `ResNet50_Weights` → IMAGENET1K_V1, IMAGENET1K_V2. */
export interface ArchWeights {
  /** torchvision's enum, e.g. `ResNeXt50_32X4D_Weights`. */
  enumName: string;
  /** The tag torchvision's DEFAULT points to (what `pretrained: imagenet` means). */
  best: string;
  tags: Readonly<Record<string, WeightFile>>;
}

/** What a family declares about pretrained weights; see hub-weights.ts. */
export interface FamilyWeights<Resolved extends object = object> {
  /** torchvision architecture name (`resnext50_32x4d`) → its weights. */
  archs: Readonly<Record<string, ArchWeights>>;
  /** The architecture whose tensors have this config's names and shapes (classifier aside), if any. */
  archOf(config: Resolved): string | undefined;
  /** Today's name of a key in an old checkpoint (DenseNet's `norm.1` → `norm1`), as torchvision's loader renames it. */
  renameKey?(key: string): string;
}

const families = new Map<string, ModelFamily>();
const presetOwner = new Map<string, ModelFamily>();

/** Adds a family; its name and every preset name must be new (a clash is a programming error). */
export function registerFamily<I extends object, R extends object>(family: ModelFamily<I, R>): void {
  if (!/^[a-z][a-z0-9-]*$/.test(family.name)) throw new TypeError(`model family name must be lower-case letters, digits and '-', received ${JSON.stringify(family.name)}`);
  if (families.has(family.name)) throw new Error(`model family "${family.name}" is registered twice`);
  for (const p of family.presets.keys()) {
    const other = presetOwner.get(p);
    if (other) throw new Error(`model preset "${p}" of family "${family.name}" is already a preset of family "${other.name}"`);
  }
  const f = family as unknown as ModelFamily;
  families.set(f.name, f);
  for (const p of f.presets.keys()) presetOwner.set(p, f);
}

/** The family whose specKey a spec object carries, if any. */
export function familyOfSpecKey(spec: Record<string, unknown>): ModelFamily | undefined {
  return [...families.values()].find((f) => f.specKey !== undefined && spec[f.specKey] !== undefined);
}

export function familyNames(): string[] {
  return [...families.keys()];
}

export function findFamily(name: string): ModelFamily | undefined {
  return families.get(name);
}

/**
 * The registered preset a name stands for: the name itself, or torchvision's spelling of it
 * (`wide_resnet50_2`, `resnext50_32x4d`, `mobilenet_v2`, `VGG16_BN`): the one alias rule is
 * lower case with `_` read as `-`.
 */
export function canonicalPreset(name: string): string | undefined {
  if (presetOwner.has(name)) return name;
  const alias = name.toLowerCase().replaceAll('_', '-');
  return presetOwner.has(alias) ? alias : undefined;
}

/** The family a preset (or its torchvision alias) belongs to, or undefined for an unknown name. */
export function familyOfPreset(preset: string): ModelFamily | undefined {
  const name = canonicalPreset(preset);
  return name === undefined ? undefined : presetOwner.get(name);
}

/** Every preset name, family by family in registration order. */
export function allPresetNames(): string[] {
  return [...presetOwner.keys()];
}
