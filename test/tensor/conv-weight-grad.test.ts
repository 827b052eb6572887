// bf16 convolution weight gradients as one GEMM (native/src/conv_ops.cc) against libtorch's own convolution backward
// and against a float64 reference computed from the same bf16 operands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  F, Generator, randn, withAutocast, noGrad, setConvWeightGrad, convWeightGrad, engineInfo, liveTensorCount, tidy, type Tensor,
} from '../../src/tensor/index.js';
import { autoConvWeightGrad } from '../../src/tensor/native.js';

const bf16 = { device: 'cpu', dtype: 'bfloat16' } as const;

interface Shape { n: number; c: number; o: number; h: number; w: number; k: [number, number]; stride: number; padding: number; bias?: boolean }
const name = (s: Shape) => `${s.c}→${s.o} ${s.h}×${s.w} k${s.k.join('×')} s${s.stride} p${s.padding}${s.bias ? ' +bias' : ''} n${s.n}`;

/** The shapes the GEMM takes: 1×1 kernels on ≤ 14×14 outputs (operands ≤ 4 MiB), ≤ 3×3 kernels on ≤ 8×8 (odd sizes, strides, batch 1, bias). */
const ROUTED: Shape[] = [
  { n: 4, c: 32, o: 48, h: 7, w: 7, k: [3, 3], stride: 1, padding: 1 },
  { n: 3, c: 16, o: 32, h: 14, w: 13, k: [3, 3], stride: 2, padding: 1 },
  { n: 2, c: 64, o: 32, h: 14, w: 13, k: [1, 1], stride: 1, padding: 0 },
  { n: 2, c: 32, o: 64, h: 27, w: 28, k: [1, 1], stride: 2, padding: 0 },
  { n: 1, c: 24, o: 40, h: 5, w: 6, k: [3, 3], stride: 1, padding: 1, bias: true },
  { n: 2, c: 16, o: 16, h: 2, w: 2, k: [3, 3], stride: 1, padding: 1 },
  { n: 2, c: 16, o: 24, h: 6, w: 5, k: [3, 2], stride: 1, padding: 0 },
  { n: 2, c: 16, o: 24, h: 1, w: 1, k: [3, 3], stride: 1, padding: 1 },
];

function operands(s: Shape, seed: number) {
  const g = new Generator(seed);
  const x = randn([s.n, s.c, s.h, s.w], { generator: g }).contiguous('channels_last').requiresGrad_();
  const w = randn([s.o, s.c, ...s.k], { generator: g }).mul(0.1).contiguous('channels_last').requiresGrad_();
  const b = s.bias ? randn([s.o], { generator: g }).requiresGrad_() : null;
  return { x, w, b };
}

function gradsOf(s: Shape, mode: 'gemm' | 'libtorch', seed = 1) {
  const prev = setConvWeightGrad(mode);
  try {
    const { x, w, b } = operands(s, seed);
    const opts = { stride: s.stride, padding: s.padding };
    const route = withAutocast(bf16, () => F.conv2dWeightGradRoute(x, w, b, opts));
    const y = withAutocast(bf16, () => F.conv2d(x, w, b, opts));
    const dy = randn(y.shape, { generator: new Generator(seed + 100) }).to({ dtype: 'bfloat16' }).contiguous('channels_last');
    y.backward(dy);
    return { route, y: y.float().toArray(), dy, x, w, b, gx: x.grad!.toArray(), gw: w.grad!, gb: b?.grad?.toArray() };
  } finally {
    setConvWeightGrad(prev);
  }
}

/** dW (and db) in float64 from the bf16-rounded x, w and dy, with Σ|terms| per element to bound an fp32 sum's error. */
function reference(s: Shape, x: Tensor, w: Tensor, dy: Tensor) {
  const f64 = (t: Tensor) => t.detach().to({ dtype: 'bfloat16' }).to({ dtype: 'float64' }).contiguous();
  const opts = { stride: s.stride, padding: s.padding };
  const run = (xi: Tensor, di: Tensor) => {
    const wi = f64(w).requiresGrad_();
    const bi = s.bias ? randn([s.o]).to({ dtype: 'float64' }).requiresGrad_() : null;
    F.conv2d(xi, wi, bi, opts).backward(di);
    return { gw: wi.grad!.contiguous().toArray(), gb: bi?.grad?.toArray() ?? [] };
  };
  const signed = run(f64(x), f64(dy));
  const abs = run(f64(x).abs(), f64(dy).abs());
  return { gw: signed.gw, gb: signed.gb, absw: abs.gw };
}

/** Each element within one bf16 rounding (2⁻⁸ relative, generous for round-to-nearest's 2⁻⁹) plus fp32 summation error. */
function assertWithinBf16(got: number[], ref: number[], abs: number[], what: string) {
  assert.equal(got.length, ref.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const bound = 2 ** -8 * Math.abs(ref[i]!) + 2 ** -18 * abs[i]! + 1e-30;
    worst = Math.max(worst, Math.abs(got[i]! - ref[i]!) / bound);
  }
  assert.ok(worst <= 1, `${what}: an element is off by ${worst.toFixed(2)}× the bf16 bound`);
}

