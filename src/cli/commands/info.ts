import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distributedSupport, engineInfo, getNumThreads, type EngineInfo } from '../../tensor/index.js';
import { jpegDecoder } from '../../data/index.js';
import { ablateVersion } from '../../util/version.js';

/** Where the addon's libtorch was found at build time (scripts/setup.sh records it next to the build). */
function builtAgainst(): { kind?: string; libDir?: string; pytorchVersion?: string } | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = resolve(dir, '..')) {
    try {
      // First line: find-libtorch.cjs's JSON at build time (the second is a hash of the sources).
      return JSON.parse(readFileSync(join(dir, 'native', 'build', '.ablate-stamp'), 'utf8').split('\n')[0]!) as { kind?: string; libDir?: string };
    } catch { /* not here (or not built by setup.sh) */ }
  }
  return undefined;
}

function gib(bytes: number | undefined): string {
  return bytes === undefined ? '' : `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function infoLines(e: EngineInfo, from?: ReturnType<typeof builtAgainst>): string[] {
  const source = from?.kind ? ` — ${from.kind === 'pytorch' ? `PyTorch ${from.pytorchVersion ?? ''}`.trim() : from.kind}: ${from.libDir}` : '';
  const cuda = !e.cudaBuilt
    ? 'not in this libtorch build (CPU only; build against a CUDA PyTorch or libtorch for GPUs)'
    : `CUDA ${e.cudaVersion ?? '?'}, cuDNN ${e.cudnnVersion ?? 'none'}, driver ${e.driverVersion ?? 'not found (libcuda.so.1)'}` +
      (e.devices.length === 0 ? ' — no GPU visible' : '');
  const lines = [
    `ablate     ${ablateVersion()}`,
    `libtorch   ${e.libtorch}${e.mkldnn ? ' (oneDNN)' : ''}${source}`,
    `cuda       ${cuda}`,
  ];
  for (const d of e.devices) {
    const what = [d.name ?? 'unknown GPU', gib(d.totalMemoryBytes), d.capability ? `compute ${d.capability}` : ''].filter(Boolean).join(', ');
    lines.push(`gpu ${String(d.index).padEnd(6)} ${what} — precision auto: ${d.bf16 ? 'bf16 autocast + channels-last' : 'fp32 (bf16 needs compute 8.0+)'}`);
  }
  lines.push(
    `cpu        ${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
    `threads    ${getNumThreads()} (ABLATE_THREADS or --threads to change)`,
    `kernels    ATen ${e.cpuCapability} (${e.cpuCapabilitySource === 'environment' ? 'ATEN_CPU_CAPABILITY as set' : e.cpuCapabilitySource === 'ablate' ? 'chosen by ablate on this AVX-512 CPU; ATEN_CPU_CAPABILITY overrides' : "libtorch's default; ATEN_CPU_CAPABILITY overrides"})`,
    `conv grads ${e.convWeightGrad === 'gemm' ? 'bf16 weight gradients of convolutions on small maps (1×1 up to 14×14 and 4 MiB operands, 3×3 up to 8×8) as one GEMM' : "libtorch's convolution backward"} (${e.convWeightGradSource === 'environment' ? 'ABLATE_CONV_WEIGHT_GRAD as set' : e.convWeightGradSource === 'call' ? 'setConvWeightGrad()' : e.convWeightGrad === 'gemm' ? 'chosen by ablate on this AMX CPU; ABLATE_CONV_WEIGHT_GRAD=libtorch overrides' : 'ablate measured the GEMM faster only on AMX CPUs; ABLATE_CONV_WEIGHT_GRAD=gemm overrides'})`,
    `blas       ${e.blasThreads === null ? "libtorch's BLAS is not OpenBLAS (nothing to set)" : `OpenBLAS, ${e.blasThreads} thread(s) for fp32 matrix products (${e.blasThreadsSource === 'environment' ? 'OPENBLAS_NUM_THREADS as set' : 'set by ablate, so OpenBLAS does not spin beside libtorch\'s threads; training a model that is mostly matrix products (ViT, ConvNeXt) gives it libtorch\'s thread count; OPENBLAS_NUM_THREADS overrides'})`}`,
    `bf16       ${e.bf16 ? 'native on this CPU (AVX-512 BF16 / AMX): precision auto uses bf16 autocast + channels-last' : 'not native on this CPU: precision auto uses fp32 on cpu'}`,
  );
  return lines;
}

export async function infoCommand(o: { json?: boolean } = {}): Promise<void> {
  const e = engineInfo();
  const from = builtAgainst();
  const support = distributedSupport();
  const distributed = support.available;
  if (o.json) {
    console.log(JSON.stringify({ ablate: ablateVersion(), ...e, builtAgainst: from, cpu: cpus()[0]?.model, cpus: cpus().length, distributed, nccl: support.nccl, jpegDecoder: jpegDecoder() }, null, 2));
    return;
  }
  const backends = support.nccl ? 'c10d: Gloo on CPU, NCCL on CUDA' : e.cudaBuilt ? 'c10d, Gloo; no NCCL in this build, so none on CUDA: node native/find-nccl.cjs says why' : 'c10d, Gloo';
  console.log([...infoLines(e, from),
    `parallel   ${distributed ? `data-parallel training built in (${backends}): --nproc-per-node, torchrun or srun` : 'no data-parallel training in this build (needs Gloo\'s headers at build time: Debian libgloo-dev, or GLOO_INCLUDE_DIR for a pip PyTorch)'}`,
    `jpeg       ${jpegDecoder() === 'sharp' ? 'decoded by sharp (the direct libjpeg-turbo decoder needs libjpeg62-turbo-dev at build time)' : `${jpegDecoder()} (libjpeg-turbo) for clean JPEGs, sharp for the rest`}`,
  ].join('\n'));
}
