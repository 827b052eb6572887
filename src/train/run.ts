import { setNumThreads, getNumThreads, setCudnnBenchmark, setDeterministic, engineInfo, liveTensorCount } from '../tensor/index.js';
import { DataLoader, SplitChangedError, type Dataset, type ImageSet, type TrainLoader } from '../data/index.js';
import { buildAugmentPipeline } from '../augment/index.js';
import { isDiskFull } from '../util/atomic.js';
import { ensureOutDir } from '../util/out-dir.js';
import { InterruptedError, throwIfInterrupted, wasPreempted } from '../util/interrupt.js';
import type { TrainConfig } from '../run/config.js';
import { writeRunErrorAnalysis } from './error-analysis.js';
import { fit, type FitResult, type BatchAugmenter } from './fit.js';
import { planForMachine, type Precision } from '../run/machine.js';
import { hostEnv } from './run-state.js';
import { readRunStatus, writeRunStatus, type RunStatus } from '../run/run-folder.js';
import { removeRankErrors, writeRankError } from '../run/run-folder.js';
import { ablateVersion } from '../util/version.js';
import { imageSizeOf, planHash, planIdentity, sortedJson, readRunPlan, resolveRunPlan, weightsModelSpec, type RunPlan } from '../run/plan.js';
import { chooseStreaming, prepareSplit, streamLoader, type PlanDatasets } from '../run/plan-data.js';
import { prepareRun } from '../run/prepare.js';
import { evaluate } from './evaluate.js';
import type { TrainableModel } from './model-api.js';
import { modelLabel, type ModelSpec } from '../run/model-spec.js';
import type { ProgressStream } from './progress.js';
import type { Callback } from './callbacks/base.js';
import { loadPretrained, runNormalization, type RunNormalization } from './pretrained.js';
import { defaultValidation } from './validation-choice.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../models/hub-weights.js';
import { hasTrainingCheckpoint, promoteCompleteCheckpoint } from './checkpoint.js';
import { applyBlasThreadsFor } from '../nn/index.js';
import { readLaunchEnv } from './launch.js';
import { DataParallel } from './data-parallel.js';
import type { HParamValue } from './tensorboard.js';
import { collectProvenance, saveProvenanceDiff, type CollectedProvenance } from '../util/provenance.js';
import { checkRunFolderFormat, recordedThreads, writeRunConfig } from '../run/run-folder.js';
import { runFolder } from '../run/folder.js';

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
  /** How often the loss and accuracy are read back from the device (see `FitOptions`): steps, milliseconds. */
  readEvery?: number;
  readEveryMs?: number;
  /**
   * Train while a split without a valid cache is still decoding (default true; single-process runs starting
   * fresh). The results are the same either way: see PrepareOptions.background.
   */
  overlapDecoding?: boolean;
  /**
   * Where the code came from (see util/provenance.ts), read once by whoever started the run (the CLI, a study
   * runner); by default that of the current folder's repository, read here.
   */
  provenance?: CollectedProvenance;
  /** TensorBoard's HParams view: the run's hyperparameters (a study's axes and seed); default, the plan's usual knobs. */
  hparams?: Readonly<Record<string, HParamValue>>;
}

/**
 * Trains one configuration into `runDir`: resolved config, status.json, history, metrics.csv,
 * checkpoints and final weights. Any failure is recorded in status.json before it is re-thrown.
 */
