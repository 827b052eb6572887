import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { packageRoot } from '../util/package-root.js';
import { invalidArg } from '../util/errors.js';

import type { NativeAddon } from './native-api.js';

export type { Handle, GeneratorHandle, GeneratorArg, ScriptModuleHandle, NativeAddon, BinaryOp } from './native-api.js';
type NativeModule = NativeAddon;

function findRepoRoot(): string {
  const root = packageRoot();
  if (root === null) throw new Error('ablate: cannot locate the package root (native/binding.gyp) from ' + fileURLToPath(import.meta.url));
  return root;
}

/** Names another addon file to load instead of the built one (tests point it at a bad path to prove a refusal never loads libtorch). */
export const NATIVE_ADDON_ENV = 'ABLATE_NATIVE_ADDON';

function load(): NativeModule {
  const override = process.env[NATIVE_ADDON_ENV];
  if (override !== undefined && override !== '') return requireAddon(override);
  const root = findRepoRoot();
  const path = join(root, 'native', 'build', 'Release', 'ablate_native.node');
  if (!existsSync(path)) {
    throw new Error(
      `ablate's native addon is not built (expected ${path}).\n` +
        (existsSync(join(root, 'src'))
          ? `Run "bash scripts/setup.sh" (installs libtorch on Debian if missing, then builds), or "npm run build:native" ` +
            `if libtorch is already installed (LIBTORCH=/path/to/libtorch or Debian's libtorch-dev).`
          // An installed package: npm may have skipped its install script (npm 11 blocks dependency scripts unless allowed).
          : `Run "npx ablate build-native" (after installing libtorch: Debian's libtorch-dev, or LIBTORCH=/path/to/libtorch), ` +
            `or approve ablate's install script ("npm install-scripts approve ablate") and install again.`),
    );
  }
  return requireAddon(path);
}

function requireAddon(path: string): NativeModule {
  const require = createRequire(import.meta.url);
  try {
    return require(path) as NativeModule;
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(
      `ablate's native addon (${path}) failed to load: ${msg}\n` +
        (/libtorch|libc10|cannot open shared object/.test(msg)
          ? 'The libtorch it was built against is missing: reinstall libtorch-dev (Debian) or set LIBTORCH to the same directory used at build time, then run "npm run build:native".'
          : 'Rebuild it with "npm run build:native".'),
    );
  }
}

let flagsCache: string | undefined | null = null;
/** The first CPU's `flags` line of /proc/cpuinfo, read once; undefined where there is no /proc (not Linux). */
export function cpuFlags(): string | undefined {
  if (flagsCache === null) {
    try {
      flagsCache = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
    } catch {
      flagsCache = undefined;
    }
  }
  return flagsCache;
}

/** Who chose ATen's CPU kernel set: the user (ATEN_CPU_CAPABILITY was set), ablate (below), or libtorch's default. */
export type CpuCapabilitySource = 'environment' | 'ablate' | 'libtorch';

/**
 * ATen compiles its element-wise and reduction kernels once per instruction set and picks one set at the first op,
 * from ATEN_CPU_CAPABILITY or, without it, its own default, which is AVX2 on AVX-512 CPUs in Debian's libtorch 1.13.
 * On an AVX-512 CPU ablate asks for the AVX-512 kernels: they never used more CPU time per step than AVX2, and
 * usually less (bench/notes-training-step.md, "ATen's CPU kernels"; bench/engine-step.ts --cpu-capability).
 * It has to happen before libtorch's first op, so init() does it before the addon loads; a value the user set is kept.
 */
function chooseCpuCapability(): CpuCapabilitySource {
  // Child processes (workers, ranks) inherit the variable; the marker tells them ablate set it, not the user.
  if (process.env.ATEN_CPU_CAPABILITY !== undefined && process.env.ATEN_CPU_CAPABILITY !== '') {
    return process.env.ABLATE_CPU_CAPABILITY_SET === process.env.ATEN_CPU_CAPABILITY ? 'ablate' : 'environment';
  }
  const flags = cpuFlags();
  if (flags === undefined) return 'libtorch';
  // What ATen's own AVX-512 kernels require.
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(flags);
  if (!['avx512f', 'avx512bw', 'avx512vl', 'avx512dq'].every(has)) return 'libtorch';
  process.env.ATEN_CPU_CAPABILITY = 'avx512';
  process.env.ABLATE_CPU_CAPABILITY_SET = 'avx512';
  return 'ablate';
}


