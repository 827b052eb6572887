import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Generator, liveTensorCount, noGrad, randn, tensor, tidy, ones, F } from '../../src/tensor/index.js';
import { native } from '../../src/tensor/native.js';
import {
  add, avgPool, batchNorm, conv2d, dense, dropout, flatten, globalAveragePool, identity, input, maxPool, model, relu, zeroPadShortcut,
  type Layer, type SymbolicTensor,
} from '../../src/nn/index.js';

/** Builds a one-layer model and checks that TypeScript shape inference agrees with the engine. */
function checkShape(layer: Layer, sample: number[], expected: (number | null)[]): void {
  const x = input({ shape: sample });
  const y = layer.apply(x);
  assert.deepEqual(y.shape, [null, ...expected.slice(1)]);
  const m = model({ inputs: x, outputs: y, seed: 0 });
  m.eval();
  tidy(() => {
    const out = noGrad(() => m.forward(randn([2, ...sample])));
    assert.deepEqual(out.shape, [2, ...expected.slice(1)]);
  });
  m.dispose();
}

describe('shape inference matches the engine', () => {
  const cases: [string, () => Layer, number[], (number | null)[]][] = [
    ['conv 3×3 same', () => conv2d({ filters: 8, kernelSize: 3, padding: 1 }), [3, 17, 17], [2, 8, 17, 17]],
    ['conv 7×7/2 pad 3', () => conv2d({ filters: 4, kernelSize: 7, strides: 2, padding: 3 }), [3, 33, 30], [2, 4, 17, 15]],
    ['conv 1×1/2', () => conv2d({ filters: 4, kernelSize: 1, strides: 2, useBias: false }), [6, 9, 9], [2, 4, 5, 5]],
    ['conv dilated, grouped', () => conv2d({ filters: 6, kernelSize: [3, 1], dilation: 2, groups: 3 }), [3, 12, 12], [2, 6, 8, 12]],
    ['max-pool 3/2 pad 1', () => maxPool({ poolSize: 3, strides: 2, padding: 1 }), [4, 15, 16], [2, 4, 8, 8]],
    ['max-pool ceil mode', () => maxPool({ poolSize: 2, ceilMode: true }), [4, 7, 7], [2, 4, 4, 4]],
    ['avg-pool 2', () => avgPool({ poolSize: 2 }), [4, 7, 8], [2, 4, 3, 4]],
    ['global average', () => globalAveragePool(), [5, 7, 3], [2, 5]],
    ['global average, keepDims', () => globalAveragePool({ keepDims: true }), [5, 7, 3], [2, 5, 1, 1]],
    ['flatten', () => flatten(), [5, 2, 3], [2, 30]],
    ['dense', () => dense({ units: 3 }), [12], [2, 3]],
    ['batch norm', () => batchNorm(), [4, 5, 5], [2, 4, 5, 5]],
    ['relu', () => relu(), [4, 5], [2, 4, 5]],
    ['zero-pad shortcut /2', () => zeroPadShortcut({ filters: 8, strides: 2 }), [4, 9, 8], [2, 8, 5, 4]],
  ];
  for (const [name, make, sample, out] of cases) it(name, () => checkShape(make(), sample, out));
});

