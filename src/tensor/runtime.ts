import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { native } from './native.js';
import type { DType } from './tensor.js';
import { invalidArg } from '../util/errors.js';

/** What `engineInfo()` reports about libtorch: version, threads, CUDA and bf16 support. */
export interface EngineInfo {
  libtorch: string;
  cuda: boolean;
  mkldnn: boolean;
  threads: number;
  bf16: boolean;
}

/** Sets the number of CPU threads libtorch uses (default: all cores, or ABLATE_THREADS). */
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
  return (native.version() as { cuda: boolean }).cuda && (native.cuda_device_count() as number) > 0;
}
export function cudaDeviceCount(): number {
  return native.cuda_device_count() as number;
}

let cpuBf16: boolean | undefined;
/** Whether this CPU runs bf16 matrix kernels natively (AVX-512 BF16 or AMX); else bf16 only costs time. */
export function cpuSupportsBf16(): boolean {
  if (cpuBf16 === undefined) {
    try {
      const flags = readFileSync('/proc/cpuinfo', 'utf8');
      cpuBf16 = /\b(avx512_bf16|amx_bf16)\b/.test(flags);
    } catch {
      cpuBf16 = false;
    }
  }
  return cpuBf16;
}

/** libtorch version, threads, CUDA devices and bf16 support of this machine. */
export function engineInfo(): EngineInfo {
  const v = native.version() as { libtorch: string; cuda: boolean; mkldnn: boolean };
  return { libtorch: v.libtorch, cuda: cudaAvailable(), mkldnn: v.mkldnn, threads: getNumThreads(), bf16: cpuSupportsBf16() };
}

/**
 * Checks a device string and that this libtorch can use it. `cuda` on a CPU-only libtorch fails here,
 * with the remedy, instead of deep inside the first op.
 */
export function resolveDevice(device: string): string {
  if (device === 'cpu') return 'cpu';
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (!m) throw invalidArg('device', '"cpu", "cuda" or "cuda:N"', device);
  if (!(native.version() as { cuda: boolean }).cuda) {
    throw new Error(`device "${device}" requested but this libtorch has no CUDA support (libtorch ${(native.version() as { libtorch: string }).libtorch}). Install a CUDA build of libtorch from pytorch.org, set LIBTORCH to it and rebuild (npm run build:native), or use device "cpu".`);
  }
  const count = cudaDeviceCount();
  const idx = m[1] === undefined ? 0 : Number(m[1]);
  if (count === 0) throw new Error(`device "${device}" requested but no CUDA device is visible (libtorch has CUDA, but the driver reports 0 GPUs)`);
  if (idx >= count) throw new RangeError(`device "${device}" requested but only ${count} CUDA device(s) exist`);
  return `cuda:${idx}`;
}

/** Uses every core by default (PyTorch uses only physical cores, which leaves hyper-threads idle on small machines). */
export function defaultThreads(): number {
  const env = Number(process.env.ABLATE_THREADS);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

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

export function setCudnnBenchmark(on: boolean): void {
  native.set_cudnn_benchmark(on);
}