export async function runTraining(rawConfig: unknown, o: RunOptions): Promise<FitResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  // Every problem of the config, before a folder is made or an image decoded.
  const resolved = resolveRunPlan(rawConfig);
  // A folder a newer ablate wrote is neither resumed nor overwritten.
  checkRunFolderFormat(o.runDir);
  // Started as one rank of a data-parallel run (torchrun, srun, --nproc-per-node): join the others first,
  // so a missing rank fails the run before any file is written. The device (this rank's GPU on CUDA) comes
  // first: it decides the backend (NCCL on CUDA, Gloo on the CPU).
  const launch = readLaunchEnv();
  const machine = planForMachine(resolved, {
    threadsBefore: o.resume ? recordedThreads(o.runDir) : undefined,
    localWorldSize: launch?.localWorldSize,
    localRank: launch?.localRank,
  });
  const { device, precision } = machine;
  // A new start of the run: the errors other ranks left at its last end are history. Removed before the
  // ranks meet, so never after another rank of this start wrote one (they write only once they have met).
  if ((launch?.rank ?? 0) === 0) removeRankErrors(o.runDir);
  // A complete checkpoint a kill left under its temp name gets its name back before any rank looks for one.
  if (o.resume && launch && launch.rank === 0) await promoteCompleteCheckpoint(o.runDir, log);
  const dp = launch ? DataParallel.join(launch, undefined, device) : undefined;
  const main = !dp || dp.isMain;
  let plan: RunPlan = machine.plan;
  if (main) ensureOutDir(o.runDir, 'run folder');
  const provenance = main ? (o.provenance ?? collectProvenance({ exclude: [o.runDir] })) : undefined;
  if (provenance) saveProvenanceDiff(runFolder(o.runDir).provenanceDiff, provenance.diff);
  setNumThreads(plan.threads!);
  const deterministic = chooseDeterminism(plan.deterministic ?? 'auto', device);
  // Rank 0 alone writes the run folder; the others share it (a shared filesystem across nodes).
  const writeStatus = (st: Parameters<typeof writeRunStatus>[1]) => { if (main) writeRunStatus(o.runDir, st); };
  const prev = readRunStatus(o.runDir);
  const resume = (o.resume ?? false) && hasTrainingCheckpoint(o.runDir);
  const startedAt = new Date().toISOString();
  const info = engineInfo();
  const baseStatus: RunStatus = {
    status: 'running',
    startedAt: resume && prev?.startedAt ? prev.startedAt : startedAt,
    epochsDone: 0,
    epochsPlanned: plan.epochs,
    params: 0,
    trainableParams: 0,
    trainTimeS: 0,
    env: {
      ablateVersion: ablateVersion(), libtorchVersion: info.libtorch, device, threads: getNumThreads(), precision: precision.label,
      worldSize: dp?.worldSize ?? 1,
      ...(dp ? { distBackend: dp.backend } : {}),
      ...hostEnv(),
      deterministic,
      ...(provenance ? { provenance: provenance.provenance } : {}),
    },
    dataset: { name: String(plan.data.source ?? 'auto'), split: '', trainCount: 0, valCount: 0 },
  } as RunStatus;
  // A resume must not touch the run's plan until it is known to be the same plan (see below).
  const previousPlan = resume ? previousPlanOf(o.runDir) : undefined;
  writeStatus(baseStatus);
  if (!previousPlan && main) writeRunConfig(o.runDir, plan);

  let datasets: PlanDatasets | undefined;
  let train: ImageSet | undefined;
  let val: ImageSet | undefined;
  const opened: ImageSet[] = [];
  let status: RunStatus = baseStatus;
  try {
    // No validation data named: a folder's own held-out split, said out loud (and recorded in the plan).
    // A resume keeps the choice its run made (a plan recorded without validation stays without).
    if (!plan.valData && !(previousPlan && !previousPlan.valData)) plan = await withDefaultValidation(plan, { log, signal: o.signal });
    // The run's config.json is its plan, completed with what the data decided (class names, sizes).
    const prepared = await prepareRun(plan, { log, signal: o.signal });
    datasets = prepared.datasets;
    throwIfInterrupted(o.signal, 'opening the data');
    plan = prepared.plan;
    // WebDataset training data: streamed or decoded into the cache, decided once and recorded in the plan.
    const streaming = chooseStreaming(plan.data, datasets.train, previousPlan?.data);
    if (streaming) {
      plan = { ...plan, data: { ...plan.data, stream: streaming.stream } };
      log(`data: ${streaming.stream ? 'streaming the training shards' : 'decoding the training shards into the image cache'} (${streaming.why})`);
    }
    if (previousPlan && sortedJson(planIdentity(previousPlan)) !== sortedJson(planIdentity(plan))) {
      const changed = changedFields(previousPlan, plan);
      throw new ResumeMismatchError(`cannot resume ${o.runDir}: it was planned with other settings (${changed.join(', ')} differ); ` +
        `run it with its own config (ablate train --resume --out ${o.runDir}), or use another --out for the new settings`);
    }
    if (main) writeRunConfig(o.runDir, plan);
    // The first epoch trains while the training split decodes (in that epoch's order), validation decoding after
    // it. Not for a resumed run (its epoch's order must be the one the interrupted run used, which a tentative split
    // cannot promise) nor for data-parallel ranks (their shards depend on the split's final length).
    const background = (o.overlapDecoding ?? true) && !resume && !dp;
    // A streamed split has no decoded set: its facts (counts per class) come from the shards' index.
    train = streaming?.stream ? undefined : await prepareSplit(plan.data, datasets.train, { log, what: 'training', signal: o.signal, background });
    if (train) opened.push(train);
    const trainFacts: SplitFacts = train ?? { length: datasets.train.length, labels: datasets.train.labels(), classNames: datasets.train.classNames, badFiles: [] };
    if (plan.valData && datasets.val) {
      val = await prepareSplit(plan.valData, datasets.val, { log, what: 'validation', signal: o.signal, background, after: background && train ? train.settled() : undefined });
      opened.push(val);
    }
    const numClasses = prepared.model.config.numClasses;
    for (;;) {
      const model = prepared.buildModel({ seed: plan.seed, device });
      // OpenBLAS gets libtorch's threads only for models that are mostly matrix products (ViT, ConvNeXt).
      applyBlasThreadsFor(model, getNumThreads());
      try {
        const weightsModel = weightsModelSpec(plan.model) ?? plan.model;
        const pretrained = plan.pretrained && !resume
          ? await loadPretrained(model, plan.pretrained, weightsModel, { log, signal: o.signal, label: modelLabel(plan.model) })
          : undefined;
        const norm = planNormalization(plan, weightsModel);
        const counts = model.countParams();
        const size = imageSizeOf(plan.data, datasets.train);
        const cost = model.flops([size.height, size.width]);
        status = {
          ...status,
          params: counts.total,
          trainableParams: counts.trainable,
          nonTrainableParams: counts.nonTrainable,
          macs: cost.macs,
          flops: cost.flops,
          dataset: {
            name: datasets.train.source,
            ...(datasets.train.revision !== undefined ? { revision: datasets.train.revision } : {}),
            split: plan.data.split,
            valSplit: plan.valData?.split,
            ...splitCounts(trainFacts, val),
            classes: plan.classNames?.length ?? numClasses,
            // What predict and export need to use the model without the training data (see run-folder.ts).
            classNames: [...(plan.classNames ?? datasets.train.classNames)],
            imageSize: [size.height, size.width],
          },
          normalization: norm,
          ...(model.initialWeights() !== undefined ? { initialWeights: model.initialWeights() } : {}),
          ...(pretrained ? { pretrained } : resume ? { pretrained: prev?.pretrained } : {}),
        } as RunStatus;
        requireEveryClass(trainFacts, datasets.train, log);
        writeStatus(status);
        const augment = buildAugment(plan, numClasses, size);
        // batchSize is per rank, as in PyTorch DDP: the global batch is batchSize × worldSize.
        const shard = dp ? { rank: dp.rank, worldSize: dp.worldSize } : undefined;
        const trainLoader: TrainLoader = train
          ? new DataLoader(train, { batchSize: plan.batchSize, seed: plan.seed, shuffle: true, dropLast: false, shard, early: train.tentative })
          : streamLoader(plan.data, datasets.train, { batchSize: plan.batchSize, seed: plan.seed, shard });
        const valLoader = val ? new DataLoader(val, { batchSize: plan.batchSize, shuffle: false, shard: shard && { ...shard, pad: false } }) : undefined;
        let result: FitResult;
        try {
          result = await fit({
            model, train: trainLoader, val: valLoader, numClasses, config: plan as TrainConfig, precision, device, normalization: plan.normalization, augment,
            runDir: o.runDir, resume, callbacks: o.callbacks, progress: o.progress, signal: o.signal, log, configHash: planHash(plan), parallel: dp,
            readEvery: o.readEvery, readEveryMs: o.readEveryMs, hparams: o.hparams,
          });
        } catch (e) {
          if (!(e instanceof SplitChangedError)) throw e;
          // The steps so far trained on a split that assumed every file decodable: start again, from a fresh model,
          // on the real split, exactly as a run that decoded first would have.
          log(`data: ${e.message}; training starts again on the split without them`);
          train = await train!.settled();
          opened.push(train);
          continue;
        }
        // A loader that waited for its split holds the settled one; a run stopped while the training split was
        // still decoding keeps the tentative counts (its resume decodes first).
        val = valLoader?.data ?? val;
        if (val) opened.push(val);
        status = { ...status, dataset: { ...status.dataset, ...splitCounts(train ?? trainFacts, val) } } as RunStatus;
        if (val && result.status === 'ok' && main) {
          // Per-class metrics and pictures for `ablate eval`-free inspection and the study report; never fails the run.
          await writeRunErrorAnalysis(o.runDir, model, val, { numClasses, precision, device, normalization: plan.normalization, batchSize: plan.batchSize, classNames: plan.classNames ?? datasets.train.classNames })
            .catch((e: Error) => log(`error analysis skipped: ${e.message}`));
        }
        // The held-out test split, scored once with the model training ended with: nothing was chosen on it.
        const tested = plan.testData && datasets.test && result.status === 'ok' && main
          ? await scoreTestSplit(plan, datasets.test, model, { numClasses, precision, device, log, signal: o.signal, opened })
            .catch((e: Error) => { log(`test split not scored: ${e.message}`); return undefined; })
          : undefined;
        const last = result.history[result.history.length - 1];
        const reason = result.status === 'stopped' && o.signal?.aborted ? String(o.signal.reason ?? 'stopped on request') : undefined;
        status = {
          ...status,
          status: result.status === 'stopped' && wasPreempted(o.signal) ? 'preempted' : result.status,
          error: result.error === undefined ? undefined : explainNondeterministic(result.error),
          reason,
          finishedAt: new Date().toISOString(),
          epochsDone: result.epochsDone,
          bestEpoch: result.bestEpoch,
          bestValAccuracy: result.bestValAccuracy,
          trainTimeS: result.trainTimeS,
          imagesPerS: result.imagesPerS,
          dataWaitFraction: last?.data_wait_fraction ?? undefined,
          liveTensors: liveTensorCount(),
          ...(tested ? { testSplit: plan.testData!.split, testCount: tested.n, testAccuracy: tested.accuracy, testLoss: tested.loss } : {}),
        } as RunStatus;
        writeStatus(status);
        return result;
      } finally {
        model.dispose();
      }
    }
  } catch (e) {
    // A refused resume fails this start, saying why, and keeps what the run had done (its epochs, its
    // checkpoints): `resumeRefused` marks it as a failure of the request, not of the run, so starting it
    // again with its own settings continues it. A full disk stops the run (its last good checkpoint is
    // intact; the same command continues it once there is space), and so does Ctrl-C before training;
    // anything else is a failure of the run itself.
    if (e instanceof ResumeMismatchError) {
      writeStatus({ ...(prev ?? status), status: 'failed', error: e.message, reason: undefined, resumeRefused: true, finishedAt: new Date().toISOString() } as RunStatus);
    } else if (!main) {
      // Rank 0 alone writes status.json: another rank leaves its error for the launcher (recordRankFailure).
      // A resume refused for the plan is refused by rank 0 too, and Ctrl-C is no error.
      if (!(e instanceof InterruptedError)) leaveRankError(o.runDir, dp!, e);
    } else {
      const ended = isDiskFull(e) || e instanceof InterruptedError ? { status: !isDiskFull(e) && wasPreempted(o.signal) ? 'preempted' : 'stopped', reason: (e as Error).message } : { status: 'failed', error: explainNondeterministic((e as Error).message) };
      // The epochs finished before the error are in status.json (kept after every epoch); `status` here is
      // the copy from the start of the run and would say none were.
      const onDisk = readRunStatus(o.runDir);
      const progress = onDisk ? { epochsDone: onDisk.epochsDone, bestEpoch: onDisk.bestEpoch, bestValAccuracy: onDisk.bestValAccuracy } : {};
      writeStatus({ ...status, ...progress, ...ended, finishedAt: new Date().toISOString() } as RunStatus);
    }
    throw e;
  } finally {
    dp?.close();
    for (const set of new Set(opened)) await set.close();
    await datasets?.close();
  }
}