for (const s of ROUTED) {
  test(`GEMM weight gradient ${name(s)}: forward and input gradient are libtorch's bit for bit, dW within bf16 rounding of float64`, () => {
    const before = liveTensorCount();
    tidy(() => {
      const gemm = gradsOf(s, 'gemm');
      const lib = gradsOf(s, 'libtorch');
      assert.equal(gemm.route, 'gemm');
      assert.equal(lib.route, 'libtorch');
      assert.deepEqual(gemm.y, lib.y, 'forward');
      assert.deepEqual(gemm.gx, lib.gx, 'input gradient');
      assert.equal(gemm.gw.dtype, 'float32', 'the fp32 weight receives an fp32 gradient, as under autocast');
      assert.deepEqual(gemm.gw.shape, [s.o, s.c, ...s.k]);
      assert.ok(gemm.w.isContiguous('channels_last') && gemm.gw.isContiguous('channels_last'), 'the gradient has its weight\'s (channels-last) layout');
      const ref = reference(s, gemm.x, gemm.w, gemm.dy);
      assertWithinBf16(gemm.gw.contiguous().toArray(), ref.gw, ref.absw, 'GEMM dW');
      assertWithinBf16(lib.gw.contiguous().toArray(), ref.gw, ref.absw, 'libtorch dW');
      if (s.bias) {
        assert.ok(gemm.gb && lib.gb);
        for (let i = 0; i < ref.gb.length; i++) assert.ok(Math.abs(gemm.gb[i]! - ref.gb[i]!) <= 1e-2 * (Math.abs(ref.gb[i]!) + 1), `db[${i}] ${gemm.gb[i]} vs ${ref.gb[i]}`);
      }
    });
    assert.equal(liveTensorCount(), before, 'no tensor outlives the step');
  });
}

test('in gemm mode, a convolution the rule leaves to libtorch gives libtorch\'s forward and gradients bit for bit', () => {
  tidy(() => {
    const s: Shape = { n: 2, c: 16, o: 24, h: 16, w: 16, k: [3, 3], stride: 1, padding: 1, bias: true };
    const gemm = gradsOf(s, 'gemm');
    const lib = gradsOf(s, 'libtorch');
    assert.equal(gemm.route, 'libtorch');
    assert.deepEqual(gemm.y, lib.y);
    assert.deepEqual(gemm.gx, lib.gx);
    assert.deepEqual(gemm.gw.toArray(), lib.gw.toArray());
    assert.deepEqual(gemm.gb, lib.gb);
  });
});

test('GEMM weight gradients are deterministic: the same inputs give the same bits', () => {
  tidy(() => {
    const a = gradsOf(ROUTED[0]!, 'gemm', 7).gw.toArray();
    const b = gradsOf(ROUTED[0]!, 'gemm', 7).gw.toArray();
    assert.deepEqual(a, b);
  });
});

test('a broken im2col would be caught: shifting one tap changes dW beyond bf16 rounding', () => {
  // Guards the tolerance itself: the reference check must be able to fail.
  tidy(() => {
    const s = ROUTED[0]!;
    const gemm = gradsOf(s, 'gemm');
    const ref = reference(s, gemm.x, gemm.w, gemm.dy);
    const shifted = gemm.gw.contiguous().toArray();
    const per = s.k[0] * s.k[1];
    for (let o = 0; o < s.o; o++) for (let c = 0; c < s.c; c++) [shifted[(o * s.c + c) * per], shifted[(o * s.c + c) * per + 1]] = [shifted[(o * s.c + c) * per + 1]!, shifted[(o * s.c + c) * per]!];
    assert.throws(() => assertWithinBf16(shifted, ref.gw, ref.absw, 'shifted'), /off by/);
  });
});

