#!/usr/bin/env node
// Locates libtorch for the addon build, the way tch-rs does: $LIBTORCH first, then the Debian/Ubuntu
// system install. Prints gyp-ready fragments, or (with `check`) a human message listing the remedies.
'use strict';
const fs = require('fs');
const path = require('path');
const { execSync } = require('child_process');

function multiarchLibDirs() {
  const dirs = [];
  try { dirs.push(path.join('/usr/lib', execSync('gcc -print-multiarch', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim())); } catch {}
  dirs.push('/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib');
  return [...new Set(dirs)];
}

function fromEnv() {
  const root = process.env.LIBTORCH;
  if (!root) return null;
  const lib = path.join(root, 'lib');
  const inc = path.join(root, 'include');
  if (!fs.existsSync(path.join(inc, 'ATen', 'ATen.h')) || !fs.existsSync(lib)) {
    return { error: `LIBTORCH=${root} is set but is not a libtorch directory: expected ${inc}/ATen/ATen.h and ${lib}/.` };
  }
  let abiFlag = null;
  const cfg = path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
  if (fs.existsSync(cfg)) {
    const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(fs.readFileSync(cfg, 'utf8'));
    if (m) abiFlag = m[1];
  }
  let version = 'unknown';
  const vfile = path.join(root, 'build-version');
  if (fs.existsSync(vfile)) version = fs.readFileSync(vfile, 'utf8').trim();
  const cuda = fs.existsSync(path.join(lib, 'libtorch_cuda.so'));
  return { kind: 'LIBTORCH', root, includes: [inc, path.join(inc, 'torch', 'csrc', 'api', 'include')], libDir: lib, abiFlag, version, cuda };
}

function fromSystem() {
  const inc = ['/usr/include', '/usr/local/include'].find((d) => fs.existsSync(path.join(d, 'ATen', 'ATen.h')));
  const lib = multiarchLibDirs().find((d) => fs.existsSync(path.join(d, 'libtorch_cpu.so')) || fs.existsSync(path.join(d, 'libtorch.so')));
  if (!inc || !lib) return null;
  let version = 'system';
  const vh = path.join(inc, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h');
  if (fs.existsSync(vh)) {
    const text = fs.readFileSync(vh, 'utf8');
    const part = (n) => (new RegExp(`TORCH_VERSION_${n}\\s+(\\d+)`).exec(text) || [])[1];
    if (part('MAJOR')) version = `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
  }
  return { kind: 'system', root: '/usr', includes: [inc, path.join(inc, 'torch', 'csrc', 'api', 'include')], libDir: lib, abiFlag: null, version, cuda: fs.existsSync(path.join(lib, 'libtorch_cuda.so')) };
}

const HELP = `libtorch was not found. ablate needs PyTorch's C++ library. Do one of:
  1. Debian/Ubuntu:  sudo apt-get install -y libtorch-dev libopenblas0-pthread
     (libopenblas0-pthread matters: without it fp32 matmul falls back to the slow reference BLAS)
  2. Download libtorch (CPU or CUDA, cxx11 ABI) from pytorch.org, unzip it, and set
     LIBTORCH=/path/to/libtorch   (the folder that contains include/ and lib/)
Then run the command again.`;

function locate() {
  const env = fromEnv();
  if (env && env.error) return env;
  return env || fromSystem() || { error: HELP };
}

const what = process.argv[2] || 'json';
const found = locate();
if (found.error) {
  if (what === 'check' || what === 'json') { process.stderr.write(found.error + '\n'); process.exit(1); }
  // Inside gyp a failing command gives an unreadable error; print the help and fail loudly.
  process.stderr.write(found.error + '\n');
  process.exit(1);
}
const libs = ['-ltorch', '-ltorch_cpu', '-lc10'];
if (found.cuda) libs.push('-ltorch_cuda', '-lc10_cuda');
switch (what) {
  case 'check': console.log(`libtorch ${found.version} (${found.kind}: ${found.libDir}${found.cuda ? ', CUDA' : ''})`); break;
  case 'json': console.log(JSON.stringify(found)); break;
  case 'includes': console.log(found.includes.join(' ')); break;
  case 'cflags': console.log(found.abiFlag !== null ? `-D_GLIBCXX_USE_CXX11_ABI=${found.abiFlag}` : ''); break;
  // --no-as-needed keeps libtorch_cuda linked even though no symbol is referenced: its static
  // initialisers register the CUDA kernels, without them a CUDA libtorch silently has no CUDA.
  case 'ldflags': console.log([`-L${found.libDir}`, `-Wl,-rpath,${found.libDir}`, '-Wl,--no-as-needed', ...libs, '-Wl,--as-needed'].join(' ')); break;
  default: process.stderr.write(`unknown query ${what}\n`); process.exit(2);
}