/**
 * Sets the kernels for `deterministic` and says whether reruns are bit-identical. On the CPU they are either way
 * (same seed, same thread count); on a GPU `auto` lets cuDNN time its convolution algorithms once and keep the
 * fastest, which may differ between runs.
 */
function chooseDeterminism(requested: boolean | 'auto', device: string): boolean {
  const strict = requested === true;
  // cuBLAS reads this when it makes its handle; without it libtorch refuses deterministic matrix products on CUDA.
  if (strict && device !== 'cpu') process.env.CUBLAS_WORKSPACE_CONFIG ??= ':4096:8';
  setDeterministic(strict);
  setCudnnBenchmark(!strict && requested === 'auto' && device !== 'cpu');
  return strict || device === 'cpu';
}

/** libtorch's "X does not have a deterministic implementation" with what to do about it in a config. */
export function explainNondeterministic(message: string): string {
  const m = /(\S+) does not have a deterministic implementation/.exec(message);
  if (!m) return message;
  return `deterministic: true, but ${m[1]} has no deterministic kernel on this device: set deterministic: auto (or false) ` +
    `for this run, or avoid the layer or option that uses ${m[1]} (libtorch: ${message.split('\n')[0]})`;
}

/** This rank's error in rank-<r>.error.json; a file that cannot be written (a full disk) must not hide the error itself. */
function leaveRankError(runDir: string, dp: DataParallel, e: unknown): void {
  try {
    writeRankError(runDir, { rank: dp.rank, worldSize: dp.worldSize, error: (e as Error).message, diskFull: isDiskFull(e), at: new Date().toISOString() });
  } catch { /* its launcher then says only how it exited */ }
}

