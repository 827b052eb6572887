/**
 * The `augment:` field of config and study files: a preset name, or a list of ops applied in order.
 *
 * ```yaml
 * augment: standard+cutmix
 * augment: [flip, {brightness: 0.2}, {contrast: [0.2, 0.5]}, {hue: 0.2}, clip, {cutmix: {alpha: 1, prob: 1}}]
 * augment: [standard, {mix: {cutmix: 1, mixup: 0.2, switchProb: 0.5, offEpochs: 5}}]
 * ```
 * Every entry is a bare name (defaults) or a one-key mapping `{op: options}`; preset names may appear
 * inside a list and are expanded in place. Parsing yields canonical {@link AugmentOp}s with every
 * default filled in, so what ran can be recorded and compared.
 */
import { z } from 'zod';
import { formatZodIssues, type ConfigIssue } from '../util/zod-issues.js';
import type { PaddingMode } from './geometry.js';

/** [height, width] in pixels. */
export type Size = [number, number];

export interface MixOp {
  op: 'mix';
  cutmixAlpha: number | null;
  mixupAlpha: number | null;
  prob: number;
  switchProb: number;
  mode: 'batch' | 'sample';
  /** Mixing is off for the last this-many epochs (it needs the epoch count at apply time). */
  offEpochs: number;
}

/** One step of a pipeline with every option explicit. `size: null` means the pipeline's image size. */
export type AugmentOp =
  | { op: 'flip'; prob: number }
  | { op: 'brightness'; maxDelta: number }
  | { op: 'contrast'; lower: number; upper: number }
  | { op: 'hue'; maxDelta: number }
  | { op: 'saturation'; lower: number; upper: number }
  | { op: 'clip'; min: number; max: number }
  | { op: 'randomCrop'; size: Size | null; padding: number; paddingMode: PaddingMode }
  | { op: 'randomResizedCrop'; size: Size | null; scale: [number, number]; ratio: [number, number] }
  | { op: 'centerCrop'; size: Size | null; resize: number | null }
  | { op: 'resize'; size: number | Size }
  | MixOp;

// ---------- option schemas, one per op ----------

const prob = z.number().min(0).max(1);
const posInt = z.number().int().min(1);
const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;
/** A square side or [height, width]; checked by hand so the message names both forms. */
const size = z.unknown().transform((v, ctx): Size => {
  if (isPosInt(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every(isPosInt)) return [v[0], v[1]];
  ctx.addIssue({ code: 'custom', message: 'expected a size in pixels (a positive integer) or [height, width]', input: v });
  return z.NEVER;
});
/** [lower, upper] with min <= lower <= upper <= max, checked by hand so the message names the shape. */
const range = (min: number, max = Infinity) =>
  z.unknown().transform((v, ctx): [number, number] => {
    const ok = Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && x >= min && x <= max) && v[0] <= v[1];
    if (ok) return [v[0], v[1]];
    const bounds = min === -Infinity ? '' : max === Infinity ? ` and lower >= ${min}` : ` within [${min}, ${max}]`;
    ctx.addIssue({ code: 'custom', message: `expected [lower, upper] with lower <= upper${bounds}`, input: v });
    return z.NEVER;
  });
const paddingMode = z.enum(['zeros', 'reflect', 'replicate']);
const mixMode = z.enum(['batch', 'sample']);
const alpha = z.number().positive();
const offEpochs = z.number().int().min(0);

/** Defaults when an op is written bare ("flip"); ops without one need a value. */
const BARE: Record<string, () => AugmentOp> = {
  flip: () => ({ op: 'flip', prob: 0.5 }),
  clip: () => ({ op: 'clip', min: 0, max: 1 }),
  randomCrop: () => ({ op: 'randomCrop', size: null, padding: 0, paddingMode: 'zeros' }),
  // He et al. 2016 (CIFAR): 4 pixels of zero padding, then a random crop back to the original size.
  padCrop: () => ({ op: 'randomCrop', size: null, padding: 4, paddingMode: 'zeros' }),
  randomResizedCrop: () => ({ op: 'randomResizedCrop', size: null, scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }),
  centerCrop: () => ({ op: 'centerCrop', size: null, resize: null }),
  // Yun et al. 2019 use α = 1; Zhang et al. 2018 use α = 0.2 on ImageNet.
  cutmix: () => mixOf({ cutmixAlpha: 1 }),
  mixup: () => mixOf({ mixupAlpha: 0.2 }),
};

