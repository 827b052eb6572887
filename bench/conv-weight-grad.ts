// Where bf16 convolution weight gradients should be computed on this CPU: as one GEMM (ablate's `gemm` mode,
// native/src/conv_ops.cc) or by libtorch's convolution backward (oneDNN). Two parts:
//   1. per layer shape of ResNet-34/50 (batch 16, channels-last bf16 under autocast): forward + weight gradient of one
//      convolution in each mode, in this process, alternating — whether each shape the rule routes is faster as a GEMM;
//   2. whole training steps (forward, backward, SGD; the model, batch and optimizer of bench/engine-step.ts), the two
//      modes alternating step by step in this process.
// Usage: node --import tsx bench/conv-weight-grad.ts [--models resnet34,resnet50] [--sizes 32,224] [--pairs N]
//          [--shape-secs 0.6] [--no-shapes] [--no-steps] [--out results.json]
import {
  F, Generator, randn, tidy, withAutocast, setConvWeightGrad, getNumThreads, engineInfo, type ConvWeightGrad,
} from '../src/tensor/index.js';
import { flag, hasFlag, intFlag, listFlag, median, loadavg, printTable, fmt, saveResults } from './lib/common.js';
import { trainingSetup } from './lib/training-setup.js';

interface Shape { c: number; o: number; h: number; k: number; s: number; p: number; where: string }
const SHAPES: Shape[] = [
  { c: 64, o: 64, h: 56, k: 3, s: 1, p: 1, where: 'R34 layer1 3×3' },
  { c: 128, o: 128, h: 28, k: 3, s: 1, p: 1, where: 'R34 layer2 3×3' },
  { c: 256, o: 256, h: 14, k: 3, s: 1, p: 1, where: 'R34 layer3 3×3' },
  { c: 256, o: 512, h: 14, k: 3, s: 2, p: 1, where: 'R34 layer4 first 3×3' },
  { c: 512, o: 512, h: 7, k: 3, s: 1, p: 1, where: 'R34/R50 layer4 3×3' },
  { c: 128, o: 256, h: 28, k: 1, s: 2, p: 0, where: 'R34 layer3 downsample' },
  { c: 256, o: 64, h: 56, k: 1, s: 1, p: 0, where: 'R50 layer1 1×1 reduce' },
  { c: 64, o: 256, h: 56, k: 1, s: 1, p: 0, where: 'R50 layer1 1×1 expand' },
  { c: 1024, o: 256, h: 14, k: 1, s: 1, p: 0, where: 'R50 layer3 1×1 reduce' },
  { c: 256, o: 1024, h: 14, k: 1, s: 1, p: 0, where: 'R50 layer3 1×1 expand' },
  { c: 2048, o: 512, h: 7, k: 1, s: 1, p: 0, where: 'R50 layer4 1×1 reduce' },
  { c: 512, o: 2048, h: 7, k: 1, s: 1, p: 0, where: 'R50 layer4 1×1 expand' },
  { c: 256, o: 256, h: 2, k: 3, s: 1, p: 1, where: 'R34 layer3 3×3 at 32²' },
  { c: 512, o: 512, h: 1, k: 3, s: 1, p: 1, where: 'R34 layer4 3×3 at 32²' },
];
const BATCH = 16;
interface StepRow { model: string; size: number; gemmMs: number; libtorchMs: number; gemmCpuMs: number; libtorchCpuMs: number; loadBefore: string; loadAfter: string }
const bf16 = { device: 'cpu', dtype: 'bfloat16' } as const;

function timeShape(sh: Shape, secs: number) {
  const g = new Generator(0);
  const x = randn([BATCH, sh.c, sh.h, sh.h], { generator: g }).to({ dtype: 'bfloat16' }).contiguous('channels_last');
  const w = randn([sh.o, sh.c, sh.k, sh.k], { generator: g }).mul(0.05).contiguous('channels_last').requiresGrad_();
  const opts = { stride: sh.s, padding: sh.p };
  const once = (): void => tidy(() => {
    const y = withAutocast(bf16, () => F.conv2d(x, w, null, opts));
    y.backward(y.detach().mul(0.01));
    w.grad = null;
  });
  const modes = ['gemm', 'libtorch'] as const;
  const ms: Record<string, number[]> = { gemm: [], libtorch: [] };
  let route = 'libtorch';
  for (const m of modes) {
    setConvWeightGrad(m);
    if (m === 'gemm') route = withAutocast(bf16, () => F.conv2dWeightGradRoute(x, w, null, opts));
    once();
    once();
  }
  // Alternate modes in short bursts until each has had its share of the time.
  const until = performance.now() + secs * 1000 * 2;
  while (performance.now() < until || ms.gemm!.length < 5) {
    for (const m of modes) {
      setConvWeightGrad(m);
      const t = performance.now();
      once();
      ms[m]!.push(performance.now() - t);
    }
  }
  x.dispose();
  w.dispose();
  const flop = 2 * 2 * BATCH * Math.ceil(sh.h / sh.s) ** 2 * sh.o * sh.c * sh.k * sh.k; // forward + weight gradient
  return { ...sh, route, gemmMs: median(ms.gemm!), libtorchMs: median(ms.libtorch!), gflop: flop / 1e9 };
}