/** Resuming with other settings than the run was planned with. */
class ResumeMismatchError extends Error {}

/** The plan a resumed run was made with; undefined for runs of older versions without a readable one. */
function previousPlanOf(runDir: string): RunPlan | undefined {
  try {
    return readRunPlan(runDir);
  } catch {
    return undefined;
  }
}

/** A plan without validation data, with the training folder's own held-out split when it has one (the note is logged either way). */
async function withDefaultValidation(plan: RunPlan, o: { log: (l: string) => void; signal?: AbortSignal }): Promise<RunPlan> {
  const choice = await defaultValidation(plan.data, o);
  if (choice.note) o.log(choice.note);
  return choice.spec ? { ...plan, valData: { ...plan.data, split: choice.spec.split } } : plan;
}

/** The normalisation the plan decided, with the mean/std and the reason recorded in status.json. */
function planNormalization(plan: RunPlan, weightsModel: ModelSpec): RunNormalization {
  const byWeights = runNormalization(plan.pretrained, weightsModel);
  if (byWeights.kind === plan.normalization) return byWeights;
  return plan.normalization === 'imagenet'
    ? { kind: 'imagenet', mean: IMAGENET_MEAN, std: IMAGENET_STD, from: 'normalization: imagenet in the config' }
    : { kind: 'unit', mean: [0, 0, 0], std: [1, 1, 1], from: 'normalization: unit in the config: pixels / 255' };
}

