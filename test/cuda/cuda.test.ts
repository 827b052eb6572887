// CUDA end to end. Skipped where no GPU is visible (CI); scripts/gpu-check.sh runs it on a GPU machine against the
// PyTorch installed there. ABLATE_CUDA_TESTS=require turns "no GPU" into a failure instead of a skip.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  cudaAvailable, cudaDeviceCount, cudaDevices, engineInfo, randn, tensor, uploadTensor, withAutocast, synchronize, deviceBusy, tidy, F, liveTensorCount,
  hostReadCount, full, deviceSpin,
} from '../../src/tensor/index.js';
import { runTraining } from '../../src/train/run.js';
import { Callback } from '../../src/train/callbacks/base.js';
import { tmpDir } from '../train/helpers.js';
import { historyMetrics, tinyConfig, TINY_GENERATED, StopAt } from '../train/run-helpers.js';

const required = process.env.ABLATE_CUDA_TESTS === 'require';
const noGpu = cudaAvailable() ? false : `no CUDA device (libtorch ${engineInfo().libtorch}, CUDA ${engineInfo().cudaBuilt ? 'built in' : 'not built in'})`;
if (required && noGpu) throw new Error(`ABLATE_CUDA_TESTS=require but ${noGpu}`);
const skip = noGpu;

test('the GPU is described: name, compute capability, memory', { skip }, () => {
  const e = engineInfo();
  assert.ok(e.cudaVersion, 'CUDA runtime version');
  assert.equal(e.devices.length, cudaDeviceCount());
  for (const d of cudaDevices()) {
    assert.ok(d.name && d.name.length > 0, JSON.stringify(d));
    assert.match(d.capability ?? '', /^\d+\.\d+$/);
    assert.ok((d.totalMemoryBytes ?? 0) > 2 ** 30);
  }
});

test('uploads through pinned memory arrive intact, and ops on the GPU match the CPU', { skip }, () => {
  const before = liveTensorCount();
  tidy(() => {
    const px = Uint8Array.from({ length: 4 * 8 * 8 * 3 }, (_, i) => (i * 37) % 256);
    const g = uploadTensor(px, [4, 8, 8, 3], 'uint8', 'cuda');
    assert.equal(g.device, 'cuda:0');
    assert.deepEqual([...g.toTypedArray()], [...px]);
    const x = randn([2, 3, 16, 16]);
    const w = randn([4, 3, 3, 3]);
    const cpu = F.conv2d(x, w, null, { padding: 1 }).toTypedArray() as Float32Array;
    const gpu = F.conv2d(x.to({ device: 'cuda' }), w.to({ device: 'cuda' }), null, { padding: 1 }).toTypedArray() as Float32Array;
    let worst = 0;
    for (let i = 0; i < cpu.length; i++) worst = Math.max(worst, Math.abs(cpu[i]! - gpu[i]!));
    assert.ok(worst < 1e-2, `conv2d differs by ${worst}`); // TF32 may be on for cuDNN convolutions
    const bf = withAutocast({ device: 'cuda', dtype: 'bfloat16' }, () => F.conv2d(x.to({ device: 'cuda' }), w.to({ device: 'cuda' }), null, { padding: 1 }));
    assert.equal(bf.dtype, 'bfloat16');
    synchronize('cuda');
  });
  assert.equal(liveTensorCount(), before);
  assert.equal(tensor([1, 2, 3]).to({ device: 'cuda' }).sum().item(), 6);
});

const small = { source: 'generated', generated: { ...TINY_GENERATED, trainCount: 96, testCount: 32 }, split: 'train', valSplit: 'test' };
const quiet = { progress: false as const, log: () => {} };

