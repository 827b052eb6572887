/**
 * Running a study with `seeds: { min, max, until: decided }`: round by round, the runs the looks need
 * now are a pure function of the runs that have finished (sequential.ts replays every look from them),
 * so a resumed runner, or any number of `--worker` processes sharing the folder, agree on the next round;
 * the runner's claims and locks make sure each run trains once.
 */
import { join } from 'node:path';
import { readRun } from './run-files.js';
import { type RunSummary, summariseRun } from './report/summary.js';
import type { Correction } from './inference.js';
import { type AdaptiveSeeds, type SeedValues, type SequentialResult, lookSchedule, runRange, sequentialLooks } from './sequential.js';
import type { Comparison, ExpandedStudy, PlannedRun } from './spec-expand.js';
import type { StudyRunOptions, StudyRunResult } from './runner.js';

/** A run's final metric for the looks: a number, null when it ended without one, undefined while it may still finish. */
function lookValue(r: Pick<RunSummary, 'finalValAcc'> & { run: { state: string } }): number | null | undefined {
  if (r.run.state === 'ok') return r.finalValAcc ?? null;
  return r.run.state === 'failed' || r.run.state === 'diverged' ? null : undefined;
}

/** Per variant, the looks' value at each seed position of `seeds`. */
export function seedValuesOf(runs: readonly (RunSummary | (Pick<RunSummary, 'finalValAcc'> & { run: { state: string; variant: string; seed?: number } }))[], seeds: readonly number[]): SeedValues {
  const out = new Map<string, (number | null | undefined)[]>();
  for (const r of runs) {
    const k = r.run.seed === undefined ? -1 : seeds.indexOf(r.run.seed);
    if (k < 0) continue;
    if (!out.has(r.run.variant)) out.set(r.run.variant, []);
    out.get(r.run.variant)![k] = lookValue(r);
  }
  return out;
}

/** The looks the report states: α = 1 − level, the study's correction, replayed on the variants' runs. */
export function replayLooks(comparisons: readonly Comparison[], runs: readonly RunSummary[], s: AdaptiveSeeds, seeds: readonly number[],
  o: { level: number; correction: Correction; variants?: readonly string[] }): SequentialResult {
  return sequentialLooks(comparisons, seedValuesOf(runs, seeds), s, { alpha: Number((1 - o.level).toFixed(12)), correction: o.correction, ...(o.variants ? { variants: o.variants } : {}) });
}

/** The runs of this round: each variant's first `need` seeds, as the finished runs in `dir` decide. */
export function adaptiveRound(study: ExpandedStudy, dir: string): { runs: PlannedRun[]; looks: SequentialResult } {
  const s = study.statistics.adaptiveSeeds!;
  const runs = study.runs.map((r) => summariseRun(readRun(join(dir, r.name), { name: r.name, variant: r.variant, axes: r.axes, seed: r.seed })));
  const looks = replayLooks(study.comparisons, runs, s, study.seeds, { level: 0.95, correction: study.statistics.correction, variants: study.variants });
  return { runs: study.runs.filter((r) => study.seeds.indexOf(r.seed) < (looks.need.get(r.variant) ?? s.min)), looks };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the rounds until every comparison is decided or has max seeds. `runRound` is the runner's
 * one-pass study run, given the study cut to this round's runs; the report is written once, at the end.
 */
export async function runAdaptive(study: ExpandedStudy, o: StudyRunOptions, dir: string,
  runRound: (round: ExpandedStudy, o: StudyRunOptions) => Promise<StudyRunResult>): Promise<StudyRunResult> {
  if (o.shard) {
    throw new TypeError('Expected --worker (or one runner) for a study with seeds: { min, max, until: decided } but received --shard: shards split a fixed list of runs in advance, and adaptive seeds decide the next runs from the finished ones');
  }
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const s = study.statistics.adaptiveSeeds!;
  const ran: string[] = [];
  const failed = new Set<string>();
  let last: StudyRunResult | undefined;
  let lastKey = '';
  let round: ExpandedStudy = study;
  for (;;) {
    const plan = adaptiveRound(study, dir);
    round = { ...study, runs: plan.runs };
    const key = plan.runs.map((r) => r.name).join('\n');
    if (plan.looks.complete || (key === lastKey && !o.worker)) break;
    if (key === lastKey) {
      // A worker whose round's runs are held by others waits for them (their claims time out if they die).
      await sleep(2000);
      if (o.signal?.aborted) break;
    } else {
      const undecided = plan.looks.comparisons.filter((c) => c.decidedAt === undefined).length;
      const look = plan.looks.looks.length + 1;
      const range = runRange(study.variants.length, s);
      log(`adaptive seeds: look ${look} of ${plan.looks.schedule.length} needs ${plan.runs.length} runs (${range.min} to ${range.max} in all); ${undecided} of ${study.comparisons.length} comparison${study.comparisons.length === 1 ? '' : 's'} undecided`);
    }
    lastKey = key;
    last = await runRound(round, { ...o, noReport: true });
    ran.push(...last.ran);
    for (const f of last.failed) failed.add(f);
    if (last.interrupted || last.diskFull) break;
  }
  const stopped = last && (last.interrupted || last.diskFull !== undefined);
  // The report pass trains nothing (`only: []`): runs left unfinished wait for the next invocation.
  const final = stopped || (o.noReport && last) ? undefined : await runRound(round, { ...o, only: [] });
  const ranHere = new Set(ran);
  return {
    ...(last ?? final!),
    ...(final?.report ? { report: final.report } : {}),
    ran,
    skipped: round.runs.map((r) => r.name).filter((n) => !ranHere.has(n)),
    failed: [...failed],
    study,
  };
}

/** What `study plan` states for an adaptive study: the looks, the run range and (with per-run estimates) the cost range. */
export function adaptivePlan(study: ExpandedStudy, secondsOf?: (run: PlannedRun) => number | undefined) {
  const s = study.statistics.adaptiveSeeds;
  if (!s) return undefined;
  const runs = runRange(study.variants.length, s);
  const schedule = lookSchedule(s, 0.05);
  const fewest = study.runs.filter((r) => study.seeds.indexOf(r.seed) < s.min);
  const secs = (rs: PlannedRun[]) => {
    const each = rs.map((r) => secondsOf?.(r));
    return each.every((x) => x !== undefined) ? each.reduce((a: number, b) => a + b!, 0) : undefined;
  };
  const [lo, hi] = [secs(fewest), secs(study.runs)];
  return { min: s.min, max: s.max, runs, schedule, ...(lo !== undefined && hi !== undefined ? { estimatedS: { min: lo, max: hi } } : {}) };
}

/** `study plan`'s lines for an adaptive study. */
export function formatAdaptivePlan(p: NonNullable<ReturnType<typeof adaptivePlan>>, duration: (s: number) => string): string[] {
  return [
    `adaptive seeds: ${p.min} to ${p.max} seeds per variant, one more per round for the variants of comparisons still undecided: ${p.runs.min} to ${p.runs.max} runs` +
      (p.estimatedS ? `, ${duration(p.estimatedS.min)} to ${duration(p.estimatedS.max)} estimated` : ''),
    `  looks at ${p.schedule.map((l) => l.seeds).join(', ')} seeds, spending α = 0.05 as ${p.schedule.map((l) => l.alpha.toPrecision(2)).join(' + ')} (O'Brien–Fleming-type, Bonferroni over the looks)`,
  ];
}
