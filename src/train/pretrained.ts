import type { LoadReport } from '../nn/index.js';
import { loadWeights, type ModelSpec } from '../models/index.js';
import type { Model } from '../nn/index.js';
import { isWeightsName, pretrainedTransforms, resolvePretrained, type ResolvedWeights } from '../models/hub-weights.js';
import type { Interpolation } from '../models/family.js';
import type { Normalization } from '../run/plan.js';

/** What a run records about its starting weights and the input normalisation they imply (status.json). */
export interface PretrainedRecord {
  /** As written in the config: a path, `imagenet`, `IMAGENET1K_V2`, … */
  requested: string;
  /** torchvision's name for them, when fetched by name (`ResNet50_Weights.IMAGENET1K_V2`). */
  weights?: string;
  file: string;
  url?: string;
  loaded: number;
  /** Tensors the checkpoint could not fill (another class count, a plain net): kept at their fresh initialisation. */
  initialised: string[];
  /** Checkpoint tensors the model has no place for. */
  unused: string[];
}

export interface RunNormalization {
  kind: Normalization;
  mean: readonly number[];
  std: readonly number[];
  /** Why: the weights' preprocessing, or the seeds' divide-by-255. */
  from: string;
  /**
   * With pretrained weights: the evaluation preprocessing they were trained for (torchvision's
   * `weights.transforms()`: resize the short side to resizeSize, centre-crop cropSize), torchvision's
   * defaults (256 / 224 / bilinear) for a file it does not know.
   */
  resizeSize?: number;
  cropSize?: number;
  interpolation?: Interpolation;
}

/** The normalisation a run uses: its pretrained weights' preprocessing (ImageNet mean/std), else /255 only. */
export function runNormalization(pretrained: string | undefined, model: ModelSpec): RunNormalization {
  if (!pretrained) return { kind: 'unit', mean: [0, 0, 0], std: [1, 1, 1], from: 'no pretrained weights: pixels / 255' };
  const t = pretrainedTransforms(pretrained, model);
  const from = t.id ? `the preprocessing of torchvision's ${t.id}` : `pretrained weights ${pretrained}${isWeightsName(pretrained) ? '' : ' (torchvision\'s default preprocessing)'}`;
  return { kind: 'imagenet', mean: t.mean, std: t.std, from, resizeSize: t.resizeSize, cropSize: t.cropSize, interpolation: t.interpolation };
}

/**
 * Loads `pretrained` (a file, or weights by name fetched into PyTorch's cache) into a fresh model,
 * non-strictly: tensors whose shape differs (fc for another class count) or that the checkpoint lacks
 * keep their initialisation, and the log says which.
 */
export async function loadPretrained(
  model: Model, pretrained: string, modelSpec: ModelSpec, o: { log: (l: string) => void; signal?: AbortSignal; label?: string },
): Promise<PretrainedRecord> {
  const resolved: ResolvedWeights = await resolvePretrained(pretrained, modelSpec, { log: o.log, signal: o.signal });
  const modelName = o.label ?? (typeof modelSpec === 'string' ? modelSpec : model.name);
  const label = resolved.hub ? `${resolved.hub.id} (${resolved.path})` : resolved.path;
  const report: LoadReport = await loadWeights(model, resolved.path, { strict: false, renameKey: resolved.renameKey }).catch((e: Error) => {
    throw new Error(`pretrained weights ${label}: ${e.message}`); // which file, when a study has many
  });
  if (report.loaded.length === 0) {
    throw new Error(`pretrained weights ${label} share no tensor with ${modelName}: ${describeNoMatch(report)}`);
  }
  const initialised = [...report.mismatched.map((m) => m.key), ...report.missing];
  o.log(`pretrained weights ${label}: loaded ${report.loaded.length} tensors` +
    (initialised.length ? `, kept the fresh initialisation for ${initialised.length} (${initialised.slice(0, 4).join(', ')}${initialised.length > 4 ? ', …' : ''})` : '') +
    (report.unexpected.length ? `, left ${report.unexpected.length} unused (${report.unexpected.slice(0, 3).join(', ')}${report.unexpected.length > 3 ? ', …' : ''})` : '') +
    '; inputs are normalised with ImageNet mean/std, as the weights expect');
  return {
    requested: pretrained,
    ...(resolved.hub ? { weights: resolved.hub.id, url: resolved.hub.url } : {}),
    file: resolved.path,
    loaded: report.loaded.length,
    initialised,
    unused: [...report.unexpected],
  };
}

/** Why no tensor of a checkpoint fits the model: only the kinds of mismatch there are, each with examples. */
function describeNoMatch(report: LoadReport): string {
  const few = (keys: string[]) => `${keys.slice(0, 4).join(', ')}${keys.length > 4 ? `, … ${keys.length - 4} more` : ''}`;
  const parts: string[] = [];
  if (report.mismatched.length) {
    const shown = report.mismatched.slice(0, 4).map((m) => `${m.key} is [${m.received.join(', ')}] in the file but [${m.expected.join(', ')}] in the model`);
    parts.push(`mis-shaped keys (${report.mismatched.length}): ${shown.join('; ')}${report.mismatched.length > 4 ? '; …' : ''}`);
  }
  if (report.unexpected.length) parts.push(`keys the model does not have (${report.unexpected.length}): ${few(report.unexpected)}`);
  if (report.missing.length) parts.push(`model keys missing from the file (${report.missing.length}): ${few(report.missing)}`);
  return parts.join('; ') || 'the file holds no tensors';
}
