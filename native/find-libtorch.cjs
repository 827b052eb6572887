#!/usr/bin/env node
// Locates libtorch for the addon build, the way tch-rs does. In order:
//   1. $LIBTORCH: an unzipped libtorch from pytorch.org (or any folder with include/ and lib/); wins over everything.
//   2. An installed PyTorch (pip, conda, venv) when LIBTORCH_USE_PYTORCH=1: `python3 -c 'import torch'` gives
//      torch/include, torch/lib and the C++ ABI flag. LIBTORCH_PYTHON picks the interpreter (default python3).
//   3. The system package (Debian/Ubuntu libtorch-dev) under /usr and /usr/local (ABLATE_SYSTEM_PREFIXES, a
//      colon-separated list, replaces these).
//   4. An installed PyTorch again, automatically, when nothing above was found.
// The version is checked here, before compiling: anything older than MIN_VERSION is refused with the remedy.
// CLI (used by binding.gyp, scripts/setup.sh and the package install script; keep it stable):
//   check     one line: version, where, CUDA; exit 1 with the remedies when nothing usable is found
//   json      the whole finding as JSON
//   includes  include directories, space-separated
//   cflags    compiler flags (the C++ ABI flag, and the C++ standard the headers need)
//   ldflags   linker flags
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync, execSync } = require('child_process');

const MIN_VERSION = [1, 13];
const MIN_TEXT = MIN_VERSION.join('.');

const REMEDIES = `Do one of:
  1. Debian/Ubuntu:  sudo apt-get install -y libtorch-dev libopenblas0-pthread
     (libopenblas0-pthread matters: without it fp32 matmul falls back to the slow reference BLAS)
  2. Use the libtorch of an installed PyTorch (pip, conda or a venv; torch >= ${MIN_TEXT}):
     LIBTORCH_USE_PYTORCH=1 (and LIBTORCH_PYTHON=/path/to/python if it is not the python3 on PATH)
  3. Download libtorch (CPU or CUDA) from pytorch.org, unzip it, and set
     LIBTORCH=/path/to/libtorch   (the folder that contains include/ and lib/)
Then build again (npm run build:native, or bash scripts/setup.sh).`;

function parseVersion(text) {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(String(text || ''));
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] || 0)] : null;
}

/** Version from the headers we are about to compile against (the most trustworthy source), else null. */
function headerVersion(includeDir) {
  for (const rel of [['torch', 'csrc', 'api', 'include', 'torch', 'version.h'], ['torch', 'version.h']]) {
    const vh = path.join(includeDir, ...rel);
    if (!fs.existsSync(vh)) continue;
    const text = fs.readFileSync(vh, 'utf8');
    const part = (n) => (new RegExp(`TORCH_VERSION_${n}\\s+(\\d+)`).exec(text) || [])[1];
    if (part('MAJOR') !== undefined) return `${part('MAJOR')}.${part('MINOR')}.${part('PATCH') || 0}`;
  }
  return null;
}

function includesOf(inc) {
  return [inc, path.join(inc, 'torch', 'csrc', 'api', 'include')];
}

function hasLibtorch(libDir) {
  return fs.existsSync(path.join(libDir, 'libtorch_cpu.so')) || fs.existsSync(path.join(libDir, 'libtorch.so'));
}

function finish(found) {
  found.cuda = fs.existsSync(path.join(found.libDir, 'libtorch_cuda.so'));
  const v = parseVersion(found.version);
  if (v && (v[0] < MIN_VERSION[0] || (v[0] === MIN_VERSION[0] && v[1] < MIN_VERSION[1]))) {
    return {
      error: `libtorch ${found.version} (${found.kind}: ${found.libDir}) is too old: ablate needs libtorch >= ${MIN_TEXT}.\n` +
        (found.kind === 'LIBTORCH'
          ? `Point LIBTORCH at a newer libtorch (pytorch.org), or unset it to use another. ${REMEDIES}`
          : found.kind === 'pytorch'
            ? `Upgrade that PyTorch (pip install -U torch), or use another libtorch. ${REMEDIES}`
            : `Upgrade libtorch-dev (Debian bookworm or newer), or use another libtorch. ${REMEDIES}`),
    };
  }
  return found;
}

