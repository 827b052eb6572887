/** The report's account of adaptive seeding: each look, the α it spent, and what it decided. */
import { CORRECTION_NAME } from '../inference.js';
import { prettyName } from './format.js';
import type { ReportModel } from './model.js';
import type { Table } from './tables.js';
import { formatP } from './verdict.js';

/** The paragraph above the looks table. */
export function looksIntro(m: ReportModel): string {
  const s = m.sequential!;
  const decided = s.comparisons.filter((c) => c.decidedAt !== undefined).length;
  const where = s.complete ? 'every comparison is decided or has reached max seeds' : `the next look waits for runs that have not finished (${s.looks.length} of ${s.schedule.length} looks so far)`;
  return `Adaptive seeds (\`seeds: { min: ${s.seeds.min}, max: ${s.seeds.max}, until: decided }\`): the study looked at its comparisons after ${s.seeds.min} seeds and after each added seed, ` +
    `and stopped adding seeds to a pair once it was decided. Each look spends a share of α = ${+s.alpha.toFixed(4)} (Lan–DeMets O'Brien–Fleming-type spending, used as a Bonferroni split over the looks), ` +
    `and ${s.correction === 'none' ? 'each comparison is tested on its own' : `${CORRECTION_NAME[s.correction]} runs over the pairs still undecided`} at that share, so the error rate over all looks stays at α. ` +
    `The adjusted p-value is the look's corrected p scaled to α (decided when below ${+s.alpha.toFixed(4)}). ${decided} of ${s.comparisons.length} comparisons decided; ${where}.`;
}

/** One row per look and comparison it tested. */
export function looksTable(m: ReportModel): Table {
  const s = m.sequential!;
  const header = ['Look', 'Seeds', 'α spent', 'Comparison', 'p', 'Sequential adjusted p', 'Outcome'];
  const rows = s.looks.flatMap((l) => l.tested.map((t) => {
    const c = m.verdicts[t.comparison];
    return [String(l.look), String(l.seeds), l.alpha.toPrecision(2), c ? `${prettyName(c.variant)} vs ${prettyName(c.reference)}` : String(t.comparison),
      `p ${formatP(t.p)}`, `p ${formatP(t.adjustedP)}`, t.decided ? 'decided' : l.look === s.schedule.length ? 'undecided at max seeds' : 'undecided: add a seed'];
  }));
  return { header, rows, numeric: [true, true, true, false, true, true, false] };
}

/** summary.json's record of the looks. */
export function looksJson(m: ReportModel) {
  const s = m.sequential;
  if (!s) return undefined;
  const name = (i: number) => ({ variant: m.verdicts[i]?.variant, reference: m.verdicts[i]?.reference });
  return {
    min: s.seeds.min, max: s.seeds.max, alpha: s.alpha, correction: s.correction, spending: 'lan-demets-obrien-fleming, bonferroni over looks',
    schedule: s.schedule, complete: s.complete,
    looks: s.looks.map((l) => ({ look: l.look, seeds: l.seeds, alpha: l.alpha, tested: l.tested.map((t) => ({ ...name(t.comparison), p: t.p, adjustedP: t.adjustedP, decided: t.decided })) })),
    comparisons: s.comparisons.map((c, i) => ({ ...name(i), decidedAtLook: c.decidedAt ?? null, seeds: c.seeds ?? null, adjustedP: c.adjustedP ?? null })),
  };
}
