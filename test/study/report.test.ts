import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import sharp from 'sharp';
import { writeStudyReport, type WrittenReport } from '../../src/study/report/index.js';
import { studyStatus } from '../../src/study/report/status.js';
import { duration } from '../../src/study/report/format.js';
import { type FakeRun, standardRuns, tmpStudyDir, writeFakeStudy } from './fixtures.js';

/** The rows of the Markdown table that follows `## heading`, as header → cell maps. */
function mdTable(md: string, heading: string): Record<string, string>[] {
  const lines = md.split('\n');
  let i = lines.indexOf(`## ${heading}`);
  assert.ok(i >= 0, `no section ${heading}`);
  while (!lines[i].startsWith('|')) i++;
  const cells = (l: string) => l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
  const header = cells(lines[i]);
  const rows: Record<string, string>[] = [];
  for (i += 2; i < lines.length && lines[i].startsWith('|'); i++) {
    const c = cells(lines[i]);
    rows.push(Object.fromEntries(header.map((h, j) => [h, c[j]])));
  }
  return rows;
}

interface Epoch { epoch: number; loss: number | null; val_loss?: number | null; val_accuracy?: number | null }

/** Read history.jsonl independently of the module under test (complete lines only). */
function historyOf(dir: string, run: string): Epoch[] {
  return readFileSync(join(dir, run, 'history.jsonl'), 'utf8').split('\n').flatMap((l) => {
    try { return [JSON.parse(l) as Epoch]; } catch { return []; }
  });
}

const pct1 = (x: number) => (100 * x).toFixed(1);
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + (x - avg(xs)) ** 2, 0) / (xs.length - 1));

