// `ablate study diff A B`: verdicts kept, changed or flipped between two study folders.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { diffStudies, formatStudyDiff } from '../../src/study/diff.js';
import { studentTQuantile } from '../../src/study/stats.js';
import { type FakeRun, tmpStudyDir, writeFakeStudy } from './fixtures.js';
import { runCli } from './live-fixtures.js';

const flat = (variant: string, seed: number, acc: number): FakeRun => ({
  name: `${variant}-seed${seed}`, variant, axes: { model: variant }, seed, status: 'ok',
  epochs: Array.from({ length: 4 }, () => ({ loss: 1 - acc, accuracy: acc, val_loss: 1 - acc, val_accuracy: acc })),
});

/** base, and variants at base + the given per-seed differences. */
function folder(deltas: Record<string, number[]>, compare = Object.keys(deltas).map((v) => ({ variant: v, reference: 'base' }))): string {
  const base = [0.7, 0.72, 0.74];
  return writeFakeStudy(tmpStudyDir(), [
    ...base.map((a, s) => flat('base', s, a)),
    ...Object.entries(deltas).flatMap(([name, d]) => d.map((x, s) => flat(name, s, base[s] + x))),
  ], { compare });
}

describe('study diff', () => {
  const A = { strong: [0.1, 0.11, 0.1], flat: [0.01, -0.01, 0.005], slower: [0.05, 0.06, 0.055] };
  const B = { strong: [0.1, 0.12, 0.11], flat: [0.08, 0.09, 0.085], slower: [0.05, 0.01, 0.02] };

  test('kept, flipped and changed verdicts, with the change in Δ and its interval', () => {
    const d = diffStudies(folder(A), folder(B));
    const [strong, flat0, slower] = d.comparisons;
    assert.equal(strong.status, 'kept');
    assert.equal(flat0.status, 'flipped', 'no finding → flat beats base');
    assert.equal(d.flips, 1 + (slower.status === 'flipped' ? 1 : 0));
    // Δ change and its Welch interval from the two paired intervals.
    const [ia, ib] = [flat0.a!.interval!, flat0.b!.interval!];
    assert.ok(Math.abs(flat0.change! - (ib.difference - ia.difference)) < 1e-12);
    const se = Math.hypot(ia.standardError, ib.standardError);
    const df = se ** 4 / (ia.standardError ** 4 / ia.df + ib.standardError ** 4 / ib.df);
    const t = studentTQuantile(0.975, df);
    assert.ok(Math.abs(flat0.changeInterval!.low - (flat0.change! - t * se)) < 1e-12);
    assert.ok(Math.abs(flat0.changeInterval!.high - (flat0.change! + t * se)) < 1e-12);
    const text = formatStudyDiff(d).join('\n');
    assert.match(text, /^FLIPPED flat vs base: A no-difference \+0\.2 \(adj\. p [0-9.]+\) → B better \+8\.5 \(adj\. p [0-9.<> ]+\); Δ changed by \+8\.3 points \(95% CI \+\d+\.\d to \+\d+\.\d, the two studies' runs taken as independent\)$/m);
    assert.match(text, /^KEPT {4}strong vs base: A better \+10\.3/m);
  });

  test('comparisons in one study only are listed, not counted as flips', () => {
    const d = diffStudies(folder({ strong: A.strong }), folder({ strong: A.strong, extra: A.flat }));
    assert.deepEqual(d.comparisons.map((c) => c.status), ['kept', 'only-b']);
    assert.equal(d.flips, 0);
    assert.match(formatStudyDiff(d).join('\n'), /^ONLY-B {2}extra vs base: A \(not compared\) → B no-difference/m);
  });

  test('the CLI exits 3 on a flip, 0 without, 1 for a folder that is missing or has no runs', async () => {
    const [a, b] = [folder(A), folder(B)];
    const flipped = await runCli(['study', 'diff', a, b]);
    assert.equal(flipped.code, 3, flipped.output);
    assert.match(flipped.output, /3 comparisons: [12] flipped/);
    const same = await runCli(['study', 'diff', a, a, '--json']);
    assert.equal(same.code, 0, same.output);
    assert.equal(JSON.parse(same.output).flips, 0);
    const missing = await runCli(['study', 'diff', a, `${b}-nope`]);
    assert.equal(missing.code, 1);
    assert.match(missing.output, /study folder B .*-nope does not exist/);
    const empty = await runCli(['study', 'diff', a, tmpStudyDir()]);
    assert.equal(empty.code, 1);
    assert.match(empty.output, /Expected a study folder with runs for B but .* has none/);
  });
});
