// Device plumbing that runs on any machine: version formatting, what `ablate info` prints for GPUs (from a described
// engine), uploads through the copy path, and the errors a CPU-only libtorch gives for CUDA requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  engineInfo, cudaDevices, deviceSupportsBf16, cpuSupportsBf16, resolveDevice, uploadTensor, synchronize, liveTensorCount,
  formatCudaVersion, formatCudnnVersion, deviceSpin, type EngineInfo,
} from '../../src/tensor/index.js';
import { infoLines } from '../../src/cli/commands/info.js';
import { ROOT, CLI_MAIN } from '../train/run-helpers.js';

test('CUDA and cuDNN version numbers are printed the way NVIDIA writes them', () => {
  assert.equal(formatCudaVersion(12040), '12.4');
  assert.equal(formatCudaVersion(11080), '11.8');
  assert.equal(formatCudaVersion(0), undefined);
  assert.equal(formatCudnnVersion(8907), '8.9.7');
  assert.equal(formatCudnnVersion(90100), '9.1.0');
  assert.equal(formatCudnnVersion(90501), '9.5.1');
  assert.equal(formatCudnnVersion(0), undefined);
});

test('ablate info lists each GPU with what precision auto picks for it', () => {
  const e: EngineInfo = {
    libtorch: '2.5.1', cuda: true, cudaBuilt: true, cudaVersion: '12.4', cudnnVersion: '9.1.0', driverVersion: '12.6', mkldnn: true, threads: 16, bf16: false,
    cpuCapability: 'AVX512', cpuCapabilitySource: 'ablate', convWeightGrad: 'libtorch', convWeightGradSource: 'ablate',
    blasThreads: null, blasThreadsSource: 'ablate',
    devices: [
      { index: 0, name: 'NVIDIA H200', capability: '9.0', totalMemoryBytes: 150 * 2 ** 30, multiprocessors: 132, bf16: true },
      { index: 1, name: 'Tesla T4', capability: '7.5', totalMemoryBytes: 15 * 2 ** 30, multiprocessors: 40, bf16: false },
    ],
  };
  const lines = infoLines(e, { kind: 'pytorch', libDir: '/venv/lib/python3.11/site-packages/torch/lib', pytorchVersion: '2.5.1+cu124' });
  assert.match(lines[1]!, /^libtorch {3}2\.5\.1 \(oneDNN\) — PyTorch 2\.5\.1\+cu124: \/venv\/.*torch\/lib$/);
  assert.equal(lines[2], 'cuda       CUDA 12.4, cuDNN 9.1.0, driver 12.6');
  assert.equal(lines[3], 'gpu 0      NVIDIA H200, 150.0 GiB, compute 9.0 — precision auto: bf16 autocast + channels-last');
  assert.equal(lines[4], 'gpu 1      Tesla T4, 15.0 GiB, compute 7.5 — precision auto: fp32 (bf16 needs compute 8.0+)');
  const noGpu = infoLines({ ...e, cuda: false, devices: [], driverVersion: undefined });
  assert.equal(noGpu[2], 'cuda       CUDA 12.4, cuDNN 9.1.0, driver not found (libcuda.so.1) — no GPU visible');
  assert.match(infoLines({ ...e, cudaBuilt: false, cuda: false, devices: [] })[2]!, /not in this libtorch build \(CPU only/);
  assert.ok(lines.includes('kernels    ATen AVX512 (chosen by ablate on this AVX-512 CPU; ATEN_CPU_CAPABILITY overrides)'));
  assert.ok(infoLines({ ...e, cpuCapability: 'AVX2', cpuCapabilitySource: 'environment' }).includes('kernels    ATen AVX2 (ATEN_CPU_CAPABILITY as set)'));
  assert.ok(lines.includes("blas       libtorch's BLAS is not OpenBLAS (nothing to set)"));
  assert.ok(infoLines({ ...e, blasThreads: 1 }).some((l) => /^blas {7}OpenBLAS, 1 thread\(s\) .*set by ablate.*OPENBLAS_NUM_THREADS overrides/.test(l)));
  assert.ok(infoLines({ ...e, blasThreads: 4, blasThreadsSource: 'environment' }).some((l) => /^blas {7}OpenBLAS, 4 thread\(s\) .*\(OPENBLAS_NUM_THREADS as set\)$/.test(l)));
});

test("ATen's CPU kernel set: AVX-512 on AVX-512 CPUs unless ATEN_CPU_CAPABILITY says otherwise", () => {
  const info = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CLI_MAIN, 'info', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 60000, env });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { cpuCapability: string; cpuCapabilitySource: string };
  };
  const clean = { ...process.env };
  delete clean.ATEN_CPU_CAPABILITY;
  delete clean.ABLATE_CPU_CAPABILITY_SET;
  const avx512 = /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8')) && /\bavx512bw\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  const own = info(clean);
  if (avx512) assert.deepEqual(own, { ...own, cpuCapability: 'AVX512', cpuCapabilitySource: 'ablate' });
  else assert.equal(own.cpuCapabilitySource, 'libtorch');
  const mine = info({ ...clean, ATEN_CPU_CAPABILITY: 'default' });
  assert.equal(mine.cpuCapabilitySource, 'environment');
  assert.match(mine.cpuCapability, /^(NO AVX|DEFAULT)$/);
});

