/** Checks that report.md, report.tex, table.csv and summary.json state the same numbers. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { WrittenReport } from '../../src/study/report/index.js';

/** The Markdown table whose header row starts with `| first |`, as header → cell maps. */
function markdownRows(md: string, first: string): Record<string, string>[] {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`| ${first} |`));
  assert.ok(start >= 0, `no table starting with ${first}`);
  const cells = (l: string) => l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
  const header = cells(lines[start]);
  const rows: Record<string, string>[] = [];
  for (let i = start + 2; i < lines.length && lines[i].startsWith('|'); i++) rows.push(Object.fromEntries(cells(lines[i]).map((c, j) => [header[j], c])));
  return rows;
}

/** RFC 4180 CSV, as a spreadsheet reads it. */
export function parseCsv(text: string): Record<string, string>[] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false; else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { record.push(field); field = ''; } else if (ch === '\r' && text[i + 1] === '\n') { record.push(field); records.push(record); record = []; field = ''; i++; } else field += ch;
  }
  const [header, ...rows] = records;
  for (const r of rows) assert.equal(r.length, header.length, `a CSV row with ${r.length} fields under a header of ${header.length}`);
  return rows.map((r) => Object.fromEntries(r.map((c, j) => [header[j], c])));
}

const signed = (x: number) => (x >= 0 ? `+${x.toFixed(1)}` : `\u2212${(-x).toFixed(1)}`);
const pCell = (p: number) => (p < 0.001 ? '< 0.001' : p < 0.01 ? p.toFixed(4) : p.toFixed(3));

interface Json {
  correction: { method: string; comparisons: number; alpha: number };
  variants: { name: string; seedsFinished: number; finalValAccPct: { mean?: number; std?: number; n: number }; bestValAccPct: { mean?: number; std?: number } }[];
  comparisons: { variant: string; reference: string; kind: string; differencePoints?: number; pValue?: number; adjustedP?: number; interval?: { lowPoints: number; highPoints: number } }[];
}

export function assertExportsAgree(r: WrittenReport): void {
  const md = readFileSync(r.markdown, 'utf8');
  const tex = readFileSync(r.tex, 'utf8');
  const json = JSON.parse(readFileSync(r.json, 'utf8')) as Json;
  const csv = parseCsv(readFileSync(r.csv, 'utf8'));
  const table = markdownRows(md, 'Variant');
  assert.deepEqual(csv.map((c) => c.variant), json.variants.map((v) => v.name));
  assert.deepEqual(table.map((c) => c.Variant), json.variants.map((v) => v.name));
  for (const v of json.variants) {
    const row = csv.find((c) => c.variant === v.name)!;
    const mdRow = table.find((c) => c.Variant === v.name)!;
    const f = v.finalValAccPct;
    if (f.mean === undefined) continue;
    // Unrounded numbers: CSV and JSON hold the very same doubles.
    assert.equal(Number(row.final_val_acc_mean_pct), f.mean, `${v.name} mean`);
    if (f.std !== undefined) assert.equal(Number(row.final_val_acc_std_pct), f.std, `${v.name} std`);
    const shown = f.n >= 2 && f.std !== undefined ? `${f.mean.toFixed(1)} ± ${f.std.toFixed(1)}` : f.mean.toFixed(1);
    const finalCol = Object.keys(mdRow).find((k) => k.startsWith('Final val acc'))!;
    assert.equal(mdRow[finalCol], shown, `${v.name} in report.md`);
    const texShown = shown.replace(' ± ', ' $\\pm$ ');
    assert.ok(tex.split('\n').some((l) => l.includes(` & `) && l.includes(texShown)), `${v.name}: ${texShown} in report.tex`);
    const c = json.comparisons.find((x) => x.variant === v.name && x.differencePoints !== undefined);
    if (!c) { assert.equal(row.delta_points, ''); continue; }
    assert.equal(row.delta_reference, c.reference);
    assert.equal(Number(row.delta_points), c.differencePoints);
    const deltaCol = Object.keys(mdRow).find((k) => k.startsWith('Δ'))!;
    if (c.interval) {
      assert.equal(Number(row.delta_low_points), c.interval.lowPoints);
      assert.equal(mdRow[deltaCol], `${signed(c.differencePoints!)} [${signed(c.interval.lowPoints)}, ${signed(c.interval.highPoints)}] vs ${c.reference}`);
      assert.equal(Number(row.adjusted_p), c.adjustedP);
      assert.equal(row.correction, json.correction.method);
    }
  }
  const comparisons = markdownRows(md, 'Comparison');
  assert.equal(comparisons.length, json.comparisons.length);
  json.comparisons.forEach((c, i) => {
    const row = comparisons[i];
    assert.equal(row.Verdict, c.kind);
    if (c.pValue === undefined) { assert.equal(row.p, '—'); return; }
    assert.equal(row.p, pCell(c.pValue));
    assert.equal(row[`Adjusted p (${json.correction.method})`], pCell(c.adjustedP!));
    assert.equal(row['Δ (points)'], signed(c.differencePoints!));
  });
  assert.equal(json.correction.comparisons, json.comparisons.filter((c) => c.pValue !== undefined).length);
  if (json.correction.comparisons > 1 && json.correction.method !== 'none') {
    assert.match(md, new RegExp(`over ${json.correction.comparisons} comparisons at α = 0\\.05`));
    assert.match(tex, new RegExp(`adjusted by (Holm|Benjamini--Hochberg) over ${json.correction.comparisons} comparisons`));
  }
}
