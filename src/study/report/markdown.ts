import { type ReportModel, verdictTitle } from './model.js';
import { methodNotes } from './method.js';
import { errorAnalysisMarkdown } from './error-analysis.js';
import { tuningIntro, tuningRows, tuningTableNote, tuningWarnings } from '../tune/report.js';
import { looksIntro, looksTable } from './looks.js';
import { PER_IMAGE_INTRO, type Table, ablationTable, comparisonsTable, familySentence, perImageTable, runsTable, factorialTable, factorialIntro } from './tables.js';

function cell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

export function markdownTable(t: Table): string {
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(t.header), `|${t.numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`, ...t.rows.map(line)].join('\n');
}

/** `reportDir`: where report.md goes (default the study folder), for relative links to the runs' pictures. */
export function renderMarkdown(m: ReportModel, reportDir: string = m.study.dir): string {
  const out: string[] = [];
  out.push(`# Ablation study: ${m.title}`, '');
  if (m.description) out.push(...m.description.trim().split('\n').map((l) => `> ${l}`), '');
  out.push(`*${m.runCounts}. Report generated ${m.generatedAt.toISOString().slice(0, 10)}${m.version ? ` by ablate ${m.version}` : ''}.*`, '');

  out.push('## Verdicts', '');
  if (m.verdicts.length === 0) out.push('Nothing to compare: the study has a single variant.', '');
  m.verdicts.forEach((v, i) => {
    out.push(`${i + 1}. **${verdictTitle(v)}.** ${v.text}`);
    for (const n of v.notes) out.push(`   *${n}.*`);
    if (v.expectation) out.push(`   **${v.expectation.outcome}:** ${v.expectation.text}`);
  });
  if (m.verdicts.length) out.push('', familySentence(m), '', markdownTable(comparisonsTable(m)), '');
  if (m.sequential) out.push('## Looks', '', looksIntro(m), '', markdownTable(looksTable(m)), '');

  if (m.factorial) {
    out.push('## Factorial analysis', '', factorialIntro(m), '');
    if (!m.factorial.skipped) out.push(markdownTable(factorialTable(m)), '');
  }

  out.push('## Ablation table', '');
  out.push(`One row per variant. With several seeds, numbers are mean ± standard deviation over the seeds that finished; **Final val acc** is the mean of the last ${m.options.lastK} epochs' validation accuracy (see *How to read the numbers*).`, '');
  out.push(markdownTable(ablationTable(m)), '');
  if (m.tuning) {
    out.push(`*${tuningTableNote(m.tuning)}*`, '', '## Tuning', '', tuningIntro(m.tuning), '');
    const t = tuningRows(m.tuning);
    out.push(markdownTable(t), '');
    for (const w of tuningWarnings(m.tuning)) out.push(`- **Warning:** ${w}`);
    for (const p of m.plots.filter((p) => p.id.startsWith('tuning-'))) out.push('', `![${p.title}](plots/${p.id}.png)`, '', `*${p.caption}*`);
    out.push('');
  }

  out.push('## Runs', '');
  out.push(markdownTable(runsTable(m)), '');

  out.push('## Plots', '');
  for (const p of m.plots) out.push(`### ${p.title}`, '', `![${p.title}](plots/${p.id}.png)`, '', `*${p.caption}*`, '');

  const perImage = perImageTable(m);
  const perImageNotes = m.perImage.flatMap((c) => c.notes);
  if (perImage.rows.length > 0 || perImageNotes.length > 0) {
    out.push('## Per-image comparison', '', PER_IMAGE_INTRO, '');
    if (perImage.rows.length > 0) out.push(markdownTable(perImage), '');
    for (const n of perImageNotes) out.push(`- *${n}.*`);
    if (perImageNotes.length > 0) out.push('');
  }

  out.push(...errorAnalysisMarkdown(m, reportDir));

  out.push('## How to read the numbers', '');
  for (const n of methodNotes(m)) out.push(`- ${n}`);
  out.push('');

  out.push('## Environment', '');
  out.push(markdownTable({ header: ['Item', 'Value'], rows: m.environment.map((r) => [r.label, r.value]), numeric: [false, false] }), '');

  if (m.problems.length > 0) {
    out.push('## Problems', '');
    for (const p of m.problems) out.push(`- **${p.run}**${p.state ? ` (${p.state})` : ''}: ${p.message.replace(/\r?\n/g, ' ')}`);
    out.push('');
  }
  return out.join('\n');
}
