/** A self-contained HTML page: inline CSS and inline SVG plots, nothing fetched from anywhere. */
import { type ReportModel, verdictTitle } from './model.js';
import { errorAnalysisHtml } from './error-analysis.js';
import { methodNotes } from './method.js';
import type { RenderedPlot } from './plots.js';
import { looksIntro, looksTable } from './looks.js';
import { PER_IMAGE_INTRO, type Table, ablationTable, comparisonsTable, familySentence, perImageTable, runsTable, factorialTable, factorialIntro } from './tables.js';
import type { VerdictKind } from './verdict.js';
import { tuningIntro, tuningRows, tuningTableNote, tuningWarnings } from '../tune/report.js';

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** The notes use a little Markdown (`**bold**`, `*italic*`, `` `code` ``); render just that. */
function inline(s: string): string {
  return escapeHtml(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/\*([^*]+)\*/g, '<em>$1</em>');
}

/** The report's style sheet; the dashboard (serve/) uses it too, so both read alike. */
export const REPORT_CSS = `
:root { --ink: #1d2330; --muted: #5f6b7a; --rule: #d9dee5; --soft: #f5f7fa; --accent: #2f5d9e;
  --ok: #2e7d32; --warn: #b26a00; --bad: #c62828; --run: #1565c0; }
* { box-sizing: border-box; }
body { margin: 0; background: #eef1f5; color: var(--ink); font: 15px/1.55 "Source Serif Pro", Georgia, "DejaVu Serif", serif; }
main { max-width: 1240px; margin: 24px auto; background: #fff; padding: 40px 48px 56px; box-shadow: 0 1px 4px rgba(0,0,0,.08); }
h1, h2, h3 { font-family: "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; line-height: 1.25; }
h1 { font-size: 28px; margin: 0 0 6px; }
h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 2px solid var(--ink); }
h3 { font-size: 16px; margin: 24px 0 8px; }
.meta { color: var(--muted); font-size: 14px; margin: 0 0 8px; }
blockquote { margin: 12px 0; padding: 8px 16px; border-left: 4px solid var(--rule); color: #3a4454; background: var(--soft); }
code { font: 13px/1.4 "DejaVu Sans Mono", Menlo, monospace; background: var(--soft); padding: 1px 4px; border-radius: 3px; }
ol.verdicts { list-style: none; padding: 0; margin: 0; counter-reset: v; }
ol.verdicts li { border-left: 5px solid var(--rule); background: var(--soft); padding: 10px 14px; margin: 0 0 10px; border-radius: 0 4px 4px 0; }
ol.verdicts li.better { border-color: var(--ok); }
ol.verdicts li.above-noise { border-color: var(--warn); }
ol.verdicts li.within-noise, ol.verdicts li.no-difference, ol.verdicts li.noise-unknown { border-color: #8a94a3; }
ol.verdicts li.unavailable { border-color: var(--bad); }
.vtitle { font-family: "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; font-weight: bold; margin-right: 6px; }
.tag { display: inline-block; font: bold 11px/1 "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; text-transform: uppercase; letter-spacing: .04em;
  padding: 3px 6px; border-radius: 3px; margin-left: 6px; vertical-align: 2px; color: #fff; background: #8a94a3; }
.tag.better { background: var(--ok); } .tag.above-noise { background: var(--warn); } .tag.unavailable { background: var(--bad); }
.note { display: block; color: var(--muted); font-size: 13px; margin-top: 4px; }
.scroll { overflow-x: auto; margin: 8px 0 4px; }
table { border-collapse: collapse; font: 12.5px/1.35 "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; width: 100%; }
th, td { padding: 6px 5px; white-space: nowrap; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { background: var(--soft); border-bottom: 2px solid #aab3bf; font-weight: 600; white-space: normal; vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.name { font-weight: 600; white-space: nowrap; }
/* A table wider than the page scrolls sideways with its first column (the variant) kept in view. */
table.cards td.name { position: sticky; left: 0; background: #fff; box-shadow: 1px 0 0 var(--rule); }
table.cards tbody tr:nth-child(even) td.name { background: #fafbfc; }
/* The comparison column is long prose-like text; letting it wrap keeps the ablation table within the page. */
td.wrap { white-space: normal; min-width: 10em; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; background: #e3e7ed; color: #3a4454; }
.badge.ok { background: #e3f1e4; color: var(--ok); } .badge.diverged { background: #fdf0dc; color: var(--warn); }
.badge.failed { background: #fbe4e4; color: var(--bad); } .badge.running { background: #e1ecf9; color: var(--run); }
figure { margin: 16px 0 24px; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 6px; }
figcaption b { color: var(--ink); }
/* A figure's panels sit side by side while they fit and stack on a narrow screen, each at full size. */
.panels { display: flex; flex-wrap: wrap; gap: 12px 32px; align-items: flex-start; }
/* The SVGs are drawn phone-sized; on a wide screen they grow (vector, so they stay sharp). */
.panel { flex: 1 1 340px; max-width: 520px; }
.panel svg { width: 100%; }
ul.notes li { margin-bottom: 6px; }
table.env { width: auto; min-width: 60%; } table.env td:first-child { color: var(--muted); white-space: nowrap; width: 14em; }
/* Long values (a CPU name, a file path) wrap anywhere rather than push the table out of its card. */
table.env td { white-space: normal; overflow-wrap: anywhere; }
ul.problems li { margin-bottom: 6px; } ul.problems .err { font: 12.5px/1.4 "DejaVu Sans Mono", Menlo, monospace; color: var(--bad); white-space: pre-wrap; overflow-wrap: anywhere; }
footer { margin-top: 40px; color: var(--muted); font-size: 12.5px; border-top: 1px solid var(--rule); padding-top: 8px; overflow-wrap: anywhere; }
@media print { body { background: #fff; } main { box-shadow: none; margin: 0; padding: 0; } }
/* Phones: every table row becomes a card of "label  value" lines, the key cells (variant, final
   accuracy, Δ) first, so nothing important hides off-screen behind a sideways scroll. */
@media (max-width: 700px) {
  body { font-size: 15px; }
  main { margin: 0; padding: 18px 14px 32px; box-shadow: none; }
  h1 { font-size: 22px; }
  h2 { font-size: 18px; margin-top: 28px; }
  table.cards, table.cards tbody { display: block; width: 100%; }
  table.cards thead { display: none; }
  table.cards tr { display: flex; flex-direction: column; border: 1px solid var(--rule); border-radius: 6px; margin: 0 0 10px; padding: 4px 10px; }
  table.cards td, table.cards tbody tr:nth-child(even) td { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 2px 12px;
    border: 0; padding: 3px 0; white-space: normal; text-align: right; background: none; font-size: 13.5px; overflow-wrap: anywhere; }
  table.cards tbody tr td:empty { display: none; }
  table.cards td::before { content: attr(data-label); color: var(--muted); text-align: left; flex: 0 0 auto; max-width: 48%; }
  table.cards td.key { order: -1; font-weight: 600; }
  table.cards td.name { position: static; box-shadow: none; order: -2; font-size: 15px; border-bottom: 1px solid var(--rule); padding-bottom: 5px; margin-bottom: 2px; }
  table.cards td.name::before { content: none; }
  table.env { min-width: 0; width: 100%; } table.env td:first-child { width: 38%; white-space: normal; }
  .tag { margin-left: 0; }
}
`;

