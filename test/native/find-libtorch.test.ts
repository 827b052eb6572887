// libtorch discovery (native/find-libtorch.cjs) against install trees the tests make: a pip-style PyTorch
// (torch/include, torch/lib and a python3 shim answering the torch query), an unzipped libtorch, too-old versions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const script = join(repo, 'native', 'find-libtorch.cjs');
const tmp = mkdtempSync(join(tmpdir(), 'ablate-find-libtorch-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function versionHeader(version: string): string {
  const [major, minor, patch] = version.split('.');
  return `#pragma once\n#define TORCH_VERSION_MAJOR ${major}\n#define TORCH_VERSION_MINOR ${minor}\n#define TORCH_VERSION_PATCH ${patch}\n#define TORCH_VERSION "${version}"\n`;
}

/** include/ and lib/ the way both pytorch.org's libtorch zip and a pip wheel's torch/ folder lay them out. */
function makeLibtorchTree(root: string, version: string, o: { cuda?: boolean } = {}): string {
  mkdirSync(join(root, 'include', 'ATen'), { recursive: true });
  writeFileSync(join(root, 'include', 'ATen', 'ATen.h'), '#pragma once\n');
  mkdirSync(join(root, 'include', 'torch', 'csrc', 'api', 'include', 'torch'), { recursive: true });
  writeFileSync(join(root, 'include', 'torch', 'csrc', 'api', 'include', 'torch', 'version.h'), versionHeader(version));
  mkdirSync(join(root, 'lib'), { recursive: true });
  for (const lib of ['libtorch.so', 'libtorch_cpu.so', 'libc10.so', ...(o.cuda ? ['libtorch_cuda.so', 'libc10_cuda.so'] : [])]) {
    writeFileSync(join(root, 'lib', lib), '');
  }
  return root;
}

/**
 * A venv-like PyTorch: site-packages/torch with the libtorch tree, and a bin/python3 that answers the torch query
 * the way the real one does (one JSON line), logging its arguments so the test can see it was asked.
 */
function makePyTorch(name: string, version: string, o: { abi?: 0 | 1; cuda?: boolean; answer?: string; fail?: boolean } = {}): { bin: string; torchRoot: string; log: string } {
  const base = join(tmp, name);
  const torchRoot = makeLibtorchTree(join(base, 'lib', 'python3.11', 'site-packages', 'torch'), version, { cuda: o.cuda });
  const bin = join(base, 'bin');
  mkdirSync(bin, { recursive: true });
  const log = join(base, 'queries.log');
  const answer = o.answer ?? JSON.stringify({ version: `${version}${o.cuda ? '+cu124' : '+cpu'}`, root: torchRoot, abi: o.abi ?? 0, cudaVersion: o.cuda ? '12.4' : null });
  const body = o.fail
    ? `echo "Traceback (most recent call last):" >&2\necho "ModuleNotFoundError: No module named 'torch'" >&2\nexit 1\n`
    : `cat <<'EOF'\n${answer}\nEOF\n`;
  writeFileSync(join(bin, 'python3'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\n${body}`);
  chmodSync(join(bin, 'python3'), 0o755);
  return { bin, torchRoot, log };
}

interface Run { status: number | null; stdout: string; stderr: string }
function find(query: string, env: Record<string, string | undefined>): Run {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^LIBTORCH/.test(k) && k !== 'ABLATE_SYSTEM_PREFIXES') clean[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  const r = spawnSync(process.execPath, [script, query], { env: clean, encoding: 'utf8', timeout: 30000 });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}
const noSystem = join(tmp, 'no-system-prefix');

test('an installed PyTorch is found with LIBTORCH_USE_PYTORCH=1: its include/lib, ABI flag and CUDA libraries are used', () => {
  const py = makePyTorch('venv-cuda', '2.5.1', { abi: 0, cuda: true });
  const env = { LIBTORCH_USE_PYTORCH: '1', PATH: `${py.bin}:${process.env.PATH}` };
  const json = JSON.parse(find('json', env).stdout);
  assert.equal(json.kind, 'pytorch');
  assert.equal(json.version, '2.5.1');
  assert.equal(json.pytorchVersion, '2.5.1+cu124');
  assert.equal(json.cuda, true);
  assert.equal(json.cudaVersion, '12.4');
  assert.equal(json.libDir, join(py.torchRoot, 'lib'));
  assert.equal(find('includes', env).stdout, `${join(py.torchRoot, 'include')} ${join(py.torchRoot, 'include', 'torch', 'csrc', 'api', 'include')}`);
  assert.equal(find('cflags', env).stdout, '-D_GLIBCXX_USE_CXX11_ABI=0');
  const ld = find('ldflags', env).stdout;
  assert.match(ld, new RegExp(`-L${join(py.torchRoot, 'lib')} -Wl,-rpath,${join(py.torchRoot, 'lib')} `));
  assert.match(ld, /-Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -ltorch_cuda -lc10_cuda -Wl,--as-needed/);
  assert.equal(find('check', env).stdout, `libtorch 2.5.1 (pytorch: ${join(py.torchRoot, 'lib')}, CUDA)`);
  assert.match(readFileSync(py.log, 'utf8'), /^-c import json, os, torch/m, 'the interpreter was asked');
});

test('LIBTORCH_PYTHON picks the interpreter, and a cxx11-ABI PyTorch gets ABI flag 1', () => {
  const py = makePyTorch('conda', '2.7.0', { abi: 1 });
  const env = { LIBTORCH_USE_PYTORCH: '1', LIBTORCH_PYTHON: join(py.bin, 'python3') };
  assert.equal(find('cflags', env).stdout, '-D_GLIBCXX_USE_CXX11_ABI=1');
  assert.equal(JSON.parse(find('json', env).stdout).cuda, false);
});

test('with no system libtorch, an installed PyTorch is used automatically', () => {
  const py = makePyTorch('auto', '2.6.0');
  const r = find('json', { ABLATE_SYSTEM_PREFIXES: noSystem, PATH: `${py.bin}:${process.env.PATH}` });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).kind, 'pytorch');
});

test('a system libtorch comes before the automatic PyTorch fallback', () => {
  const sys = join(tmp, 'usr-prefix');
  makeLibtorchTree(sys, '2.6.0');
  const py = makePyTorch('behind-system', '2.5.1');
  const json = JSON.parse(find('json', { ABLATE_SYSTEM_PREFIXES: sys, PATH: `${py.bin}:${process.env.PATH}` }).stdout);
  assert.equal(json.kind, 'system');
  assert.equal(json.libDir, join(sys, 'lib'));
  assert.equal(json.version, '2.6.0');
});

test('LIBTORCH wins over LIBTORCH_USE_PYTORCH, PyTorch and the system package', () => {
  const lt = makeLibtorchTree(join(tmp, 'libtorch-zip'), '2.4.1', { cuda: true });
  mkdirSync(join(lt, 'share', 'cmake', 'Torch'), { recursive: true });
  writeFileSync(join(lt, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")\n');
  const py = makePyTorch('ignored', '2.5.1');
  const env = { LIBTORCH: lt, LIBTORCH_USE_PYTORCH: '1', PATH: `${py.bin}:${process.env.PATH}` };
  const json = JSON.parse(find('json', env).stdout);
  assert.equal(json.kind, 'LIBTORCH');
  assert.equal(json.version, '2.4.1');
  assert.equal(find('cflags', env).stdout, '-D_GLIBCXX_USE_CXX11_ABI=1');
  assert.throws(() => readFileSync(py.log), /ENOENT/, 'python was never asked');
});

test('a LIBTORCH that is not a libtorch folder is an error, not a silent fall-through', () => {
  const r = find('check', { LIBTORCH: join(tmp, 'nothing-here') });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /LIBTORCH=.*nothing-here is set but is not a libtorch directory: expected .*ATen\.h/);
});

test('a too-old libtorch is refused before compiling, with the remedy', () => {
  const py = makePyTorch('old-venv', '1.12.1');
  const r = find('ldflags', { LIBTORCH_USE_PYTORCH: '1', PATH: `${py.bin}:${process.env.PATH}` });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /libtorch 1\.12\.1 \(pytorch: .*\) is too old: ablate needs libtorch >= 1\.13/);
  assert.match(r.stderr, /pip install -U torch/);
  const old = makeLibtorchTree(join(tmp, 'old-zip'), '1.10.0');
  const r2 = find('check', { LIBTORCH: old });
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /libtorch 1\.10\.0 \(LIBTORCH: .*\) is too old: .*Point LIBTORCH at a newer libtorch/s);
  const sys = makeLibtorchTree(join(tmp, 'old-system'), '1.8.1');
  assert.match(find('check', { ABLATE_SYSTEM_PREFIXES: sys }).stderr, /libtorch 1\.8\.1 \(system: .*\) is too old: .*Upgrade libtorch-dev/s);
});

test('LIBTORCH_USE_PYTORCH=1 without a usable PyTorch says why', () => {
  const missing = find('check', { LIBTORCH_USE_PYTORCH: '1', LIBTORCH_PYTHON: join(tmp, 'no-python') });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no PyTorch was found: .*no-python was not found/);
  const broken = makePyTorch('no-torch', '2.5.1', { fail: true });
  assert.match(find('check', { LIBTORCH_USE_PYTORCH: '1', PATH: `${broken.bin}:${process.env.PATH}` }).stderr, /import torch'" failed: ModuleNotFoundError: No module named 'torch'/);
  const garbage = makePyTorch('garbage', '2.5.1', { answer: 'hello' });
  assert.match(find('check', { LIBTORCH_USE_PYTORCH: '1', PATH: `${garbage.bin}:${process.env.PATH}` }).stderr, /answered the torch query with something that is not JSON: hello/);
  const headerless = makePyTorch('distro-torch', '2.6.0', { answer: JSON.stringify({ version: '2.6.0', root: join(tmp, 'distro-torch', 'empty'), abi: 1, cudaVersion: null }) });
  assert.match(find('check', { LIBTORCH_USE_PYTORCH: '1', PATH: `${headerless.bin}:${process.env.PATH}` }).stderr, /has no C\+\+ headers and libraries/);
});

test('when nothing is found, one message lists every remedy', () => {
  const broken = makePyTorch('nothing', '2.5.1', { fail: true });
  const r = find('check', { ABLATE_SYSTEM_PREFIXES: noSystem, PATH: `${broken.bin}:${process.env.PATH}` });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^libtorch was not found\. ablate needs PyTorch's C\+\+ library \(libtorch >= 1\.13\)/);
  assert.match(r.stderr, /apt-get install -y libtorch-dev libopenblas0-pthread/);
  assert.match(r.stderr, /LIBTORCH_USE_PYTORCH=1/);
  assert.match(r.stderr, /LIBTORCH=\/path\/to\/libtorch/);
  assert.equal(find('nonsense', {}).status, 2);
});

test('binding.gyp builds with what discovery finds (node-gyp configure against the fake PyTorch)', () => {
  const py = makePyTorch('gyp', '2.5.1', { abi: 0, cuda: true });
  const dir = join(tmp, 'gyp-native');
  mkdirSync(dir, { recursive: true });
  cpSync(join(repo, 'native', 'binding.gyp'), join(dir, 'binding.gyp'));
  cpSync(script, join(dir, 'find-libtorch.cjs'));
  cpSync(join(repo, 'native', 'find-gloo.cjs'), join(dir, 'find-gloo.cjs'));
  cpSync(join(repo, 'native', 'find-nccl.cjs'), join(dir, 'find-nccl.cjs'));
  cpSync(join(repo, 'native', 'find-jpeg.cjs'), join(dir, 'find-jpeg.cjs'));
  const gyp = join(repo, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  // Offline: the Debian headers when present (as scripts/setup.sh does), else node-gyp's own cache.
  const nodedir = existsSync('/usr/include/node/node.h') ? ['--nodedir=/usr'] : [];
  // LIBTORCH_PYTHON, not PATH: node-gyp itself runs the python3 on PATH.
  const env: NodeJS.ProcessEnv = { ...process.env, LIBTORCH_USE_PYTORCH: '1', LIBTORCH_PYTHON: join(py.bin, 'python3'), NODE_PATH: join(repo, 'node_modules') };
  delete env.LIBTORCH;
  const r = spawnSync(process.execPath, [gyp, 'configure', ...nodedir], { cwd: dir, env, encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, r.stderr);
  const mk = readFileSync(join(dir, 'build', 'ablate_native.target.mk'), 'utf8');
  assert.ok(mk.includes(`-I${join(py.torchRoot, 'include')}`), 'torch/include on the include path');
  assert.ok(mk.includes('-D_GLIBCXX_USE_CXX11_ABI=0'), 'the ABI flag of that PyTorch');
  assert.ok(mk.includes(`-Wl,-rpath,${join(py.torchRoot, 'lib')}`), 'linked against torch/lib');
  assert.ok(mk.includes('-ltorch_cuda'), 'its CUDA libraries linked');
});

function touchHeaders(dir: string, headers: string[]): void {
  for (const rel of headers) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), '#pragma once\n');
  }
}

/**
 * What a pip CUDA PyTorch adds for NCCL: c10d's headers in torch/include (Gloo's too where `gloo` says so: the
 * PyTorch 2.11 wheel has none), the nvidia-* wheels' headers beside torch/: one folder per library for CUDA 12, one
 * nvidia/cu13/include for CUDA 13's runtime and libraries, which lacks crt/host_config.h.
 */
function addPipNccl(torchRoot: string, o: { skip?: string[]; gloo?: boolean; layout?: 'cu12' | 'cu13' } = {}): string {
  touchHeaders(join(torchRoot, 'include'), ['torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp', 'torch/csrc/distributed/c10d/ProcessGroupGloo.hpp',
    ...(o.gloo === false ? [] : ['gloo/algorithm.h'])]);
  const nvidia = join(dirname(torchRoot), 'nvidia');
  const wheels: Record<string, string[]> = o.layout === 'cu13'
    ? { nccl: ['nccl.h'], cu13: ['cuda_runtime_api.h', 'cuda.h', 'cublas_v2.h', 'cublasLt.h', 'cusparse.h', 'cusolverDn.h'] }
    : {
      nccl: ['nccl.h'], cuda_runtime: ['cuda_runtime_api.h', 'cuda.h', 'crt/host_config.h'], cublas: ['cublas_v2.h', 'cublasLt.h'], cusparse: ['cusparse.h'],
      cusolver: ['cusolverDn.h'],
    };
  for (const [wheel, headers] of Object.entries(wheels)) touchHeaders(join(nvidia, wheel, 'include'), headers.filter((h) => !o.skip?.includes(h)));
  return nvidia;
}

function findNccl(query: string, env: Record<string, string | undefined>, dir = join(repo, 'native')): Run {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(LIBTORCH|CUDA_HOME|CUDA_PATH|NCCL_INCLUDE_DIR|GLOO_INCLUDE_DIR|ABLATE_WITHOUT_DISTRIBUTED)/.test(k) && k !== 'ABLATE_SYSTEM_PREFIXES') clean[k] = v;
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  const r = spawnSync(process.execPath, [join(dir, 'find-nccl.cjs'), query], { env: clean, encoding: 'utf8', timeout: 30000 });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}
function findGloo(query: string, env: Record<string, string | undefined>): Run {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(LIBTORCH|GLOO_INCLUDE_DIR|ABLATE_WITHOUT_DISTRIBUTED)/.test(k) && k !== 'ABLATE_SYSTEM_PREFIXES') clean[k] = v;
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  const r = spawnSync(process.execPath, [join(repo, 'native', 'find-gloo.cjs'), query], { env: clean, encoding: 'utf8', timeout: 30000 });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

test('NCCL (find-nccl.cjs): a pip CUDA PyTorch with the nvidia-* wheels turns it on, their include folders on the path', () => {
  const py = makePyTorch('nccl-pip', '2.6.0', { cuda: true });
  const nvidia = addPipNccl(py.torchRoot);
  const env = { LIBTORCH_USE_PYTORCH: '1', LIBTORCH_PYTHON: join(py.bin, 'python3'), ABLATE_SYSTEM_PREFIXES: noSystem };
  const defines = findNccl('defines', env);
  assert.equal(defines.status, 0, defines.stderr);
  assert.equal(defines.stdout, 'ABLATE_WITH_NCCL USE_C10D_NCCL');
  assert.deepEqual(findNccl('includes', env).stdout.split(' ').sort(),
    ['cublas', 'cuda_runtime', 'cusolver', 'cusparse', 'nccl'].map((w) => join(nvidia, w, 'include')).sort());
  assert.match(findNccl('check', env).stdout, /^NCCL process group: yes \(libtorch 2\.6\.0\)$/);
});

test('NCCL (find-nccl.cjs): off, saying why, for a CPU libtorch or when a header is missing', () => {
  const cpu = makePyTorch('nccl-cpu', '2.6.0');
  const cpuEnv = { LIBTORCH_USE_PYTORCH: '1', LIBTORCH_PYTHON: join(cpu.bin, 'python3'), ABLATE_SYSTEM_PREFIXES: noSystem };
  assert.equal(findNccl('defines', cpuEnv).stdout, 'ABLATE_WITHOUT_NCCL');
  assert.equal(findNccl('includes', cpuEnv).stdout, '');
  assert.match(findNccl('check', cpuEnv).stdout, /^NCCL process group: no — libtorch 2\.6\.0 \(.*\) is a CPU-only build \(no libtorch_cuda\)$/);
  const partial = makePyTorch('nccl-partial', '2.6.0', { cuda: true });
  addPipNccl(partial.torchRoot, { skip: ['nccl.h'] });
  const env = { LIBTORCH_USE_PYTORCH: '1', LIBTORCH_PYTHON: join(partial.bin, 'python3'), ABLATE_SYSTEM_PREFIXES: noSystem, CUDA_HOME: join(tmp, 'no-cuda-here') };
  assert.equal(findNccl('defines', env).stdout, 'ABLATE_WITHOUT_NCCL');
  assert.match(findNccl('check', env).stdout, /libtorch 2\.6\.0 has NCCL but nccl\.h was not found in .*nvidia-nccl-cu\* and nvidia-cuda-runtime-cu\* wheels; Debian: libnccl-dev and nvidia-cuda-dev/);
  // NCCL_INCLUDE_DIR points at a separate NCCL.
  const nccl = join(tmp, 'nccl-elsewhere', 'include');
  mkdirSync(nccl, { recursive: true });
  writeFileSync(join(nccl, 'nccl.h'), '#pragma once\n');
  assert.equal(findNccl('defines', { ...env, NCCL_INCLUDE_DIR: nccl }).stdout, 'ABLATE_WITH_NCCL USE_C10D_NCCL');
});

test('NCCL (find-nccl.cjs): CUDA 13 wheels (nvidia/cu13) need a toolkit beside them for crt/host_config.h, as on a PyTorch 2.11 GPU box', () => {
  const py = makePyTorch('nccl-cu13', '2.11.0', { cuda: true });
  const nvidia = addPipNccl(py.torchRoot, { layout: 'cu13' });
  const env = { LIBTORCH_USE_PYTORCH: '1', LIBTORCH_PYTHON: join(py.bin, 'python3'), ABLATE_SYSTEM_PREFIXES: noSystem, CUDA_HOME: join(tmp, 'no-toolkit') };
  assert.equal(findNccl('defines', env).stdout, 'ABLATE_WITHOUT_NCCL');
  assert.match(findNccl('check', env).stdout, /has NCCL but crt\/host_config\.h was not found in /);
  const toolkit = join(tmp, 'cuda-13.0');
  touchHeaders(join(toolkit, 'include'), ['crt/host_config.h', 'cuda_runtime_api.h']);
  const withToolkit = { ...env, CUDA_HOME: toolkit };
  assert.equal(findNccl('defines', withToolkit).stdout, 'ABLATE_WITH_NCCL USE_C10D_NCCL');
  // The wheels' headers first (the runtime PyTorch was built with), the toolkit's for what they lack.
  assert.deepEqual(findNccl('includes', withToolkit).stdout.split(' '), [join(nvidia, 'nccl', 'include'), join(nvidia, 'cu13', 'include'), join(toolkit, 'include')]);
});

test('Gloo (find-gloo.cjs): a pip PyTorch without Gloo headers gets none until GLOO_INCLUDE_DIR names them; ABLATE_WITHOUT_DISTRIBUTED=1 turns c10d off', () => {
  const py = makePyTorch('gloo-pip', '2.11.0', { cuda: true });
  addPipNccl(py.torchRoot, { gloo: false });
  const env = { LIBTORCH_USE_PYTORCH: '1', LIBTORCH_PYTHON: join(py.bin, 'python3'), ABLATE_SYSTEM_PREFIXES: noSystem };
  assert.equal(findGloo('defines', env).stdout, 'ABLATE_WITHOUT_GLOO');
  assert.match(findNccl('check', env).stdout, /Gloo's headers were not found .*a pip PyTorch ships none: set GLOO_INCLUDE_DIR/);
  const gloo = join(tmp, 'gloo-0.5', 'include');
  touchHeaders(gloo, ['gloo/algorithm.h', 'gloo/config.h']);
  const withGloo = { ...env, GLOO_INCLUDE_DIR: gloo };
  assert.equal(findGloo('defines', withGloo).stdout, 'ABLATE_WITH_GLOO USE_C10D_GLOO');
  assert.equal(findGloo('includes', withGloo).stdout.split(' ')[0], gloo, 'the named folder goes on the include path');
  assert.equal(findNccl('defines', withGloo).stdout, 'ABLATE_WITH_NCCL USE_C10D_NCCL');
  // A folder without Gloo in it changes nothing, and /usr/include is never named with -I (it breaks #include_next).
  assert.equal(findGloo('defines', { ...env, GLOO_INCLUDE_DIR: join(tmp, 'empty-gloo') }).stdout, 'ABLATE_WITHOUT_GLOO');
  assert.ok(!findGloo('includes', { ...env, GLOO_INCLUDE_DIR: '/usr/include' }).stdout.split(' ').includes('/usr/include'));
  assert.equal(findGloo('defines', { ...withGloo, ABLATE_WITHOUT_DISTRIBUTED: '1' }).stdout, 'ABLATE_WITHOUT_GLOO');
  assert.equal(findNccl('defines', { ...withGloo, ABLATE_WITHOUT_DISTRIBUTED: '1' }).stdout, 'ABLATE_WITHOUT_NCCL');
});

test('the C++ standard follows the headers: C++17 through libtorch 2.11, C++20 from 2.12 (whose ATen refuses anything older)', () => {
  for (const [version, std] of [['2.11.0', false], ['2.12.0', true], ['3.0.0', true], ['1.13.1', false]] as const) {
    const py = makePyTorch(`std-${version}`, version);
    const flags = find('cflags', { LIBTORCH_USE_PYTORCH: '1', LIBTORCH_PYTHON: join(py.bin, 'python3'), ABLATE_SYSTEM_PREFIXES: noSystem }).stdout;
    assert.equal(flags.includes('-std=c++20'), std, `${version}: ${flags}`);
    assert.ok(flags.includes('-D_GLIBCXX_USE_CXX11_ABI=0'), flags);
  }
});
