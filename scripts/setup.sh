#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: libtorch (Debian's libtorch-dev when running as root and none is
# found), npm dependencies, the native addon and the TypeScript build. Fast when everything is in place.
# ABLATE_NO_APT=1: never install Debian packages (offline machines, or a system the user manages); say what is missing.
#   bash scripts/setup.sh          # what `npm run demo` needs
#   bash scripts/setup.sh --test   # also PyTorch/torchvision for the parity tests, chromium for the dashboard tests
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf '[setup] %s\n' "$*" >&2; }
as_root() { [ "$(id -u)" = 0 ]; }
apt_updated=0
apt_install() {
  if [ "${ABLATE_NO_APT:-}" = 1 ] || ! as_root || ! command -v apt-get >/dev/null; then
    say "missing Debian packages: $* — install them with: sudo apt-get install -y $*"
    return 1
  fi
  if [ $apt_updated = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2; apt_updated=1; fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# 1. libtorch
if [ -z "${LIBTORCH:-}" ] && ! node native/find-libtorch.cjs check >/dev/null 2>&1; then
  apt_install libtorch-dev libopenblas0-pthread || { node native/find-libtorch.cjs check; exit 1; }
fi
if [ -z "${LIBTORCH:-}" ] && command -v dpkg-query >/dev/null && have_pkg libtorch-dev && ! have_pkg libopenblas0-pthread; then
  # Without it Debian's libtorch falls back to reference BLAS: fp32 matmul ~30x slower.
  apt_install libopenblas0-pthread || say "warning: libopenblas0-pthread missing; fp32 matmul will be slow"
fi
if [ -z "${LIBTORCH:-}" ] && command -v dpkg-query >/dev/null && have_pkg libtorch-dev && ! have_pkg libgloo-dev; then
  # libtorch exports c10d's Gloo process group, but its header needs Gloo's own headers (data-parallel training).
  apt_install libgloo-dev || say "warning: libgloo-dev missing; data-parallel training (--nproc-per-node) will be unavailable"
fi
node native/find-libtorch.cjs check >&2
if ! node native/find-jpeg.cjs check; then
  # The direct JPEG decoder (ablate_image) needs libjpeg-turbo's headers; without them sharp decodes every file, 2-4x slower.
  apt_install libjpeg62-turbo-dev || say "warning: libjpeg62-turbo-dev missing; JPEG decoding will go through sharp (slower)"
fi

# 2. npm dependencies
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  # onnxruntime-node (a test dependency) would fetch its CUDA provider from outside the npm registry.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >&2
fi

# 3. native addon (rebuilt when a source, the build config or the libtorch location changes). The sources are
# compared by content, not time, so a fresh clone next to a kept build (scripts/compat.sh) does not rebuild.
stamp=native/build/.ablate-stamp
want_stamp="$(node native/find-libtorch.cjs json)"
# Whether Gloo's headers are there (data-parallel ops built in), and NCCL's (CUDA data-parallel), change the build too.
sources_hash="$( (cat native/src/* native/binding.gyp native/find-libtorch.cjs native/find-gloo.cjs native/find-nccl.cjs native/find-jpeg.cjs native/compat-include/torch/csrc/distributed/autograd/context/context.h; node native/find-gloo.cjs defines; node native/find-gloo.cjs includes; node native/find-nccl.cjs defines; node native/find-jpeg.cjs defines) | sha256sum | cut -c1-16)"
if [ ! -f native/build/Release/ablate_native.node ] || [ ! -f $stamp ] || [ "$(head -1 $stamp)" != "$want_stamp" ] \
  || [ "$(sed -n 2p $stamp)" != "$sources_hash" ]; then
  say "building the native addon (libtorch)"
  # node-gyp downloads node's headers unless told where they are: use those of this node's own installation (Debian's
  # libnode-dev, or the include/node beside a node tarball's bin/), so a machine without network builds too.
  nodedir=()
  node_prefix=$(node -p 'require("path").resolve(process.execPath, "..", "..")')
  if [ -f /usr/include/node/node.h ]; then nodedir=(--nodedir=/usr)
  elif [ -f "$node_prefix/include/node/node.h" ] && [ -f "$node_prefix/include/node/common.gypi" ]; then nodedir=(--nodedir="$node_prefix")
  fi
  (cd native && node ../node_modules/node-gyp/bin/node-gyp.js rebuild "${nodedir[@]}" -j "$(nproc 2>/dev/null || echo 2)" >&2)
  printf '%s\n%s\n' "$want_stamp" "$sources_hash" > $stamp
fi

# 4. TypeScript build (the CLI runs compiled JS)
# bench/ too: the benchmarks run ablate's measured processes from the compiled JS when it is current (bench/lib/common.ts).
if [ ! -f dist/src/cli/main.js ] || [ -n "$(find src bin bench tsconfig.json -newer dist/.stamp 2>/dev/null | head -1)" ]; then
  say "compiling TypeScript"
  npx --no-install tsc -p tsconfig.json >&2
  touch dist/.stamp
fi

# 5. reference PyTorch for parity tests and benchmarks
if [ $want_test = 1 ] && ! /usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1; then
  apt_install python3-torch python3-torchvision python3-pil || say "warning: PyTorch parity tests will be skipped"
fi
# SciPy/statsmodels: the reference the statistics tests (test/study/inference.test.ts) check against.
if [ $want_test = 1 ] && ! /usr/bin/python3 -c 'import scipy, statsmodels' >/dev/null 2>&1; then
  apt_install python3-scipy python3-statsmodels || say "warning: the statistics cross-checks against SciPy/statsmodels will be skipped"
fi
# 6. a real browser for the dashboard tests (driven by puppeteer-core, which downloads none itself)
if [ $want_test = 1 ] && [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null; then
  apt_install chromium || say "warning: chromium missing; the dashboard's browser tests will be skipped"
fi
exit 0
