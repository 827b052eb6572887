/**
 * The tuning stage of `study run`: rung by rung, the trials run as an ordinary sub-study in
 * `<study>/tune/` (resume after kill -9, --parallel, --worker and --shard work as for any study); once
 * the last rung is finished, each arm's best values go into its main runs. Every step is a function of
 * the files in the study folder, so an interrupted stage, or a second worker, reaches the same choice.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ExpandedStudy } from '../spec-expand.js';
import { MAX_RUNS_LIMIT } from '../spec.js';
import { type SpecIssue, issue } from '../spec-issues.js';
import { type PlainObject, cloneJson, setPath } from '../spec-paths.js';
import type { ConfigProblem } from '../spec-expand.js';
import { TUNE_DIR, type TrialRun, type TunePlan, buildTunePlan, rungRuns, rungSummary, tuneStudy } from './plan.js';
import { type TrialResult, type TuningResult, chooseBest, promoted, rungResults, trialDone, writeTuning } from './select.js';
import type { TuneSpec } from './space.js';

/** The tuning plan of a study, with every rung-0 trial config checked like a run's; problems go into `issues`. */
export function planTuning(study: ExpandedStudy, spec: TuneSpec, issues: SpecIssue[], validate?: (config: PlainObject) => ConfigProblem[]): TunePlan {
  const plan = buildTunePlan(study, spec, issues);
  const runs = plan.arms.size * plan.seeds.length * plan.rungs.reduce((n, r) => n + r.trials, 0);
  if (runs > MAX_RUNS_LIMIT) {
    issues.push(issue('tune', `at most ${MAX_RUNS_LIMIT.toLocaleString('en')} tuning runs (fewer trials, tuning seeds or arms)`, `${runs.toLocaleString('en')} runs (${plan.arms.size} arms × ${plan.seeds.length} seeds × ${plan.rungs.map((r) => r.trials).join(' + ')} trials)`));
  }
  if (!validate || issues.length > 0) return plan;
  const seen = new Set<string>();
  for (const run of rungRuns(plan, plan.rungs[0]!, () => plan.points.map((_, k) => k)).filter((r) => r.seed === plan.seeds[0])) {
    for (const p of validate(cloneJson(run.config))) {
      const key = `${p.path}\u0000${p.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push(issue(`tune trial ${run.name}: config${p.path ? '.' + p.path : ''}`, p.message.replace(/^expected /i, ''), run.config));
    }
  }
  return plan;
}

/** The main runs with each arm's chosen values. */
export function applyTuning(study: ExpandedStudy, result: TuningResult): ExpandedStudy {
  const chosen = new Map(result.arms.map((a) => [a.arm, a.chosen]));
  return {
    ...study,
    runs: study.runs.map((r) => {
      const config = cloneJson(r.config);
      for (const [path, v] of Object.entries(chosen.get(r.variant) ?? {})) setPath(config, path, v);
      return { ...r, config };
    }),
  };
}

/** What a stage reports back: the same shape as a study run's result (see runner.ts). */
export interface StageResult {
  ran: string[];
  failed: string[];
  interruptedRuns: string[];
  busy: string[];
  diskFull?: string;
  interrupted: boolean;
}

export interface TuningOptions {
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Cooperating workers or shards: wait for the others to finish a rung instead of stopping. */
  shared: boolean;
  /** Runs one stage as a study in a folder (the runner's own loop). */
  runStage: (study: ExpandedStudy, dir: string) => Promise<StageResult>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Run the tuning stage. Returns the tuned study when every rung is finished, or the stage's result when
 * it stopped (interrupted, a full disk, a run another process holds): the same command continues it.
 */
export async function runTuning(study: ExpandedStudy, plan: TunePlan, dir: string, o: TuningOptions): Promise<{ study: ExpandedStudy; result: TuningResult; ran: string[] } | { stopped: StageResult }> {
  const tuneDir = join(dir, TUNE_DIR);
  mkdirSync(tuneDir, { recursive: true });
  o.log(`tuning ${plan.arms.size} arm${plan.arms.size === 1 ? '' : 's'} in ${tuneDir}: ${rungSummary(plan)}; ${plan.epochsPerArm} epochs per arm`);
  o.log(`  data: ${plan.dataNote}`);
  o.log(`  the trials are a study of their own: \`ablate study status ${tuneDir}\` or \`ablate study serve ${tuneDir}\` to watch them`);
  const byRung: Map<string, TrialResult[]>[] = [];
  const known: TrialRun[] = [];
  const ran: string[] = [];
  let trialsOf: (arm: string) => readonly number[] = () => plan.points.map((_, k) => k);
  for (const rung of plan.rungs) {
    const runs = rungRuns(plan, rung, trialsOf);
    known.push(...runs);
    const done = () => runs.every((r) => trialDone(join(tuneDir, r.name)));
    if (!done()) {
      if (plan.rungs.length > 1) o.log(`tuning rung ${rung.index + 1}/${plan.rungs.length}: ${rung.trials} trial${rung.trials === 1 ? '' : 's'} per arm × ${rung.epochs} epoch${rung.epochs === 1 ? '' : 's'}`);
      const r = await o.runStage(tuneStudy(study, plan, known), tuneDir);
      ran.push(...r.ran.map((n) => `${TUNE_DIR}/${n}`));
      if (r.interrupted || r.diskFull) return { stopped: r };
      let said = false;
      while (!done() && o.shared && !o.signal?.aborted) {
        if (!said) o.log(`tuning: waiting for the other workers to finish rung ${rung.index + 1} (the next rung starts from all of its results)`);
        said = true;
        await sleep(1000);
      }
      if (!done()) return { stopped: { ...r, interrupted: r.interrupted || !!o.signal?.aborted } };
    }
    const results = rungResults(tuneDir, plan, runs);
    byRung.push(results);
    const next = plan.rungs[rung.index + 1];
    if (next) {
      const keep = promoted(results, next.trials, plan);
      trialsOf = (arm) => keep.get(arm) ?? [];
    }
  }
  const result = chooseBest(plan, byRung);
  writeTuning(dir, result);
  for (const a of result.arms) {
    const values = Object.entries(a.chosen).map(([p, v]) => `${p} = ${v}`).join(', ');
    o.log(`tuned ${a.arm}: ${values} (${result.metric} ${a.bestMetric !== undefined ? fmtMetric(result.metric, a.bestMetric) : '—'})`);
    for (const e of a.atEdge) o.log(`  warning: ${a.arm}'s best ${e.path} (${e.value}) is the ${e.edge} value searched: widen the range`);
  }
  return { study: applyTuning(study, result), result, ran };
}

export function fmtMetric(metric: string, v: number): string {
  return metric === 'val_accuracy' ? `${(v * 100).toFixed(2)}%` : v.toFixed(4);
}
