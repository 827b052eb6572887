/** A self-contained HTML page: inline CSS and inline SVG plots, nothing fetched from anywhere. */
import { type ReportModel, verdictTitle } from './model.js';
import { errorAnalysisHtml } from './error-analysis.js';
import { methodNotes } from './method.js';
import type { RenderedPlot } from './plots.js';
import { type Table, ablationTable, runsTable } from './tables.js';
import type { VerdictKind } from './verdict.js';

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

const CSS = `
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
th, td { padding: 6px 7px; white-space: nowrap; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { background: var(--soft); border-bottom: 2px solid #aab3bf; font-weight: 600; white-space: normal; vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.name { font-weight: 600; white-space: nowrap; }
/* The comparison column is long prose-like text; letting it wrap keeps the ablation table within the page. */
td.wrap { white-space: normal; min-width: 11em; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; background: #e3e7ed; color: #3a4454; }
.badge.ok { background: #e3f1e4; color: var(--ok); } .badge.diverged { background: #fdf0dc; color: var(--warn); }
.badge.failed { background: #fbe4e4; color: var(--bad); } .badge.running { background: #e1ecf9; color: var(--run); }
figure { margin: 16px 0 24px; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 6px; }
figcaption b { color: var(--ink); }
ul.notes li { margin-bottom: 6px; }
table.env { width: auto; min-width: 60%; } table.env td:first-child { color: var(--muted); white-space: nowrap; width: 14em; }
ul.problems li { margin-bottom: 6px; } table.env td { white-space: normal; } ul.problems .err { font: 12.5px/1.4 "DejaVu Sans Mono", Menlo, monospace; color: var(--bad); white-space: pre-wrap; }
footer { margin-top: 40px; color: var(--muted); font-size: 12.5px; border-top: 1px solid var(--rule); padding-top: 8px; }
@media print { body { background: #fff; } main { box-shadow: none; margin: 0; padding: 0; } }
`;

const KIND_TAG: Record<VerdictKind, string> = {
  'better': 'significant',
  'no-difference': 'not significant',
  'above-noise': 'one seed: unconfirmed',
  'within-noise': 'within noise',
  'noise-unknown': 'too little data',
  'unavailable': 'cannot compare',
};

function htmlTable(t: Table, opts: { nameColumn?: boolean; statusColumn?: number; cls?: string; wrapLast?: boolean } = {}): string {
  const head = t.header.map((h, i) => `<th${t.numeric[i] ? ' class="num"' : ''}>${escapeHtml(h)}</th>`).join('');
  const last = t.header.length - 1;
  const body = t.rows.map((row) => `<tr>${row.map((c, i) => {
    const cls = [t.numeric[i] ? 'num' : '', opts.nameColumn && i === 0 ? 'name' : '', opts.wrapLast && i === last ? 'wrap' : ''].filter(Boolean).join(' ');
    const content = i === opts.statusColumn ? `<span class="badge ${escapeHtml(c.split(' ')[0])}">${escapeHtml(c)}</span>` : escapeHtml(c);
    return `<td${cls ? ` class="${cls}"` : ''}>${content}</td>`;
  }).join('')}</tr>`).join('\n');
  return `<div class="scroll"><table${opts.cls ? ` class="${opts.cls}"` : ''}><thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table></div>`;
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
    `<title>Ablation study: ${escapeHtml(m.title)}</title>`, `<style>${CSS}</style>`, '</head>', '<body>', '<main>');
  s.push(`<h1>Ablation study: ${escapeHtml(m.title)}</h1>`);
  s.push(`<p class="meta">${escapeHtml(m.runCounts)} · report generated ${escapeHtml(m.generatedAt.toISOString().slice(0, 10))}${m.version ? ` by ablate ${escapeHtml(m.version)}` : ''}</p>`);
  if (m.description) s.push(`<blockquote>${m.description.trim().split(/\n\s*\n/).map((p) => `<p>${inline(p)}</p>`).join('')}</blockquote>`);

  s.push('<h2>Verdicts</h2>');
  if (m.verdicts.length === 0) s.push('<p>Nothing to compare: the study has a single variant.</p>');
  else {
    s.push('<ol class="verdicts">');
    for (const v of m.verdicts) {
      const notes = v.notes.map((n) => `<span class="note">${escapeHtml(n)}.</span>`).join('');
      s.push(`<li class="${v.kind}"><span class="vtitle">${escapeHtml(verdictTitle(v))}</span><span class="tag ${v.kind}">${KIND_TAG[v.kind]}</span><br>${escapeHtml(v.text)}${notes}</li>`);
    }
    s.push('</ol>');
  }

  s.push('<h2>Ablation table</h2>');
  s.push(`<p>One row per variant. With several seeds, numbers are mean ± standard deviation over the seeds that finished; <strong>Final val acc</strong> is the mean of the last ${m.options.lastK} epochs' validation accuracy.</p>`);
  s.push(htmlTable(ablation, { nameColumn: true, statusColumn: ablation.header.indexOf('Status'), wrapLast: true }));

  s.push('<h2>Plots</h2>');
  plots.forEach((p, i) => {
    s.push(`<figure id="fig-${p.id}">${inlineSvg(p.svg, p.title)}<figcaption><b>Figure ${i + 1}. ${escapeHtml(p.title)}.</b> ${escapeHtml(p.caption)}</figcaption></figure>`);
  });

  s.push('<h2>Runs</h2>');
  s.push(htmlTable(runs, { nameColumn: true, statusColumn: runs.header.indexOf('Status') }));

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
