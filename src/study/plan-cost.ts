/**
 * `ablate study plan`: a study's runs as they would train, without training them. Each run's config is
 * resolved into the same plan a worker writes as config.json (data opened for its class names and sizes,
 * precision and threads decided for this machine), with what it changes relative to its reference and
 * what it costs: parameters, FLOPs per image, images × epochs, and a time estimate from a few real
 * training steps of each distinct model × input size on this machine.
 */
import { resolveRunPlan, imageSizeOf, localRanksOf, type RunPlan } from '../run/plan.js';
import { openPlanDatasets, type PlanDatasets } from '../run/plan-data.js';
import { planForMachine } from '../run/machine.js';
import { modelLabel } from '../run/model-spec.js';
import { prepareRun } from '../run/prepare.js';
import { measureSpeed, type SpeedSample } from '../train/speed.js';
import { planStudy, runConfig, slotsOf, threadsPerRunDefault, type StudyRunOptions } from './runner.js';
import type { ExpandedStudy, PlannedRun } from './spec-expand.js';
import { flattenOverrides } from './spec.js';
import type { PlainObject } from './spec-paths.js';

export interface RunCost {
  params: number;
  flopsPerImage: number;
  imageSize: [number, number];
  trainImages: number;
  valImages: number;
  epochs: number;
  /** Training images per epoch × epochs. */
  imagesTimesEpochs: number;
  /** Data-parallel ranks the run trains with (distributed.nprocPerNode): the slots of --parallel it takes. */
  ranks: number;
  /** Seconds, from the measured speed (one rank's, scaled ideally over the ranks); undefined when speed was not measured. */
  estimatedS?: number;
}

export interface PlannedRunCost {
  name: string;
  variant: string;
  seed: number;
  model: string;
  /** The variant this one is compared with (the reference of its first comparison), if any. */
  reference?: string;
  /** Config path → [reference value, this run's value], for paths that differ (seed aside). */
  changes: Record<string, [unknown, unknown]>;
  /** The resolved plan: what the run's config.json will hold. */
  plan: RunPlan;
  cost: RunCost;
}

export interface StudyPlanReport {
  study: ExpandedStudy;
  dir: string;
  parallel: number;
  threadsEach: number;
  runs: PlannedRunCost[];
  /** One measurement per distinct model × input size × batch × precision. */
  measurements: (SpeedSample & { model: string; imageSize: [number, number]; batchSize: number; precision: string })[];
  /** Sum of the runs' estimates, each times the slots it takes, divided by the slots used at once. */
  totalEstimatedS?: number;
}

export interface StudyPlanOptions extends StudyRunOptions {
  /** Measure training speed (default true); false gives sizes and counts only. */
  measure?: boolean;
  /** Timed steps per measurement (default 3). */
  steps?: number;
}

