/**
 * The pre-flight check of one resolved run config, against every layer that will read it: the
 * training config schema, the data spec, the augmentation spec and the model registry. A study
 * runs for hours; a typo in `data.generated.clases` or `model: resnet8-cifar` must surface before
 * the first variant starts, not when the fifth one does.
 */
import { existsSync } from 'node:fs';
import type { z } from 'zod';
import { validateTrainConfig } from '../train/config.js';
import { DataSpecSchema, GeneratedSpecSchema, isDownloadable, parseSplit } from '../data/index.js';
import { AugmentSpecSchema } from '../augment/index.js';
import { listPresets } from '../models/index.js';
import { hubWeightsByFileName, isWeightsName, lookupHubWeights } from '../models/hub-weights.js';
import { describe } from '../util/errors.js';
import { formatZodIssues } from '../util/zod-issues.js';
import { didYouMean } from './spec-issues.js';
import type { ConfigProblem } from './spec-expand.js';
import { isPlainObject, type PlainObject } from './spec-paths.js';

export interface CheckRunOptions {
  /** Also check that `data.path` and `pretrained` exist on this machine (default true). */
  checkFiles?: boolean;
}

/** Keys the data layer reads from `data:`, plus `valSplit`, which runTraining takes off first. */
const DATA_KEYS = [...Object.keys(DataSpecSchema.shape), 'valSplit'];
const GENERATED_KEYS = Object.keys(GeneratedSpecSchema.shape);

function prefixed(prefix: string, path: string): string {
  return path ? `${prefix}.${path}` : prefix;
}

/** zod issues → problems; the data layer's own "expected …, received …" messages are kept as written. */
function zodProblems(issues: readonly z.core.$ZodIssue[], prefix: string, knownKeys?: (p: readonly PropertyKey[]) => readonly string[] | undefined): ConfigProblem[] {
  return issues.flatMap((i) => {
    if (i.code === 'custom' && /^expected .*, received /.test(i.message)) return [{ path: prefixed(prefix, i.path.map(String).join('.')), message: i.message }];
    return formatZodIssues([i], knownKeys).map((f) => ({ path: prefixed(prefix, f.path), message: f.message }));
  });
}

function splitProblem(path: string, split: unknown): ConfigProblem | undefined {
  if (typeof split !== 'string') return { path, message: `expected a split string such as 'test' or 'train[80%:]', received ${describe(split)}` };
  try {
    parseSplit(split);
    return undefined;
  } catch (e) {
    const m = /^Expected (.*) for \S+ but received (.*)$/s.exec((e as Error).message);
    return { path, message: m ? `expected ${m[1]}, received ${m[2]}` : (e as Error).message };
  }
}

function dataProblems(data: PlainObject, prefix: string): ConfigProblem[] {
  const { valSplit, ...spec } = data;
  const knownKeys = (p: readonly PropertyKey[]) => (p.length === 0 ? DATA_KEYS : p.join('.') === 'generated' ? GENERATED_KEYS : undefined);
  const r = DataSpecSchema.safeParse(spec, { reportInput: true });
  const out = r.success ? [] : zodProblems(r.error.issues, prefix, knownKeys);
  if (typeof spec.split === 'string') {
    const p = splitProblem(`${prefix}.split`, spec.split);
    if (p) out.push(p);
  }
  if (valSplit !== undefined) {
    const p = splitProblem(`${prefix}.valSplit`, valSplit);
    if (p) out.push(p);
  }
  return out;
}

function fileProblem(path: string, file: unknown, what: string): ConfigProblem | undefined {
  if (typeof file !== 'string' || file === '' || existsSync(file)) return undefined;
  return { path, message: `expected ${what}, received ${describe(file)} (nothing exists there)` };
}

/** `pretrained:` is a file that exists, a weights name this model has (imagenet, IMAGENET1K_V2), or a torchvision file name. */
function pretrainedProblem(config: PlainObject): ConfigProblem | undefined {
  const spec = config.pretrained;
  if (typeof spec !== 'string' || spec === '' || existsSync(spec) || hubWeightsByFileName(spec)) return undefined;
  if (isWeightsName(spec)) {
    if (typeof config.model !== 'string') return undefined;
    try {
      lookupHubWeights(spec, config.model);
      return undefined;
    } catch (e) {
      return { path: 'pretrained', message: (e as Error).message.replace(/^Expected/, 'expected') };
    }
  }
  return fileProblem('pretrained', spec, 'a PyTorch .pth weights file that exists, "imagenet", or a torchvision weights name (IMAGENET1K_V1, IMAGENET1K_V2)');
}

/** Every problem any layer would find in this run config; [] when it is ready to train. */
export function checkRunConfig(config: PlainObject, o: CheckRunOptions = {}): ConfigProblem[] {
  const problems: ConfigProblem[] = validateTrainConfig(config).map((i) => ({ path: i.path, message: i.message }));

  if (typeof config.model === 'string' && config.model !== '' && !listPresets().includes(config.model)) {
    const guess = didYouMean(config.model, listPresets());
    problems.push({
      path: 'model',
      message: `expected a model preset (${guess ? `did you mean "${guess}"? ` : ''}one of ${listPresets().join(', ')}), received ${describe(config.model)}`,
    });
  }

  const data = isPlainObject(config.data) ? config.data : undefined;
  if (data) problems.push(...dataProblems(data, 'data'));
  if (data && isPlainObject(config.valData)) problems.push(...dataProblems({ ...data, valSplit: undefined, ...config.valData }, 'valData'));

  if (typeof config.augment === 'string' || Array.isArray(config.augment)) {
    const r = AugmentSpecSchema.safeParse(config.augment, { reportInput: true });
    if (!r.success) problems.push(...zodProblems(r.error.issues, 'augment'));
  }

  if (o.checkFiles !== false) {
    // A fetchable dataset named without a path (source: cifar10) is fetched in the pre-flight, not checked here.
    if (data && data.source !== 'generated' && !(data.path === undefined && isDownloadable(data.source as string))) {
      const p = fileProblem('data.path', data.path, 'a dataset folder or file that exists (pass it with --data)');
      if (p) problems.push(p);
    }
    const p = pretrainedProblem(config);
    if (p) problems.push(p);
  }
  return problems;
}
