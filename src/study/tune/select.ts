/**
 * Reading the trials back and choosing each arm's values: a trial's metric is its best epoch's (highest
 * val_accuracy or lowest val_loss), averaged over the tuning seeds; the arm's best trial of its last rung
 * gives the values its main runs train with. The result is written to tune/tuning.json, which the report
 * reads; it is a pure function of the trials' histories, so every worker computes the same one.
 */
import { join } from 'node:path';
import { writeJsonAtomic } from '../../util/atomic.js';
import { readHistory, readRunStatus } from '../../run/run-folder.js';
import { readRegularTextSync } from '../../util/regular-file.js';
import { isPlainObject } from '../spec-paths.js';
import { promote } from './halving.js';
import { TUNE_DIR, type TrialRun, type TunePlan } from './plan.js';
import type { TunePoint } from './sampler.js';
import type { TuneValue } from './space.js';

export const TUNING_FILE = 'tuning.json';

/** A run that will not train again: ok, diverged, or failed by its own error (not killed). */
export function trialDone(runDir: string): boolean {
  const st = readRunStatus(runDir);
  if (!st) return false;
  if (st.status === 'ok' || st.status === 'diverged') return true;
  return st.status === 'failed' && !/^training process killed by SIG/.test(st.error ?? '') && (st as { resumeRefused?: unknown }).resumeRefused !== true;
}

/** The run's best epoch by the metric; undefined when it has none (failed before validating, diverged to NaN). */
export function runMetric(runDir: string, metric: 'val_accuracy' | 'val_loss'): number | undefined {
  const values = readHistory(runDir).map((h) => h[metric]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (values.length === 0) return undefined;
  return metric === 'val_accuracy' ? Math.max(...values) : Math.min(...values);
}

export interface TrialResult {
  trial: number;
  rung: number;
  epochs: number;
  values: TunePoint;
  /** Mean over the tuning seeds; undefined when a seed gave none (that trial ranks last). */
  metric?: number;
  runs: string[];
  /** Training seconds of the trial's runs, from their histories. */
  seconds: number;
}

export interface ArmTuning {
  arm: string;
  chosen: TunePoint;
  bestTrial: number;
  bestMetric?: number;
  trials: TrialResult[];
  epochs: number;
  seconds: number;
  /** Searched paths whose chosen value is the smallest or largest tried: the range may need widening. */
  atEdge: { path: string; value: TuneValue; edge: 'lowest' | 'highest' }[];
}

export interface TuningResult {
  method: string;
  metric: 'val_accuracy' | 'val_loss';
  space: { path: string; kind: string; log: boolean }[];
  seeds: number[];
  rungs: { trials: number; epochs: number }[];
  dataNote: string;
  arms: ArmTuning[];
}

/** The metric of each trial of a rung, per arm (mean over seeds). */
export function rungResults(tuneDir: string, plan: TunePlan, runs: readonly TrialRun[]): Map<string, TrialResult[]> {
  const out = new Map<string, TrialResult[]>();
  const groups = new Map<string, TrialRun[]>();
  for (const r of runs) {
    const key = `${r.arm}\u0000${r.trial}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const group of groups.values()) {
    const r0 = group[0]!;
    const metrics = group.map((r) => runMetric(join(tuneDir, r.name), plan.spec.metric));
    const seconds = group.reduce((s, r) => s + readHistory(join(tuneDir, r.name)).reduce((t, h) => t + (typeof h.epoch_time_s === 'number' ? h.epoch_time_s : 0), 0), 0);
    const metric = metrics.every((m) => m !== undefined) ? metrics.reduce((a, b) => a! + b!, 0)! / metrics.length : undefined;
    const res: TrialResult = { trial: r0.trial, rung: r0.rung, epochs: r0.config.epochs as number, values: plan.points[r0.trial]!, ...(metric !== undefined ? { metric } : {}), runs: group.map((r) => r.name), seconds };
    out.set(r0.arm, [...(out.get(r0.arm) ?? []), res]);
  }
  return out;
}

/** The trials of each arm that go on to the next rung. */
export function promoted(results: Map<string, TrialResult[]>, keep: number, plan: TunePlan): Map<string, number[]> {
  const higher = plan.spec.metric === 'val_accuracy';
  return new Map([...results].map(([arm, trials]) => [arm, promote(trials.map((t) => ({ trial: t.trial, metric: t.metric })), keep, higher).sort((a, b) => a - b)]));
}

/** Each arm's choice from all rungs' results (its best trial of the last rung), with the edge warnings. */
export function chooseBest(plan: TunePlan, byRung: Map<string, TrialResult[]>[]): TuningResult {
  const higher = plan.spec.metric === 'val_accuracy';
  const arms: ArmTuning[] = [];
  for (const arm of plan.arms.keys()) {
    const all = byRung.flatMap((m) => m.get(arm) ?? []);
    const last = byRung[byRung.length - 1]?.get(arm) ?? [];
    const [best] = promote(last.map((t) => ({ trial: t.trial, metric: t.metric })), 1, higher);
    const bestTrial = last.find((t) => t.trial === best);
    if (!bestTrial || bestTrial.metric === undefined) {
      throw new Error(`tuning: no trial of arm ${arm} gave a ${plan.spec.metric} (every trial failed or diverged); look at the trials in ${TUNE_DIR}/ and narrow tune.space`);
    }
    const atEdge: ArmTuning['atEdge'] = [];
    for (const d of plan.spec.space) {
      const v = bestTrial.values[d.path];
      const tried = [...new Set(plan.points.map((p) => p[d.path]))].filter((x): x is number => typeof x === 'number');
      if (typeof v !== 'number' || tried.length < 2) continue;
      if (v === Math.min(...tried)) atEdge.push({ path: d.path, value: v, edge: 'lowest' });
      else if (v === Math.max(...tried)) atEdge.push({ path: d.path, value: v, edge: 'highest' });
    }
    arms.push({
      arm, chosen: bestTrial.values, bestTrial: bestTrial.trial, bestMetric: bestTrial.metric, trials: all,
      epochs: all.reduce((s, t) => s + t.epochs * t.runs.length, 0), seconds: all.reduce((s, t) => s + t.seconds, 0), atEdge,
    });
  }
  return {
    method: plan.spec.method, metric: plan.spec.metric,
    space: plan.spec.space.map((d) => ({ path: d.path, kind: d.kind, log: d.kind === 'logUniform' || logSpaced(plan.points.map((p) => p[d.path])) })),
    seeds: plan.seeds, rungs: plan.rungs.map((r) => ({ trials: r.trials, epochs: r.epochs })), dataNote: plan.dataNote, arms,
  };
}

/** Positive numbers spanning more than a factor of 20 read best on a log axis (learning rates, weight decays). */
function logSpaced(values: unknown[]): boolean {
  const nums = values.filter((x): x is number => typeof x === 'number');
  return nums.length === values.length && nums.every((x) => x > 0) && Math.max(...nums) / Math.min(...nums) > 20;
}

export function writeTuning(studyDir: string, result: TuningResult): void {
  writeJsonAtomic(join(studyDir, TUNE_DIR, TUNING_FILE), result);
}

/** tune/tuning.json of a study folder; undefined when the study was not tuned (or the file is unreadable). */
export function readTuning(studyDir: string): TuningResult | undefined {
  try {
    const j = JSON.parse(readRegularTextSync(join(studyDir, TUNE_DIR, TUNING_FILE), { what: 'tuning result' })) as unknown;
    return isPlainObject(j) && Array.isArray(j.arms) ? (j as unknown as TuningResult) : undefined;
  } catch {
    return undefined;
  }
}
