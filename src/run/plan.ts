/**
 * The run plan: a training config validated once, in one pass that reports every problem, and resolved
 * into the typed form every command works from — model family and full model config, each split's data
 * spec with its image size and cache policy, canonical augmentation ops, normalisation, precision,
 * threads, optimizer, schedule and callbacks.
 *
 * A plan is itself a valid config (resolving it again gives it back unchanged), and a run writes its plan
 * as `config.json`: `ablate train <run>/config.json` repeats the run, and `eval`, resume and the study
 * report read the model, image size, normalisation and class names from there instead of guessing.
 *
 * Two steps: `resolveRunPlan` needs nothing but the config (study pre-flight, `study plan`); `completePlan`
 * adds what only the opened data can tell (an auto-detected source's image size and cache policy, the
 * class names and so the classifier size). What the machine decides (precision, threads) is added by
 * `planForMachine` in run.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { z } from 'zod';
import { DataSpecSchema, GeneratedSpecSchema, isDownloadable, isWebDatasetPath, parseSplit, resolveImageSize, type DataSpec, type Dataset } from '../data/index.js';
import { hubWeightsByFileName, isWeightsName, lookupHubWeights } from '../models/hub-weights.js';
import { AugmentSpecSchema, type AugmentOp } from '../augment/index.js';
import { ConfigError, describe } from '../util/errors.js';
import { formatZodIssues, type ConfigIssue } from '../util/zod-issues.js';
import { validateTrainConfig, TrainConfigSchema, type TrainConfig } from './config.js';
import { ModelSpecError, modelSpecOf, resolveModelSpec, type ModelSpec, type ResolvedModelSpec } from './model-spec.js';
import type { ModelSpecObject } from '../models/index.js';
import { FileReadError, readRegularTextSync } from '../util/regular-file.js';
import { checkRunFolderFormat } from './run-folder.js';
import { runFolder } from './folder.js';

/** One problem in a config: dotted path (`data.generated.classes`, `augment.2`) and "expected …, received …". */
export type PlanProblem = ConfigIssue;

/** Every problem of a config at once. */
export class RunPlanError extends ConfigError {
  constructor(readonly problems: PlanProblem[], what = 'training config') {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`Invalid ${what} (${count}):\n${problems.map((p) => `  ${p.path || '(config)'}: ${p.message}`).join('\n')}`);
    this.name = 'RunPlanError';
  }
}

/** How pixels are scaled before the model: to [0, 1] ('unit'), then for 'imagenet' by ImageNet's mean and std. */
export type Normalization = 'unit' | 'imagenet';

/** One split's data: the data layer's spec, with the output size as [height, width] once known. */
export type DataPlan = Omit<DataSpec, 'imageSize'> & { imageSize?: [number, number] };

/** The model written out in full: family, the preset it started from, and every switch. */
export type ModelPlan = ModelSpecObject & { family: string };

export type RunPlan = Omit<TrainConfig, 'model' | 'numClasses' | 'data' | 'valData' | 'augment' | 'normalization'> & {
  model: ModelPlan;
  data: DataPlan;
  valData?: DataPlan;
  /** `data.testSplit`: a held-out split scored once, after training, never used to choose anything. */
  testData?: DataPlan;
  augment: AugmentOp[];
  normalization: Normalization;
};

export { SHORTHANDS, expandShorthand } from './shorthand.js';

export interface ResolveOptions {
  /** Also check that data paths and pretrained weights exist on this machine (default false). */
  checkFiles?: boolean;
}