describe('study report from fake run folders', () => {
  let dir: string;
  let out: WrittenReport;
  let md: string;
  let html: string;

  before(async () => {
    dir = writeFakeStudy(tmpStudyDir(), standardRuns(), {
      compare: [{ variant: 'resnet34', reference: 'plain34' }, { variant: 'resnet50', reference: 'plain50' }],
    });
    out = await writeStudyReport(dir, { now: new Date('2024-05-02T09:00:00Z') });
    md = readFileSync(join(dir, 'report.md'), 'utf8');
    html = readFileSync(join(dir, 'report.html'), 'utf8');
  });

  test('per-run numbers match the history files', () => {
    const rows = mdTable(md, 'Runs');
    assert.equal(rows.length, 7);
    for (const run of ['resnet34-seed0', 'resnet34-seed1', 'plain34-seed0', 'plain34-seed1', 'resnet50-seed1', 'plain50-seed0']) {
      const h = historyOf(dir, run);
      const row = rows.find((r) => r.Run === run)!;
      const val = h.map((e) => e.val_accuracy!).filter((v) => v !== null);
      const best = Math.max(...val);
      assert.equal(row['Best val acc (%)'], pct1(best), run);
      assert.equal(row['Best epoch'], String(h.find((e) => e.val_accuracy === best)!.epoch), run);
      assert.equal(row['Last val acc (%)'], pct1(val[val.length - 1]), run);
      assert.equal(row['Final val acc (%, last 3)'], pct1(avg(val.slice(-3))), run);
      const lastLoss = h[h.length - 1].val_loss;
      assert.equal(row['Final val loss'], lastLoss === null ? 'NaN' : lastLoss!.toFixed(3), run);
    }
  });

  test('the run killed mid-epoch counts only its complete epochs and is flagged', () => {
    const row = mdTable(md, 'Runs').find((r) => r.Run === 'resnet50-seed1')!;
    assert.equal(row.Epochs, '3/8');
    assert.equal(row.Status, 'running');
    assert.match(md, /\*\*resnet50-seed1\*\* \(running\): history\.jsonl: last line is incomplete/);
  });

  test('failed and diverged runs are marked and show their error', () => {
    const runs = mdTable(md, 'Runs');
    assert.equal(runs.find((r) => r.Run === 'resnet50-seed0')!.Status, 'failed');
    assert.equal(runs.find((r) => r.Run === 'plain50-seed0')!.Status, 'diverged');
    assert.match(md, /\*\*resnet50-seed0\*\* \(failed\): CUDA out of memory: tried to allocate 2\.00 GiB/);
    assert.match(md, /\*\*plain50-seed0\*\* \(diverged\): loss became NaN at epoch 3/);
    assert.ok(html.includes('CUDA out of memory: tried to allocate 2.00 GiB'));
    const table = mdTable(md, 'Ablation table');
    assert.equal(table.find((r) => r.Variant === 'plain50')!.Status, 'diverged');
    assert.equal(table.find((r) => r.Variant === 'resnet50')!.Status, 'failed 1/2, running 1');
  });

  test('the ablation table shows mean ± std over seeds, sizes and the difference from the reference', () => {
    const table = mdTable(md, 'Ablation table');
    assert.deepEqual(table.map((r) => r.Variant), ['resnet34', 'plain34', 'plain50', 'resnet50']);
    const finals = (v: string) => [0, 1].map((s) => avg(historyOf(dir, `${v}-seed${s}`).map((e) => e.val_accuracy!).slice(-3)));
    const bests = (v: string) => [0, 1].map((s) => Math.max(...historyOf(dir, `${v}-seed${s}`).map((e) => e.val_accuracy!)));
    const r34 = table.find((r) => r.Variant === 'resnet34')!;
    assert.equal(r34['Final val acc (%, last 3)'], `${pct1(avg(finals('resnet34')))} ± ${pct1(sd(finals('resnet34')))}`);
    assert.equal(r34['Best val acc (%)'], `${pct1(avg(bests('resnet34')))} ± ${pct1(sd(bests('resnet34')))}`);
    assert.equal(r34.Params, '21.80M');
    assert.equal(r34.FLOPs, '7.34G', 'FLOPs are 2 × MACs');
    assert.equal(r34.Seeds, '2');
    assert.equal(r34.Images_s ?? r34['Images/s'], '618');
    // paired over seeds 0 and 1: d = mean of per-seed differences, half-width = t(0.975, 1) · sd(d)/√2
    const d = finals('resnet34').map((x, i) => x - finals('plain34')[i]);
    const half = 12.706204736 * sd(d) / Math.SQRT2;
    const sign = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}`;
    assert.equal(r34['Δ final (points, 95% CI)'], `${sign(avg(d))} [${sign(avg(d) - half)}, ${sign(avg(d) + half)}] vs plain34`);
  });

  test('verdicts: a significant win, and a comparison that cannot be made', () => {
    const v = out.model.verdicts;
    assert.equal(v[0].kind, 'better');
    assert.ok(v[0].significant);
    assert.match(md, /1\. \*\*ResNet-34 vs Plain-34\.\*\* ResNet-34 beats Plain-34 by \d+\.\d ± \d+\.\d points \(95% CI \+\d+\.\d to \+\d+\.\d points; paired over 2 seeds; p = 0\.037\)\./);
    assert.equal(v[1].kind, 'unavailable');
    assert.match(md, /Cannot compare ResNet-50 with Plain-50/);
    assert.match(md, /ResNet-50: 2 of 2 runs left out \(1 failed, 1 running\)/);
  });

  test('the environment block lists versions, device, dataset and dates', () => {
    const env = Object.fromEntries(mdTable(md, 'Environment').map((r) => [r.Item, r.Value]));
    assert.equal(env['libtorch version'], '2.3.1');
    assert.equal(env['ablate version'], '0.1.0');
    assert.equal(env.Device, 'cpu');
    assert.equal(env.Threads, '2');
    assert.equal(env.Precision, 'fp32');
    assert.equal(env.Dataset, 'cats_vs_dogs');
    assert.equal(env['Training split'], 'train[:80%] (18,610 images)');
    assert.equal(env['Study created'], '2024-05-01 10:00:00 UTC');
    assert.match(env['Report generated'], /^2024-05-02 09:00:00 UTC/);
  });

  test('HTML is self-contained: inline CSS and SVG, no external references', () => {
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.ok(html.includes('<style>'));
    assert.equal((html.match(/<svg/g) ?? []).length, 4, 'training loss, validation accuracy, validation loss, accuracy vs parameters: one chart each');
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import/i);
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?\s*(https?:|\/\/|file:|data:)/i);
    assert.doesNotMatch(html, /url\(\s*["']?(https?:|\/\/)/i);
    assert.doesNotMatch(html, /https?:\/\//, 'not even a namespace URL');
    // every clip-path reference points at an id defined in the page (ids are made unique per plot)
    const ids = new Set([...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]));
    const refs = [...html.matchAll(/url\(#([^)]+)\)/g)].map((m) => m[1]);
    for (const r of refs) assert.ok(ids.has(r), `undefined reference #${r}`);
    assert.equal(ids.size, [...html.matchAll(/\bid="([^"]+)"/g)].length, 'ids are unique');
  });

  test('PNG plots are written beside the report and referenced from it', async () => {
    assert.deepEqual(out.plots.map((p) => p.split('/').pop()), ['loss-accuracy.png', 'val-loss.png', 'accuracy-vs-params.png']);
    for (const p of out.plots) {
      const meta = await sharp(p).metadata();
      assert.equal(meta.format, 'png');
      assert.ok(meta.width! > 600 && meta.height! > 300, `${p}: ${meta.width}×${meta.height}`);
      assert.ok(md.includes(`](plots/${p.split('/').pop()})`));
      assert.ok(existsSync(p.replace(/\.png$/, '.svg')));
    }
  });
});

