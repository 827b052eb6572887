import {
  native, cpuCapabilitySource, cpuFlags, convWeightGrad, blasThreads, defaultThreads,
  type CpuCapabilitySource, type ConvWeightGrad, type ConvWeightGradSource, type BlasThreadsSource,
} from './native.js';
import type { DType } from './tensor.js';
import { invalidArg } from '../util/errors.js';

export interface CudaDevice {
  index: number;
  /** From the CUDA driver; undefined when libcuda.so.1 could not be asked. */
  name?: string;
  /** Compute capability, e.g. "8.0" (A100), "9.0" (H100/H200). */
  capability?: string;
  multiprocessors?: number;
  totalMemoryBytes?: number;
  /** Ampere (8.0) and newer run bf16 matmuls/convolutions natively; older GPUs only emulate them, slowly. */
  bf16: boolean;
}

/** What `engineInfo()` reports about libtorch: version, threads, CUDA and bf16 support. */
export interface EngineInfo {
  libtorch: string;
  /** CUDA is usable: this libtorch has CUDA and at least one GPU is visible. */
  cuda: boolean;
  /** This libtorch was built with CUDA (whether or not a GPU is visible now). */
  cudaBuilt: boolean;
  /** CUDA runtime and cuDNN versions libtorch was built with, and the driver's CUDA version ("12.4"). */
  cudaVersion?: string;
  cudnnVersion?: string;
  driverVersion?: string;
  devices: CudaDevice[];
  mkldnn: boolean;
  threads: number;
  bf16: boolean;
  /** The kernel set ATen dispatches its own CPU kernels to ("AVX512", "AVX2", ...), and who chose it. */
  cpuCapability: string;
  cpuCapabilitySource: CpuCapabilitySource;
  /** Where bf16 convolutions' weight gradients are computed on the CPU (setConvWeightGrad), and who chose it. */
  convWeightGrad: ConvWeightGrad;
  convWeightGradSource: ConvWeightGradSource;
  /** OpenBLAS's own thread count for fp32 matrix products (null where libtorch's BLAS is not OpenBLAS), and who chose it. */
  blasThreads: number | null;
  blasThreadsSource: BlasThreadsSource;
}

interface NativeVersion { libtorch: string; cuda: boolean; cudaVersion: number; cudnnVersion: number; mkldnn: boolean }
/** What the addon was built against: libtorch's version, and whether it has CUDA (no device query). */
export const nativeVersion = (): NativeVersion => native.version() as NativeVersion;

/** CUDA's integer versions: 12040 → "12.4" (runtime and driver). */
export function formatCudaVersion(v: number): string | undefined {
  return v > 0 ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : undefined;
}
/** cuDNN's integer versions: 8907 → "8.9.7" (cuDNN ≤ 8), 90100 → "9.1.0" (cuDNN ≥ 9 changed the encoding). */
export function formatCudnnVersion(v: number): string | undefined {
  if (!(v > 0)) return undefined;
  const [major, rest] = v >= 90000 ? [Math.floor(v / 10000), v % 10000] : [Math.floor(v / 1000), v % 1000];
  return `${major}.${Math.floor(rest / 100)}.${rest % 100}`;
}

let devicesCache: CudaDevice[] | undefined;
/** The GPUs libtorch sees, described by the CUDA driver; [] without CUDA. */
export function cudaDevices(): CudaDevice[] {
  if (devicesCache === undefined) {
    const raw = native.cuda_devices() as Array<{ index: number; name?: string; major?: number; minor?: number; multiprocessors?: number; totalMemory?: number }>;
    devicesCache = raw.map((d) => ({
      index: d.index,
      name: d.name,
      capability: d.major !== undefined ? `${d.major}.${d.minor}` : undefined,
      multiprocessors: d.multiprocessors,
      totalMemoryBytes: d.totalMemory,
      bf16: (d.major ?? 0) >= 8,
    }));
  }
  return devicesCache;
}

/** Whether `precision: auto` should use bf16 autocast on this (resolved) device. */
export function deviceSupportsBf16(device: string): boolean {
  if (device === 'cpu') return cpuSupportsBf16();
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (!m) return false;
  return cudaDevices()[m[1] === undefined ? 0 : Number(m[1])]?.bf16 ?? false;
}

/**
 * Hands the heap pages the C allocator kept after frees (glibc keeps a step's freed activations mapped for reuse)
 * back to the kernel; false where there is nothing to do or no glibc. Called before allocating much outside a
 * training step, such as a checkpoint's copy of the weights: otherwise that copy comes on top of the kept pages and
 * can lift the process's peak above the training step's (measured on ResNet-34: 764 → 412 MiB before a checkpoint).
 */
export function releaseFreeHostMemory(): boolean {
  return native.release_free_host_memory() as boolean;
}

/** Whether the device still has queued work (tests use it to see that a training step did not wait for the GPU). */
export function deviceBusy(device: string): boolean {
  return native.device_busy(device) as boolean;
}

/**
 * Queues one kernel that keeps the device's current stream busy for `cycles` GPU clock cycles (tests and benchmarks:
 * PyTorch's torch.cuda._sleep). CUDA devices only.
 */