/** The plan, or every problem in the config. */
export function inspectRunConfig(raw: unknown, o: ResolveOptions = {}): { plan?: RunPlan; problems: PlanProblem[] } {
  const problems: PlanProblem[] = validateTrainConfig(raw);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { problems };
  const cfg = raw as Record<string, unknown>;
  const data = isMapping(cfg.data) ? resolveSplits(cfg.data, cfg.valData, problems) : undefined;
  // The classifier size: the config's, else what the data spec fixes (generated, CIFAR), else open until the data is read.
  const classes = typeof cfg.numClasses === 'number' ? cfg.numClasses : explicitClasses(cfg.model) || !data ? undefined : classesOf(data.train);
  const model = cfg.model === undefined || !isModelSpec(cfg.model) ? undefined : resolveModel(cfg.model, classes, problems);
  const augment = typeof cfg.augment === 'string' || Array.isArray(cfg.augment) ? resolveAugment(cfg.augment, problems) : undefined;
  problems.push(...pretrainedProblems(cfg, o.checkFiles === true, model !== undefined));
  problems.push(...distributedProblems(cfg));
  if (o.checkFiles) problems.push(...fileProblems(cfg));
  const parsed = TrainConfigSchema.safeParse(raw);
  if (problems.length > 0 || !parsed.success || !model || !data) return { problems };

  const c = parsed.data;
  const { numClasses: _n, valData: _v, normalization, ...rest } = c;
  const modelPlan = modelSpecOf(model);
  if (classes === undefined && !explicitClasses(cfg.model)) delete modelPlan.numClasses;
  const plan: RunPlan = canonical({
    ...rest,
    model: modelPlan,
    data: data.train,
    ...(data.val ? { valData: data.val } : {}),
    ...(data.test ? { testData: data.test } : {}),
    augment: augment ?? [],
    normalization: normalization ?? (c.pretrained ? 'imagenet' : 'unit'),
  });
  return { plan, problems: [] };
}

/** The plan of a config; throws RunPlanError listing every problem. */
export function resolveRunPlan(raw: unknown, o: ResolveOptions = {}): RunPlan {
  const { plan, problems } = inspectRunConfig(raw, o);
  if (!plan) throw new RunPlanError(problems);
  return plan;
}

/** The model a plan describes, resolved (for building it, or counting its parameters). */
export function planModel(plan: RunPlan): ResolvedModelSpec {
  return resolveModelSpec(plan.model);
}

export interface PlanCompletion {
  train: Dataset;
  val?: Dataset;
  test?: Dataset;
}

/**
 * The plan with what the opened data and the machine decided. Throws when the data contradicts the
 * plan: other class names than the plan was made for, a validation set with other classes than the
 * training set, or more classes than the classifier has outputs.
 */
export function completePlan(plan: RunPlan, k: PlanCompletion): RunPlan {
  const names = [...k.train.classNames];
  if (plan.classNames && !sameList(plan.classNames, names)) {
    throw new Error(`the training data has classes ${listOf(names)} but the plan was made for ${listOf(plan.classNames)}: ` +
      'train on the data the plan names, or remove classNames from the config to plan anew');
  }
  if (k.val && !sameList(k.val.classNames, names)) {
    throw new Error(`the validation data has classes ${listOf(k.val.classNames)} but the training data has ${listOf(names)}`);
  }
  if (k.test && !sameList(k.test.classNames, names)) {
    throw new Error(`the test data (data.testSplit) has classes ${listOf(k.test.classNames)} but the training data has ${listOf(names)}`);
  }
  const numClasses = typeof plan.model.numClasses === 'number' ? plan.model.numClasses : names.length;
  if (numClasses < names.length) {
    throw new Error(`the model has ${numClasses} outputs (numClasses) but the data has ${names.length} classes: expected numClasses >= ${names.length}`);
  }
  return canonical({
    ...plan,
    model: { ...plan.model, numClasses },
    data: completeData(plan.data, k.train),
    ...(plan.valData && k.val ? { valData: completeData(plan.valData, k.val) } : {}),
    ...(plan.testData && k.test ? { testData: completeData(plan.testData, k.test) } : {}),
    classNames: names,
  });
}

/** One key order for every plan, so plans of the same run are the same text. */
const PLAN_ORDER = ['model', 'data', 'valData', 'testData', 'augment', 'normalization', 'classNames'];
function canonical(plan: RunPlan): RunPlan {
  const keys = [...PLAN_ORDER, ...Object.keys(TrainConfigSchema.shape).filter((k) => !PLAN_ORDER.includes(k))];
  const src = plan as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (src[k] !== undefined) out[k] = src[k];
  return out as RunPlan;
}

/** The plan without the fields that do not change results, hashed: a resume must match it. */
export function planHash(plan: RunPlan): string {
  return createHash('sha256').update(JSON.stringify(planIdentity(plan))).digest('hex').slice(0, 16);
}

/** The plan less what may change between starts of one run (threads, device, output places). */
export function planIdentity(plan: RunPlan): Partial<RunPlan> {
  const { threads: _t, outDir: _o, tensorboard: _tb, device: _d, deterministic, ...rest } = plan;
  // The default is left out, so runs planned before the field existed keep their hash (and resume).
  if (deterministic !== undefined && deterministic !== 'auto') (rest as Record<string, unknown>).deterministic = deterministic;
  return rest;
}