/** The status fields that depend on which files decoded (a split decoding in the background: tentative until settled). */
/** What run status needs from a training split, decoded (an ImageSet) or streamed (the dataset's index). */
type SplitFacts = Pick<ImageSet, 'length' | 'labels' | 'classNames' | 'badFiles'>;

function splitCounts(train: SplitFacts, val: ImageSet | undefined) {
  return {
    trainCount: train.length,
    valCount: val?.length ?? 0,
    skipped: train.badFiles.length + (val?.badFiles.length ?? 0),
    classCounts: { train: classCounts(train), ...(val ? { val: classCounts(val) } : {}) },
  };
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
function requireEveryClass(set: SplitFacts, ds: Dataset, log: (l: string) => void): void {
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

/** Top-level plan fields that differ (for the refusal message). */
function changedFields(a: RunPlan, b: RunPlan): string[] {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ignore = new Set(['threads', 'device', 'tensorboard', 'outDir']);
  return [...new Set([...Object.keys(ra), ...Object.keys(rb)])].filter((k) => !ignore.has(k) && sortedJson(ra[k]) !== sortedJson(rb[k]));
}

function buildAugment(plan: RunPlan, numClasses: number, size: { height: number; width: number }): BatchAugmenter | undefined {
  if (plan.augment.length === 0) return undefined;
  return buildAugmentPipeline(plan.augment, { numClasses, imageSize: [size.height, size.width] });
}

/** Decodes the test split and evaluates the trained model on it once (accuracy, loss, image count). */
async function scoreTestSplit(
  plan: RunPlan, test: Dataset, model: TrainableModel,
  o: { numClasses: number; precision: Precision; device: string; log: (line: string) => void; signal?: AbortSignal; opened: ImageSet[] },
): Promise<{ accuracy: number; loss: number; n: number }> {
  const images = await prepareSplit(plan.testData!, test, { log: o.log, what: 'test', signal: o.signal });
  o.opened.push(images);
  const loader = new DataLoader(images, { batchSize: plan.batchSize, shuffle: false });
  const r = await evaluate(model, loader, { numClasses: o.numClasses, precision: o.precision, device: o.device, normalization: plan.normalization });
  o.log(`test (${plan.testData!.split}, ${r.n} images, scored once): accuracy ${(100 * r.accuracy).toFixed(2)}%, loss ${r.loss.toFixed(4)}`);
  return { accuracy: r.accuracy, loss: r.loss, n: r.n };
}
