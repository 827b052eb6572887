/**
 * Images per class, as every run recorded them in status.json. Variants of one study are meant to
 * see the same data; a variant that trained on other class counts (a different split, a folder that
 * changed between runs, a class lost to unreadable files) is not comparable, and the report says so.
 */
import type { RunRecord, StudyRecord } from '../run-files.js';

type Counts = Record<string, Record<string, number>>;

/** `train: cat 120, dog 118; val: cat 30, dog 31`. */
export function formatClassCounts(c: Counts): string {
  return Object.entries(c).map(([split, per]) => `${split}: ${Object.entries(per).map(([k, v]) => `${k} ${v}`).join(', ')}`).join('; ');
}

function countsOf(r: RunRecord): Counts | undefined {
  const c = r.status?.dataset?.classCounts;
  return c && Object.keys(c).length > 0 ? c : undefined;
}

/** The class counts each variant trained on (its runs' most common), in study order. */
export function variantClassCounts(study: StudyRecord): Map<string, string> {
  const byVariant = new Map<string, Map<string, number>>();
  for (const r of study.runs) {
    const c = countsOf(r);
    if (!c) continue;
    const key = formatClassCounts(c);
    const m = byVariant.get(r.variant) ?? new Map<string, number>();
    m.set(key, (m.get(key) ?? 0) + 1);
    byVariant.set(r.variant, m);
  }
  return new Map([...byVariant].map(([v, m]) => [v, [...m].sort((a, b) => b[1] - a[1])[0]![0]]));
}

/** One message per variant whose class counts differ from what most variants saw (and per run that differs within its variant). */
export function classCountProblems(study: StudyRecord): { run: string; message: string }[] {
  const perVariant = variantClassCounts(study);
  const tally = new Map<string, number>();
  for (const k of perVariant.values()) tally.set(k, (tally.get(k) ?? 0) + 1);
  if (tally.size === 0) return [];
  const usual = [...tally].sort((a, b) => b[1] - a[1])[0]![0];
  const out: { run: string; message: string }[] = [];
  if (tally.size > 1) {
    for (const [variant, k] of perVariant) {
      if (k !== usual) out.push({ run: variant, message: `trained on different class counts from the other variants — ${k} (the others: ${usual}); its results are not directly comparable` });
    }
  }
  for (const r of study.runs) {
    const c = countsOf(r);
    const expected = perVariant.get(r.variant);
    if (c && expected !== undefined && formatClassCounts(c) !== expected) {
      out.push({ run: r.name, message: `trained on different class counts from the other seeds of ${r.variant} — ${formatClassCounts(c)} (the others: ${expected})` });
    }
  }
  return out;
}