function mixOf(o: Partial<MixOp>): MixOp {
  return { op: 'mix', cutmixAlpha: null, mixupAlpha: null, prob: 1, switchProb: 0.5, mode: 'batch', offEpochs: 0, ...o };
}

/**
 * How one op's value is read: `short` for a number or list (`{brightness: 0.2}`, `{randomCrop: 224}`),
 * `long` for an options mapping (`{cutmix: {alpha: 1}}`). Dispatching on the value's type ourselves,
 * instead of a zod union, keeps the error about the form the user actually wrote.
 */
interface OpSchema {
  short?: { schema: z.ZodType; expected: string; build: (v: never) => AugmentOp };
  long?: { schema: z.ZodObject; build: (v: never) => AugmentOp };
}

const sizeExpected = 'a size in pixels or [height, width]';
const optionalSize = size.optional();

const mixOptions = z.object({ alpha: alpha.optional(), prob: prob.optional(), mode: mixMode.optional(), offEpochs: offEpochs.optional() });
type MixOptions = z.output<typeof mixOptions>;

const OPS: Record<string, OpSchema> = {
  flip: { short: { schema: prob, expected: 'a probability', build: (p: number) => ({ op: 'flip', prob: p }) } },
  brightness: { short: { schema: z.number().min(0), expected: 'a max delta >= 0', build: (d: number) => ({ op: 'brightness', maxDelta: d }) } },
  contrast: { short: { schema: range(0), expected: '[lower, upper]', build: ([lower, upper]: [number, number]) => ({ op: 'contrast', lower, upper }) } },
  // TF's random_hue requires max_delta in [0, 0.5]: half a turn either way covers every hue.
  hue: { short: { schema: z.number().min(0).max(0.5), expected: 'a max delta in [0, 0.5]', build: (d: number) => ({ op: 'hue', maxDelta: d }) } },
  saturation: { short: { schema: range(0), expected: '[lower, upper]', build: ([lower, upper]: [number, number]) => ({ op: 'saturation', lower, upper }) } },
  clip: { short: { schema: range(-Infinity), expected: '[min, max]', build: ([min, max]: [number, number]) => ({ op: 'clip', min, max }) } },
  randomCrop: {
    short: { schema: size, expected: sizeExpected, build: (v: Size) => ({ op: 'randomCrop', size: v, padding: 0, paddingMode: 'zeros' }) },
    long: {
      schema: z.object({ size: optionalSize, padding: z.number().int().min(0).optional(), paddingMode: paddingMode.optional() }),
      build: (v: { size?: Size; padding?: number; paddingMode?: PaddingMode }) =>
        ({ op: 'randomCrop', size: v.size ?? null, padding: v.padding ?? 0, paddingMode: v.paddingMode ?? 'zeros' }),
    },
  },
  padCrop: {
    short: { schema: z.number().int().min(0), expected: 'a padding in pixels', build: (p: number) => ({ op: 'randomCrop', size: null, padding: p, paddingMode: 'zeros' }) },
    long: {
      schema: z.object({ padding: z.number().int().min(0).optional(), mode: paddingMode.optional() }),
      build: (v: { padding?: number; mode?: PaddingMode }) => ({ op: 'randomCrop', size: null, padding: v.padding ?? 4, paddingMode: v.mode ?? 'zeros' }),
    },
  },
  randomResizedCrop: {
    short: { schema: size, expected: sizeExpected, build: (v: Size) => ({ op: 'randomResizedCrop', size: v, scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }) },
    long: {
      schema: z.object({ size: optionalSize, scale: range(Number.MIN_VALUE, 1).optional(), ratio: range(Number.MIN_VALUE).optional() }),
      build: (v: { size?: Size; scale?: [number, number]; ratio?: [number, number] }) =>
        ({ op: 'randomResizedCrop', size: v.size ?? null, scale: v.scale ?? [0.08, 1], ratio: v.ratio ?? [3 / 4, 4 / 3] }),
    },
  },
  centerCrop: {
    short: { schema: size, expected: sizeExpected, build: (v: Size) => ({ op: 'centerCrop', size: v, resize: null }) },
    long: {
      schema: z.object({ size: optionalSize, resize: posInt.optional() }),
      build: (v: { size?: Size; resize?: number }) => ({ op: 'centerCrop', size: v.size ?? null, resize: v.resize ?? null }),
    },
  },
  resize: {
    short: {
      schema: z.unknown().transform((v, ctx): number | Size => {
        if (isPosInt(v)) return v;
        if (Array.isArray(v) && v.length === 2 && v.every(isPosInt)) return [v[0], v[1]];
        ctx.addIssue({ code: 'custom', message: 'expected a shorter-side size in pixels or [height, width]', input: v });
        return z.NEVER;
      }),
      expected: 'a shorter-side size in pixels or [height, width]',
      build: (v: number | Size) => ({ op: 'resize', size: v }),
    },
  },
  cutmix: {
    long: {
      schema: mixOptions,
      build: (v: MixOptions) => mixOf({ cutmixAlpha: v.alpha ?? 1, prob: v.prob ?? 1, mode: v.mode ?? 'batch', offEpochs: v.offEpochs ?? 0 }),
    },
  },
  mixup: {
    long: {
      schema: mixOptions,
      build: (v: MixOptions) => mixOf({ mixupAlpha: v.alpha ?? 0.2, prob: v.prob ?? 1, mode: v.mode ?? 'batch', offEpochs: v.offEpochs ?? 0 }),
    },
  },
  mix: {
    long: {
      schema: z.object({ cutmix: alpha.optional(), mixup: alpha.optional(), prob: prob.optional(), switchProb: prob.optional(), mode: mixMode.optional(), offEpochs: offEpochs.optional() }),
      build: (v: { cutmix?: number; mixup?: number; prob?: number; switchProb?: number; mode?: 'batch' | 'sample'; offEpochs?: number }) =>
        mixOf({ cutmixAlpha: v.cutmix ?? null, mixupAlpha: v.mixup ?? null, prob: v.prob ?? 1, switchProb: v.switchProb ?? 0.5, mode: v.mode ?? 'batch', offEpochs: v.offEpochs ?? 0 }),
    },
  },
};

