// Every statistic checked against SciPy/statsmodels (Debian's python3-scipy and python3-statsmodels,
// run in /usr/bin/python3 or ABLATE_TEST_PYTHON); those checks are skipped, with a message, where they are absent.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { PYTHON } from '../torch-python.js';
import { normals } from './seeded-normals.js';
import { adjustPValues, clipInterval, mcnemar, minDetectableEffect, nonCentralTCdf, pairedTPower, pairsNeeded, tTestP } from '../../src/study/inference.js';
import { pairedInterval, welchInterval } from '../../src/study/stats.js';

const close = (a: number, b: number, tol: number, msg?: string) => assert.ok(Math.abs(a - b) <= tol, `${msg ?? ''} expected ${b}, got ${a}`);

const probe = spawnSync(PYTHON, ['-c', 'import scipy, statsmodels'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : `needs SciPy and statsmodels in ${PYTHON} (apt-get install -y python3-scipy python3-statsmodels): ${(probe.stderr || String(probe.error)).trim().split('\n').pop()}`;

/** Runs a Python snippet that prints one JSON value. */
function python(code: string): unknown {
  const r = spawnSync(PYTHON, ['-c', `import json, warnings\nwarnings.simplefilter('ignore')\n${code}`], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const P_SETS = [
  [0.01, 0.04, 0.03, 0.005, 0.2, 0.04],
  [0.001, 0.002, 0.003, 0.9],
  [0.5, 0.02],
  [0.049, 0.049, 0.049],
  [0, 1, 0.3, 0.012, 0.0001, 0.07, 0.07, 0.8],
];

describe('multiple-comparison adjustment', { skip }, () => {
  test('Holm and Benjamini–Hochberg match statsmodels multipletests', () => {
    const ref = python(`
from statsmodels.stats.multitest import multipletests
sets = ${JSON.stringify(P_SETS)}
print(json.dumps([[list(multipletests(p, method=m)[1]) for m in ('holm', 'fdr_bh')] for p in sets]))`) as number[][][];
    P_SETS.forEach((ps, i) => {
      adjustPValues(ps, 'holm').forEach((p, j) => { close(p, ref[i][0][j], 1e-12, `holm set ${i} #${j}`); });
      adjustPValues(ps, 'bh').forEach((p, j) => { close(p, ref[i][1][j], 1e-12, `bh set ${i} #${j}`); });
    });
  });
});

test('adjustment: none keeps the p-values; a p-value outside [0, 1] is refused by name', () => {
  assert.deepEqual(adjustPValues([0.2, 0.01], 'none'), [0.2, 0.01]);
  assert.deepEqual(adjustPValues([0.03], 'holm'), [0.03]);
  assert.throws(() => adjustPValues([0.1, NaN], 'holm'), /Expected p-values in \[0, 1\] but received NaN at position 1/);
  assert.throws(() => adjustPValues([1.5], 'bh'), /received 1\.5 at position 0/);
});

// Final accuracies of two variants over the same seeds (paired), and unequal groups (Welch).
const PAIRS: [number[], number[]][] = [
  [[0.836, 0.856], [0.732, 0.739]],
  [[0.91, 0.905, 0.915], [0.9, 0.91, 0.895]],
  [[0.71, 0.74, 0.69, 0.73, 0.72], [0.7, 0.69, 0.7, 0.68, 0.71]],
  [[0.5, 0.95], [0.1, 0.2]],
];
const GROUPS: [number[], number[]][] = [
  [[0.6, 0.62, 0.61], [0.3, 0.31]],
  [[0.81, 0.79, 0.83, 0.8], [0.8, 0.78, 0.82]],
];

describe('t-intervals and p-values', { skip }, () => {
  test('paired and Welch intervals and p-values match scipy.stats', () => {
    const ref = python(`
from scipy import stats
import numpy as np
out = []
for a, b in ${JSON.stringify(PAIRS)}:
    d = np.array(a) - np.array(b); n = len(d); se = d.std(ddof=1) / np.sqrt(n); t = stats.t.ppf(0.975, n - 1)
    out.append([stats.ttest_rel(a, b).pvalue, d.mean() - t * se, d.mean() + t * se])
for a, b in ${JSON.stringify(GROUPS)}:
    r = stats.ttest_ind(a, b, equal_var=False)
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)); se = np.sqrt(va + vb); t = stats.t.ppf(0.975, df)
    m = np.mean(a) - np.mean(b)
    out.append([r.pvalue, m - t * se, m + t * se])
print(json.dumps(out))`) as number[][];
    const ivs = [...PAIRS.map(([a, b]) => pairedInterval(a, b)!), ...GROUPS.map(([a, b]) => welchInterval(a, b)!)];
    ivs.forEach((iv, i) => {
      close(tTestP(iv), ref[i][0], 1e-9, `p #${i}`);
      close(iv.low, ref[i][1], 1e-9, `low #${i}`);
      close(iv.high, ref[i][2], 1e-9, `high #${i}`);
    });
  });
});

test('an interval past ±100 points is cut there, and says which end', () => {
  // Two seeds that disagree wildly: the raw t-interval runs far past +1 (100 points).
  const iv = pairedInterval([0.5, 0.95], [0.1, 0.2])!;
  assert.ok(iv.high > 1, `raw high ${iv.high}`);
  const c = clipInterval(iv.low, iv.high, [0, 1]);
  assert.equal(c.high, 1);
  assert.equal(c.low, Math.max(iv.low, -1));
  assert.deepEqual(c.bounded, { low: iv.low < -1, high: true });
  assert.deepEqual(clipInterval(-0.2, 0.3, [0, 1]), { low: -0.2, high: 0.3, bounded: { low: false, high: false } });
});

const MCNEMAR: [number, number][] = [[7, 2], [0, 5], [12, 12], [30, 11], [250, 210], [1, 0]];

describe('McNemar', { skip }, () => {
  test('exact and χ² (continuity-corrected) match statsmodels', () => {
    const ref = python(`
from statsmodels.stats.contingency_tables import mcnemar
out = []
for b, c in ${JSON.stringify(MCNEMAR)}:
    t = [[100, b], [c, 50]]
    e = mcnemar(t, exact=True); x = mcnemar(t, exact=False, correction=True)
    out.append([e.pvalue, x.statistic, x.pvalue])
print(json.dumps(out))`) as number[][];
    MCNEMAR.forEach(([b, c], i) => {
      const r = mcnemar(b, c);
      close(r.exactP, ref[i][0], 1e-10, `exact p (${b}, ${c})`);
      close(r.chi2, ref[i][1], 1e-12, `χ² (${b}, ${c})`);
      close(r.chi2P, ref[i][2], 1e-10, `χ² p (${b}, ${c})`);
    });
  });
});

test('McNemar: no discordant images means p = 1; counts must be whole and non-negative', () => {
  assert.deepEqual(mcnemar(0, 0), { b: 0, c: 0, exactP: 1, chi2: 0, chi2P: 1 });
  assert.throws(() => mcnemar(-1, 3), /non-negative whole count for b but received -1/);
  assert.throws(() => mcnemar(2, 1.5), /for c but received 1\.5/);
});

describe('power of the paired t-test', { skip }, () => {
  test('non-central t CDF matches scipy.stats.nct', () => {
    const pts: [number, number, number][] = [[2.1, 1, 0.5], [4.3, 2, 3], [-1.2, 4, 1.7], [2.0, 9, 2.5], [1.5, 30, 0.2]];
    const ref = python(`from scipy import stats\nprint(json.dumps([stats.nct.cdf(t, df, nc) for t, df, nc in ${JSON.stringify(pts)}]))`) as number[];
    pts.forEach(([t, df, nc], i) => { close(nonCentralTCdf(t, df, nc), ref[i], 1e-7, `nct(${t}, ${df}, ${nc})`); });
  });

  test('power, detectable effect and seeds needed match statsmodels TTestPower', () => {
    const cases: [number, number][] = [[3, 0.05], [5, 0.05], [10, 0.05], [3, 0.05 / 3], [8, 0.01]];
    const need: [number, number][] = [[1.5, 0.05], [0.8, 0.05], [2.0, 0.0125], [0.5, 0.05]];
    const ref = python(`
from statsmodels.stats.power import TTestPower
import math
p = TTestPower()
print(json.dumps({
  'd': [p.solve_power(nobs=n, alpha=a, power=0.8) for n, a in ${JSON.stringify(cases)}],
  'power': [p.power(effect_size=1.2, nobs=n, alpha=a) for n, a in ${JSON.stringify(cases)}],
  'n': [math.ceil(p.solve_power(effect_size=d, alpha=a, power=0.8)) for d, a in ${JSON.stringify(need)}],
}))`) as { d: number[]; power: number[]; n: number[] };
    cases.forEach(([n, a], i) => {
      close(minDetectableEffect(n, a), ref.d[i], 1e-5 * ref.d[i], `d(n=${n}, α=${a})`);
      close(pairedTPower(n, 1.2, a), ref.power[i], 1e-7, `power(n=${n}, α=${a})`);
    });
    need.forEach(([d, a], i) => { assert.equal(pairsNeeded(d, a), ref.n[i], `n(d=${d}, α=${a})`); });
  });
});

test('power: one seed detects nothing; an effect too small for 1000 seeds says so', () => {
  assert.equal(minDetectableEffect(1, 0.05), Infinity);
  assert.equal(pairsNeeded(0.01, 0.05), undefined);
  assert.equal(pairsNeeded(0, 0.05), undefined);
});

test('simulated null studies: Holm keeps the family-wise error at α; no correction inflates it', () => {
  // 4000 studies of 5 comparisons, 3 seeds each, no true difference anywhere.
  const rand = normals(29);
  const studies = 4000;
  const alpha = 0.05;
  let anyRaw = 0;
  let anyHolm = 0;
  let anyBh = 0;
  for (let s = 0; s < studies; s++) {
    const ps = Array.from({ length: 5 }, () => {
      const a = [0.8 + 0.01 * rand(), 0.8 + 0.01 * rand(), 0.8 + 0.01 * rand()];
      const b = [0.8 + 0.01 * rand(), 0.8 + 0.01 * rand(), 0.8 + 0.01 * rand()];
      return tTestP(pairedInterval(a, b)!);
    });
    if (ps.some((p) => p < alpha)) anyRaw++;
    if (adjustPValues(ps, 'holm').some((p) => p < alpha)) anyHolm++;
    if (adjustPValues(ps, 'bh').some((p) => p < alpha)) anyBh++;
  }
  const se = Math.sqrt((alpha * (1 - alpha)) / studies);
  const fwer = { raw: anyRaw / studies, holm: anyHolm / studies, bh: anyBh / studies };
  // Within three standard errors of α (simulation error), and the uncorrected rate near 1 − 0.95⁵ ≈ 0.23.
  assert.ok(fwer.holm <= alpha + 3 * se, `Holm FWER ${fwer.holm}`);
  assert.ok(fwer.bh <= alpha + 3 * se, `BH FWER under the global null ${fwer.bh}`);
  assert.ok(fwer.raw > 0.18 && fwer.raw < 0.28, `uncorrected FWER ${fwer.raw}`);
  // The per-comparison rate without correction is still α (the test itself is calibrated).
  assert.ok(fwer.holm > 0.03, `Holm is not vacuous: ${fwer.holm}`);
});
