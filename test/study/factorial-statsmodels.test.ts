// The factorial analysis's effects checked against statsmodels: each estimate against the contrast of an
// OLS fit (acc ~ C(A) * C(B) + C(seed)), each interval and p-value against DescrStatsW on the per-seed
// contrasts built independently in Python, and the correction against multipletests.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { PYTHON } from '../torch-python.js';
import { factorialAnalysis } from '../../src/study/report/factorial.js';
import type { VariantSummary } from '../../src/study/report/summary.js';

const probe = spawnSync(PYTHON, ['-c', 'import statsmodels, pandas'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : `needs statsmodels and pandas in ${PYTHON} (apt-get install -y python3-statsmodels)`;

// A 2 × 3 design (shortcut × depth), four seeds, fixed accuracies with real main effects, an interaction and seed effects.
const A = ['projection', 'none'];
const B = [20, 56, 110];
const SEEDS = [0, 1, 2, 3];
const acc = (a: number, b: number, s: number) => 0.9 - 0.02 * a - 0.01 * b - 0.015 * a * b + [0, 0.004, -0.003, 0.006][s] + (((a * 7 + b * 3 + s * 5) % 9) - 4) * 0.0011;

test('factorial effects match statsmodels (OLS contrasts, one-sample t on per-seed contrasts, Holm)', { skip }, () => {
  const rows = A.flatMap((_, a) => B.flatMap((_, b) => SEEDS.map((s) => ({ A: A[a], B: B[b], seed: s, acc: acc(a, b, s) }))));
  const variants = A.flatMap((av, a) => B.map((bv, b) => ({
    name: `${av}-${bv}`, axes: { shortcut: av, depth: bv },
    finished: SEEDS.map((s) => ({ run: { seed: s }, finalValAcc: acc(a, b, s) })),
  }))) as unknown as VariantSummary[];
  const f = factorialAnalysis({ shortcut: A, depth: B }, variants, { correction: 'holm', level: 0.95 })!;
  // main: shortcut none vs projection; depth 56 vs 20, 110 vs 20; interactions none × 56, none × 110.
  assert.equal(f.effects.length, 5);
  const code = `
import json, warnings
warnings.simplefilter('ignore')
import numpy as np, pandas as pd
import statsmodels.formula.api as smf
from statsmodels.stats.weightstats import DescrStatsW
from statsmodels.stats.multitest import multipletests
df = pd.DataFrame(${JSON.stringify(rows)})
df['A'] = pd.Categorical(df['A'], ${JSON.stringify(A)})
df['B'] = pd.Categorical(df['B'], ${JSON.stringify(B)})
fit = smf.ols('acc ~ C(A) * C(B) + C(seed)', data=df).fit()
cells = df.groupby(['A', 'B'], observed=True)['acc'].mean()
A, B = ${JSON.stringify(A)}, ${JSON.stringify(B)}
# Each effect as weights over the cells (a, b).
effects = []
effects.append({(a, b): (1 if a == A[1] else -1) / len(B) for a in A for b in B})
for lb in B[1:]:
    effects.append({(a, b): ((1 if b == lb else -1 if b == B[0] else 0)) / len(A) for a in A for b in B})
for lb in B[1:]:
    effects.append({(A[1], lb): 1, (A[0], lb): -1, (A[1], B[0]): -1, (A[0], B[0]): 1})
# The OLS fit's cell means at the average seed: its contrast is the effect estimate.
grid = pd.DataFrame([(a, b, s) for a in A for b in B for s in sorted(df.seed.unique())], columns=['A', 'B', 'seed'])
grid['A'] = pd.Categorical(grid['A'], A); grid['B'] = pd.Categorical(grid['B'], B)
grid['fit'] = fit.predict(grid)
fitted = grid.groupby(['A', 'B'], observed=True)['fit'].mean()
piv = df.pivot_table(index='seed', columns=['A', 'B'], values='acc', observed=True)
out = []
for w in effects:
    est = sum(v * fitted[k] for k, v in w.items())
    per_seed = sum(v * piv[k] for k, v in w.items()).to_numpy()
    d = DescrStatsW(per_seed)
    lo, hi = d.tconfint_mean(0.05)
    out.append({'ols': est, 'mean': float(per_seed.mean()), 'low': lo, 'high': hi, 'p': d.ttest_mean(0)[1]})
adj = multipletests([e['p'] for e in out], method='holm')[1]
for e, a in zip(out, adj): e['adj'] = a
print(json.dumps(out))`;
  const r = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const ref = JSON.parse(r.stdout) as { ols: number; mean: number; low: number; high: number; p: number; adj: number }[];
  const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
  f.effects.forEach((e, i) => {
    close(e.estimate, ref[i].ols, 1e-12, `${e.label} estimate vs OLS`);
    close(e.estimate, ref[i].mean, 1e-12, `${e.label} estimate vs per-seed mean`);
    close(e.low!, ref[i].low, 1e-9, `${e.label} low`);
    close(e.high!, ref[i].high, 1e-9, `${e.label} high`);
    close(e.pValue!, ref[i].p, 1e-9, `${e.label} p`);
    close(e.adjustedP!, ref[i].adj, 1e-9, `${e.label} Holm p`);
  });
  assert.deepEqual(f.effects.map((e) => e.kind), ['main', 'main', 'main', 'interaction', 'interaction']);
});