/**
 * Canonical ops (what parsing produces, e.g. read back from a saved run config) are accepted too,
 * so parsing is idempotent: parse(parse(x)) equals parse(x).
 */
const sizeOrNull = z.tuple([posInt, posInt]).nullable();
const ordered = (o: { lower?: number; upper?: number; min?: number; max?: number }): boolean =>
  (o.lower === undefined || o.lower <= o.upper!) && (o.min === undefined || o.min <= o.max!);
const CanonicalOpSchema = z
  .discriminatedUnion('op', [
    z.strictObject({ op: z.literal('flip'), prob }),
    z.strictObject({ op: z.literal('brightness'), maxDelta: z.number().min(0) }),
    z.strictObject({ op: z.literal('contrast'), lower: z.number().min(0), upper: z.number().min(0) }),
    z.strictObject({ op: z.literal('hue'), maxDelta: z.number().min(0).max(0.5) }),
    z.strictObject({ op: z.literal('saturation'), lower: z.number().min(0), upper: z.number().min(0) }),
    z.strictObject({ op: z.literal('clip'), min: z.number(), max: z.number() }),
    z.strictObject({ op: z.literal('randomCrop'), size: sizeOrNull, padding: z.number().int().min(0), paddingMode }),
    z.strictObject({ op: z.literal('randomResizedCrop'), size: sizeOrNull, scale: z.tuple([z.number().positive().max(1), z.number().positive().max(1)]), ratio: z.tuple([z.number().positive(), z.number().positive()]) }),
    z.strictObject({ op: z.literal('centerCrop'), size: sizeOrNull, resize: posInt.nullable() }),
    z.strictObject({ op: z.literal('resize'), size: z.union([posInt, z.tuple([posInt, posInt])]) }),
    z.strictObject({ op: z.literal('mix'), cutmixAlpha: alpha.nullable(), mixupAlpha: alpha.nullable(), prob, switchProb: prob, mode: mixMode, offEpochs }),
  ])
  .refine((o) => ordered(o as never), { message: 'expected lower <= upper (min <= max)' })
  .refine((o) => o.op !== 'mix' || o.cutmixAlpha !== null || o.mixupAlpha !== null, { message: 'expected cutmixAlpha or mixupAlpha to be set' });