/** The columns a phone shows first: variant, mean final accuracy, Δ (and the run's status). */
export const ABLATION_KEYS = [/^Final val acc/, /^Δ/];
export const deltaColumn = (t: Table): number => t.header.findIndex((h) => h.startsWith('Δ'));
export const RUN_KEYS = [/^Status$/, /^Final val acc/];

export const KIND_TAG: Record<VerdictKind, string> = {
  'better': 'significant',
  'no-difference': 'not significant',
  'above-noise': 'one seed: unconfirmed',
  'within-noise': 'within noise',
  'noise-unknown': 'too little data',
  'unavailable': 'cannot compare',
};

export interface HtmlTableOptions {
  nameColumn?: boolean;
  statusColumn?: number;
  cls?: string;
  /** A column of prose-like text (the Δ) that may wrap, keeping the table within the page. */
  wrapColumn?: number;
  /** Columns shown first on a phone, where each row becomes a card (see the CSS). */
  keyColumns?: number[];
  /** Cells already rendered as HTML (links), by column; the others are escaped. */
  htmlColumns?: number[];
}

export function htmlTable(t: Table, opts: HtmlTableOptions = {}): string {
  const head = t.header.map((h, i) => `<th${t.numeric[i] ? ' class="num"' : ''}>${escapeHtml(h)}</th>`).join('');
  const cards = opts.keyColumns !== undefined;
  const body = t.rows.map((row) => `<tr>${row.map((c, i) => {
    const cls = [t.numeric[i] ? 'num' : '', opts.nameColumn && i === 0 ? 'name' : '', opts.wrapColumn === i ? 'wrap' : '',
      opts.keyColumns?.includes(i) && i > 0 ? 'key' : ''].filter(Boolean).join(' ');
    const content = i === opts.statusColumn ? `<span class="badge ${escapeHtml(c.split(' ')[0])}">${escapeHtml(c)}</span>`
      : opts.htmlColumns?.includes(i) ? c : escapeHtml(c);
    return `<td${cls ? ` class="${cls}"` : ''}${cards ? ` data-label="${escapeHtml(t.header[i])}"` : ''}>${content}</td>`;
  }).join('')}</tr>`).join('\n');
  const cls = [opts.cls, cards ? 'cards' : ''].filter(Boolean).join(' ');
  return `<div class="scroll"><table${cls ? ` class="${cls}"` : ''}><thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table></div>`;
}