function fromEnv() {
  const root = process.env.LIBTORCH;
  if (!root) return null;
  const lib = path.join(root, 'lib');
  const inc = path.join(root, 'include');
  if (!fs.existsSync(path.join(inc, 'ATen', 'ATen.h')) || !hasLibtorch(lib)) {
    return { error: `LIBTORCH=${root} is set but is not a libtorch directory: expected ${path.join(inc, 'ATen', 'ATen.h')} and ${path.join(lib, 'libtorch_cpu.so')}.\nSet LIBTORCH to the folder that contains include/ and lib/ (an unzipped libtorch from pytorch.org), or unset it.` };
  }
  let abiFlag = null;
  const cfg = path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
  if (fs.existsSync(cfg)) {
    const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(fs.readFileSync(cfg, 'utf8'));
    if (m) abiFlag = m[1];
  }
  let version = headerVersion(inc);
  const vfile = path.join(root, 'build-version');
  if (!version && fs.existsSync(vfile)) version = fs.readFileSync(vfile, 'utf8').trim();
  return finish({ kind: 'LIBTORCH', root, includes: includesOf(inc), libDir: lib, abiFlag, version: version || 'unknown' });
}

// Asks the interpreter where its torch lives. One line of JSON on stdout; nothing else is trusted.
const PY_QUERY = [
  'import json, os, torch',
  'print(json.dumps({"version": torch.__version__, "root": os.path.dirname(torch.__file__),',
  '  "abi": int(torch._C._GLIBCXX_USE_CXX11_ABI), "cudaVersion": torch.version.cuda}))',
].join('\n');

function fromPyTorch({ required }) {
  const python = process.env.LIBTORCH_PYTHON || 'python3';
  let out;
  try {
    out = execFileSync(python, ['-c', PY_QUERY], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 }).toString();
  } catch (e) {
    if (!required) return null;
    const why = e.code === 'ENOENT' ? `${python} was not found` : `"${python} -c 'import torch'" failed: ${String(e.stderr || e.message).trim().split('\n').pop()}`;
    return { error: `LIBTORCH_USE_PYTORCH=1 is set but no PyTorch was found: ${why}.\nInstall PyTorch (pip install torch) in that interpreter, point LIBTORCH_PYTHON at the python that has it, or unset LIBTORCH_USE_PYTORCH.` };
  }
  let info;
  try {
    info = JSON.parse(out.trim().split('\n').pop());
  } catch {
    return required ? { error: `${python} answered the torch query with something that is not JSON: ${out.trim().slice(0, 200)}` } : null;
  }
  const inc = path.join(info.root, 'include');
  const lib = path.join(info.root, 'lib');
  if (!fs.existsSync(path.join(inc, 'ATen', 'ATen.h')) || !hasLibtorch(lib)) {
    // Distribution builds (Debian's python3-torch) link the system libtorch and ship no headers of their own.
    return required
      ? { error: `the PyTorch of ${python} (torch ${info.version} in ${info.root}) has no C++ headers and libraries (expected ${path.join(inc, 'ATen', 'ATen.h')} and ${path.join(lib, 'libtorch_cpu.so')}): use a pip/conda PyTorch, or the system libtorch (unset LIBTORCH_USE_PYTORCH).` }
      : null;
  }
  const version = headerVersion(inc) || String(info.version).replace(/\+.*/, '');
  return finish({
    kind: 'pytorch', root: info.root, includes: includesOf(inc), libDir: lib, abiFlag: info.abi === 0 || info.abi === 1 ? String(info.abi) : null,
    version, python, pytorchVersion: String(info.version), cudaVersion: info.cudaVersion || null,
  });
}

