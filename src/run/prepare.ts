/**
 * The two ways a command gets a model of a run:
 * - `prepareRun`: a plan → its data opened → the plan completed with what the data decided (class names,
 *   sizes, cache policy) → the model it describes (training, `study plan`'s cost estimate, `eval`);
 * - `openRun`: a run folder → its model with the run's weights, precision and preprocessing (predict, export).
 */
import { loadWeights } from '../models/index.js';
import type { Model } from '../nn/index.js';
import { resolveDevice } from '../tensor/index.js';
import type { OpenOptions } from '../data/index.js';
import { buildModel, type BuildModelOptions, type ResolvedModelSpec } from './model-spec.js';
import { completePlan, planModel, type RunPlan } from './plan.js';
import { openPlanDatasets, type PlanDatasets } from './plan-data.js';
import { buildRunModel, readRunInfo, type RunCheckpoint, type RunInfo } from './open-run.js';
import { choosePrecision, type Precision } from './machine.js';
import type { TrainConfig } from './config.js';

export interface PreparedRun {
  /** The plan completed with what the opened data decided. */
  plan: RunPlan;
  datasets: PlanDatasets;
  /** The model the completed plan describes (its classifier sized for the data). */
  model: ResolvedModelSpec;
  /** A fresh model of that architecture. */
  buildModel(o?: BuildModelOptions): Model;
  /** Closes the datasets it opened (not those passed in). */
  close(): Promise<void>;
}

/**
 * Opens a plan's data (or takes `datasets` already opened for it) and completes the plan from it; throws, with
 * the datasets it opened closed, when the data contradicts the plan (see completePlan).
 */
export async function prepareRun(plan: RunPlan, o: OpenOptions & { datasets?: PlanDatasets } = {}): Promise<PreparedRun> {
  const { datasets: given, ...open } = o;
  const datasets = given ?? await openPlanDatasets(plan, open);
  const close = () => (given ? Promise.resolve() : datasets.close());
  try {
    const completed = completePlan(plan, { train: datasets.train, val: datasets.val, test: datasets.test });
    const model = planModel(completed);
    return { plan: completed, datasets, model, buildModel: (b) => buildModel(model, b), close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** A run's model, ready for inference, with what the run says about using it. */
export interface OpenedRun {
  info: RunInfo;
  /** The model with the run's weights, in evaluation mode, in the memory format its precision wants. */
  model: Model;
  device: string;
  precision: Precision;
  dispose(): void;
}

export interface OpenRunOptions {
  /** Which weights (default: model.pth, else checkpoints/last.pth). */
  checkpoint?: RunCheckpoint;
  /** Default: the run's own device. */
  device?: string;
  /** Default: the run's own precision. */
  precision?: TrainConfig['precision'];
}

/** Reads a run folder (readRunInfo) and builds its model with the chosen weights. */
export async function openRun(runDir: string, o: OpenRunOptions = {}): Promise<OpenedRun> {
  const info = await readRunInfo(runDir, { checkpoint: o.checkpoint });
  const device = resolveDevice(o.device ?? info.plan.device);
  const model = buildRunModel(info, { device });
  try {
    await loadWeights(model, info.weights, { strict: true });
    const precision = choosePrecision(o.precision ?? info.plan.precision, device);
    if (precision.channelsLast) model.toMemoryFormat('channels_last');
    model.eval();
    return { info, model, device, precision, dispose: () => model.dispose() };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