test('training on cuda: precision auto, status records the GPU, a CUDA checkpoint resumes on CPU and back', { skip }, async () => {
  const cfg = tinyConfig({ data: small, epochs: 2, device: 'cuda', precision: 'auto' });
  const whole = tmpDir('ablate-cuda-whole-');
  const a = await runTraining(cfg, { runDir: whole, ...quiet });
  assert.equal(a.status, 'ok');
  const st = JSON.parse(readFileSync(join(whole, 'status.json'), 'utf8'));
  assert.equal(st.env.device, 'cuda:0');
  assert.equal(st.env.precision, cudaDevices()[0]!.bf16 ? 'bf16' : 'fp32');
  for (const h of historyMetrics(whole)) assert.ok(Number.isFinite(h.loss as number), JSON.stringify(h));

  // Stop on the GPU, resume on the CPU (device is not part of the config hash, so the resume is allowed).
  const cut = tmpDir('ablate-cuda-cut-');
  const ac = new AbortController();
  const stopped = await runTraining(cfg, { runDir: cut, signal: ac.signal, callbacks: [new StopAt(1, 1, ac)], ...quiet });
  assert.equal(stopped.status, 'stopped');
  const onCpu = await runTraining({ ...cfg, device: 'cpu' }, { runDir: cut, resume: true, ...quiet });
  assert.equal(onCpu.status, 'ok');
  assert.deepEqual(onCpu.resumedFrom, { epoch: 1, batch: 2 });
  const [x, y] = [historyMetrics(whole), historyMetrics(cut)];
  assert.equal(y.length, x.length);
  // Epoch 1 ran on the GPU in both: identical. Epoch 2 finished on different kernels: close, not bit-identical.
  assert.deepEqual(y[0], x[0]);
  assert.ok(Math.abs((y[1]!.loss as number) - (x[1]!.loss as number)) < 0.05 * Math.abs(x[1]!.loss as number) + 0.02, `${JSON.stringify(y[1])} vs ${JSON.stringify(x[1])}`);

  // And the other way: stopped on the CPU, finished on the GPU.
  const back = tmpDir('ablate-cuda-back-');
  const ac2 = new AbortController();
  await runTraining({ ...cfg, device: 'cpu' }, { runDir: back, signal: ac2.signal, callbacks: [new StopAt(0, 1, ac2)], ...quiet });
  const onGpu = await runTraining(cfg, { runDir: back, resume: true, ...quiet });
  assert.equal(onGpu.status, 'ok');
  assert.equal(JSON.parse(readFileSync(join(back, 'status.json'), 'utf8')).env.device, 'cuda:0');
});

test('the training step does not wait for the GPU between loss reads', { skip }, async () => {
  // A step that waited for the GPU (a .item(), a copy back, anything that synchronises) would wait out whatever is
  // queued ahead of it. So before the second step one kernel that spins for about 2 s (at::cuda::sleep, PyTorch's
  // torch.cuda._sleep) is queued on the training's stream, and steps 2 and 3 must both return on the host while it
  // still runs: the GPU busy after each, and their host time well under the spin's. (Whether the GPU is busy after a
  // step without such a backlog only says which is faster, the GPU at its work or the host at queuing it: on an
  // H200 a ResNet-50 step was queued in about the time it ran.) Two small steps stay well inside the driver's queue
  // of pending launches, which would otherwise make the host wait for room. The first step is left alone: cuDNN's
  // benchmark mode times its algorithms there. The validation pass reads its sums once.
  const images = await noiseImageFolder(tmpDir('ablate-cuda-images-'), 640, 64);
  const cfg = tinyConfig({
    model: 'resnet18', data: { source: 'image-folder', path: images, split: 'train[:80%]', valSplit: 'train[80%:]', imageSize: 64, cache: 'memory' },
    batchSize: 32, epochs: 1, device: 'cuda', precision: 'auto',
  });
  deviceSpin('cuda', 1_000_000);
  synchronize('cuda');
  const t0 = performance.now();
  deviceSpin('cuda', 100_000_000);
  synchronize('cuda');
  const cyclesPerMs = 100_000_000 / Math.max(0.001, performance.now() - t0);
  const spinMs = 2000;

  const busy: boolean[] = [];
  const reads: number[] = [];
  let mark = 0;
  let batch = 0;
  let hostStart = 0;
  let hostMs = 0;
  let atEpochEnd = -1;
  class Probe extends Callback {
    override async onBatchBegin(): Promise<void> {
      batch++;
      if (batch === 2) {
        deviceSpin('cuda', Math.round(spinMs * cyclesPerMs));
        hostStart = performance.now();
      }
      mark = hostReadCount('cuda');
    }
    override async onBatchEnd(): Promise<void> {
      if (batch === 2 || batch === 3) busy.push(deviceBusy('cuda'));
      if (batch === 3) hostMs = performance.now() - hostStart;
      reads.push(hostReadCount('cuda') - mark);
      mark = hostReadCount('cuda');
    }
    override async onEpochEnd(): Promise<void> { atEpochEnd = hostReadCount('cuda') - mark; }
  }
  const deferred = tmpDir('ablate-cuda-nosync-');
  const r = await runTraining(cfg, { runDir: deferred, callbacks: [new Probe()], readEvery: 50, readEveryMs: Infinity, ...quiet });
  assert.equal(r.status, 'ok');
  assert.deepEqual(reads, new Array(16).fill(0), 'no step reads from the GPU');
  const spin = `a ${spinMs} ms spin (${Math.round(cyclesPerMs)} cycles/ms) queued before step 2`;
  assert.deepEqual(busy, [true, true], `GPU busy after steps 2 and 3 (${spin}): ${busy.join(',')}`);
  assert.ok(hostMs < spinMs / 2, `steps 2 and 3 took ${hostMs.toFixed(0)} ms on the host (${spin}): they waited for the GPU`);
  // The 16 steps' figures in one read, then the validation pass's (4 batches) sums in one.
  assert.equal(atEpochEnd, 2);
  // Reading every step changes when the figures are read, not what they are (up to cuDNN's choice of algorithms).
  const every = tmpDir('ablate-cuda-every-');
  assert.equal((await runTraining(cfg, { runDir: every, readEvery: 1, ...quiet })).status, 'ok');
  const [x, y] = [historyMetrics(deferred)[0]!, historyMetrics(every)[0]!];
  for (const k of ['loss', 'val_loss'] as const) assert.ok(Math.abs((x[k] as number) - (y[k] as number)) < 0.02 * Math.abs(x[k] as number) + 0.01, `${k}: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`);
});