/** Where the phone layout puts a table's key columns: the name, then these headers' columns. */
export function keyColumns(t: Table, headers: RegExp[]): number[] {
  return [0, ...headers.map((re) => t.header.findIndex((h) => re.test(h))).filter((i) => i > 0)];
}

/** Inline SVG needs no namespace declarations inside HTML; dropping them leaves no URL-looking text in the page. */
function inlineSvg(svg: string, title: string): string {
  return svg
    .replace(/\s+xmlns(:xlink)?="[^"]*"/g, '')
    .replace(/xlink:href=/g, 'href=')
    .replace(/^<svg/, `<svg role="img" aria-label="${escapeHtml(title)}"`);
}

export function renderHtml(m: ReportModel, plots: RenderedPlot[]): string {
  const ablation = ablationTable(m);
  const runs = runsTable(m);
  const s: string[] = [];
  s.push('<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>Ablation study: ${escapeHtml(m.title)}</title>`, `<style>${REPORT_CSS}</style>`, '</head>', '<body>', '<main>');
  s.push(`<h1>Ablation study: ${escapeHtml(m.title)}</h1>`);
  s.push(`<p class="meta">${escapeHtml(m.runCounts)} · report generated ${escapeHtml(m.generatedAt.toISOString().slice(0, 10))}${m.version ? ` by ablate ${escapeHtml(m.version)}` : ''}</p>`);
  if (m.description) s.push(`<blockquote>${m.description.trim().split(/\n\s*\n/).map((p) => `<p>${inline(p)}</p>`).join('')}</blockquote>`);

  s.push('<h2>Verdicts</h2>');
  if (m.verdicts.length === 0) s.push('<p>Nothing to compare: the study has a single variant.</p>');
  else {
    s.push('<ol class="verdicts">');
    for (const v of m.verdicts) {
      const claim = v.expectation ? `<span class="note"><strong>${v.expectation.outcome}:</strong> ${escapeHtml(v.expectation.text)}</span>` : '';
      const notes = v.notes.map((n) => `<span class="note">${escapeHtml(n)}.</span>`).join('') + claim;
      s.push(`<li class="${v.kind}"><span class="vtitle">${escapeHtml(verdictTitle(v))}</span><span class="tag ${v.kind}">${KIND_TAG[v.kind]}</span><br>${escapeHtml(v.text)}${notes}</li>`);
    }
    s.push('</ol>');
    s.push(`<p>${inline(familySentence(m))}</p>`);
    s.push(htmlTable(comparisonsTable(m), { nameColumn: true }));
  }
  if (m.sequential) s.push('<h2>Looks</h2>', `<p>${inline(looksIntro(m))}</p>`, htmlTable(looksTable(m)));

  if (m.factorial) {
    s.push('<h2>Factorial analysis</h2>', `<p>${inline(factorialIntro(m))}</p>`);
    if (!m.factorial.skipped) s.push(htmlTable(factorialTable(m), { nameColumn: true }));
  }

  s.push('<h2>Ablation table</h2>');
  s.push(`<p>One row per variant. With several seeds, numbers are mean ± standard deviation over the seeds that finished; <strong>Final val acc</strong> is the mean of the last ${m.options.lastK} epochs' validation accuracy.</p>`);
  s.push(htmlTable(ablation, { nameColumn: true, statusColumn: ablation.header.indexOf('Status'), wrapColumn: deltaColumn(ablation), keyColumns: keyColumns(ablation, ABLATION_KEYS) }));
  if (m.tuning) {
    const t = tuningRows(m.tuning);
    s.push(`<p>${inline(tuningTableNote(m.tuning))}</p>`, '<h2>Tuning</h2>', `<p>${inline(tuningIntro(m.tuning))}</p>`);
    s.push(htmlTable(t, { nameColumn: true }));
    const warnings = tuningWarnings(m.tuning);
    if (warnings.length) s.push('<ul class="problems">', ...warnings.map((w) => `<li><strong>Warning:</strong> ${escapeHtml(w)}</li>`), '</ul>');
  }

  s.push('<h2>Plots</h2>');
  plots.forEach((p, i) => {
    const panels = p.panelSvgs.map((svg, k) => `<div class="panel">${inlineSvg(svg, p.panels[k] ? `${p.title}: ${p.panels[k].id}` : p.title)}</div>`).join('');
    s.push(`<figure id="fig-${p.id}"><div class="panels">${panels}</div><figcaption><b>Figure ${i + 1}. ${escapeHtml(p.title)}.</b> ${escapeHtml(p.caption)}</figcaption></figure>`);
  });

  s.push('<h2>Runs</h2>');
  s.push(htmlTable(runs, { nameColumn: true, statusColumn: runs.header.indexOf('Status'), keyColumns: keyColumns(runs, RUN_KEYS) }));

  const perImage = perImageTable(m);
  const perImageNotes = m.perImage.flatMap((c) => c.notes);
  if (perImage.rows.length > 0 || perImageNotes.length > 0) {
    s.push('<h2>Per-image comparison</h2>', `<p>${escapeHtml(PER_IMAGE_INTRO)}</p>`);
    if (perImage.rows.length > 0) s.push(htmlTable(perImage, { nameColumn: true }));
    if (perImageNotes.length > 0) s.push(`<ul class="notes">${perImageNotes.map((n) => `<li>${escapeHtml(n)}.</li>`).join('')}</ul>`);
  }

  s.push(...errorAnalysisHtml(m));

  s.push('<h2>How to read the numbers</h2>');
  s.push(`<ul class="notes">${methodNotes(m).map((n) => `<li>${inline(n)}</li>`).join('')}</ul>`);

  s.push('<h2>Environment</h2>');
  s.push(htmlTable({ header: ['Item', 'Value'], rows: m.environment.map((r) => [r.label, r.value]), numeric: [false, false] }, { cls: 'env' }));

  if (m.problems.length > 0) {
    s.push('<h2>Problems</h2>', '<ul class="problems">');
    for (const p of m.problems) {
      s.push(`<li><strong>${escapeHtml(p.run)}</strong>${p.state ? ` <span class="badge ${escapeHtml(p.state)}">${escapeHtml(p.state)}</span>` : ''}<div class="err">${escapeHtml(p.message)}</div></li>`);
    }
    s.push('</ul>');
  }
  s.push(`<footer>Generated by ablate${m.version ? ` ${escapeHtml(m.version)}` : ''} from ${escapeHtml(m.study.dir)}. Plots are also saved as PNG files in <code>plots/</code>.</footer>`);
  s.push('</main>', '</body>', '</html>');
  return s.join('\n');
}
