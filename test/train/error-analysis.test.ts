// Error analysis: per-class metrics by hand, the pictures, and their place in every run folder and in
// each variant's section of the study report.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { prepareDataset } from '../../src/data/index.js';
import {
  classificationReport, formatClassificationReport, mostConfidentMistakes, renderConfusionMatrix, writeErrorAnalysis,
} from '../../src/train/error-analysis.js';
import type { SamplePrediction } from '../../src/train/evaluate.js';
import { writeStudyReport } from '../../src/study/report/index.js';
import { standardRuns, tmpStudyDir, writeFakeStudy } from '../study/fixtures.js';

describe('classificationReport', () => {
  // rows: true class; columns: predicted.
  const confusion = [
    [8, 2, 0],
    [1, 5, 4],
    [0, 0, 0], // a class with no images, but predicted 4 times
  ];

  it('precision, recall and F1 per class, as computed by hand', () => {
    const r = classificationReport(confusion, ['a', 'b', 'c']);
    const [a, b, c] = r.classes;
    assert.equal(a!.precision, 8 / 9);
    assert.equal(a!.recall, 8 / 10);
    assert.ok(Math.abs(a!.f1 - (2 * (8 / 9) * 0.8) / (8 / 9 + 0.8)) < 1e-12);
    assert.equal(b!.precision, 5 / 7);
    assert.equal(b!.recall, 0.5);
    assert.equal(b!.support, 10);
    assert.equal(c!.precision, 0);
    assert.ok(Number.isNaN(c!.recall));
    assert.equal(c!.f1, 0);
    assert.equal(r.accuracy, 13 / 20);
    assert.ok(Math.abs(r.macro.recall - (0.8 + 0.5) / 2) < 1e-12, 'macro averages skip undefined classes');
    const lines = formatClassificationReport(r);
    assert.match(lines[1]!, /^\s+a\s+88\.9\s+80\.0\s+84\.2\s+10$/);
    assert.match(lines[3]!, /^\s+c\s+0\.0\s+n\/a\s+0\.0\s+0$/);
    const neither = classificationReport([[3, 0], [0, 0]], ['p', 'q']).classes[1]!;
    assert.ok(Number.isNaN(neither.precision) && Number.isNaN(neither.recall) && Number.isNaN(neither.f1), 'neither present nor predicted: all undefined');
  });

  it('a class that is present but never predicted has precision n/a and F1 0', () => {
    const r = classificationReport([[0, 4], [0, 6]], ['x', 'y']);
    assert.ok(Number.isNaN(r.classes[0]!.precision));
    assert.equal(r.classes[0]!.recall, 0);
    assert.equal(r.classes[0]!.f1, 0);
  });

  it('rejects a matrix that is not square', () => {
    assert.throws(() => classificationReport([[1, 2], [3]], ['a', 'b']), /Expected a square confusion matrix/);
  });

  it('mistakes are ordered by confidence, and correct predictions never appear', () => {
    const p: SamplePrediction[] = [
      { datasetIndex: 0, label: 0, predicted: 1, confidence: 0.6 },
      { datasetIndex: 1, label: 1, predicted: 1, confidence: 0.99 },
      { datasetIndex: 2, label: 0, predicted: 2, confidence: 0.9 },
      { datasetIndex: 3, label: 2, predicted: 0, confidence: 0.7 },
    ];
    assert.deepEqual(mostConfidentMistakes(p, 2).map((m) => m.datasetIndex), [2, 3]);
  });
});

describe('error-analysis pictures', () => {
  it('confusion-matrix.png, misclassified.png and classification.json for a generated validation set', async () => {
    const dir = tmpStudyDir('ablate-analysis-');
    const images = await prepareDataset({ source: 'generated', split: 'test', generated: { classes: 3, size: 16, trainCount: 4, testCount: 12 } });
    try {
      const predictions: SamplePrediction[] = Array.from(images.indices, (d, p) => ({
        datasetIndex: d, label: images.labels[p]!, predicted: (images.labels[p]! + (p % 3 === 0 ? 1 : 0)) % 3, confidence: 0.4 + p / 100,
      }));
      const confusion = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
      for (const q of predictions) confusion[q.label]![q.predicted]! += 1;
      const out = join(dir, 'analysis');
      const r = await writeErrorAnalysis(out, { confusion, classNames: images.classNames, predictions, images, count: 3 });
      assert.deepEqual(readdirSync(out).sort(), ['classification.json', 'confusion-matrix.png', 'misclassified.png', 'predictions.json']);
      assert.equal(r.report.n, 12);
      // Every image's true and predicted class, for per-image paired tests between runs.
      const per = JSON.parse(readFileSync(join(out, 'predictions.json'), 'utf8'));
      assert.deepEqual(per, { classNames: images.classNames, datasetIndex: predictions.map((q) => q.datasetIndex), label: predictions.map((q) => q.label), predicted: predictions.map((q) => q.predicted) });
      const json = JSON.parse(readFileSync(join(out, 'classification.json'), 'utf8'));
      assert.equal(json.mistakes.length, 3);
      assert.ok(json.mistakes[0].confidence >= json.mistakes[2].confidence);
      const grid = await sharp(join(out, 'misclassified.png')).metadata();
      assert.equal(grid.format, 'png');
      assert.ok(grid.width! >= 2 * 128 && grid.height! >= 2 * 128, `2×2 grid of 16-px images enlarged to 128, got ${grid.width}×${grid.height}`);
      const cm = await sharp(await renderConfusionMatrix(confusion, images.classNames)).metadata();
      assert.ok(cm.width! > 200 && cm.height! > 200);
    } finally {
      await images.close();
    }
  });
});

describe('study report: error analysis per variant', () => {
  it('each variant with an analysis gets its table and pictures (markdown links, HTML embedded); others get none', async () => {
    const dir = writeFakeStudy(tmpStudyDir(), standardRuns());
    const run = join(dir, 'resnet34-seed0');
    const analysis = join(run, 'analysis');
    mkdirSync(analysis, { recursive: true });
    const images = await prepareDataset({ source: 'generated', split: 'test', generated: { classes: 2, size: 16, trainCount: 2, testCount: 4 } });
    try {
      const predictions: SamplePrediction[] = Array.from(images.indices, (d, p) => ({ datasetIndex: d, label: images.labels[p]!, predicted: 0, confidence: 0.8 }));
      const confusion = [[0, 0], [0, 0]];
      for (const q of predictions) confusion[q.label]![q.predicted]! += 1;
      await writeErrorAnalysis(analysis, { confusion, classNames: ['cat', 'dog'], predictions, images });
    } finally {
      await images.close();
    }
    await writeStudyReport(dir, { png: false });
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    const section = md.slice(md.indexOf('## Error analysis'), md.indexOf('## How to read the numbers'));
    assert.match(section, /### resnet34\n\n\*Run resnet34-seed0\.\*/);
    assert.match(section, /\| cat \| [\d.—]+ \| [\d.]+ \| [\d.]+ \| 2 \|/);
    assert.match(section, /!\[confusion matrix of resnet34\]\(resnet34-seed0\/analysis\/confusion-matrix\.png\)/);
    assert.match(section, /!\[most confidently misclassified images of resnet34\]\(resnet34-seed0\/analysis\/misclassified\.png\)/);
    assert.doesNotMatch(section, /### plain34/, 'a variant without an analysis gets no subsection');
    assert.match(html, /<h2>Error analysis<\/h2>[\s\S]*<h3>resnet34<\/h3>[\s\S]*<img src="data:image\/png;base64,/);
  });
});