describe('layer semantics', () => {
  it('the zero-pad shortcut subsamples every other pixel and appends zero channels', () => {
    const x = input({ shape: [2, 4, 4] });
    const m = model({ inputs: x, outputs: zeroPadShortcut({ filters: 3, strides: 2 }).apply(x) });
    tidy(() => {
      const data = tensor(Array.from({ length: 32 }, (_, i) => i + 1), [1, 2, 4, 4]);
      const y = m.forward(data);
      assert.deepEqual(y.shape, [1, 3, 2, 2]);
      assert.deepEqual(y.toArray(), [1, 3, 9, 11, 17, 19, 25, 27, 0, 0, 0, 0]);
    });
  });

  it('batch norm uses batch statistics in training and running statistics in eval', () => {
    const x = input({ shape: [2] });
    const bn = batchNorm({ momentum: 0.5 });
    const m = model({ inputs: x, outputs: bn.apply(x) });
    tidy(() => {
      const data = tensor([[1, 10], [3, 30]]);
      assert.deepEqual(m.forward(data).toArray().map((v) => Math.round(v * 1e4) / 1e4), [-1, -1, 1, 1]);
      // running = 0.5·0 + 0.5·mean, var unbiased: (0.5·1 + 0.5·2, 0.5·1 + 0.5·200)
      assert.deepEqual(bn.buffers.get('running_mean')!.toArray(), [1, 10]);
      assert.deepEqual(bn.buffers.get('running_var')!.toArray(), [1.5, 100.5]);
      assert.equal(bn.buffers.get('num_batches_tracked')!.item(), 1);
      m.eval();
      const y = m.forward(data).toArray();
      assert.ok(Math.abs(y[0]! - 0 / Math.sqrt(1.5 + 1e-5)) < 1e-5 && Math.abs(y[3]! - 20 / Math.sqrt(100.5 + 1e-5)) < 1e-5);
      assert.equal(bn.buffers.get('num_batches_tracked')!.item(), 1);
    });
    m.dispose();
  });

  it('dropout is active in training only', () => {
    const x = input({ shape: [1000] });
    const m = model({ inputs: x, outputs: dropout({ rate: 0.5 }).apply(x) });
    tidy(() => {
      const y = m.forward(ones([1, 1000])).toArray();
      const zeros = y.filter((v) => v === 0).length;
      assert.ok(zeros > 400 && zeros < 600);
      assert.ok(y.every((v) => v === 0 || v === 2));
      m.eval();
      assert.ok(m.forward(ones([1, 1000])).toArray().every((v) => v === 1));
    });
  });

  it('dense and conv weights use torch layouts and default inits', () => {
    const x = input({ shape: [64, 3, 3] });
    const c = conv2d({ filters: 32, kernelSize: 3, kernelInitializer: 'torch-default' });
    const d = dense({ units: 10 });
    const m = model({ inputs: x, outputs: d.apply(flatten().apply(c.apply(x))), seed: 1 });
    assert.deepEqual(c.params.get('weight')!.shape, [32, 64, 3, 3]);
    assert.deepEqual(d.params.get('weight')!.shape, [10, 32]);
    tidy(() => {
      const bound = 1 / Math.sqrt(64 * 9);
      const w = c.params.get('weight')!;
      assert.ok(w.abs().max().item() <= bound && w.abs().max().item() > 0.99 * bound);
      assert.ok(c.params.get('bias')!.abs().max().item() <= bound);
    });
    m.dispose();
  });

  it('identity is free: the compiled graph aliases it to its input', () => {
    const x = input({ shape: [3] });
    const y = add().apply([relu().apply(identity().apply(x)), identity().apply(x)]);
    const m = model({ inputs: x, outputs: y });
    tidy(() => assert.deepEqual(m.forward(tensor([[-1, 2, 3]])).toArray(), [-1, 4, 6]));
  });

  it('add sums any number of inputs', () => {
    const x = input({ shape: [2] });
    const m = model({ inputs: x, outputs: add().apply([x, relu().apply(x), x]) });
    tidy(() => assert.deepEqual(m.forward(tensor([[-1, 2]])).toArray(), [-2, 6]));
  });
  it('ReLU and residual adds overwrite their inputs only where autograd allows, with unchanged results', () => {
    // relu(bn), relu(add), the add into bn2's output and the adds into a conv's and an add's output run in place;
    // relu(relu) and an add of ReLU outputs must not (ReLU's backward reads its output), nor an add into z, a batch
    // norm output that a convolution also read (and saved for its backward), nor the caller's input.
    const x = input({ shape: [3, 6, 6] });
    const c1 = conv2d({ filters: 4, kernelSize: 3, padding: 1, useBias: false });
    const b1 = batchNorm();
    const c2 = conv2d({ filters: 4, kernelSize: 3, padding: 1, useBias: false });
    const b2 = batchNorm();
    const h1 = relu().apply(b1.apply(c1.apply(relu().apply(x))));
    const o2 = b2.apply(c2.apply(h1));
    const sum = relu().apply(add().apply([o2, h1]));
    const c3 = conv2d({ filters: 4, kernelSize: 3, padding: 1, useBias: false });
    const b3 = batchNorm();
    const c4 = conv2d({ filters: 4, kernelSize: 3, padding: 1, useBias: false });
    const z = b3.apply(c3.apply(h1));
    const out = add().apply([relu().apply(sum), relu().apply(h1), add().apply([z, c4.apply(z)])]);
    const m = model({ inputs: x, outputs: out, seed: 0 });
    const data = randn([2, 3, 6, 6], { generator: new Generator(3) });
    const copy = data.clone();
    const w = [c1, b1, c2, b2, c3, b3, c4].flatMap((l) => [...l.params.values()]);
    const run = (fwd: () => ReturnType<typeof F.relu>): number[][] => tidy(() => {
      fwd().mul(randn([2, 4, 6, 6], { generator: new Generator(4) })).sum().backward();
      const grads = w.map((p) => p.grad!.flatten().toArray() as number[]);
      for (const p of w) p.grad = null;
      return grads;
    });
    const rm = [b1, b2, b3].map((l) => l.buffers.get('running_mean')!);
    const rv = [b1, b2, b3].map((l) => l.buffers.get('running_var')!);
    const reference = () => {
      const p1 = F.relu(F.batchNorm(F.conv2d(F.relu(data), c1.params.get('weight')!, null, { padding: 1 }), rm[0]!.clone(), rv[0]!.clone(), b1.params.get('weight')!, b1.params.get('bias')!, { training: true }));
      const q = F.batchNorm(F.conv2d(p1, c2.params.get('weight')!, null, { padding: 1 }), rm[1]!.clone(), rv[1]!.clone(), b2.params.get('weight')!, b2.params.get('bias')!, { training: true });
      const zz = F.batchNorm(F.conv2d(p1, c3.params.get('weight')!, null, { padding: 1 }), rm[2]!.clone(), rv[2]!.clone(), b3.params.get('weight')!, b3.params.get('bias')!, { training: true });
      return F.relu(F.relu(q.add(p1))).add(F.relu(p1)).add(zz.add(F.conv2d(zz, c4.params.get('weight')!, null, { padding: 1 })));
    };
    const expectedOut = tidy(() => reference().detach());
    const calls = { relu_inplace: 0, add_inplace: 0 };
    const saved = { relu_inplace: native.relu_inplace, add_inplace: native.add_inplace };
    native.relu_inplace = (x) => (calls.relu_inplace++, saved.relu_inplace(x));
    native.add_inplace = (x, y) => (calls.add_inplace++, saved.add_inplace(x, y));
    let gotOut;
    try {
      gotOut = tidy(() => m.forward(data).detach());
    } finally {
      Object.assign(native, saved);
    }
    assert.deepEqual(calls, { relu_inplace: 2, add_inplace: 4 });
    assert.ok(gotOut.sub(expectedOut).abs().max().item() < 1e-5);
    const expected = run(reference);
    const got = run(() => m.forward(data));
    got.forEach((g, i) => { g.forEach((v, k) => { assert.ok(Math.abs(v - expected[i]![k]!) < 1e-4, `grad ${i}[${k}]: ${v} vs ${expected[i]![k]}`); }); });
    assert.equal(data.sub(copy).abs().max().item(), 0, 'the caller\'s input is never overwritten');
    for (const t of [data, copy, expectedOut, gotOut]) t.dispose();
    m.dispose();
  });
});

