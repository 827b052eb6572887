import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setNumThreads, getNumThreads, defaultThreads, resolveDevice, deviceSupportsBf16, setCudnnBenchmark, engineInfo, liveTensorCount } from '../tensor/index.js';
import { openDataset, parseDataSpec, prepareImages, resolveImageSize, defaultCacheDir, DataLoader, type Dataset, type DataSpec, type ImageSet } from '../data/index.js';
import { createModel, resolveModelConfig } from '../models/index.js';
import { buildAugmentPipeline, parseAugmentSpec } from '../augment/index.js';
import { isDiskFull, writeJsonAtomic } from '../util/atomic.js';
import { parseTrainConfig, type TrainConfig } from './config.js';
import { writeRunErrorAnalysis } from './error-analysis.js';
import { fit, type FitResult, type Precision, type BatchAugmenter } from './fit.js';
import { readRunStatus, writeRunStatus, hostEnv, type RunStatus } from './run-state.js';
import { ablateVersion } from '../util/version.js';
import type { Normalization } from './batch-tensor.js';
import type { ProgressStream } from './progress.js';
import type { Callback } from './callbacks/base.js';
import { loadPretrained, runNormalization } from './pretrained.js';
import { defaultValidation } from './validation-choice.js';
import { isWeightsName, lookupHubWeights } from '../models/hub-weights.js';
import { hasTrainingCheckpoint } from './checkpoint.js';
import type { LoadReport } from '../nn/index.js';
import { readLaunchEnv } from './launch.js';
import { DataParallel } from './data-parallel.js';

