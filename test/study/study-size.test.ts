// Studies state their size before anything is expanded: a run-count ceiling, and files nested too deep
// to be settings, refused at once with what to change.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { expandStudy } from '../../src/study/spec-expand.js';
import { StudySpecError } from '../../src/study/spec-issues.js';
import { parseSetOverrides } from '../../src/study/spec-overrides.js';
import { DEFAULT_MAX_RUNS, checkStudySpec, inspectStudyText, parseStudySpec } from '../../src/study/spec.js';
import { MAX_CONFIG_DEPTH, parseYamlText } from '../../src/util/config-file.js';
import { runCli, tmp, writeStudy } from './live-fixtures.js';

const BASE = `
name: big
base:
  model: resnet20-cifar
  data: { source: generated, generated: { classes: 2, trainCount: 8, testCount: 4, size: 8 } }
  epochs: 1
`;
const GRID = `axes:
${['optimizer.lr', 'optimizer.momentum', 'batchSize', 'epochs', 'optimizer.weightDecay'].map((p) => `  ${p}: [${Array.from({ length: 10 }, (_, i) => i + 1).join(', ')}]`).join('\n')}
`;

/** Runs `f`, and returns its error with the time it took and how much the heap grew. */
function refusal(f: () => unknown): { error: StudySpecError; ms: number; heapMB: number } {
  const heap = process.memoryUsage().heapUsed;
  const t = performance.now();
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof StudySpecError, `expected a StudySpecError, got ${String(e)}`);
    return { error: e, ms: performance.now() - t, heapMB: (process.memoryUsage().heapUsed - heap) / 1e6 };
  }
  assert.fail('expected the study to be refused');
}

