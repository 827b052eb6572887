#!/usr/bin/env node
// Gyp fragments that turn on data-parallel training when Gloo's headers are reachable: libtorch exports
// c10d's ProcessGroupGloo and DDP's Reducer, but their headers include gloo/*.h (Debian: libgloo-dev)
// and, for the reducer, a distributed-autograd header that Debian's libtorch-dev leaves out
// (compat-include/ stands in for it). Without Gloo the addon still builds and the distributed ops say
// what to install.  Usage: node find-gloo.cjs defines|includes
'use strict';
const fs = require('fs');
const path = require('path');

// Searched by the compiler anyway; naming them with -I would break libstdc++'s #include_next.
const COMPILER_DIRS = new Set(['/usr/include', '/usr/local/include']);

/** Whether c10d's Gloo side can be compiled against `torch` (find-libtorch.cjs's locate()), and the -I folders it needs. */
function locate(torch = require('./find-libtorch.cjs').locate()) {
  // Gloo's headers must be those libtorch was built with: the system's only for the system libtorch. GLOO_INCLUDE_DIR
  // names them for a libtorch that ships without them (a pip PyTorch may): the include/ of the Gloo commit that PyTorch
  // release pins in third_party/gloo, with its generated gloo/config.h — other Gloo versions may not match its ABI.
  const extra = process.env.GLOO_INCLUDE_DIR ? [process.env.GLOO_INCLUDE_DIR] : [];
  const dirs = [...extra, ...(torch.includes || []), ...(torch.kind === 'system' ? [...COMPILER_DIRS] : [])];
  const has = (rel) => dirs.some((d) => fs.existsSync(path.join(d, rel)));
  // ABLATE_WITHOUT_DISTRIBUTED=1 builds without c10d (no data-parallel training): for a libtorch whose c10d headers
  // this version of ablate does not compile against, so the rest still builds.
  const gloo = process.env.ABLATE_WITHOUT_DISTRIBUTED !== '1' && has('gloo/algorithm.h') && has('torch/csrc/distributed/c10d/ProcessGroupGloo.hpp');
  if (!gloo) return { gloo: false, includes: [] };
  const includes = extra.filter((d) => !COMPILER_DIRS.has(path.resolve(d)) && fs.existsSync(path.join(d, 'gloo/algorithm.h')));
  if (!has('torch/csrc/distributed/autograd/context/context.h')) includes.push(path.join(__dirname, 'compat-include'));
  return { gloo: true, includes };
}

function main() {
  const what = process.argv[2] || 'defines';
  if (what !== 'defines' && what !== 'includes') {
    process.stderr.write(`unknown query ${what}\n`);
    process.exit(2);
  }
  const found = locate();
  if (what === 'defines') console.log(found.gloo ? 'ABLATE_WITH_GLOO USE_C10D_GLOO' : 'ABLATE_WITHOUT_GLOO');
  else console.log(found.includes.join(' '));
}

if (require.main === module) main();
module.exports = { locate, COMPILER_DIRS };