describe('verdict logic', () => {
  const run = (variant: string, seed: number, vals: number[], status: FakeRun['status'] = 'ok'): FakeRun => ({
    name: `${variant}-seed${seed}`, variant, axes: { model: variant }, seed, status,
    epochs: vals.map((v) => ({ loss: 1 - v, accuracy: v, val_loss: 1 - v, val_accuracy: v })),
  });
  async function verdicts(runs: FakeRun[]) {
    const dir = writeFakeStudy(tmpStudyDir(), runs, { compare: [{ variant: 'a', reference: 'b' }] });
    const r = await writeStudyReport(dir, { png: false });
    return { v: r.model.verdicts[0], md: readFileSync(r.markdown, 'utf8') };
  }

  test('seeds that disagree: no significant difference, and the report says so', async () => {
    const { v, md } = await verdicts([
      run('a', 0, [0.7, 0.8, 0.80, 0.80]), run('b', 0, [0.7, 0.8, 0.75, 0.75]),
      run('a', 1, [0.7, 0.8, 0.74, 0.74]), run('b', 1, [0.7, 0.8, 0.78, 0.78]),
    ]);
    assert.equal(v.kind, 'no-difference');
    assert.equal(v.significant, false);
    assert.ok(v.interval!.low < 0 && v.interval!.high > 0);
    assert.equal(v.interval!.method, 'paired');
    assert.match(md, /No significant difference between a and b with 2 seeds .* — add seeds or epochs\./);
  });

  test('different seeds on each side use Welch', async () => {
    const { v } = await verdicts([
      run('a', 0, [0.9, 0.9, 0.9]), run('a', 1, [0.91, 0.91, 0.91]), run('a', 2, [0.92, 0.92, 0.92]),
      run('b', 3, [0.6, 0.6, 0.6]), run('b', 4, [0.62, 0.62, 0.62]),
    ]);
    assert.equal(v.interval!.method, 'welch');
    assert.equal(v.kind, 'better');
    assert.match(v.text, /^a beats b by 30\.0 ± \d+\.\d points \(95% CI .*; Welch, 3 vs 2 seeds; p = 0\.0034\)\.$/);
  });

  test('when the reference wins, the interval in the sentence is the winner\'s advantage', async () => {
    const { v } = await verdicts([
      run('a', 0, [0.6, 0.6, 0.6]), run('b', 0, [0.9, 0.9, 0.9]),
      run('a', 1, [0.62, 0.62, 0.62]), run('b', 1, [0.91, 0.91, 0.91]),
    ]);
    assert.equal(v.kind, 'better');
    assert.ok(v.interval!.high < 0, 'the interval itself stays variant − reference');
    assert.match(v.text, /^b beats a by 29\.5 ± \d+\.\d points \(95% CI \+\d+\.\d to \+\d+\.\d points; paired over 2 seeds; p = 0\.011\)\.$/);
  });

  test('one seed, difference within epoch noise: explicitly not a finding', async () => {
    const { v, md } = await verdicts([
      run('a', 0, [0.60, 0.70, 0.62, 0.72, 0.64, 0.74]),
      run('b', 0, [0.62, 0.66, 0.60, 0.68, 0.63, 0.69]),
    ]);
    assert.equal(v.kind, 'within-noise');
    assert.ok(Math.abs(v.difference!) < v.noiseThreshold!);
    assert.match(md, /within the epoch-to-epoch noise of these single runs \(±\d+\.\d points\) — not a finding/);
    assert.match(md, /This study ran one seed per variant/);
  });

  test('one seed, difference far beyond the noise: reported, but flagged as unconfirmed', async () => {
    const { v } = await verdicts([
      run('a', 0, [0.80, 0.82, 0.81, 0.83, 0.82, 0.84]),
      run('b', 0, [0.50, 0.52, 0.51, 0.53, 0.52, 0.54]),
    ]);
    assert.equal(v.kind, 'above-noise');
    assert.equal(v.significant, false);
    assert.match(v.text, /^a beats b by 30\.0 points, more than the epoch-to-epoch noise .* confirm with more seeds\.$/);
  });

  test('one seed and too few epochs to measure noise', async () => {
    const { v } = await verdicts([run('a', 0, [0.8, 0.9]), run('b', 0, [0.5, 0.6])]);
    assert.equal(v.kind, 'noise-unknown');
    assert.match(v.text, /only 2 epochs the noise cannot be estimated — not a finding/);
  });

  test('a diverged seed is left out of the statistics and mentioned', async () => {
    const { v } = await verdicts([
      run('a', 0, [0.8, 0.9, 0.9]), run('a', 1, [0.81, 0.91, 0.91]), run('a', 2, [0.1, 0.1, 0.1], 'diverged'),
      run('b', 0, [0.5, 0.6, 0.6]), run('b', 1, [0.52, 0.61, 0.61]), run('b', 2, [0.51, 0.62, 0.62]),
    ]);
    assert.equal(v.kind, 'better');
    assert.equal(v.interval!.method, 'welch', 'seeds {0,1} vs {0,1,2} are not paired');
    assert.deepEqual(v.notes, ['a: 1 of 3 runs left out (1 diverged)']);
  });
});