/**
 * Where the weight gradient of a bf16, channels-last convolution on the CPU is computed: `gemm` as one matrix
 * product for 1×1 kernels on maps of at most 14×14 outputs (operands up to 4 MiB) and kernels up to 3×3 on at most 8×8 (native/src/conv_ops.cc), or
 * `libtorch`, its own convolution backward (oneDNN). On AMX CPUs oneDNN's weight-gradient kernels are slower than
 * the GEMM on those shapes (bench/notes-training-step.md, "Weight gradients of small-map convolutions"), so `auto`
 * picks `gemm` there and `libtorch` elsewhere, where it was not measured. The two differ only in the order of an fp32 sum rounded to bf16.
 */
export type ConvWeightGrad = 'gemm' | 'libtorch';
/** Who chose it: ABLATE_CONV_WEIGHT_GRAD, ablate's `auto` rule, or a call to setConvWeightGrad(). */
export type ConvWeightGradSource = 'environment' | 'ablate' | 'call';

export const CONV_WEIGHT_GRAD_ENV = 'ABLATE_CONV_WEIGHT_GRAD';

/** `auto`'s choice for this CPU: the GEMM where AMX runs it (where it was measured faster). */
export function autoConvWeightGrad(cpuFlags: string): ConvWeightGrad {
  return /\bamx_bf16\b/.test(cpuFlags) ? 'gemm' : 'libtorch';
}

function chooseConvWeightGrad(): { mode: ConvWeightGrad; source: ConvWeightGradSource } {
  const v = process.env[CONV_WEIGHT_GRAD_ENV];
  if (v === 'gemm' || v === 'libtorch') return { mode: v, source: 'environment' };
  if (v !== undefined && v !== '' && v !== 'auto') {
    throw new Error(`${CONV_WEIGHT_GRAD_ENV}: expected gemm, libtorch or auto but received "${v}"; unset it to let ablate choose`);
  }
  // Without /proc (not Linux): libtorch's own kernels.
  return { mode: autoConvWeightGrad(cpuFlags() ?? ''), source: 'ablate' };
}

/** The weight-gradient mode in force and who chose it (see ConvWeightGrad). */
export function convWeightGrad(): { mode: ConvWeightGrad; source: ConvWeightGradSource } {
  return { ...engine().convChoice };
}
/** Sets the weight-gradient mode for this process; returns the previous one. */
export function setConvWeightGrad(mode: ConvWeightGrad): ConvWeightGrad {
  if (mode !== 'gemm' && mode !== 'libtorch') throw invalidArg('setConvWeightGrad() mode', "'gemm' or 'libtorch'", mode);
  const { addon, convChoice } = engine();
  const prev = addon.set_conv_weight_grad(mode) as ConvWeightGrad;
  convChoice.mode = mode;
  convChoice.source = 'call';
  return prev;
}

/**
 * OpenBLAS's thread count. Debian's libtorch computes fp32 matrix products (linear layers) with OpenBLAS, which keeps
 * a thread pool of its own, sized to the cores rather than to setNumThreads(), whose workers spin for about 0.1 s
 * after every product. Beside libtorch's threads that spinning takes cores from them (fp32 steps measurably slower,
 * and a one-thread run keeps a second core busy: bench/notes-training-step.md, "OpenBLAS's own threads"). Convolutional
 * models only multiply small matrices there (the classifier), so OpenBLAS starts on the calling thread; the fit loop
 * gives it libtorch's threads for models that are mostly matrix products (src/nn/blas-policy.ts). OPENBLAS_NUM_THREADS or GOTO_NUM_THREADS, where set, are left as OpenBLAS
 * read them. `null` where libtorch's BLAS is not OpenBLAS (MKL in pip builds: setNumThreads covers it).
 */