function multiarchLibDirs(prefix) {
  const dirs = [];
  try { dirs.push(path.join(prefix, 'lib', execSync('gcc -print-multiarch', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim())); } catch {}
  for (const a of ['x86_64-linux-gnu', 'aarch64-linux-gnu']) dirs.push(path.join(prefix, 'lib', a));
  dirs.push(path.join(prefix, 'lib64'), path.join(prefix, 'lib'));
  return [...new Set(dirs)];
}

function fromSystem() {
  const prefixes = (process.env.ABLATE_SYSTEM_PREFIXES ?? '/usr:/usr/local').split(':').filter(Boolean);
  for (const prefix of prefixes) {
    const inc = path.join(prefix, 'include');
    if (!fs.existsSync(path.join(inc, 'ATen', 'ATen.h'))) continue;
    const lib = multiarchLibDirs(prefix).find(hasLibtorch);
    if (!lib) continue;
    return finish({ kind: 'system', root: prefix, includes: includesOf(inc), libDir: lib, abiFlag: null, version: headerVersion(inc) || 'unknown' });
  }
  return null;
}

function locate() {
  const env = fromEnv();
  if (env) return env;
  if (process.env.LIBTORCH_USE_PYTORCH === '1') return fromPyTorch({ required: true });
  return fromSystem() || fromPyTorch({ required: false }) || { error: `libtorch was not found. ablate needs PyTorch's C++ library (libtorch >= ${MIN_TEXT}). ${REMEDIES}` };
}

function ldflags(found) {
  const libs = ['-ltorch', '-ltorch_cpu', '-lc10'];
  if (found.cuda) libs.push('-ltorch_cuda', '-lc10_cuda');
  // --no-as-needed keeps libtorch_cuda linked even though no symbol is referenced: its static
  // initialisers register the CUDA kernels, without them a CUDA libtorch silently has no CUDA.
  return [`-L${found.libDir}`, `-Wl,-rpath,${found.libDir}`, '-Wl,--no-as-needed', ...libs, '-Wl,--as-needed'].join(' ');
}

// PyTorch's headers need C++17 up to 2.11 and refuse anything below C++20 from 2.12 on ('#error C++20 or later
// compatible compiler is required to use ATen'). binding.gyp says -std=c++17; a later -std wins.
const CXX20_FROM = [2, 12];
function cflags(found) {
  const flags = found.abiFlag !== null ? [`-D_GLIBCXX_USE_CXX11_ABI=${found.abiFlag}`] : [];
  const v = parseVersion(found.version);
  if (v && (v[0] > CXX20_FROM[0] || (v[0] === CXX20_FROM[0] && v[1] >= CXX20_FROM[1]))) flags.push('-std=c++20');
  return flags.join(' ');
}

function main() {
  const what = process.argv[2] || 'json';
  if (!['check', 'json', 'includes', 'cflags', 'ldflags'].includes(what)) {
    process.stderr.write(`unknown query "${what}" (expected check, json, includes, cflags or ldflags)\n`);
    process.exit(2);
  }
  const found = locate();
  if (found.error) {
    // Inside gyp a failing command gives an unreadable error; the message goes to stderr before failing.
    process.stderr.write(found.error + '\n');
    process.exit(1);
  }
  switch (what) {
    case 'check': console.log(`libtorch ${found.version} (${found.kind}: ${found.libDir}${found.cuda ? ', CUDA' : ''})`); break;
    case 'json': console.log(JSON.stringify(found)); break;
    case 'includes': console.log(found.includes.join(' ')); break;
    case 'cflags': console.log(cflags(found)); break;
    case 'ldflags': console.log(ldflags(found)); break;
  }
}

if (require.main === module) main();
module.exports = { locate, parseVersion, cflags, MIN_VERSION };