// ---------- presets ----------

/**
 * The seeds' augmentation (the ResNet-50 augmentation ablation notebook): random_flip_left_right,
 * random_brightness(0.2), random_hue(0.2), random_contrast(0.2, 0.5), in that order. Its
 * random_crop([224, 224, 3]) of an image already resized to 224 is a no-op and is left out. The
 * notebook does not clip; the final clip is ours, so images stay in [0, 1] as the pipeline promises
 * (TF's ops do not clip in between, and neither do ours).
 */
const STANDARD: AugmentOp[] = [
  { op: 'flip', prob: 0.5 },
  { op: 'brightness', maxDelta: 0.2 },
  { op: 'hue', maxDelta: 0.2 },
  { op: 'contrast', lower: 0.2, upper: 0.5 },
  { op: 'clip', min: 0, max: 1 },
];

/** Named augmentation pipelines (`none`, `standard`, `cutmix`, `mixup`, `standard+cutmix`, ...), usable wherever an augment spec is expected. */
export const AUGMENT_PRESETS: Readonly<Record<string, readonly AugmentOp[]>> = {
  none: [],
  standard: STANDARD,
  cutmix: [BARE.cutmix!()],
  mixup: [BARE.mixup!()],
  'standard+cutmix': [...STANDARD, BARE.cutmix!()],
  'standard+mixup': [...STANDARD, BARE.mixup!()],
  // He et al. 2016's CIFAR recipe.
  cifar: [BARE.padCrop!(), { op: 'flip', prob: 0.5 }],
};

const OP_NAMES = Object.keys(OPS);

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Levenshtein distance counting a swap of neighbours as one edit ("alpah" → "alpha"). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

const hint = (word: string, candidates: readonly string[]): string => {
  const c = closest(word, candidates);
  return c ? ` (did you mean "${c}"?)` : '';
};

type Ctx = z.core.$RefinementCtx<unknown>;