export type BlasThreadsSource = 'environment' | 'ablate';
export const BLAS_THREAD_ENVS = ['OPENBLAS_NUM_THREADS', 'GOTO_NUM_THREADS'] as const;

/** Sets OpenBLAS to one thread unless the user's environment chose its count (a no-op without OpenBLAS). */
function chooseBlasThreads(addon: NativeModule): BlasThreadsSource {
  if (BLAS_THREAD_ENVS.some((k) => (process.env[k] ?? '') !== '')) return 'environment';
  addon.blas_threads(1);
  return 'ablate';
}

/**
 * Gives OpenBLAS `threads` threads (a model whose step is mostly fp32 matrix products wants libtorch's thread count
 * there: src/nn/blas-policy.ts decides). A count the environment chose is left alone. Returns the count in force
 * afterwards, or null without OpenBLAS.
 */
export function setBlasThreads(threads: number): number | null {
  if (!Number.isInteger(threads) || threads < 1) throw invalidArg('setBlasThreads() threads', 'a positive integer', threads);
  const { addon, blasSource } = engine();
  if (blasSource !== 'environment' && (addon.blas_threads() as number) >= 0) addon.blas_threads(threads);
  return blasThreads().threads;
}
/** OpenBLAS's thread count now (null without OpenBLAS), and who chose it. */
export function blasThreads(): { threads: number | null; source: BlasThreadsSource } {
  const { addon, blasSource } = engine();
  const now = addon.blas_threads() as number;
  return { threads: now < 0 ? null : now, source: blasSource };
}

/** All cores by default (PyTorch uses only physical cores, which leaves hyper-threads idle on small machines); ABLATE_THREADS overrides. */
export function defaultThreads(): number {
  const env = Number(process.env.ABLATE_THREADS);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

interface Engine {
  addon: NativeModule;
  cpuCapabilitySource: CpuCapabilitySource;
  convChoice: { mode: ConvWeightGrad; source: ConvWeightGradSource };
  blasSource: BlasThreadsSource;
}
let loaded: Engine | undefined;

/**
 * Loads libtorch and sets the process-wide state ablate runs it with: ATen's CPU kernel set (ATEN_CPU_CAPABILITY,
 * before the load), the convolution weight-gradient route, OpenBLAS on the calling thread and all cores for
 * libtorch's threads (ABLATE_THREADS). Idempotent. The first tensor operation calls it, so importing ablate
 * changes nothing and a command that refuses its input never waits seconds for libtorch; call it to pay that
 * cost (or to see a missing addon) at a moment of your choosing. Each setting has its own override (see above).
 */
export function init(): void {
  engine();
}

/** Whether init() has run, i.e. libtorch is loaded in this process. */
export function engineLoaded(): boolean {
  return loaded !== undefined;
}

function engine(): Engine {
  if (loaded !== undefined) return loaded;
  const convChoice = chooseConvWeightGrad();
  const cpuCapabilitySource = chooseCpuCapability();
  const addon = load();
  addon.set_conv_weight_grad(convChoice.mode);
  const blasSource = chooseBlasThreads(addon);
  addon.set_num_threads(defaultThreads());
  loaded = { addon, cpuCapabilitySource, convChoice, blasSource };
  native = addon;
  return loaded;
}

/** Who chose ATen's CPU kernel set (loads the engine). */
export function cpuCapabilitySource(): CpuCapabilitySource {
  return engine().cpuCapabilitySource;
}

/**
 * The addon's functions. Until init() runs this is a stand-in that runs it at the first access and forwards to
 * the addon; from then on the binding is the addon itself (an ES module's exported `let` is live), so the hot
 * path pays nothing for the laziness.
 */
export let native: NativeModule = new Proxy({} as NativeModule, {
  get: (_, key) => Reflect.get(engine().addon, key),
  set: (_, key, value) => Reflect.set(engine().addon, key, value),
  has: (_, key) => Reflect.has(engine().addon, key),
});