describe('the run-count ceiling', () => {
  test('seeds: 100000000 is refused at once, with the count, the ceiling and how to raise it', () => {
    const r = refusal(() => parseStudySpec(`${BASE}axes:\n  augment: [none, standard]\nseeds: 100000000\n`));
    assert.equal(r.error.issues.length, 1, r.error.message);
    const [i] = r.error.issues;
    assert.match(i!.received, /^200,000,000 runs \(2 values of augment × 100,000,000 seeds\)$/);
    assert.match(i!.expected, /^at most 1,000 runs/);
    assert.match(i!.expected, /fewer seeds or axis values/, 'more than any ceiling allows: says what to change');
    assert.ok(r.ms < 1000, `refused in ${r.ms.toFixed(0)} ms`);
    assert.ok(r.heapMB < 50, `the heap grew by ${r.heapMB.toFixed(0)} MB`);
  });

  test('5 axes × 10 values is refused before the grid is built, naming every factor', () => {
    const r = refusal(() => parseStudySpec(BASE + GRID));
    const [i] = r.error.issues;
    assert.equal(i!.received, '100,000 runs (10 values of optimizer.lr × 10 values of optimizer.momentum × 10 values of batchSize × 10 values of epochs × 10 values of optimizer.weightDecay × 1 seed)');
    assert.match(i!.expected, /raise it with "maxRuns: 100000" in the study file or --max-runs 100000/);
    assert.ok(r.ms < 1000, `refused in ${r.ms.toFixed(0)} ms`);
    assert.ok(r.heapMB < 50, `the heap grew by ${r.heapMB.toFixed(0)} MB`);
  });

  test('explicit variants count too; the ceiling is the default until raised', () => {
    assert.equal(DEFAULT_MAX_RUNS, 1000);
    const variants = `variants:\n${Array.from({ length: 11 }, (_, i) => `  - { name: v${i}, optimizer.lr: 0.${i + 1} }`).join('\n')}\n`;
    const r = refusal(() => parseStudySpec(`${BASE}${variants}axes:\n  augment: [none, standard]\nseeds: 50\n`));
    assert.equal(r.error.issues[0]!.received, '1,100 runs (11 variants × 2 values of augment × 50 seeds)');
    // Exactly at the ceiling is allowed.
    assert.equal(parseStudySpec(`${BASE}axes:\n  augment: [none, standard]\nseeds: 500\n`).seeds.length, 500);
  });

  test('maxRuns: in the file and --max-runs raise (or lower) the ceiling; absurd values are refused', () => {
    const text = `${BASE}axes:\n  augment: [none, standard]\nseeds: 600\n`;
    refusal(() => parseStudySpec(text));
    assert.equal(parseStudySpec(`${text}maxRuns: 1200\n`).seeds.length, 600);
    assert.equal(parseStudySpec(text, '<inline>', { maxRuns: 1200 }).seeds.length, 600);
    // The command line wins over the file, both ways.
    const lowered = refusal(() => parseStudySpec(`${text}maxRuns: 1200\n`, '<inline>', { maxRuns: 10 }));
    assert.match(lowered.error.issues[0]!.expected, /^at most 10 runs/);
    for (const bad of ['0', '-3', '2.5', 'lots', '1000000000']) {
      const e = refusal(() => parseStudySpec(`${text}maxRuns: ${bad}\n`));
      assert.ok(e.error.issues.some((i) => i.path === 'maxRuns' && /a whole number of runs from 1 to 100,000/.test(i.expected)), e.error.message);
    }
    const cli = refusal(() => parseStudySpec(text, '<inline>', { maxRuns: 0 }));
    assert.ok(cli.error.issues.some((i) => i.path === '--max-runs'), cli.error.message);
  });

  test('an allowed study of 1,000 runs checks each variant\'s config once, not each seed\'s', () => {
    const spec = parseStudySpec(`${BASE}axes:\n  augment: [none, standard]\nseeds: 500\n`);
    const checked: unknown[] = [];
    const s = expandStudy(spec, { validate: (c) => (checked.push(c), []) });
    assert.equal(s.runs.length, 1000);
    assert.equal(checked.length, 2);
    // A problem found in a variant is reported for all its runs.
    const e = refusal(() => expandStudy(spec, { validate: (c) => (c.augment === 'standard' ? [{ path: 'augment', message: 'expected none' }] : []) }));
    assert.match(e.error.message, /config\.augment \(standard-seed0, standard-seed1, standard-seed2 and 497 more\): expected none/);
  });

  test('a long axis list with repeated values is checked in linear time', () => {
    const values = Array.from({ length: 100_000 }, (_, i) => i % 50_000);
    // An object, not YAML: the parser's own (linear) time is not what is measured.
    const r = refusal(() => checkStudySpec({ name: 'big', base: { model: 'resnet20-cifar' }, axes: { 'optimizer.lr': values } }));
    assert.equal(r.error.issues.filter((i) => /appears twice/.test(i.expected)).length, 50_000);
    assert.ok(r.ms < 3000, `checked in ${r.ms.toFixed(0)} ms`);
  });
});

