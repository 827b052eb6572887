#!/usr/bin/env node
// Gyp fragments that compile c10d's NCCL process group in (data-parallel training on CUDA, as PyTorch does it)
// when the libtorch found has one: a CUDA libtorch (libtorch_cuda) with torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp,
// Gloo (the CPU side of the group, see find-gloo.cjs), and the headers that header pulls in: NCCL's nccl.h and CUDA's
// runtime, cuBLAS, cuSPARSE and cuSOLVER headers. Where they are:
//   - a pip PyTorch: site-packages/nvidia/<nccl, cuda_runtime, cublas, ...>/include, beside torch/
//   - Debian's libtorch-cuda-dev: /usr/include (libnccl-dev, nvidia-cuda-dev)
//   - a CUDA toolkit: $CUDA_HOME (or $CUDA_PATH)/include or /usr/local/cuda/include; NCCL_INCLUDE_DIR for a separate NCCL
// Without any of them the addon still builds (Gloo only) and a CUDA data-parallel run says what is missing.
// Usage: node find-nccl.cjs defines|includes|json|check
'use strict';
const fs = require('fs');
const path = require('path');
const findGloo = require('./find-gloo.cjs');

// What ProcessGroupNCCL.hpp includes, directly or through ATen/cuda/CUDAContext.h.
// crt/host_config.h (included by cuda_runtime.h) is named too: CUDA 13's pip wheel (nvidia/cu13/include) has the
// runtime headers without it, so a toolkit's include folder (/usr/local/cuda) must join the path.
const NEEDED = ['nccl.h', 'cuda_runtime_api.h', 'crt/host_config.h', 'cuda.h', 'cublas_v2.h', 'cublasLt.h', 'cusparse.h', 'cusolverDn.h'];

function subIncludes(dir) {
  try {
    return fs.readdirSync(dir).map((d) => path.join(dir, d, 'include')).filter((d) => fs.existsSync(d)).sort();
  } catch {
    return [];
  }
}

function locate() {
  const torch = require('./find-libtorch.cjs').locate();
  if (torch.error) return { nccl: false, why: 'libtorch was not found (node native/find-libtorch.cjs check says why)' };
  if (!torch.cuda) return { nccl: false, why: `libtorch ${torch.version} (${torch.libDir}) is a CPU-only build (no libtorch_cuda)` };
  const has = (dirs, rel) => dirs.find((d) => fs.existsSync(path.join(d, rel)));
  if (!has(torch.includes, 'torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp')) {
    return { nccl: false, why: `libtorch ${torch.version} has no torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp (built without NCCL?)` };
  }
  if (!findGloo.locate(torch).gloo) return { nccl: false, why: "Gloo's headers were not found (node native/find-gloo.cjs; Debian: libgloo-dev or libgloo-cuda-dev; a pip PyTorch ships none: set GLOO_INCLUDE_DIR)" };
  const env = process.env;
  const candidates = [
    ...(env.NCCL_INCLUDE_DIR ? [env.NCCL_INCLUDE_DIR] : []),
    ...torch.includes,
    // pip: the nvidia-* wheels PyTorch depends on, in the same site-packages.
    ...(torch.kind === 'pytorch' ? subIncludes(path.join(path.dirname(torch.root), 'nvidia')) : []),
    ...[env.CUDA_HOME, env.CUDA_PATH].filter(Boolean).map((d) => path.join(d, 'include')),
    // The system's (a CUDA toolkit, Debian's packages); ABLATE_SYSTEM_PREFIXES replaces these as for libtorch.
    ...(env.ABLATE_SYSTEM_PREFIXES ?? '/usr/local/cuda:/usr:/usr/local').split(':').filter(Boolean).map((p) => path.join(p, 'include')),
  ];
  const dirs = [...new Set(candidates)].filter((d) => fs.existsSync(d));
  const missing = NEEDED.filter((h) => !has(dirs, h));
  if (missing.length > 0) {
    return {
      nccl: false, libtorch: torch.version,
      why: `libtorch ${torch.version} has NCCL but ${missing.join(', ')} ${missing.length === 1 ? 'was' : 'were'} not found in ${dirs.join(', ')} ` +
        '(pip: the nvidia-nccl-cu* and nvidia-cuda-runtime-cu* wheels; Debian: libnccl-dev and nvidia-cuda-dev; or set CUDA_HOME / NCCL_INCLUDE_DIR)',
    };
  }
  const includes = [...new Set(NEEDED.map((h) => has(dirs, h)))].filter((d) => !findGloo.COMPILER_DIRS.has(d) && !torch.includes.includes(d));
  return { nccl: true, libtorch: torch.version, includes };
}

function main() {
  const what = process.argv[2] || 'defines';
  if (!['defines', 'includes', 'json', 'check'].includes(what)) {
    process.stderr.write(`unknown query ${what} (expected defines, includes, json or check)\n`);
    process.exit(2);
  }
  const found = locate();
  switch (what) {
    case 'defines': console.log(found.nccl ? 'ABLATE_WITH_NCCL USE_C10D_NCCL' : 'ABLATE_WITHOUT_NCCL'); break;
    case 'includes': console.log(found.nccl ? found.includes.join(' ') : ''); break;
    case 'json': console.log(JSON.stringify(found)); break;
    case 'check': console.log(found.nccl ? `NCCL process group: yes (libtorch ${found.libtorch})` : `NCCL process group: no — ${found.why}`); break;
  }
}

if (require.main === module) main();
module.exports = { locate };
