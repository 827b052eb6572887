/**
 * The report's "Error analysis" section: for each variant, the per-class precision, recall and F1, the
 * confusion matrix and the most confidently misclassified validation images of one of its finished runs
 * (what training wrote into `<run>/analysis/`). Kept apart from the rest of the report: the renderers
 * only append what these functions return.
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ReportModel } from './model.js';
import { MAX_STATE_FILE_BYTES, readRegularFileSync, readRegularTextSync } from '../../util/regular-file.js';
import { runFolder } from '../../run/folder.js';

export interface VariantErrorAnalysis {
  variant: string;
  run: string;
  classes: { name: string; precision: number | null; recall: number | null; f1: number | null; support: number }[];
  macro: { precision: number | null; recall: number | null; f1: number | null };
  confusionPng?: string;
  misclassifiedPng?: string;
}


/** One analysis per variant: from its first finished run (lowest seed) that has one. */
export function variantErrorAnalyses(m: ReportModel): VariantErrorAnalysis[] {
  const out: VariantErrorAnalysis[] = [];
  for (const v of m.variants) {
    const runs = m.study.runs.filter((r) => r.variant === v.name && r.state === 'ok').sort((a, b) => (a.seed ?? 0) - (b.seed ?? 0));
    for (const r of runs) {
      const dir = runFolder(r.dir).analysis;
      const file = join(dir, 'classification.json');
      if (!existsSync(file)) continue;
      try {
        const j = JSON.parse(readRegularTextSync(file, { what: 'classification report' })) as Pick<VariantErrorAnalysis, 'classes' | 'macro'>;
        if (!Array.isArray(j.classes)) continue;
        const png = (name: string) => (existsSync(join(dir, name)) ? join(dir, name) : undefined);
        out.push({ variant: v.name, run: r.name, classes: j.classes, macro: j.macro, confusionPng: png('confusion-matrix.png'), misclassifiedPng: png('misclassified.png') });
        break;
      } catch {
        // an unreadable analysis is simply not shown; the run's own numbers are elsewhere in the report
      }
    }
  }
  return out;
}

const pct = (x: number | null): string => (x === null || !Number.isFinite(x) ? '—' : (100 * x).toFixed(1));
const rows = (a: VariantErrorAnalysis): string[][] => [
  ...a.classes.map((c) => [c.name, pct(c.precision), pct(c.recall), pct(c.f1), String(c.support)]),
  ['macro average', pct(a.macro.precision), pct(a.macro.recall), pct(a.macro.f1), String(a.classes.reduce((s, c) => s + c.support, 0))],
];
const HEADER = ['Class', 'Precision %', 'Recall %', 'F1 %', 'Images'];
const INTRO = 'Per variant, from its first finished run: precision, recall and F1 of each class on the validation data, the confusion matrix, and the misclassified validation images the model was most confident about.';

/** Markdown lines (images linked relative to the report in `reportDir`). */
export function errorAnalysisMarkdown(m: ReportModel, reportDir: string): string[] {
  const all = variantErrorAnalyses(m);
  if (all.length === 0) return [];
  const out = ['## Error analysis', '', INTRO, ''];
  for (const a of all) {
    out.push(`### ${a.variant}`, '', `*Run ${a.run}.*`, '');
    out.push(`| ${HEADER.join(' | ')} |`, '| --- | ---: | ---: | ---: | ---: |', ...rows(a).map((r) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`), '');
    if (a.confusionPng) out.push(`![confusion matrix of ${a.variant}](${relative(reportDir, a.confusionPng)})`, '');
    if (a.misclassifiedPng) out.push(`![most confidently misclassified images of ${a.variant}](${relative(reportDir, a.misclassifiedPng)})`, '');
  }
  return out;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const dataUri = (file: string): string => `data:image/png;base64,${readRegularFileSync(file, { what: 'picture', maxBytes: MAX_STATE_FILE_BYTES }).toString('base64')}`;

/** HTML with the pictures embedded, so report.html stays self-contained. */
export function errorAnalysisHtml(m: ReportModel): string[] {
  const all = variantErrorAnalyses(m);
  if (all.length === 0) return [];
  const out = ['<h2>Error analysis</h2>', `<p>${esc(INTRO)}</p>`];
  for (const a of all) {
    out.push(`<h3>${esc(a.variant)}</h3>`, `<p class="meta">Run ${esc(a.run)}</p>`);
    out.push(`<table><thead><tr>${HEADER.map((h, i) => `<th${i > 0 ? ' class="num"' : ''}>${esc(h)}</th>`).join('')}</tr></thead><tbody>`
      + rows(a).map((r) => `<tr>${r.map((c, i) => `<td${i > 0 ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('') + '</tbody></table>');
    if (a.confusionPng) out.push(`<figure><img src="${dataUri(a.confusionPng)}" alt="confusion matrix of ${esc(a.variant)}" style="max-width:100%"></figure>`);
    if (a.misclassifiedPng) out.push(`<figure><img src="${dataUri(a.misclassifiedPng)}" alt="most confidently misclassified images of ${esc(a.variant)}" style="max-width:100%"></figure>`);
  }
  return out;
}