/** A name in a string spec or a bare list entry: a preset, or an op with defaults. */
function expandName(name: string, ctx: Ctx, path: PropertyKey[]): AugmentOp[] | undefined {
  const preset = AUGMENT_PRESETS[name];
  if (preset) return preset.map((op) => structuredClone(op));
  const bare = BARE[name];
  if (bare) return [bare()];
  const known = [...Object.keys(AUGMENT_PRESETS), ...Object.keys(BARE)];
  const needsValue = OPS[name] ? ` ("${name}" needs a value, e.g. {${name}: ...})` : hint(name, [...known, ...OP_NAMES]);
  ctx.addIssue({ code: 'custom', message: `expected a preset (${Object.keys(AUGMENT_PRESETS).join(', ')}) or an op${needsValue}`, input: name, path });
  return undefined;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseEntry(entry: unknown, ctx: Ctx, at: number): AugmentOp[] | undefined {
  if (typeof entry === 'string') return expandName(entry, ctx, [at]);
  if (isMapping(entry) && typeof entry.op === 'string') {
    const r = CanonicalOpSchema.safeParse(entry, { reportInput: true });
    if (r.success) return [r.data as AugmentOp];
    for (const issue of r.error.issues) ctx.addIssue({ ...(issue as z.core.$ZodSuperRefineIssue), path: [at, ...issue.path] });
    return undefined;
  }
  if (!isMapping(entry) || Object.keys(entry).length !== 1) {
    ctx.addIssue({ code: 'custom', message: `expected an op name or a mapping with one key (an op: ${OP_NAMES.join(', ')})`, input: entry, path: [at] });
    return undefined;
  }
  const [name, value] = Object.entries(entry)[0]!;
  const spec = OPS[name];
  if (!spec) {
    ctx.addIssue({ code: 'custom', message: `expected an op (${OP_NAMES.join(', ')})${hint(name, OP_NAMES)}`, input: name, path: [at] });
    return undefined;
  }
  const form = isMapping(value) ? spec.long : spec.short;
  if (!form) {
    const expected = isMapping(value) ? spec.short!.expected : 'an options mapping';
    ctx.addIssue({ code: 'custom', message: `expected ${expected}`, input: value, path: [at, name] });
    return undefined;
  }
  if (isMapping(value)) {
    const known = Object.keys(spec.long!.schema.shape);
    const unknown = Object.keys(value).filter((k) => !known.includes(k));
    for (const key of unknown) {
      ctx.addIssue({ code: 'custom', message: `expected one of the keys ${known.join(', ')}${hint(key, known)}`, input: key, path: [at, name, key] });
    }
    if (unknown.length > 0) return undefined;
  }
  const r = form.schema.safeParse(value, { reportInput: true });
  if (!r.success) {
    const single = r.error.issues.length === 1 && r.error.issues[0]!.path.length === 0 && 'short' in form;
    for (const issue of r.error.issues) {
      // A bare value of the wrong kind gets the op's own wording ("a size in pixels or [height, width]").
      if (single && !isMapping(value) && issue.code !== 'custom' && issue.code !== 'too_small' && issue.code !== 'too_big') {
        ctx.addIssue({ code: 'custom', message: `expected ${(form as { expected: string }).expected}`, input: value, path: [at, name] });
      } else {
        ctx.addIssue({ ...(issue as z.core.$ZodSuperRefineIssue), path: [at, name, ...issue.path] });
      }
    }
    return undefined;
  }
  if (name === 'mix') {
    const o = r.data as { cutmix?: number; mixup?: number };
    if (o.cutmix === undefined && o.mixup === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected at least one of cutmix: α or mixup: α', input: value, path: [at, name] });
      return undefined;
    }
  }
  return [form.build(r.data as never)];
}

function checkMixing(ops: AugmentOp[], ctx: Ctx): void {
  const mixAt = ops.flatMap((op, i) => (op.op === 'mix' ? [i] : []));
  if (mixAt.length > 1) {
    ctx.addIssue({ code: 'custom', message: 'expected at most one mixing op (use {mix: {cutmix: α, mixup: α, switchProb}} to combine CutMix and MixUp)', input: `${mixAt.length} mixing ops`, path: [] });
  } else if (mixAt.length === 1 && mixAt[0] !== ops.length - 1) {
    ctx.addIssue({ code: 'custom', message: 'expected the mixing op (cutmix/mixup/mix) to be last, since it turns labels into soft targets', input: `a mixing op at position ${mixAt[0]} of ${ops.length} ops`, path: [] });
  }
}

/**
 * Validates an `augment:` value and turns it into canonical ops. Accepts a preset name (presets and
 * bare op names may be joined with "+": "standard+cutmix", "cifar+mixup") or a list of entries.
 */
export const AugmentSpecSchema = z.unknown().transform((spec, ctx): AugmentOp[] => {
  let parts: (AugmentOp[] | undefined)[];
  if (typeof spec === 'string') {
    const names = AUGMENT_PRESETS[spec] ? [spec] : spec.split('+').map((s) => s.trim());
    parts = names.map((name) => expandName(name, ctx, []));
  } else if (Array.isArray(spec)) {
    parts = spec.map((entry, i) => parseEntry(entry, ctx, i));
  } else {
    ctx.addIssue({ code: 'custom', message: `expected a preset name (${Object.keys(AUGMENT_PRESETS).join(', ')}) or a list of ops`, input: spec, path: [] });
    return z.NEVER;
  }
  if (parts.some((p) => p === undefined)) return z.NEVER;
  const ops = (parts as AugmentOp[][]).flat();
  checkMixing(ops, ctx);
  return ops;
});

/** An augmentation spec as written: a preset name (`"standard+cutmix"`) or a list of ops. */
export type AugmentSpecInput = string | unknown[];

/** Every problem in an augment spec as "path: expected X, received Y", thrown together. */
export class AugmentSpecError extends TypeError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], name: string) {
    super(`Invalid ${name} spec:\n${issues.map((i) => `  ${i.path ? `${name}.${i.path}` : name}: ${i.message}`).join('\n')}`);
    this.name = 'AugmentSpecError';
    this.issues = issues;
  }
}

/** Parses a spec (preset name or list); throws {@link AugmentSpecError} listing every problem. */
export function parseAugmentSpec(spec: unknown, name = 'augment'): AugmentOp[] {
  const r = AugmentSpecSchema.safeParse(spec, { reportInput: true });
  if (r.success) return r.data;
  throw new AugmentSpecError(formatZodIssues(r.error.issues), name);
}
