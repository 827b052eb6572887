// DropPath (stochastic depth): per-sample masks, timm's 1/(1 − p) scaling, identity in eval, seeded.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Generator, liveTensorCount, manualSeed, noGrad, ones, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { dropPath, input, model, DropPath } from '../../src/nn/index.js';

/** Per-sample values of an output of a constant-1 input: each sample must be all 0 or all 1/keep. */
function sampleValues(out: Tensor, n: number): number[] {
  const v = out.toArray();
  const per = v.length / n;
  return Array.from({ length: n }, (_, i) => {
    const s = v.slice(i * per, (i + 1) * per);
    assert.ok(s.every((e) => e === s[0]), `sample ${i} is not masked as a whole: ${s.join(',')}`);
    return s[0]!;
  });
}

describe('DropPath', () => {
  it('in training drops whole samples with probability rate and scales the kept ones by 1/(1 − rate)', () => {
    const n = 4000;
    const layer = dropPath({ rate: 0.25, generator: new Generator(5) });
    tidy(() => {
      const values = sampleValues(layer.call([ones([n, 3, 2, 2])], true), n);
      const kept = values.filter((v) => v !== 0);
      assert.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6), 'kept samples are scaled by 1/keep');
      // Binomial(4000, 0.75): mean 3000, sd 27.4; 5 sd either side.
      assert.ok(Math.abs(kept.length - 3000) < 137, `kept ${kept.length} of ${n}`);
      const mean = values.reduce((a, b) => a + b, 0) / n;
      assert.ok(Math.abs(mean - 1) < 0.05, `mean ${mean}: the expectation is the input`);
    });
  });

  it('is an identity in eval mode (and at rate 0), with no draw from any generator', () => {
    const g = new Generator(1);
    const state = g.getState();
    const layer = dropPath({ rate: 0.9, generator: g });
    tidy(() => {
      const x = randn([8, 4, 3, 3]);
      assert.deepEqual(layer.call([x], false).toArray(), x.toArray());
      assert.deepEqual(dropPath({ rate: 0 }).call([x], true).toArray(), x.toArray());
    });
    assert.deepEqual(g.getState(), state);
  });

  it('draws reproducibly: the global generator after manualSeed, or an explicit generator', () => {
    const layer = dropPath({ rate: 0.5 });
    const draw = (seed: number): number[] => {
      manualSeed(seed);
      return tidy(() => sampleValues(layer.call([ones([64, 2])], true), 64));
    };
    assert.deepEqual(draw(3), draw(3));
    assert.notDeepEqual(draw(3), draw(4));
    const withGen = (seed: number): number[] => tidy(() => sampleValues(dropPath({ rate: 0.5, generator: new Generator(seed) }).call([ones([64, 2])], true), 64));
    assert.deepEqual(withGen(9), withGen(9));
  });

  it('passes gradients through the kept samples only, scaled like the forward', () => {
    const layer = dropPath({ rate: 0.5, generator: new Generator(2) });
    tidy(() => {
      const x = randn([32, 3]).requiresGrad_(true);
      const y = layer.call([x], true);
      y.sum().backward();
      const g = sampleValues(x.grad!, 32);
      const out = y.toArray();
      const xs = x.toArray();
      g.forEach((gi, i) => {
        assert.ok(gi === 0 || gi === 2, `grad ${gi}`);
        assert.ok(Math.abs(out[i * 3]! - gi * xs[i * 3]!) < 1e-6);
      });
      assert.ok(g.includes(0) && g.includes(2));
    });
  });

  it('keeps bf16 inputs in bf16 and leaks no tensors', () => {
    const layer = dropPath({ rate: 0.3 });
    const before = liveTensorCount();
    for (let i = 0; i < 20; i++) {
      const r = randn([4, 3, 2, 2]);
      const x = r.to('bfloat16');
      r.dispose();
      const y = layer.call([x], true);
      assert.equal(y.dtype, 'bfloat16');
      const e = layer.call([x], false);
      x.dispose();
      y.dispose();
      e.dispose();
    }
    assert.equal(liveTensorCount(), before);
  });

  it('in a model: identity in eval, shape-preserving, no weights, no FLOPs', () => {
    const x = input({ shape: [4, null, null] });
    const m = model({ inputs: x, outputs: dropPath({ name: 'dp', rate: 0.5 }).apply(x), defaultInputSize: 8 });
    assert.equal(m.countParams().total, 0);
    assert.equal(m.flops().flops, 0);
    assert.ok(m.layers.some((l) => l instanceof DropPath));
    m.eval();
    tidy(() => {
      const t = randn([2, 4, 8, 8]);
      assert.deepEqual(noGrad(() => m.forward(t)).toArray(), t.toArray());
    });
    m.dispose();
  });

  it('rejects rates outside [0, 1) and unbatched inputs', () => {
    for (const rate of [1, -0.1, Number.NaN, '0.5' as unknown as number]) {
      assert.throws(() => dropPath({ rate }), /Expected a number in \[0, 1\) for dropPath .* rate/);
    }
    assert.throws(() => dropPath({ rate: 0.1 }).computeOutputShape([[null]]), /needs a batched input/);
  });
});
