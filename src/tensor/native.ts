import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';

/** Opaque handle to a libtorch tensor owned by the native addon. */
export type Handle = { readonly __brand: 'TensorHandle' };
export type GenHandle = { readonly __brand: 'GeneratorHandle' };

// The addon's functions are flat and untyped on purpose (tch-rs style); the typed API is src/tensor.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeModule = Record<string, (...args: any[]) => any>;

function findRepoRoot(): string {
  const root = packageRoot();
  if (root === null) throw new Error('ablate: cannot locate the package root (native/binding.gyp) from ' + fileURLToPath(import.meta.url));
  return root;
}

function load(): NativeModule {
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
  const require = createRequire(import.meta.url);
  try {
    return require(path) as NativeModule;
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(
      `ablate's native addon failed to load: ${msg}\n` +
        (/libtorch|libc10|cannot open shared object/.test(msg)
          ? 'The libtorch it was built against is missing: reinstall libtorch-dev (Debian) or set LIBTORCH to the same directory used at build time, then run "npm run build:native".'
          : 'Rebuild it with "npm run build:native".'),
    );
  }
}

/** Who chose ATen's CPU kernel set: the user (ATEN_CPU_CAPABILITY was set), ablate (below), or libtorch's default. */
export type CpuCapabilitySource = 'environment' | 'ablate' | 'libtorch';

/**
 * ATen compiles its element-wise and reduction kernels once per instruction set and picks one set at the first op,
 * from ATEN_CPU_CAPABILITY or, without it, its own default, which is AVX2 on AVX-512 CPUs in Debian's libtorch 1.13.
 * On an AVX-512 CPU ablate asks for the AVX-512 kernels: a ResNet-34 step used 1–3% less CPU time for ablate and
 * 2–11% less for PyTorch (bf16 224² and fp32 32² on a loaded 2-core AMX machine, bench/engine-step.ts
 * --cpu-capability; bench/notes-training-step.md), and never more.
 * It has to happen before libtorch's first op, so here, before the addon loads; a value the user set is kept.
 */
function chooseCpuCapability(): CpuCapabilitySource {
  // Child processes (workers, ranks) inherit the variable; the marker tells them ablate set it, not the user.
  if (process.env.ATEN_CPU_CAPABILITY !== undefined && process.env.ATEN_CPU_CAPABILITY !== '') {
    return process.env.ABLATE_CPU_CAPABILITY_SET === process.env.ATEN_CPU_CAPABILITY ? 'ablate' : 'environment';
  }
  let flags = '';
  try {
    flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    return 'libtorch';
  }
  // What ATen's own AVX-512 kernels require.
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(flags);
  if (!['avx512f', 'avx512bw', 'avx512vl', 'avx512dq'].every(has)) return 'libtorch';
  process.env.ATEN_CPU_CAPABILITY = 'avx512';
  process.env.ABLATE_CPU_CAPABILITY_SET = 'avx512';
  return 'ablate';
}

export const cpuCapabilitySource: CpuCapabilitySource = chooseCpuCapability();
export const native: NativeModule = load();
