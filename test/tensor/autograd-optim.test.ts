import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { tensor, SGD, Adam, AdamW, clipGradNorm, clipGradNormPerParam, noGrad, isGradEnabled, Generator, randn, rand } from '../../src/tensor/index.js';
import { assertClose } from './helpers.js';
import { PYTHON } from '../torch-python.js';

test('backward computes gradients; noGrad disables tracking', () => {
  const x = tensor([1, 2, 3]).requiresGrad_();
  const y = x.mul(x).sum();
  y.backward();
  assertClose(x.grad!.toArray(), [2, 4, 6]);
  const z = noGrad(() => {
    assert.equal(isGradEnabled(), false);
    return x.mul(2);
  });
  assert.equal(isGradEnabled(), true);
  assert.equal(z.requiresGrad, false);
  x.grad = null;
  assert.equal(x.grad, null);
});

test('gradients accumulate until zeroed', () => {
  const x = tensor([1, 1]).requiresGrad_();
  x.sum().backward();
  x.mul(3).sum().backward();
  assertClose(x.grad!.toArray(), [4, 4]);
  const opt = new SGD([x], { lr: 0 });
  opt.zeroGrad();
  assert.equal(x.grad, null);
});

function quadStep(p: ReturnType<typeof tensor>): void {
  // loss = sum(p^2 * c) with c = [1, 2] → grad = 2 c p
  p.mul(p).mul(tensor([1, 2])).sum().backward();
}

test('SGD with momentum, dampening 0, weight decay and Nesterov matches torch.optim.SGD', () => {
  for (const nesterov of [false, true]) {
    const p = tensor([1, -1]).requiresGrad_();
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov });
    let ref = [1, -1];
    let buf: number[] | null = null;
    for (let k = 0; k < 3; k++) {
      quadStep(p);
      opt.step();
      opt.zeroGrad();
      const g = ref.map((v, i) => 2 * [1, 2][i]! * v + 0.01 * v);
      buf = buf === null ? g : buf.map((b, i) => 0.9 * b + g[i]!);
      const d = nesterov ? g.map((gi, i) => gi + 0.9 * buf![i]!) : buf;
      ref = ref.map((v, i) => v - 0.1 * d[i]!);
      assertClose(p.toArray(), ref, 1e-6, `nesterov=${nesterov} step ${k}`);
    }
  }
});

test('Adam and AdamW match the torch.optim formulas', () => {
  for (const [Cls, decoupled] of [[Adam, false], [AdamW, true]] as const) {
    const p = tensor([0.5, -2]).requiresGrad_();
    const opt = new Cls([p], { lr: 0.01, weightDecay: 0.1 });
    let ref = [0.5, -2];
    let m = [0, 0], v = [0, 0];
    for (let t = 1; t <= 4; t++) {
      quadStep(p);
      opt.step();
      opt.zeroGrad();
      let g = ref.map((x, i) => 2 * [1, 2][i]! * x);
      if (!decoupled) g = g.map((gi, i) => gi + 0.1 * ref[i]!);
      else ref = ref.map((x) => x * (1 - 0.01 * 0.1));
      m = m.map((mi, i) => 0.9 * mi + 0.1 * g[i]!);
      v = v.map((vi, i) => 0.999 * vi + 0.001 * g[i]! ** 2);
      const bc1 = 1 - 0.9 ** t, bc2 = 1 - 0.999 ** t;
      ref = ref.map((x, i) => x - (0.01 / bc1) * m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(bc2) + 1e-8));
      assertClose(p.toArray(), ref, 1e-5, `${Cls.name} step ${t}`);
    }
  }
});

test('Keras clipnorm clips each gradient on its own; global clipping uses one norm', () => {
  const a = tensor([3, 4]).requiresGrad_();
  const b = tensor([0.3, 0.4]).requiresGrad_();
  a.mul(tensor([3, 4])).sum().backward(); // grad a = [3, 4], norm 5
  b.mul(tensor([0.3, 0.4])).sum().backward(); // grad b = [0.3, 0.4], norm 0.5
  assert.equal(clipGradNormPerParam([a, b], 1), 1);
  assertClose(a.grad!.toArray(), [0.6, 0.8]);
  assertClose(b.grad!.toArray(), [0.3, 0.4], 1e-6, 'below the limit: untouched');
  const total = clipGradNorm([a, b], 0.5);
  assertClose([total], [Math.sqrt(1 + 0.25)]);
  const coef = 0.5 / (Math.sqrt(1.25) + 1e-6);
  assertClose(a.grad!.toArray(), [0.6 * coef, 0.8 * coef], 1e-5);
});

test('optimizer state round-trips (resume continues identically)', () => {
  const g = new Generator(0);
  const init = randn([5], { generator: g });
  const run = (steps: number, resumeAt?: number) => {
    let p = init.clone().requiresGrad_();
    let opt = new Adam([p], { lr: 0.1 });
    for (let k = 0; k < steps; k++) {
      if (k === resumeAt) {
        const s = opt.state();
        const saved = { ...s, tensors: new Map([...s.tensors].map(([n, t]) => [n, t.clone()])) };
        const p2 = p.detach().clone().requiresGrad_();
        p = p2;
        opt = new Adam([p], { lr: 0.1 });
        opt.loadState(saved);
      }
      p.pow(2).sum().backward();
      opt.step();
      opt.zeroGrad();
    }
    return p.toArray();
  };
  assertClose(run(6, 3), run(6), 1e-7);
});