test('everything else stays on libtorch\'s convolution backward', () => {
  const prev = setConvWeightGrad('gemm');
  try {
    tidy(() => {
      const g = new Generator(2);
      const route = (x: Tensor, w: Tensor, o: F.Conv2dOptions = {}, autocast = true) =>
        autocast ? withAutocast(bf16, () => F.conv2dWeightGradRoute(x, w, null, o)) : F.conv2dWeightGradRoute(x, w, null, o);
      const cl = (shape: number[]) => randn(shape, { generator: g }).contiguous('channels_last');
      const w3 = randn([32, 32, 3, 3], { generator: g }).requiresGrad_();
      assert.equal(route(cl([2, 32, 7, 7]), w3, { padding: 1 }), 'gemm', 'the routed case, for contrast');
      assert.equal(route(cl([2, 32, 7, 7]), w3, { padding: 1 }, false), 'libtorch', 'fp32 (no autocast)');
      assert.equal(route(randn([2, 32, 7, 7], { generator: g }), w3, { padding: 1 }), 'libtorch', 'NCHW input');
      assert.equal(route(cl([2, 32, 16, 16]), w3, { padding: 1 }), 'libtorch', '3×3 on a 16×16 output');
      assert.equal(route(cl([2, 32, 8, 8]), w3, { padding: 1 }), 'gemm', '3×3 on an 8×8 output');
      assert.equal(route(cl([2, 32, 9, 9]), w3, { padding: 1 }), 'libtorch', '3×3 on a 9×9 output');
      assert.equal(route(cl([2, 32, 7, 7]), w3, { padding: 2, dilation: 2 }), 'libtorch', 'dilation');
      assert.equal(route(cl([2, 64, 7, 7]), w3, { padding: 1, groups: 2 }), 'libtorch', 'groups');
      const w1 = randn([48, 32, 1, 1], { generator: g }).requiresGrad_();
      assert.equal(route(cl([2, 32, 14, 14]), w1), 'gemm', '1×1 on a 14×14 output');
      assert.equal(route(cl([2, 32, 15, 14]), w1), 'libtorch', '1×1 on a 15×14 output');
      assert.equal(route(cl([2, 32, 28, 28]), w1, { stride: 2 }), 'gemm', '1×1 stride 2 onto 14×14');
      // The operand limit (4 MiB: batch × positions × the wider channel count × 2 bytes): ResNet-50's layer3 at batch
      // 16 stays on libtorch's route, its layer4 and the same layer at batch 8 take the GEMM.
      const wide = randn([256, 1024, 1, 1], { generator: g }).requiresGrad_();
      assert.equal(route(cl([16, 1024, 14, 14]), wide), 'libtorch', '1×1 with 6.4 MB operands (ResNet-50 layer3, batch 16)');
      assert.equal(route(cl([8, 1024, 14, 14]), wide), 'gemm', '1×1 with 3.2 MB operands (batch 8)');
      assert.equal(route(cl([16, 2048, 7, 7]), randn([512, 2048, 1, 1], { generator: g }).requiresGrad_()), 'gemm', '1×1 with 3.2 MB operands (ResNet-50 layer4, batch 16)');
      assert.equal(route(cl([2, 3, 8, 8]), randn([64, 3, 1, 1], { generator: g }).requiresGrad_()), 'libtorch', 'a 3-channel stem');
      assert.equal(route(cl([2, 32, 8, 8]), randn([32, 32, 5, 5], { generator: g }).requiresGrad_(), { padding: 2 }), 'libtorch', '5×5');
      assert.equal(route(cl([2, 32, 7, 7]), w3.detach(), { padding: 1 }), 'libtorch', 'a frozen weight');
      assert.equal(noGrad(() => route(cl([2, 32, 7, 7]), w3, { padding: 1 })), 'libtorch', 'inference');
      setConvWeightGrad('libtorch');
      assert.equal(route(cl([2, 32, 7, 7]), w3, { padding: 1 }), 'libtorch', 'mode libtorch');
    });
  } finally {
    setConvWeightGrad(prev);
  }
});

test('an input changed in place after the GEMM-routed convolution is refused at backward, not used silently', () => {
  const prev = setConvWeightGrad('gemm');
  try {
    tidy(() => {
      const s = ROUTED[0]!;
      const { x, w } = operands(s, 3);
      const h = withAutocast(bf16, () => x.mul(1).to({ dtype: 'bfloat16' }));
      const y = withAutocast(bf16, () => F.conv2d(h, w, null, { padding: 1 }));
      noGrad(() => h.add_(1));
      assert.throws(() => y.sum().backward(), /modified by an inplace operation|version/);
    });
  } finally {
    setConvWeightGrad(prev);
  }
});

test('ABLATE_CONV_WEIGHT_GRAD chooses the mode; auto picks the GEMM on AMX CPUs only; a bad value is refused with what is expected', () => {
  assert.equal(autoConvWeightGrad('fpu avx512f avx512_bf16 amx_bf16 amx_tile amx_int8'), 'gemm');
  assert.equal(autoConvWeightGrad('fpu avx2 avx512f avx512_bf16'), 'libtorch');
  assert.equal(autoConvWeightGrad(''), 'libtorch');
  const root = join(import.meta.dirname, '..', '..');
  const probe = `import { engineInfo } from './src/tensor/index.ts'; const e = engineInfo(); console.log(e.convWeightGrad + ' ' + e.convWeightGradSource);`;
  const run = (v: string) => spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', env: { ...process.env, ABLATE_CONV_WEIGHT_GRAD: v }, timeout: 60000 });
  assert.equal(run('libtorch').stdout.trim(), 'libtorch environment');
  assert.equal(run('gemm').stdout.trim(), 'gemm environment');
  assert.match(run('auto').stdout.trim(), /^(gemm|libtorch) ablate$/);
  const bad = run('fast');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /ABLATE_CONV_WEIGHT_GRAD: expected gemm, libtorch or auto but received "fast"/);
  assert.throws(() => setConvWeightGrad('fast' as 'gemm'), /Expected 'gemm' or 'libtorch' for setConvWeightGrad\(\) mode/);
  assert.equal(engineInfo().convWeightGrad, convWeightGrad().mode);
});