/** Options of `runTraining`: the run folder, resume, progress output, logging, abort signal, extra callbacks. */
export interface RunOptions {
  runDir: string;
  /** Continue from checkpoints/last.pth when it exists (studies always do). */
  resume?: boolean;
  progress?: ProgressStream | false;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Extra callbacks (e.g. a study's live view). */
  callbacks?: Callback[];
}

export function choosePrecision(requested: TrainConfig['precision'], device: string): Precision {
  const fast = deviceSupportsBf16(device); // GPUs from Ampere (compute 8.0) on, or CPUs with AVX-512 BF16/AMX
  if (requested === 'fp32' || (requested === 'auto' && !fast)) return { autocast: false, channelsLast: false, label: 'fp32' };
  return { autocast: true, channelsLast: true, label: 'bf16' };
}

/** The config without the fields that do not change results, hashed: a resume must match it. */
export function configHash(cfg: TrainConfig): string {
  const { threads: _t, outDir: _o, tensorboard: _tb, device: _d, ...rest } = cfg;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

interface OpenedData {
  train: ImageSet;
  val?: ImageSet;
  trainDs: Dataset;
  valDs?: Dataset;
  spec: DataSpec;
  valSplit?: string;
  classNames: readonly string[];
}

/** The validation data of a run: `valData`, or `data.valSplit` (study files) of the same source; undefined when it has none. */
export function validationSpec(cfg: TrainConfig): DataSpec | undefined {
  const { valSplit, ...rest } = cfg.data as Record<string, unknown> & { valSplit?: string };
  if (cfg.valData) return parseDataSpec({ ...rest, ...cfg.valData }, 'valData');
  if (typeof valSplit === 'string') return parseDataSpec({ ...rest, split: valSplit });
  return undefined;
}

/** The training data spec of a run, optionally with another split of the same source (`ablate eval --run --split`). */
export function trainingSpec(cfg: TrainConfig, split?: string): DataSpec {
  const { valSplit: _v, ...rest } = cfg.data as Record<string, unknown> & { valSplit?: string };
  return parseDataSpec(split === undefined ? rest : { ...rest, split });
}

/** Small in-memory sources are decoded each time; everything else goes through the on-disk image cache. */
export function imageCacheDir(spec: DataSpec, ds: Dataset): string | null {
  return spec.cache === 'memory' || (spec.cache === 'auto' && (ds.source === 'generated' || ds.source.startsWith('cifar')))
    ? null : (spec.cacheDir ?? defaultCacheDir());
}

async function openData(cfg: TrainConfig, log: (l: string) => void, signal?: AbortSignal): Promise<OpenedData> {
  const spec = trainingSpec(cfg);
  const trainDs = await openDataset(spec, { log, signal });
  let valDs: Dataset | undefined;
  let valSpec = validationSpec(cfg);
  if (!valSpec) {
    const choice = await defaultValidation(spec, { log, signal });
    valSpec = choice.spec;
    if (choice.note) log(choice.note);
  }
  if (valSpec) valDs = await openDataset(valSpec, { log, signal });
  const size = resolveImageSize(spec, trainDs);
  const cacheDir = imageCacheDir(spec, trainDs);
  const prep = (ds: Dataset, what: string) => {
    let lastPct = -1;
    return prepareImages(ds, {
      ...size, resize: spec.resize, cacheDir, concurrency: spec.concurrency, verify: spec.verifyCache, log,
      onProgress: (done, total) => {
        const pct = Math.floor((100 * done) / Math.max(1, total));
        if (total > 500 && pct >= lastPct + 10) {
          lastPct = pct;
          log(`decoding ${what} images: ${done}/${total} (${pct}%)${cacheDir === null ? '' : ' — cached on disk for later runs'}`);
        }
      },
    });
  };
  const train = await prep(trainDs, 'training');
  const val = valDs ? await prep(valDs, 'validation') : undefined;
  return { train, val, trainDs, valDs, spec, valSplit: valSpec?.split, classNames: trainDs.classNames };
}

/**
 * Trains one configuration into `runDir`: resolved config, status.json, history, metrics.csv,
 * checkpoints and final weights. Any failure is recorded in status.json before it is re-thrown.
 */
export async function runTraining(rawConfig: unknown, o: RunOptions): Promise<FitResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const cfg = parseTrainConfig(rawConfig);
  preflight(cfg);
  // Started as one rank of a data-parallel run (torchrun, srun, --nproc-per-node): join the others first,
  // so a missing rank fails the run before any file is written.
  const launch = readLaunchEnv();
  const dp = launch ? DataParallel.join(launch) : undefined;
  const main = !dp || dp.isMain;
  if (main) mkdirSync(o.runDir, { recursive: true });
  // Results depend on the thread count (parallel reductions sum in a different order), so a run keeps
  // the count it started with: recorded in config.json, reused by every resume that does not set one.
  // Local data-parallel ranks share the machine's cores.
  cfg.threads ??= (o.resume ? threadsOfRun(o.runDir) : undefined) ?? Math.max(1, Math.floor(defaultThreads() / (launch?.localWorldSize ?? 1)));
  setNumThreads(cfg.threads);
  const device = resolveDevice(launch && cfg.device === 'cuda' ? `cuda:${launch.localRank}` : cfg.device);
  // Fixed input shapes: let cuDNN time its convolution algorithms once and keep the fastest.
  if (device !== 'cpu') setCudnnBenchmark(true);
  // Rank 0 alone writes the run folder; the others share it (a shared filesystem across nodes).
  const writeStatus = (st: RunStatus) => { if (main) writeRunStatus(o.runDir, st); };
  const precision = choosePrecision(cfg.precision, device);
  const hash = configHash(cfg);
  const prev = readRunStatus(o.runDir);
  const resume = (o.resume ?? false) && hasTrainingCheckpoint(o.runDir);
  const startedAt = new Date().toISOString();
  const info = engineInfo();
  const baseStatus: RunStatus = {
    status: 'running',
    startedAt: resume && prev?.startedAt ? prev.startedAt : startedAt,
    epochsDone: 0,
    epochsPlanned: cfg.epochs,
    params: 0,
    trainableParams: 0,
    trainTimeS: 0,
    env: {
      ablateVersion: ablateVersion(), libtorchVersion: info.libtorch, device, threads: getNumThreads(), precision: precision.label,
      worldSize: dp?.worldSize ?? 1,
      ...hostEnv(),
    },
    dataset: { name: String((cfg.data as Record<string, unknown>).source ?? 'auto'), split: '', trainCount: 0, valCount: 0 },
  } as RunStatus;
  writeStatus(baseStatus);
  if (main) writeJsonAtomic(join(o.runDir, 'config.json'), cfg);

  let data: OpenedData | undefined;
  let status: RunStatus = baseStatus;
  try {
    data = await openData(cfg, log, o.signal);
    const numClasses = cfg.numClasses ?? data.classNames.length;
    const model = createModel(cfg.model, { numClasses, seed: cfg.seed, device });
    try {
      const pretrained = cfg.pretrained && !resume ? await loadPretrained(model, cfg.pretrained, cfg.model, { log, signal: o.signal }) : undefined;
      const norm = runNormalization(cfg.pretrained, cfg.model);
      const counts = model.countParams();
      const size = resolveImageSize(data.spec, data.trainDs);
      const cost = model.flops([size.height, size.width]);
      status = {
        ...status,
        params: counts.total,
        trainableParams: counts.trainable,
        nonTrainableParams: counts.nonTrainable,
        macs: cost.macs,
        flops: cost.flops,
        dataset: {
          name: data.trainDs.source,
          split: data.spec.split,
          valSplit: data.valSplit,
          trainCount: data.train.length,
          valCount: data.val?.length ?? 0,
          skipped: data.train.badFiles.length + (data.val?.badFiles.length ?? 0),
          classes: data.classNames.length,
          classCounts: { train: classCounts(data.train), ...(data.val ? { val: classCounts(data.val) } : {}) },
          // What predict and export need to use the model without the training data (see run-folder.ts).
          classNames: [...data.classNames],
          imageSize: [size.height, size.width],
        },
        normalization: norm,
        ...(pretrained ? { pretrained } : resume ? { pretrained: prev?.pretrained } : {}),
      } as RunStatus;
      requireEveryClass(data.train, data.trainDs, log);
      writeStatus(status);
      const augment = buildAugment(cfg, numClasses, size);
      const normalization: Normalization = norm.kind;
      // batchSize is per rank, as in PyTorch DDP: the global batch is batchSize × worldSize.
      const shard = dp ? { rank: dp.rank, worldSize: dp.worldSize } : undefined;
      const trainLoader = new DataLoader(data.train, { batchSize: cfg.batchSize, seed: cfg.seed, shuffle: true, dropLast: false, shard });
      const valLoader = data.val ? new DataLoader(data.val, { batchSize: cfg.batchSize, shuffle: false, shard: shard && { ...shard, pad: false } }) : undefined;
      const result = await fit({
        model, train: trainLoader, val: valLoader, numClasses, config: cfg, precision, device, normalization, augment,
        runDir: o.runDir, resume, callbacks: o.callbacks, progress: o.progress, signal: o.signal, log, configHash: hash, parallel: dp,
      });
      if (data.val && result.status === 'ok' && main) {
        // Per-class metrics and pictures for `ablate eval`-free inspection and the study report; never fails the run.
        await writeRunErrorAnalysis(o.runDir, model, data.val, { numClasses, precision, device, normalization, batchSize: cfg.batchSize, classNames: data.classNames })
          .catch((e: Error) => log(`error analysis skipped: ${e.message}`));
      }
      const last = result.history[result.history.length - 1];
      const reason = result.status === 'stopped' && o.signal?.aborted ? String(o.signal.reason ?? 'stopped on request') : undefined;
      status = {
        ...status,
        status: result.status,
        error: result.error,
        reason,
        finishedAt: new Date().toISOString(),
        epochsDone: result.epochsDone,
        bestEpoch: result.bestEpoch,
        bestValAccuracy: result.bestValAccuracy,
        trainTimeS: result.trainTimeS,
        imagesPerS: result.imagesPerS,
        dataWaitFraction: last?.data_wait_fraction ?? undefined,
        liveTensors: liveTensorCount(),
      } as RunStatus;
      writeStatus(status);
      return result;
    } finally {
      model.dispose();
    }
  } catch (e) {
    // A full disk stops the run (its last good checkpoint is intact; the same command continues it once
    // there is space); anything else is a failure of the run itself.
    const ended = isDiskFull(e) ? { status: 'stopped', reason: (e as Error).message } : { status: 'failed', error: (e as Error).message };
    writeStatus({ ...status, ...ended, finishedAt: new Date().toISOString() } as RunStatus);
    throw e;
  } finally {
    dp?.close();
    await data?.train.close();
    await data?.val?.close();
    await data?.trainDs.close();
    await data?.valDs?.close();
  }
}

/** The resolved thread count an earlier start of this run recorded in its config.json. */
function threadsOfRun(runDir: string): number | undefined {
  try {
    const t = (JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as { threads?: unknown }).threads;
    return Number.isInteger(t) && (t as number) > 0 ? (t as number) : undefined;
  } catch {
    return undefined;
  }
}

/** Images per class name, in class order: what the run actually trains (or validates) on. */
export function classCounts(set: { labels: Int32Array; classNames: readonly string[] }): Record<string, number> {
  const n = new Array<number>(set.classNames.length).fill(0);
  for (const l of set.labels) if (l >= 0 && l < n.length) n[l]!++;
  return Object.fromEntries(set.classNames.map((c, i) => [c, n[i]!]));
}

/**
 * A class whose every training file is unreadable would give a classifier that can never predict it,
 * and a report that looks fine: refuse. A split that merely leaves a class out (a tiny slice) is noted.
 */
function requireEveryClass(set: ImageSet, ds: Dataset, log: (l: string) => void): void {
  const counts = classCounts(set);
  const empty = Object.entries(counts).filter(([, c]) => c === 0).map(([k]) => k);
  if (empty.length === 0) return;
  const perClass = Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ');
  const unreadable = empty.map((c) => ({ c, files: set.badFiles.filter((b) => b.index >= 0 && ds.classNames[ds.label(b.index)] === c) }))
    .filter((x) => x.files.length > 0);
  if (unreadable.length === 0) {
    log(`note: the training data ${ds.description} has no image of class ${empty.map((c) => JSON.stringify(c)).join(', ')} (images per class: ${perClass})`);
    return;
  }
  const what = unreadable.map(({ c, files }) => `${JSON.stringify(c)} (all ${files.length} file(s) unreadable: ${files.slice(0, 3).map((f) => `${f.name}: ${f.detail}`).join('; ')}${files.length > 3 ? '; …' : ''})`);
  throw new Error(`the training data ${ds.description} has no readable image of class ${what.join(', ')}; images per class: ${perClass}. ` +
    'Replace the unreadable files, or remove the class folder');
}

/**
 * Everything that can be checked without touching data or weights, so a typo in the model, data or
 * augmentation fields fails at once instead of after minutes of decoding images, and leaves no run folder.
 */
export function preflight(cfg: TrainConfig): void {
  resolveModelConfig(cfg.model, cfg.numClasses !== undefined ? { numClasses: cfg.numClasses } : {});
  trainingSpec(cfg);
  validationSpec(cfg);
  parseAugmentSpec(cfg.augment);
  if (cfg.pretrained && isWeightsName(cfg.pretrained) && !existsSync(cfg.pretrained)) lookupHubWeights(cfg.pretrained, cfg.model);
}

function buildAugment(cfg: TrainConfig, numClasses: number, size: { height: number; width: number }): BatchAugmenter | undefined {
  const spec = parseAugmentSpec(cfg.augment);
  if (spec.length === 0) return undefined;
  return buildAugmentPipeline(spec, { numClasses, imageSize: [size.height, size.width] });
}
