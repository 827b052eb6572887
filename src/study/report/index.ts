/**
 * `writeStudyReport(studyDir)`: read a study folder and write report.md, report.html (self-contained),
 * report.tex, table.csv, summary.json and plots/*.png (+ .svg) beside them.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic.js';
import { readStudy } from '../run-files.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import { reportTex, summaryJson, tableCsv } from './exports.js';
import { type ReportModel, buildReportModel } from './model.js';
import { renderPlot, svgToPng } from './plots.js';
import type { ReportOptions } from './summary.js';
import { ablateVersion as packageVersion } from '../../util/version.js';

/** Options of `writeStudyReport`. */
export interface WriteReportOptions extends ReportOptions {
  /** Folder to write into (default: the study folder). */
  outDir?: string;
  /** Skip PNG conversion (the HTML still has its SVG plots). */
  png?: boolean;
  /** Fixed clock, for reproducible reports in tests. */
  now?: Date;
}

/** The files `writeStudyReport` wrote and the report model they were rendered from. */
export interface WrittenReport {
  markdown: string;
  html: string;
  /** report.tex (booktabs table), table.csv (one row per variant), summary.json (every number the report states). */
  tex: string;
  csv: string;
  json: string;
  plots: string[];
  model: ReportModel;
}

/** ablate's own version (undefined when no package.json is found). */
export function ablateVersion(): string | undefined {
  const v = packageVersion();
  return v === 'unknown' ? undefined : v;
}

/** Writes report.md, report.html (self-contained) and plots/ for a study folder. */
export async function writeStudyReport(studyDir: string, options: WriteReportOptions = {}): Promise<WrittenReport> {
  const study = readStudy(studyDir);
  const version = ablateVersion();
  const model = buildReportModel(study, { ...options, ...(version ? { version } : {}) });
  const out = options.outDir ?? study.dir;
  const rendered = await Promise.all(model.plots.map(renderPlot));
  const plotFiles: string[] = [];
  for (const p of rendered) {
    const svgFile = join(out, 'plots', `${p.id}.svg`);
    writeFileAtomic(svgFile, p.svg);
    if (options.png !== false) {
      const pngFile = join(out, 'plots', `${p.id}.png`);
      writeFileAtomic(pngFile, await svgToPng(p.svg));
      plotFiles.push(pngFile);
    }
  }
  const markdown = join(out, 'report.md');
  const html = join(out, 'report.html');
  writeFileAtomic(markdown, renderMarkdown(model, out));
  writeFileAtomic(html, renderHtml(model, rendered));
  const [tex, csv, json] = [join(out, 'report.tex'), join(out, 'table.csv'), join(out, 'summary.json')];
  writeFileAtomic(tex, reportTex(model));
  writeFileAtomic(csv, tableCsv(model));
  writeFileAtomic(json, summaryJson(model));
  return { markdown, html, tex, csv, json, plots: plotFiles, model };
}

export { buildReportModel, type ReportModel } from './model.js';
export { renderMarkdown } from './markdown.js';
export { renderHtml } from './html.js';
export { studyStatus, formatStudyStatus, type StudyStatusSummary, type RunProgress } from './status.js';
export type { ReportOptions } from './summary.js';
export type { Verdict, VerdictKind } from './verdict.js';