/**
 * Whole training steps of one model, the two modes alternating step by step in this process (ABBA order), so both
 * see the same machine: on this shared VM the same step's time moved 440 → 1,030 ms within a minute, which made
 * separate processes, even interleaved, disagree by ±20 % from one run to the next.
 */
function timeSteps(model: string, size: number, pairs: number): StepRow {
  const bf16On = { device: 'cpu', dtype: 'bfloat16' } as const;
  const { model: m, opt, x, y } = trainingSetup(model, { size, batch: BATCH, bf16: true });
  const step = (): void => {
    tidy(() => {
      const loss = F.crossEntropy(withAutocast(bf16On, () => m.forward(x)).float(), y);
      loss.backward();
      return loss.item();
    });
    opt.step({ zeroGrad: true });
  };
  const samples = { gemm: { ms: [] as number[], cpu: [] as number[] }, libtorch: { ms: [] as number[], cpu: [] as number[] } };
  const loadBefore = loadavg();
  try {
    for (const mode of ['gemm', 'libtorch'] as const) {
      setConvWeightGrad(mode);
      step();
      step();
    }
    for (let i = 0; i < pairs; i++) {
      const order: ConvWeightGrad[] = i % 2 === 0 ? ['gemm', 'libtorch'] : ['libtorch', 'gemm'];
      for (const mode of order) {
        setConvWeightGrad(mode);
        const t = performance.now();
        const c = process.cpuUsage();
        step();
        const used = process.cpuUsage(c);
        samples[mode].ms.push(performance.now() - t);
        samples[mode].cpu.push((used.user + used.system) / 1000);
      }
    }
  } finally {
    opt.dispose();
    m.dispose();
    x.dispose();
    y.dispose();
  }
  return {
    model, size, gemmMs: median(samples.gemm.ms), libtorchMs: median(samples.libtorch.ms),
    gemmCpuMs: median(samples.gemm.cpu), libtorchCpuMs: median(samples.libtorch.cpu), loadBefore, loadAfter: loadavg(),
  };
}

async function main(): Promise<void> {
  const info = engineInfo();
  console.log(`conv-weight-grad: libtorch ${info.libtorch}, ${getNumThreads()} threads, bf16 ${info.bf16}; ablate's mode here: ${info.convWeightGrad} (${info.convWeightGradSource}); load ${loadavg()}`);
  const out: Record<string, unknown> = { libtorch: info.libtorch, threads: getNumThreads(), autoMode: info.convWeightGrad };
  if (!hasFlag('no-shapes')) {
    const secs = Number(flag('shape-secs', '0.6'));
    const loadBefore = loadavg();
    const rows = SHAPES.map((s) => timeShape(s, secs));
    setConvWeightGrad(info.convWeightGrad);
    console.log(`\nOne convolution, forward + weight gradient, batch ${BATCH}, bf16 channels-last (median ms; load ${loadBefore} → ${loadavg()})`);
    printTable(['layer', 'shape', 'routed', 'GEMM ms', 'libtorch ms', 'libtorch / GEMM'], rows.map((r) => [
      r.where, `${r.c}→${r.o} ${r.h}² k${r.k} s${r.s}`, r.route, fmt(r.gemmMs, 2), fmt(r.libtorchMs, 2), fmt(r.libtorchMs / r.gemmMs, 2),
    ]));
    out.shapes = rows;
  }
  if (!hasFlag('no-steps')) {
    const steps: StepRow[] = [];
    for (const model of listFlag('models', 'resnet34,resnet50')) {
      for (const size of listFlag('sizes', '32,224').map(Number)) {
        const row = timeSteps(model, size, intFlag('pairs', size <= 64 ? 30 : 10));
        steps.push(row);
        console.log(`  ${model} ${size}² bf16: GEMM ${fmt(row.gemmMs)} ms, libtorch ${fmt(row.libtorchMs)} ms → ${fmt(row.libtorchMs / row.gemmMs, 2)}× (CPU ${fmt(row.gemmCpuMs)} vs ${fmt(row.libtorchCpuMs)} ms; load ${row.loadBefore} → ${row.loadAfter})`);
      }
    }
    console.log(`\nWhole training step (forward, backward, SGD), batch ${BATCH}, bf16 autocast + channels-last, the modes alternating step by step (median ms)`);
    printTable(['model', 'size', 'GEMM ms', 'libtorch ms', 'speed-up', 'CPU GEMM ms', 'CPU libtorch ms', 'load'], steps.map((r) => [
      r.model, `${r.size}²`, fmt(r.gemmMs), fmt(r.libtorchMs), `${fmt(r.libtorchMs / r.gemmMs, 2)}×`, fmt(r.gemmCpuMs), fmt(r.libtorchCpuMs), `${r.loadBefore} → ${r.loadAfter}`,
    ]));
    out.steps = steps;
  }
  console.log(`\nresults: ${saveResults('conv-weight-grad', out)}`);
}

await main();