test('on this machine: the engine describes itself and `ablate info --json` agrees', () => {
  const e = engineInfo();
  assert.match(e.libtorch, /^\d+\.\d+\.\d+/);
  assert.equal(e.devices.length, cudaDevices().length);
  assert.equal(deviceSupportsBf16('cpu'), cpuSupportsBf16());
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI_MAIN, 'info', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.libtorch, e.libtorch);
  assert.equal(j.cudaBuilt, e.cudaBuilt);
  assert.equal(j.devices.length, e.devices.length);
  if (!e.cudaBuilt) {
    assert.deepEqual(j.devices, []);
    assert.equal(deviceSupportsBf16('cuda'), false);
    assert.throws(() => resolveDevice('cuda'), /device "cuda" requested but this libtorch has no CUDA support .*LIBTORCH_USE_PYTORCH=1/);
  }
  assert.throws(() => resolveDevice('gpu0'), /Expected "cpu", "cuda" or "cuda:N" for device but received "gpu0"/);
});

test('uploadTensor copies host buffers (pinned, non-blocking on a GPU) and checks what it is given', () => {
  const before = liveTensorCount();
  const px = Uint8Array.from({ length: 2 * 2 * 3 }, (_, i) => i * 7);
  const t = uploadTensor(px, [1, 2, 2, 3], 'uint8', 'cpu');
  assert.deepEqual(t.shape, [1, 2, 2, 3]);
  assert.deepEqual([...t.toTypedArray()], [...px]);
  const labels = uploadTensor(BigInt64Array.from([3n, 1n]), [2], 'int64', 'cpu');
  assert.deepEqual(labels.toArray(), [3, 1]);
  synchronize('cpu');
  t.dispose();
  labels.dispose();
  assert.equal(liveTensorCount(), before);
  assert.throws(() => uploadTensor(new Float32Array(4), [4], 'uint8', 'cpu'), /Expected a Uint8Array for dtype uint8 for data/);
  assert.throws(() => uploadTensor(new Uint8Array(5), [2, 2], 'uint8', 'cpu'), /shape \[2, 2\] needs 4 elements but the data has 5/);
  if (!engineInfo().cudaBuilt) {
    assert.throws(() => uploadTensor(new Uint8Array(4), [4], 'uint8', 'cuda:0'), /to_device_async: /, 'a native error, not a crash');
  }
});

test('the CUDA code paths are compiled in: the addon exports them', () => {
  const r = spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(join(ROOT, 'native', 'build', 'Release', 'ablate_native.node'))}); console.log(['cuda_devices','cuda_driver_version','to_device_async','device_synchronize','cuda_device_count','device_spin','device_busy'].filter((k) => typeof m[k] !== 'function').join(','))`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '', 'missing exports');
});

test('deviceSpin (torch.cuda._sleep) is for CUDA devices and says so elsewhere', () => {
  assert.throws(() => deviceSpin('cpu', 1000), /device_spin needs a CUDA device, got cpu/);
  assert.throws(() => deviceSpin('cpu', -1), /Expected a non-negative integer for cycles but received number -1/);
});