describe('files nested too deep to be settings', () => {
  const deepFiles: Record<string, string> = {
    'flow lists': `${BASE}axes:\n  x: ${'['.repeat(400_000)}${']'.repeat(400_000)}\n`,
    'flow mappings': `${BASE}axes:\n  x: ${'{a: '.repeat(100_000)}1${'}'.repeat(100_000)}\n`,
    'compact block lists': `${BASE}axes:\n  x: ${'- '.repeat(300_000)}1\n`,
    'indented mappings': `${BASE}axes:\n${Array.from({ length: 1200 }, (_, i) => `${' '.repeat(i + 2)}k${i}:`).join('\n')} 1\n`,
  };
  for (const [what, text] of Object.entries(deepFiles)) {
    test(`${what}, ${(text.length / 1e6).toFixed(1)} MB: refused fast with the line and the limit`, () => {
      const t = performance.now();
      const r = inspectStudyText(text, 'deep.yaml');
      const ms = performance.now() - t;
      assert.equal(r.spec, undefined);
      assert.equal(r.issues.length, 1, JSON.stringify(r.issues));
      assert.match(r.issues[0]!.path, /^line \d+, column \d+$/);
      assert.equal(r.issues[0]!.expected, `settings nested at most ${MAX_CONFIG_DEPTH} levels deep`);
      assert.match(r.issues[0]!.received, /more than 64 levels of nested lists or mappings/);
      assert.ok(ms < 2000, `refused in ${ms.toFixed(0)} ms`);
    });
  }

  test('JSON nested too deep is refused the same way; brackets inside strings do not count', () => {
    const r = inspectStudyText(`{"name": "x", "base": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`, 'deep.json');
    assert.equal(r.issues[0]!.expected, `settings nested at most ${MAX_CONFIG_DEPTH} levels deep`);
    const ok = inspectStudyText(JSON.stringify({ name: 'x', description: '['.repeat(500), base: { model: 'resnet20-cifar' } }), 'ok.json');
    assert.deepEqual(ok.issues, []);
  });

  test('a --set value nested too deep is refused the same way, before the parser recurses', () => {
    const t = performance.now();
    assert.throws(() => parseSetOverrides([`x=${'['.repeat(200_000)}${']'.repeat(200_000)}`]),
      /^TypeError: Expected a YAML value with settings nested at most 64 levels deep for --set x but received "nested deeper at column 65"$/);
    assert.ok(performance.now() - t < 2000);
    assert.deepEqual(parseSetOverrides(['augment=[flip, {cutmix: {alpha: 1}}]']), [{ path: 'augment', value: ['flip', { cutmix: { alpha: 1 } }] }]);
  });

  test('real settings: brackets in block scalars, quotes and comments, and 60 honest levels, parse as before', () => {
    const text = `name: x\ndescription: |\n  ${'[{'.repeat(200)} unbalanced prose\nbase:\n  optimizer: { name: sgd, lr: 0.1 }\n  augment:\n    - flip\n    - cutmix: { alpha: 1 }\n  tag: "${'['.repeat(100)}"\n# ${'{'.repeat(100)}\n`;
    const r = parseYamlText(text);
    assert.deepEqual(r.errors, []);
    assert.deepEqual((r.value as { base: unknown }).base, { optimizer: { name: 'sgd', lr: 0.1 }, augment: ['flip', { cutmix: { alpha: 1 } }], tag: '['.repeat(100) });
    const sixty = `${Array.from({ length: 60 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`;
    assert.deepEqual(parseYamlText(sixty).errors, []);
    assert.equal(parseYamlText(`${Array.from({ length: 70 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`).errors[0]?.line, MAX_CONFIG_DEPTH + 1);
  });
});

describe('ablate study plan / run on an oversized study', () => {
  // The heap is capped: expanding the study would crash with an out-of-memory error instead of the refusal.
  const env = { NODE_OPTIONS: '--max-old-space-size=160' };
  for (const command of ['plan', 'run']) {
    test(`study ${command}: seeds: 100000000 exits 1 with the refusal, creating nothing`, async () => {
      const root = tmp();
      const file = writeStudy(root, { seeds: 100_000_000 });
      const out = join(root, 'out');
      const t = Date.now();
      const r = await runCli(['study', command, file, ...(command === 'run' ? ['--out', out] : [])], { env });
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /expected at most 1,000 runs .* but received 100,000,000 runs \(100,000,000 seeds\)/);
      assert.equal(existsSync(out), false);
      assert.ok(Date.now() - t < 60_000);
    });
  }

  test('study plan --max-runs lets a big study through; a deep file is refused by the CLI', async () => {
    const root = tmp();
    const file = writeStudy(root, { seeds: 1500 });
    const r = await runCli(['study', 'plan', file, '--no-measure', '--max-runs', '1500'], { env });
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /1 variant × 1500 seeds = 1500 runs/);
    const refused = await runCli(['study', 'plan', file, '--no-measure', '--max-runs', '1499'], { env });
    assert.equal(refused.code, 1);
    assert.match(refused.output, /raise it with "maxRuns: 1500" in the study file or --max-runs 1500/);
    const deep = join(root, 'deep.yaml');
    writeFileSync(deep, `name: deep\nbase: ${'['.repeat(300_000)}${']'.repeat(300_000)}\n`);
    const d = await runCli(['study', 'run', deep], { env });
    assert.equal(d.code, 1, d.output);
    assert.match(d.output, /line 2, column \d+: expected settings nested at most 64 levels deep/);
  });
});