/**
 * JSON with object keys sorted at every level, for comparing plans: a plan read back from config.json (numClasses
 * where the model spec puts it) and the same plan completed from the data (numClasses appended) are the same plan.
 * (planHash keeps plain JSON: checkpoints of earlier versions record it.)
 */
export function sortedJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
}

/**
 * The data-parallel ranks ablate starts for a run of this config or plan: `distributed.nprocPerNode`,
 * 1 when unset (or invalid: the config check reports that).
 */
export function localRanksOf(config: unknown): number {
  const d = isMapping(config) ? config.distributed : undefined;
  const n = isMapping(d) ? d.nprocPerNode : undefined;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : 1;
}

/** The plan a run folder was trained with (its config.json); throws a clear error when there is none. */
export function readRunPlan(runDir: string): RunPlan {
  const file = runFolder(runDir).config;
  checkRunFolderFormat(runDir);
  if (!existsSync(file)) throw new TypeError(`${runDir} is not a run folder: expected ${file} (written by \`ablate train\` and studies)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readRegularTextSync(file, { what: 'run config' }));
  } catch (e) {
    if (e instanceof FileReadError) throw new TypeError(e.message);
    throw new TypeError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  const { plan, problems } = inspectRunConfig(raw);
  if (!plan) throw new RunPlanError(problems, `run config ${file}`);
  return plan;
}

/** The output size of a split: resolved in the plan, or by the data layer's per-source default. */
export function imageSizeOf(d: DataPlan, ds: Dataset): { height: number; width: number } {
  return d.imageSize ? { height: d.imageSize[0], width: d.imageSize[1] } : resolveImageSize(d, ds);
}

// ---------- the parts ----------

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isModelSpec(v: unknown): v is ModelSpec {
  return (typeof v === 'string' && v !== '') || isMapping(v);
}

function explicitClasses(model: unknown): boolean {
  return isMapping(model) && model.numClasses !== undefined;
}

function resolveModel(spec: ModelSpec, numClasses: number | undefined, problems: PlanProblem[]): ResolvedModelSpec | undefined {
  try {
    return resolveModelSpec(spec, numClasses);
  } catch (e) {
    if (!(e instanceof ModelSpecError)) throw e;
    problems.push(...e.issues.map((i) => ({ path: i.path ? `model.${i.path}` : 'model', message: i.message })));
    return undefined;
  }
}

/** An `augment:` value as canonical ops; its problems are added under `augment`. */
export function resolveAugment(spec: unknown, problems: PlanProblem[]): AugmentOp[] | undefined {
  const r = AugmentSpecSchema.safeParse(spec, { reportInput: true });
  if (r.success) return r.data;
  problems.push(...zodProblems(r.error.issues, 'augment'));
  return undefined;
}

/** Keys of `data:`: the data layer's, plus `valSplit` and `testSplit` (other splits of the same source). */
const DATA_KEYS = [...Object.keys(DataSpecSchema.shape), 'valSplit', 'testSplit'];
const GENERATED_KEYS = Object.keys(GeneratedSpecSchema.shape);
const dataKeys = (p: readonly PropertyKey[]) => (p.length === 0 ? DATA_KEYS : p.join('.') === 'generated' ? GENERATED_KEYS : undefined);

/** `data:` (with its `valSplit` and `testSplit`) and `valData:` as one DataPlan per split; problems are added with their paths. */
export function resolveSplits(data: Record<string, unknown>, valData: unknown, problems: PlanProblem[]): { train: DataPlan; val?: DataPlan; test?: DataPlan } | undefined {
  const { valSplit, testSplit, ...train } = data;
  const trainPlan = resolveData(train, 'data', problems);
  let val: DataPlan | undefined;
  if (valData !== undefined && valSplit !== undefined) {
    problems.push({ path: 'data.valSplit', message: `expected either data.valSplit or valData, not both, received ${describe(valSplit)}` });
  } else if (isMapping(valData)) {
    val = resolveData({ ...train, ...valData }, 'valData', problems);
  } else if (valSplit !== undefined) {
    if (typeof valSplit !== 'string') problems.push({ path: 'data.valSplit', message: `expected a split string such as 'test' or 'train[80%:]', received ${describe(valSplit)}` });
    else val = resolveData({ ...train, split: valSplit }, 'data', problems, 'valSplit');
  }
  let test: DataPlan | undefined;
  if (testSplit !== undefined) {
    // A test split that is also the training or validation split would score what was trained on or selected with.
    if (typeof testSplit !== 'string') problems.push({ path: 'data.testSplit', message: `expected a split string such as 'test' or 'train[90%:]', received ${describe(testSplit)}` });
    else if (testSplit === train.split || testSplit === valSplit) problems.push({ path: 'data.testSplit', message: `expected a split held out from training and validation, received ${describe(testSplit)}, which is also data.${testSplit === train.split ? 'split' : 'valSplit'}` });
    else test = resolveData({ ...train, split: testSplit }, 'data', problems, 'testSplit');
  }
  return trainPlan ? { train: trainPlan, ...(val ? { val } : {}), ...(test ? { test } : {}) } : undefined;
}

/** One split's spec checked by the data layer's schema, with its size and cache policy resolved where the spec alone decides them. */
function resolveData(raw: Record<string, unknown>, where: string, problems: PlanProblem[], splitKey = 'split'): DataPlan | undefined {
  const r = DataSpecSchema.safeParse(raw, { reportInput: true });
  const before = problems.length;
  if (!r.success) {
    // Problems in fields the validation split shares with the training split are reported once, under data.
    const seen = new Set(problems.map((p) => `${p.path}\u0000${p.message}`));
    problems.push(...zodProblems(r.error.issues, where, dataKeys).filter((p) => !seen.has(`${p.path.replace(/^valData\b/, 'data')}\u0000${p.message}`)));
  }
  if (typeof raw.split === 'string') {
    try {
      parseSplit(raw.split);
    } catch (e) {
      const issue = e instanceof ConfigError ? e.issues[0] : undefined;
      problems.push({ path: `${where}.${splitKey}`, message: issue ? `expected ${issue.expected}, received ${issue.received}` : (e as Error).message });
    }
  }
  if (!r.success || problems.length > before) return undefined;
  const spec = r.data;
  const source = spec.source ?? (spec.generated ? 'generated' : undefined);
  const generated = source === 'generated' ? GeneratedSpecSchema.parse(spec.generated ?? {}) : undefined;
  const fixedSide = source === 'generated' ? generated!.size : source === 'cifar10' || source === 'cifar100' ? 32 : undefined;
  const imageSize: [number, number] | undefined = Array.isArray(spec.imageSize) ? [spec.imageSize[0], spec.imageSize[1]]
    : typeof spec.imageSize === 'number' ? [spec.imageSize, spec.imageSize]
      : fixedSide !== undefined ? [fixedSide, fixedSide] : undefined;
  const { imageSize: _i, generated: _g, ...rest } = spec;
  return {
    ...rest,
    ...(generated ? { generated } : {}),
    ...(imageSize ? { imageSize } : {}),
    cache: cachePolicy(spec.cache, source),
  };
}

/** 'auto': in memory for generated and CIFAR (cheap to redo), on disk otherwise; open while the source is unknown. The one cache policy. */
export function cachePolicy(cache: DataSpec['cache'], source: string | undefined): DataSpec['cache'] {
  if (cache !== 'auto' || source === undefined) return cache;
  return source === 'generated' || source.startsWith('cifar') ? 'memory' : 'disk';
}

function completeData(d: DataPlan, ds: Dataset): DataPlan {
  const size = imageSizeOf(d, ds);
  // A Hub branch is pinned to the commit it was read at, so a resume or rerun of this plan reads the same bytes.
  const pinned = d.source === 'hf' && ds.revision !== undefined ? { revision: ds.revision } : {};
  return { ...d, ...pinned, imageSize: [size.height, size.width], cache: cachePolicy(d.cache, ds.source) };
}

/** The class count a data spec fixes without opening anything (generated, CIFAR). */
function classesOf(d: DataPlan): number | undefined {
  if (d.generated) return d.generated.classes;
  if (d.source === 'cifar10') return 10;
  if (d.source === 'cifar100') return d.labelKind === 'coarse' ? 20 : 100;
  return undefined;
}

function fileProblems(cfg: Record<string, unknown>): PlanProblem[] {
  const out: PlanProblem[] = [];
  const data = isMapping(cfg.data) ? cfg.data : undefined;
  // A fetchable dataset named without a path (source: cifar10) is fetched before training, not checked here.
  // A Hub dataset has no path; WebDataset paths are shard patterns (checked when opened).
  const fetched = data !== undefined && ((data.path === undefined && typeof data.source === 'string' && isDownloadable(data.source)) || data.source === 'hf' || data.source === 'webdataset'
    || (typeof data.path === 'string' && isWebDatasetPath(data.path)));
  if (data && data.source !== 'generated' && !fetched) {
    const p = missingFile('data.path', data.path, 'a dataset folder or file that exists (pass it with --data)');
    if (p) out.push(p);
  }
  if (isMapping(cfg.valData) && cfg.valData.path !== undefined) {
    const p = missingFile('valData.path', cfg.valData.path, 'a dataset folder or file that exists');
    if (p) out.push(p);
  }
  return out;
}

function missingFile(path: string, file: unknown, what: string): PlanProblem | undefined {
  if (typeof file !== 'string' || file === '' || existsSync(file)) return undefined;
  return { path, message: `expected ${what}, received ${describe(file)} (nothing exists there)` };
}

/** The model spec hub weights are looked up for (its family maps it to a torchvision architecture), if it is one. */
export function weightsModelSpec(model: unknown): ModelSpec | undefined {
  return typeof model === 'string' || isMapping(model) ? (model as ModelSpec) : undefined;
}

/**
 * `pretrained:` is a file that exists, a weights name this model has (imagenet, IMAGENET1K_V2; checked
 * always, it needs no file), or a torchvision file name fetched by name. Files are checked with checkFiles.
 */
function pretrainedProblems(cfg: Record<string, unknown>, checkFiles: boolean, modelOk: boolean): PlanProblem[] {
  const spec = cfg.pretrained;
  if (typeof spec !== 'string' || spec === '' || existsSync(spec) || hubWeightsByFileName(spec)) return [];
  if (isWeightsName(spec)) {
    const model = weightsModelSpec(cfg.model);
    if (model === undefined || !modelOk) return [];
    try {
      lookupHubWeights(spec, model);
      return [];
    } catch (e) {
      return [{ path: 'pretrained', message: (e as Error).message.replace(/^Expected/, 'expected') }];
    }
  }
  if (!checkFiles) return [];
  const p = missingFile('pretrained', spec, 'a PyTorch .pth weights file that exists, "imagenet", or a torchvision weights name (IMAGENET1K_V1, IMAGENET1K_V2)');
  return p ? [p] : [];
}

/** Several local ranks on one named GPU would share it: each rank takes cuda:<local rank> of a plain `cuda`. */
function distributedProblems(cfg: Record<string, unknown>): PlanProblem[] {
  const n = localRanksOf(cfg);
  if (n > 1 && typeof cfg.device === 'string' && /^cuda:\d+$/.test(cfg.device)) {
    return [{ path: 'device', message: `expected "cuda" or "cpu" with distributed.nprocPerNode ${n} (rank r trains on cuda:r), received ${JSON.stringify(cfg.device)}` }];
  }
  // A TorchScript module's batch norms run inside the module, where ablate cannot make them share statistics.
  if (isMapping(cfg.distributed) && cfg.distributed.syncBatchNorm === true && isMapping(cfg.model) && cfg.model.torchscript !== undefined) {
    return [{ path: 'distributed.syncBatchNorm', message: 'expected false with a TorchScript model (model.torchscript), received true: its BatchNorm layers run inside the module, where ablate cannot share their statistics across ranks (each rank then normalises with its own batch)' }];
  }
  return [];
}

/** zod issues → problems; a schema's own "expected …, received …" message is kept as written. */
function zodProblems(issues: readonly z.core.$ZodIssue[], prefix: string, knownKeys?: (p: readonly PropertyKey[]) => readonly string[] | undefined): PlanProblem[] {
  const at = (path: string) => (path ? `${prefix}.${path}` : prefix);
  return issues.flatMap((i) => {
    if (i.code === 'custom' && /^expected .*, received /.test(i.message)) return [{ path: at(i.path.map(String).join('.')), message: i.message }];
    return formatZodIssues([i], knownKeys).map((f) => ({ path: at(f.path), message: f.message }));
  });
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function listOf(names: readonly string[]): string {
  return names.length <= 6 ? `[${names.join(', ')}]` : `[${names.slice(0, 6).join(', ')}, … (${names.length})]`;
}
