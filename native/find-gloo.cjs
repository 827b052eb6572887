#!/usr/bin/env node
// Gyp fragments that turn on data-parallel training when Gloo's headers are reachable: libtorch exports
// c10d's ProcessGroupGloo and DDP's Reducer, but their headers include gloo/*.h (Debian: libgloo-dev)
// and, for the reducer, a distributed-autograd header that Debian's libtorch-dev leaves out
// (compat-include/ stands in for it). Without Gloo the addon still builds and the distributed ops say
// what to install.  Usage: node find-gloo.cjs defines|includes
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

let found = {};
try {
  found = JSON.parse(execFileSync(process.execPath, [path.join(__dirname, 'find-libtorch.cjs'), 'json'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
} catch {}
// Gloo's headers must be those libtorch was built with: the system's only for the system libtorch.
const dirs = [...(found.includes || []), ...(found.kind === 'system' ? ['/usr/include', '/usr/local/include'] : [])];
const has = (rel) => dirs.some((d) => fs.existsSync(path.join(d, rel)));
const gloo = has('gloo/algorithm.h') && has('torch/csrc/distributed/c10d/ProcessGroupGloo.hpp');
const what = process.argv[2] || 'defines';
if (what === 'defines') console.log(gloo ? 'ABLATE_WITH_GLOO USE_C10D_GLOO' : 'ABLATE_WITHOUT_GLOO');
else if (what === 'includes') console.log(gloo && !has('torch/csrc/distributed/autograd/context/context.h') ? path.join(__dirname, 'compat-include') : '');
else { process.stderr.write(`unknown query ${what}\n`); process.exit(2); }