describe('clear errors for bad graphs and arguments', () => {
  it('validates layer arguments', () => {
    assert.throws(() => conv2d({ filters: 0, kernelSize: 3 }), /Expected a positive integer for conv2d "conv2d(_\d+)?" filters but received number 0/);
    assert.throws(() => conv2d({ filters: 4, kernelSize: [3, 3, 3] as never }), /Expected a positive integer or a pair of them for conv2d .* kernelSize but received array of length 3/);
    assert.throws(() => conv2d({ filters: 4, kernelSize: 3, groups: 3 }), /groups/);
    assert.throws(() => dense({ units: 1.5 }), /Expected a positive integer for dense .* units but received number 1\.5/);
    assert.throws(() => dropout({ rate: 1 }), /Expected a number in \[0, 1\) for dropout .* rate but received number 1/);
    assert.throws(() => batchNorm({ momentum: 0 }), /momentum/);
    assert.throws(() => input({ shape: [3, -1] }), /Expected a non-empty array of positive integers or null .* for input shape but received array of length 2 \[3,-1\]/);
    assert.throws(() => maxPool({ poolSize: 2, padding: 2 }), /padding 2×2 must be at most half of poolSize 2×2/);
  });

  it('reports incompatible shapes at apply time', () => {
    const x = input({ shape: [3, 8, 8] });
    // Dense works on the last dimension (a token MLP); a feature count other than the one it was built for is refused.
    const d = dense({ units: 2 });
    assert.deepEqual(d.apply(x).shape, [null, 3, 8, 2]);
    assert.throws(() => d.apply(input({ shape: [3, 8, 5] })), /Dense layer "dense(_\d+)?" expects 8 input features but received shape \(None, 3, 8, 5\)/);
    const a = conv2d({ filters: 4, kernelSize: 3 }).apply(x);
    assert.throws(() => add().apply([a, x]), /Add layer "add(_\d+)?" needs inputs of the same shape but received \(None, 4, 6, 6\) and \(None, 3, 8, 8\)/);
    assert.throws(() => add().apply([a]), /needs at least 2 inputs but received 1/);
    assert.throws(() => conv2d({ filters: 4, kernelSize: 9 }).apply(x), /input \(None, 3, 8, 8\) is too small for kernel 9×9/);
    assert.throws(() => relu().apply('x' as unknown as SymbolicTensor), /Expected a SymbolicTensor from input\(\) or another layer for re_lu(_\d+)?\.apply\(\) input 0 but received "x"/);
    const shared = conv2d({ filters: 2, kernelSize: 1 });
    shared.apply(x);
    assert.throws(() => shared.apply(a), /expects 3 input channels .* but received shape \(None, 4, 6, 6\)/);
  });

  it('rejects graphs that are disconnected or reuse a name', () => {
    const x = input({ shape: [2] });
    const other = input({ shape: [2] });
    assert.throws(() => model({ inputs: x, outputs: relu().apply(other) }), /do not depend on the input/);
    assert.throws(() => model({ inputs: x, outputs: add().apply([x, other]) }), /depend on input "input_\d+", which is not the model's input/);
    assert.throws(() => model({ inputs: x, outputs: relu({ name: 'r' }).apply(relu({ name: 'r' }).apply(x)) }), /two different layers named "r"/);
  });

  it('a forward that fails midway releases its intermediates', () => {
    const x = input({ shape: [3, null, null] });
    const m = model({ inputs: x, outputs: conv2d({ filters: 2, kernelSize: 3 }).apply(relu().apply(x)) });
    const small = randn([1, 3, 2, 2]);
    const before = liveTensorCount();
    assert.throws(() => m.forward(small), /conv2d|kernel/i);
    assert.equal(liveTensorCount(), before);
    assert.throws(() => m.forward(randn([1, 3, 4])), /expected a 4-D input \(None, 3, None, None\) but received shape \[1, 3, 4\]/);
    small.dispose();
    m.dispose();
  });

  it('a shared layer is one set of weights applied twice', () => {
    const x = input({ shape: [3] });
    const d = dense({ units: 3, useBias: false });
    const m = model({ inputs: x, outputs: d.apply(d.apply(x)), seed: 0 });
    assert.equal(m.parameters().length, 1);
    tidy(() => {
      const data = randn([2, 3], { generator: new Generator(1) });
      const w = d.params.get('weight')!;
      const expected = F.linear(F.linear(data, w), w);
      assert.ok(m.forward(data).sub(expected).abs().max().item() < 1e-6);
    });
    assert.equal(m.summaryData().rows.find((r) => r.name === d.name)!.macs, 18);
    m.dispose();
  });
});