describe('studyStatus', () => {
  test('one line per run with progress, errors and warnings', () => {
    const dir = writeFakeStudy(tmpStudyDir(), standardRuns());
    const s = studyStatus(dir);
    assert.equal(s.runs.length, 7);
    assert.deepEqual(s.counts, { ok: 4, diverged: 1, failed: 1, running: 1 });
    const killed = s.runs.find((r) => r.name === 'resnet50-seed1')!;
    assert.equal(killed.epochsDone, 3);
    assert.equal(killed.epochsPlanned, 8);
    assert.ok(killed.etaS! > 0);
    const lines = s.text.split('\n');
    assert.match(lines[0], /^Study fake-study: 7 runs \(4 ok, 1 diverged, 1 failed, 1 running\)$/);
    assert.ok(lines.some((l) => /^resnet50-seed1\s+running\s+3\/8\s+\[####\.\.\.\.\.\.\]/.test(l)), s.text);
    assert.ok(lines.some((l) => l === 'resnet50-seed0 (failed): CUDA out of memory: tried to allocate 2.00 GiB'));
    assert.ok(lines.some((l) => /^warning: resnet50-seed1: history\.jsonl: last line is incomplete/.test(l)));
  });
});

describe('report layout on a phone and in its plots', () => {
  let html: string;
  let md: string;
  let out: WrittenReport;
  before(async () => {
    const runs = standardRuns().slice(0, 4);
    // Both seeds of each variant peak at the last epoch: best epoch 8 with no spread.
    const dir = writeFakeStudy(tmpStudyDir(), runs, { compare: [{ variant: 'resnet34', reference: 'plain34' }] });
    out = await writeStudyReport(dir, { png: false, now: new Date('2024-05-02T09:00:00Z') });
    html = readFileSync(join(dir, 'report.html'), 'utf8');
    md = readFileSync(join(dir, 'report.md'), 'utf8');
  });

  test('"Best epoch" is a whole number when the seeds agree, not "8.0 ± 0.0"', () => {
    const rows = mdTable(md, 'Ablation table');
    assert.deepEqual(rows.map((r) => r['Best epoch']), ['8', '8']);
  });

  test('Δ follows the final accuracy it compares, and on a phone those cells come first on each card', () => {
    const header = mdTable(md, 'Ablation table')[0]!;
    const keys = Object.keys(header);
    assert.deepEqual(keys.slice(0, 3), ['Variant', 'Final val acc (%, last 3)', 'Δ final (points, 95% CI)']);
    const table = html.slice(html.indexOf('<h2>Ablation table</h2>'), html.indexOf('<h2>Plots</h2>'));
    assert.match(table, /<table class="cards">/);
    assert.match(table, /<td class="num key" data-label="Final val acc \(%, last 3\)">/);
    assert.match(table, /<td class="wrap key" data-label="Δ final \(points, 95% CI\)">\+/);
    assert.match(html, /@media \(max-width: 700px\)[\s\S]*table\.cards td\.key \{ order: -1;/);
    assert.match(html, /table\.env td \{ white-space: normal; overflow-wrap: anywhere; \}/, 'long environment values wrap inside the card');
  });

  test('each figure is a row of separate panels that can stack, each with its legend below', () => {
    const fig = html.slice(html.indexOf('<figure id="fig-loss-accuracy">'), html.indexOf('</figure>', html.indexOf('<figure id="fig-loss-accuracy">')));
    assert.equal((fig.match(/<div class="panel"><svg/g) ?? []).length, 2);
    const panel = out.model.plots[0]!.panels[0]!.spec as unknown as { width: number; layer: { encoding: { color: { legend: { orient: string } } } }[] };
    assert.ok(panel.width <= 300, 'fits a 390-px phone at full size');
    assert.equal(panel.layer[0]!.encoding.color.legend.orient, 'bottom');
  });

  test('loss is drawn on a log scale, and the caption says so', () => {
    for (const p of out.model.plots.filter((x) => x.id !== 'accuracy-vs-params')) {
      assert.match(p.caption, /Losses are on a log scale/);
      const loss = p.panels.find((x) => x.id.endsWith('loss'))!;
      const y = (loss.spec as unknown as { layer: { encoding: { y: { scale: { type: string }; title: string } } }[] }).layer[0]!.encoding.y;
      assert.equal(y.scale.type, 'log');
      assert.match(y.title, /\(log scale\)$/);
      assert.equal(loss.linearY!.title.includes('log'), false, 'the page can switch it to linear');
    }
  });

  test('accuracy vs parameters: error bars drawn over open dots, labels of equal-size models on opposite sides', () => {
    const spec = out.model.plots.find((p) => p.id === 'accuracy-vs-params')!.spec as unknown as {
      layer: { mark: { type: string; filled?: boolean; align?: string } }[]; data: { values: { variant: string; side: string }[] };
    };
    const marks = spec.layer.map((l) => l.mark.type);
    assert.ok(marks.indexOf('errorbar') > marks.indexOf('point'), 'bars on top of the dots');
    assert.equal(spec.layer.find((l) => l.mark.type === 'point')!.mark.filled, false);
    // resnet34 and plain34 have the same parameter count in the fixtures.
    const sides = Object.fromEntries(spec.data.values.map((p) => [p.variant, p.side]));
    assert.deepEqual(sides, { resnet34: 'right', plain34: 'left' }, 'the more accurate one on the right');
  });
});

test('durations round before they are split: never "1 m 60 s" or "60.0 s"', () => {
  assert.equal(duration(45.24), '45.2 s');
  assert.equal(duration(59.96), '1 m 00 s');
  assert.equal(duration(119.6), '2 m 00 s');
  assert.equal(duration(724), '12 m 04 s');
  assert.equal(duration(3599.7), '1 h 00 m');
  assert.equal(duration(11220), '3 h 07 m');
  assert.equal(duration(undefined), duration(Number.NaN));
});