export function deviceSpin(device: string, cycles: number): void {
  if (!Number.isInteger(cycles) || cycles < 0) throw invalidArg('cycles', 'a non-negative integer', cycles);
  native.device_spin(device, cycles);
}

/** Waits until the device has finished all queued work (benchmarks and tests; the training step never needs it). */
export function synchronize(device: string): void {
  native.device_synchronize(device);
}

export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw invalidArg('threads', 'a positive integer', n);
  native.set_num_threads(n);
}
/** The number of CPU threads libtorch uses. */
export function getNumThreads(): number {
  return native.get_num_threads() as number;
}

/** Whether this libtorch build has CUDA and a GPU is visible. */
export function cudaAvailable(): boolean {
  return nativeVersion().cuda && (native.cuda_device_count() as number) > 0;
}
export function cudaDeviceCount(): number {
  return native.cuda_device_count() as number;
}

let cpuBf16: boolean | undefined;
/** Whether this CPU runs bf16 matrix kernels natively (AVX-512 BF16 or AMX); else bf16 only costs time. */
export function cpuSupportsBf16(): boolean {
  if (cpuBf16 === undefined) {
    cpuBf16 = /\b(avx512_bf16|amx_bf16)\b/.test(cpuFlags() ?? '');
  }
  return cpuBf16;
}

/** libtorch version, threads, CUDA devices and bf16 support of this machine. */
export function engineInfo(): EngineInfo {
  const v = nativeVersion();
  const blas = blasThreads();
  return {
    libtorch: v.libtorch, cuda: cudaAvailable(), cudaBuilt: v.cuda,
    cudaVersion: formatCudaVersion(v.cudaVersion), cudnnVersion: formatCudnnVersion(v.cudnnVersion),
    driverVersion: v.cuda ? formatCudaVersion(native.cuda_driver_version() as number) : undefined,
    devices: v.cuda ? cudaDevices() : [],
    mkldnn: v.mkldnn, threads: getNumThreads(), bf16: cpuSupportsBf16(),
    cpuCapability: cpuCapability(), cpuCapabilitySource: cpuCapabilitySource(),
    convWeightGrad: convWeightGrad().mode, convWeightGradSource: convWeightGrad().source,
    blasThreads: blas.threads, blasThreadsSource: blas.source,
  };
}

/** ATen's "CPU capability usage" (AVX512, AVX2, DEFAULT, ...), as libtorch's build summary reports it. */
export function cpuCapability(): string {
  return /CPU capability usage:\s*([^\n]+)/.exec(native.show_config() as string)?.[1]?.trim() ?? 'unknown';
}

/**
 * Checks a device string and that this libtorch can use it. `cuda` on a CPU-only libtorch fails here,
 * with the remedy, instead of deep inside the first op.
 */
export function resolveDevice(device: string): string {
  if (device === 'cpu') return 'cpu';
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (!m) throw invalidArg('device', '"cpu", "cuda" or "cuda:N"', device);
  if (!nativeVersion().cuda) {
    throw new Error(`device "${device}" requested but this libtorch has no CUDA support (libtorch ${nativeVersion().libtorch}). Build against a CUDA libtorch — an installed CUDA PyTorch (LIBTORCH_USE_PYTORCH=1) or a CUDA libtorch from pytorch.org (LIBTORCH=/path) — with npm run build:native, or use device "cpu".`);
  }
  const count = cudaDeviceCount();
  const idx = m[1] === undefined ? 0 : Number(m[1]);
  if (count === 0) throw new Error(`device "${device}" requested but no CUDA device is visible (libtorch has CUDA, but the driver reports 0 GPUs)`);
  if (idx >= count) throw new RangeError(`device "${device}" requested but only ${count} CUDA device(s) exist`);
  return `cuda:${idx}`;
}

export { defaultThreads };

export interface AutocastOptions {
  device?: 'cpu' | 'cuda';
  dtype?: DType;
  enabled?: boolean;
}
/**
 * Runs a synchronous function under autocast: conv/matmul run in bf16 (or fp16 on CUDA) while weights
 * and reductions stay fp32, exactly as torch.autocast does.
 */
export function withAutocast<T>(o: AutocastOptions, fn: () => T): T {
  const device = o.device ?? 'cpu';
  const dtype = o.dtype ?? 'bfloat16';
  const prev = native.autocast_enter(device, o.enabled ?? true, dtype) as [boolean, DType];
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('withAutocast(fn): fn must be synchronous (autocast state is per thread and cannot span an await)');
    return r;
  } finally {
    native.autocast_exit(device, prev[0], prev[1]);
  }
}

/** cuDNN benchmark mode: the first step of each new input shape times the convolution algorithms and keeps the fastest. */
export function setCudnnBenchmark(on: boolean): void {
  native.set_cudnn_benchmark(on);
}

/**
 * `torch.use_deterministic_algorithms(on)` and cuDNN's deterministic mode: an op with no deterministic kernel
 * then throws an error naming it instead of running. (cuBLAS also needs CUBLAS_WORKSPACE_CONFIG; see train/run.ts.)
 */
export function setDeterministic(on: boolean): void {
  native.set_deterministic(on);
}