export async function planStudyCost(file: string, o: StudyPlanOptions = {}): Promise<StudyPlanReport> {
  const { study, dir } = planStudy(file, { ...o, checkFiles: true });
  const { parallel, threadsEach } = threadsPerRunDefault(o, slotsOf(study.runs));
  const opened = new Map<string, Promise<PlanDatasets>>();
  const speeds = new Map<string, StudyPlanReport['measurements'][number]>();
  const runs: PlannedRunCost[] = [];
  const firstRun = new Map<string, PlannedRun>();
  for (const run of study.runs) if (!firstRun.has(run.variant)) firstRun.set(run.variant, run);
  const referenceOf = new Map(study.comparisons.map((c) => [c.variant, c.reference] as const).reverse());
  const changesOf = new Map<string, Record<string, [unknown, unknown]>>();
  const costOf = (run: PlannedRun, plan: RunPlan, model: string, cost: RunCost): PlannedRunCost => {
    const reference = referenceOf.get(run.variant);
    const refRun = reference ? firstRun.get(reference) : undefined;
    if (!changesOf.has(run.variant)) changesOf.set(run.variant, refRun ? configChanges(refRun.config, run.config) : {});
    return {
      name: run.name, variant: run.variant, seed: run.seed, model, ...(reference ? { reference } : {}),
      changes: changesOf.get(run.variant)!, plan, cost,
    };
  };
  try {
    // The runs of a variant differ only in their seed, which no cost depends on: each variant is resolved,
    // built and measured once (a study of 1,000 seeds built 1,000 models before).
    const ofVariant = new Map<string, { plan: RunPlan; model: string; cost: RunCost }>();
    const modelSizes = new Map<string, { params: number; flopsPerImage: number }>();
    for (const run of study.runs) {
      const known = ofVariant.get(run.variant);
      if (known) {
        runs.push(costOf(run, { ...known.plan, seed: run.seed }, known.model, known.cost));
        continue;
      }
      const machine = planForMachine(resolveRunPlan(runConfig(run, threadsEach, o.device)));
      const key = JSON.stringify([machine.plan.data, machine.plan.valData ?? null]);
      if (!opened.has(key)) opened.set(key, openPlanDatasets(machine.plan));
      const ds = await opened.get(key)!.catch((e: Error) => {
        throw new TypeError(`cannot open the data of ${run.name}: ${e.message}`);
      });
      // The datasets are shared by the variants that read the same data; prepareRun leaves them open.
      const prepared = await prepareRun(machine.plan, { datasets: ds });
      const { plan, model } = prepared;
      const size = imageSizeOf(plan.data, ds.train);
      // Variants that change only training settings (augmentation, lr) share their model's size.
      const sizeKey = JSON.stringify([model, size]);
      if (!modelSizes.has(sizeKey)) {
        const net = prepared.buildModel({ initialize: false });
        try {
          modelSizes.set(sizeKey, { params: net.countParams().total, flopsPerImage: net.flops([size.height, size.width]).flops });
        } finally {
          net.dispose();
        }
      }
      const { params, flopsPerImage } = modelSizes.get(sizeKey)!;
      const ranks = localRanksOf(plan);
      // batchSize is per rank: a step of a data-parallel run takes batchSize images on each rank.
      const perEpoch = (n: number, steps?: number) => (steps === undefined ? n : Math.min(n, steps * plan.batchSize * ranks));
      const trainImages = perEpoch(ds.train.length, plan.stepsPerEpoch);
      const valImages = ds.val ? perEpoch(ds.val.length, plan.validationSteps) : 0;
      let estimatedS: number | undefined;
      if (o.measure !== false) {
        // Models whose FLOPs per image agree to two significant digits cost the same per step for this
        // purpose (an init-only switch, or projection vs zero-pad shortcuts, changes them by < 1%). A model whose
        // FLOPs are not counted (0: a TorchScript module) is measured for itself.
        const mkey = JSON.stringify([flopsPerImage > 0 ? Number(flopsPerImage.toPrecision(2)) : plan.model, size, plan.batchSize, machine.precision.label, machine.device, plan.threads]);
        if (!speeds.has(mkey)) {
          o.log?.(`measuring ${modelLabel(plan.model)} at ${size.height}×${size.width}, batch ${Math.min(plan.batchSize, 32)}…`);
          // Images per second barely change with the batch beyond a few dozen images, so large batches are timed at 32.
          const s = measureSpeed(model, { ...size, batchSize: Math.min(plan.batchSize, 32), precision: machine.precision, device: machine.device, threads: plan.threads!, steps: o.steps });
          speeds.set(mkey, { ...s, model: modelLabel(plan.model), imageSize: [size.height, size.width], batchSize: Math.min(plan.batchSize, 32), precision: machine.precision.label });
        }
        const s = speeds.get(mkey)!;
        estimatedS = plan.epochs * (trainImages / s.trainImagesPerS + valImages / s.evalImagesPerS) / ranks;
      }
      const cost: RunCost = {
        params, flopsPerImage, imageSize: [size.height, size.width], trainImages, valImages, epochs: plan.epochs, ranks,
        imagesTimesEpochs: trainImages * plan.epochs, ...(estimatedS !== undefined ? { estimatedS } : {}),
      };
      ofVariant.set(run.variant, { plan, model: modelLabel(plan.model), cost });
      runs.push(costOf(run, plan, modelLabel(plan.model), cost));
    }
  } finally {
    for (const p of opened.values()) await (await p.catch(() => undefined))?.close();
  }
  const total = runs.every((r) => r.cost.estimatedS !== undefined) ? runs.reduce((a, r) => a + r.cost.estimatedS! * Math.min(r.cost.ranks, parallel), 0) / parallel : undefined;
  return { study, dir, parallel, threadsEach, runs, measurements: [...speeds.values()], ...(total !== undefined ? { totalEstimatedS: total } : {}) };
}

/** Leaf paths whose values differ between two run configs, seed aside: `model.shortcut: [zero-pad, none]`. */
export function configChanges(reference: PlainObject, config: PlainObject): Record<string, [unknown, unknown]> {
  const a = flattenOverrides(reference);
  const b = flattenOverrides(config);
  const out: Record<string, [unknown, unknown]> = {};
  for (const path of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
    if (path === 'seed') continue;
    if (JSON.stringify(a[path]) !== JSON.stringify(b[path])) out[path] = [a[path], b[path]];
  }
  return out;
}