test('a NaN on the GPU between reads ends the run as diverged at the step where it happened, keeping the last good checkpoint', { skip }, async () => {
  class Poison extends Callback {
    override async onBatchBegin(batch: number): Promise<void> {
      if (batch !== 5) return;
      const nan = full([4, 64], NaN);
      await this.ctx.model.restoreWeights(new Map([['fc.weight', nan]]));
      nan.dispose();
    }
  }
  const dir = tmpDir('ablate-cuda-nan-');
  const cfg = tinyConfig({ data: small, epochs: 1, batchSize: 8, device: 'cuda', checkpoint: { everySteps: 4 } });
  const r = await runTraining(cfg, { runDir: dir, callbacks: [new Poison()], readEvery: 50, readEveryMs: Infinity, ...quiet });
  assert.equal(r.status, 'diverged');
  assert.match(r.error!, /^loss became NaN at epoch 1, batch 6 \(step 6\)/);
  const { loadTrainingCheckpoint } = await import('../../src/train/checkpoint.js');
  const ck = await loadTrainingCheckpoint(join(dir, 'checkpoints', 'last.pth'));
  assert.deepEqual([ck.state.globalStep, ck.state.epochComplete], [4, false], 'the checkpoint due after step 8 was not written');
});

test('every augmentation preset runs on GPU batches without reading anything back from the GPU', { skip }, async () => {
  const { buildAugmentPipeline, AUGMENT_PRESETS } = await import('../../src/augment/index.js');
  const { Generator, rand, randint } = await import('../../src/tensor/index.js');
  for (const name of Object.keys(AUGMENT_PRESETS)) {
    const p = buildAugmentPipeline(name, { numClasses: 10, imageSize: 32 });
    tidy(() => {
      const x = rand([8, 3, 32, 32]).to({ device: 'cuda' });
      const y = randint(0, 10, [8]).to({ device: 'cuda' });
      const before = hostReadCount('cuda');
      const r = p.apply(x, y, new Generator(1), { training: true, epoch: 0, totalEpochs: 10 });
      assert.equal(hostReadCount('cuda') - before, 0, `${name} read from the GPU`);
      assert.equal(r.images.device, 'cuda:0', name);
    });
  }
});

async function noiseImageFolder(root: string, count: number, size: number): Promise<string> {
  const { default: sharp } = await import('sharp');
  const { mkdirSync } = await import('node:fs');
  for (let c = 0; c < 4; c++) mkdirSync(join(root, `class${c}`), { recursive: true });
  for (let i = 0; i < count; i++) {
    const px = Buffer.alloc(size * size * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k * 2654435761 + i * 40503) >>> 24;
    await sharp(px, { raw: { width: size, height: size, channels: 3 } }).jpeg().toFile(join(root, `class${i % 4}`, `${i}.jpg`));
  }
  return root;
}

test('study --parallel 2 on two GPUs gives each run its own', { skip: skip || (cudaDeviceCount() < 2 ? 'fewer than 2 GPUs' : false) }, async () => {
  const { runStudy } = await import('../../src/study/runner.js');
  const out = tmpDir('ablate-cuda-study-');
  const spec = join(out, 'study.json');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(spec, JSON.stringify({
    name: 'gpus', base: tinyConfig({ data: small, epochs: 1, device: 'cuda' }),
    axes: { model: ['resnet20-cifar', 'plain20-cifar'] }, seeds: [0],
  }));
  const res = await runStudy(spec, { out, parallel: 2, noReport: true, log: () => {}, childOutput: 'quiet', liveStream: { write: () => true } });
  const devices = res.ran.map((n) => JSON.parse(readFileSync(join(res.dir, n, 'status.json'), 'utf8')).env.device).sort();
  assert.deepEqual(devices, ['cuda:0', 'cuda:1']);
});