test('seeded generators reproduce, and state restore replays the stream', () => {
  const a = rand([4], { generator: new Generator(42) }).toArray();
  const b = rand([4], { generator: new Generator(42) }).toArray();
  assert.deepEqual(a, b);
  const g = new Generator(7);
  rand([3], { generator: g });
  const state = g.getState();
  const x = rand([3], { generator: g }).toArray();
  g.setState(state);
  assert.deepEqual(rand([3], { generator: g }).toArray(), x);
});

const torchMissing = (() => {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? false : `PyTorch is needed for the bitwise SGD comparison (${PYTHON} -c 'import torch' failed)`;
})();

test('SGD (the fused fp32 pass, and the multi-tensor pass used on GPUs) gives torch.optim.SGD\'s results bit for bit, channels-last and odd sizes included', { skip: torchMissing }, () => {
  // 100003 elements: vector body and scalar tail; the channels-last weight walks memory in its own order.
  const script = `
import sys, torch
torch.manual_seed(0)
shapes = [(100003,), (8, 5, 3, 3)]
out = []
for nesterov, wd, damp, mom in [(False, 0.0, 0.0, 0.9), (True, 5e-4, 0.0, 0.9), (False, 1e-4, 0.1, 0.9), (False, 0.0, 0.0, 0.0), (False, 1e-4, 0.0, 0.0)]:
    for s in shapes:
        p0 = torch.randn(*s)
        if len(s) == 4: p0 = p0.contiguous(memory_format=torch.channels_last)
        gs = [torch.randn(*s) for _ in range(3)]
        p = p0.clone().requires_grad_(True)
        opt = torch.optim.SGD([p], lr=0.1, momentum=mom, weight_decay=wd, nesterov=nesterov, dampening=damp)
        for g in gs:
            p.grad = g.contiguous(memory_format=torch.channels_last) if len(s) == 4 else g.clone()
            opt.step()
        for t in [p0] + gs + [p.detach()]:
            out.append(t.contiguous().numpy().tobytes())
sys.stdout.buffer.write(b''.join(out))
`;
  const r = spawnSync(PYTHON, ['-c', script], { maxBuffer: 64 * 2 ** 20 });
  assert.equal(r.status, 0, r.stderr?.toString());
  const all = new Float32Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength / 4);
  let at = 0;
  const next = (n: number) => all.slice(at, (at += n));
  // Plain SGD (no momentum) too: its first step is no different from the others. foreach: true forces the
  // multi-tensor kernels the GPU path uses (torch._foreach_*), here on the CPU.
  for (const foreach of [undefined, true]) {
  at = 0;
  for (const [nesterov, wd, damp, momentum] of [[false, 0, 0, 0.9], [true, 5e-4, 0, 0.9], [false, 1e-4, 0.1, 0.9], [false, 0, 0, 0], [false, 1e-4, 0, 0]] as const) {
    for (const shape of [[100003], [8, 5, 3, 3]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const cl = shape.length === 4;
      const load = () => {
        const t = tensor(next(n), shape);
        return cl ? t.contiguous('channels_last') : t;
      };
      const p = load().requiresGrad_(true);
      const grads = [load(), load(), load()];
      const expected = next(n);
      const opt = new SGD([p], { lr: 0.1, momentum, weightDecay: wd, nesterov, dampening: damp, foreach });
      for (const g of grads) {
        p.grad = g;
        opt.step();
      }
      const got = Float32Array.from(p.contiguous().toArray() as number[]);
      const differ = got.reduce((k, v, i) => k + (v === expected[i] ? 0 : 1), 0);
      assert.equal(differ, 0, `foreach=${foreach} momentum=${momentum} nesterov=${nesterov} wd=${wd} dampening=${damp} shape [${shape}]: ${differ} of ${n} values differ from PyTorch's`);
      for (const t of [p, ...grads]) t.dispose();
      opt.dispose();
    }
  }
  }
});

test('SGD\'s multi-tensor pass updates a whole parameter list like the per-parameter pass: mixed shapes and dtypes, a parameter without a gradient, gradients dropped', () => {
  const run = (foreach: boolean) => {
    const g = new Generator(5);
    const ps = [randn([7, 3], { generator: g }), randn([5], { generator: g }).to({ dtype: 'bfloat16' }), randn([4, 2], { generator: g }),
      randn([2, 2, 3, 3], { generator: g }).contiguous('channels_last')].map((t) => t.requiresGrad_(true));
    const untouched = ps[2]!.toArray();
    const opt = new SGD(ps, { lr: 0.05, momentum: 0.9, weightDecay: 1e-3, nesterov: true, foreach });
    for (let step = 0; step < 3; step++) {
      ps.forEach((p, i) => { if (i !== 2) p.grad = randn(p.shape, { generator: g }).to({ dtype: p.dtype }); });
      opt.step({ zeroGrad: step === 1 });
      if (step === 1) assert.ok(ps.every((p) => p.grad === null), 'zeroGrad drops every gradient');
    }
    assert.deepEqual(ps[2]!.toArray(), untouched, 'a parameter without a gradient is left alone');
    const out = ps.map((p) => p.float().toArray());
    opt.dispose();
    return out;
  };
  const [a, b] = [run(false), run(true)];
  assert.deepEqual(b, a);
});
