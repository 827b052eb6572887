#!/usr/bin/env bash
# Builds the native addon and runs the test suite against Debian trixie's libtorch 2.x, inside a trixie root
# made with debootstrap. The root is cached (default /var/cache/ablate/compat/trixie) so reruns only copy the
# project, rebuild what changed and run the tests. Needs root (debootstrap, chroot) and apt access to a Debian
# mirror; this machine's own apt sources are never changed.
#   bash scripts/compat.sh                          # build + whole suite on trixie
#   bash scripts/compat.sh test/tensor/ops.test.ts  # build + only these test files
#   bash scripts/compat.sh --shell                  # an interactive shell in the root, project at /ablate
#   bash scripts/compat.sh --run 'bash scripts/gpu-check.sh --dry-run'   # one command there, after the copy
#   bash scripts/compat.sh --refresh                # rebuild the root from scratch first (new trixie packages)
#   ABLATE_COMPAT_LIBTORCH=cuda bash scripts/compat.sh test/dist/nccl.test.ts   # trixie's CUDA libtorch (no GPU needed)
# Environment: ABLATE_COMPAT_LIBTORCH (cpu, the default, or cuda: a root of its own), ABLATE_COMPAT_CACHE (cache
# folder), ABLATE_COMPAT_MIRROR (Debian mirror URL), ABLATE_COMPAT_SUITE.
set -euo pipefail
cd "$(dirname "$0")/.."
project="$PWD"
suite="${ABLATE_COMPAT_SUITE:-trixie}"
flavour="${ABLATE_COMPAT_LIBTORCH:-cpu}"
case "$flavour" in
  cpu) cache="${ABLATE_COMPAT_CACHE:-/var/cache/ablate/compat}"; components=main ;;
  cuda) cache="${ABLATE_COMPAT_CACHE:-/var/cache/ablate/compat-cuda}"; components='main contrib non-free non-free-firmware' ;;
  *) printf '[compat] error: Expected ABLATE_COMPAT_LIBTORCH to be cpu or cuda but received "%s"\n' "$flavour" >&2; exit 1 ;;
esac
root="$cache/$suite"
# Everything the build and the suite need inside the root: node + headers for node-gyp, a compiler, libtorch,
# fast BLAS, libjpeg-turbo's headers (the direct JPEG decoder), and PyTorch/torchvision for the parity tests (what `scripts/setup.sh --test` installs on the host).
packages=(ca-certificates nodejs npm libnode-dev g++ make python3 libtorch-dev libopenblas0-pthread libjpeg62-turbo-dev
  python3-torch python3-torchvision python3-pil)
# The CUDA flavour: trixie's libtorch built with CUDA and NCCL (contrib, CUDA libraries from non-free; about 2.5 GB to
# download), its Gloo, NCCL's and CUDA's headers (the addon's NCCL process group needs them) and the matching PyTorch.
# It is what a machine with a CUDA libtorch and no GPU has: the build and the CPU suite must work there, and CUDA runs
# must fail with a clear error. Debian's nvidia-cudnn downloads cuDNN from NVIDIA while it installs, which this root
# cannot: a dummy package stands in for it (cuda_prepare) and a stub libcudnn.so.9, which answers only cuDNN's version,
# lets libtorch_cuda and PyTorch load (cuda_stub_cudnn). Nothing here runs on a GPU; scripts/gpu-check.sh does that.
if [ "$flavour" = cuda ]; then
  packages=(ca-certificates nodejs npm libnode-dev g++ make python3 libtorch-cuda-dev libgloo-cuda-dev libnccl-dev nvidia-cuda-dev
    libopenblas0-pthread libjpeg62-turbo-dev python3-torch-cuda python3-torchvision python3-pil)
fi

say() { printf '[compat] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
started=$(date +%s)

refresh=0; shell=0; run=''; tests=()
while [ $# -gt 0 ]; do
  case "$1" in
    --refresh) refresh=1 ;;
    --shell) shell=1 ;;
    --run) [ $# -ge 2 ] || die "--run needs a command"; run="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (expected --refresh, --shell, --run CMD, --help or test files)" ;;
    *) tests+=("$1") ;;
  esac
  shift
done

[ "$(id -u)" = 0 ] || die "needs root (debootstrap and chroot); run: sudo bash scripts/compat.sh"
command -v unshare >/dev/null && command -v chroot >/dev/null || die "needs unshare and chroot (util-linux, coreutils)"
if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap >&2 \
    || die "could not install debootstrap: apt-get install debootstrap"
fi

# The Debian archive this machine already uses (deb.debian.org or a local mirror); the security archive is not one.
debian_mirror() {
  if [ -n "${ABLATE_COMPAT_MIRROR:-}" ]; then echo "$ABLATE_COMPAT_MIRROR"; return; fi
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ' || true)
  echo "${url:-http://deb.debian.org/debian}"
}

# Runs a command inside the root in a private mount namespace: the proc/dev/sys mounts vanish with it, even on
# Ctrl-C or kill, so nothing is left mounted on the host.
# The root trusts what this machine trusts (a TLS-inspecting proxy's CA, say) and uses its proxy settings, so npm
# reaches the registry from inside exactly as it does outside.
in_root() {
  local dir="$1"; shift
  cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
  local host_ca=/etc/ssl/certs/ca-certificates.crt
  [ -f "$host_ca" ] && cp "$host_ca" "$dir/etc/ablate-host-ca.crt"
  local pass=()
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY npm_config_registry; do
    [ -n "${!v:-}" ] && pass+=("$v=${!v}")
  done
  [ -f "$dir/etc/ablate-host-ca.crt" ] && pass+=(NODE_EXTRA_CA_CERTS=/etc/ablate-host-ca.crt npm_config_cafile=/etc/ablate-host-ca.crt)
  unshare --mount --propagation private -- bash -c '
    set -e; r="$1"; shift
    mount -t proc proc "$r/proc"
    mount --bind /dev "$r/dev"; mount --bind /dev/pts "$r/dev/pts" 2>/dev/null || true
    mount -t tmpfs -o size=2g tmpfs "$r/dev/shm"
    mount --bind /sys "$r/sys"
    exec chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" DEBIAN_FRONTEND=noninteractive ABLATE_COMPAT_ROOT=1 "$@"' _ "$dir" "${pass[@]}" "$@"
}

# The root's own apt sources (this machine's are never touched), the packages, and what the CUDA flavour needs around
# them. Records the list installed, so a changed list is installed into the cached root next time.
install_packages() {
  local dir="$1"
  printf 'deb %s %s %s\n' "$(debian_mirror)" "$suite" "$components" > "$dir/etc/apt/sources.list"
  if [ "$flavour" = cuda ]; then cuda_prepare "$dir" || return 1; fi
  say "installing ${packages[*]}"
  in_root "$dir" bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null && apt-get clean' _ "${packages[@]}" || return 1
  if [ "$flavour" = cuda ]; then cuda_stub_cudnn "$dir" || return 1; fi
  echo "$recipe" > "$dir/.ablate-packages"
}

# A dummy nvidia-cudnn, held, meets libtorch-cuda's dependency without the installer's download (equivs' idea, made
# with dpkg-deb alone). Its version sorts just above trixie's, so apt never replaces it.
cuda_prepare() {
  local pkg="$1/var/lib/ablate-dummy/nvidia-cudnn"
  mkdir -p "$pkg/DEBIAN"
  printf '%s\n' 'Package: nvidia-cudnn' 'Version: 9.0.0.312~cuda12+ablate.dummy' 'Architecture: all' \
    'Maintainer: ablate scripts/compat.sh <nobody@invalid>' \
    'Description: stand-in for the nvidia-cudnn installer in an offline compat root' \
    " Debian's nvidia-cudnn downloads cuDNN from NVIDIA while it installs; ablate's compat root cannot." \
    ' scripts/compat.sh puts a stub libcudnn.so.9 in /usr/local/lib/ablate-stubs instead.' > "$pkg/DEBIAN/control"
  in_root "$1" bash -c 'dpkg-query -W -f="\${Version}" nvidia-cudnn 2>/dev/null | grep -q ablate.dummy && exit 0
    dpkg-deb --build -Zgzip /var/lib/ablate-dummy/nvidia-cudnn /var/lib/ablate-dummy/nvidia-cudnn.deb >/dev/null \
      && dpkg -i /var/lib/ablate-dummy/nvidia-cudnn.deb >/dev/null && apt-mark hold nvidia-cudnn >/dev/null'
}

# libtorch_cuda (and PyTorch's libtorch_python) need libcudnn.so.9 and are linked with BIND_NOW: every cuDNN function
# they name must exist for them to load at all. The stub defines each one under cuDNN's symbol version, failing with
# CUDNN_STATUS_NOT_INITIALIZED (there is no GPU to call it on here anyway), except the version queries: PyTorch
# compares cuDNN's version with its own at import. A change to the stub bumps cudnn_stub below.
cuda_stub_cudnn() {
  local stub="$1/usr/local/lib/ablate-stubs"
  mkdir -p "$stub"
  in_root "$1" bash -c 'nm -D --undefined-only /usr/lib/*/libtorch_cuda.so.* /usr/lib/*/libtorch_python.so.* 2>/dev/null' \
    | awk '$2 ~ /^cudnn[A-Za-z0-9_]*@libcudnn/ { sub(/@.*/, "", $2); print $2 }' | sort -u > "$stub/symbols.txt"
  [ -s "$stub/symbols.txt" ] || { say "no cuDNN symbols found in the root's libtorch_cuda"; return 1; }
  {
    echo '/* Stub cuDNN for ablate'"'"'s offline compat root (scripts/compat.sh): every function but the version queries fails. */'
    echo 'const char *cudnnGetErrorString(int s) { (void)s; return "cuDNN stub (ablate compat root): no cuDNN here"; }'
    # The version libtorch-cuda 2.6 was built against (nvidia-cudnn 9.0.0): PyTorch refuses to import on any other.
    echo 'unsigned long cudnnGetVersion(void) { return 90000; }'
    echo 'int cudnnGetProperty(int type, int *value) { *value = type == 0 ? 9 : 0; return 0; }'
    echo 'unsigned long cudnnGetCudartVersion(void) { return 0; }'
    grep -vxE 'cudnnGetErrorString|cudnnGetVersion|cudnnGetCudartVersion|cudnnGetProperty' "$stub/symbols.txt" | sed 's/.*/int &(void) { return 1001; }/'
  } > "$stub/cudnn-stub.c"
  echo 'libcudnn.so.9 { global: cudnn*; local: *; };' > "$stub/cudnn.map"
  echo /usr/local/lib/ablate-stubs > "$1/etc/ld.so.conf.d/ablate-stubs.conf"
  in_root "$1" bash -c 'cd /usr/local/lib/ablate-stubs && gcc -shared -fPIC -O1 -o libcudnn.so.9 -Wl,-soname,libcudnn.so.9 \
    -Wl,--version-script=cudnn.map cudnn-stub.c && ldconfig'
}

build_root() {
  local tmp="$root.partial"
  rm -rf "$tmp" "$root"
  mkdir -p "$tmp"
  local mirror; mirror=$(debian_mirror)
  say "debootstrap $suite from $mirror into $root (once; a few minutes)"
  debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
  install_packages "$tmp" || die "apt-get install in the $suite root failed"
  mv "$tmp" "$root"
}

mkdir -p "$cache"
exec 9>"$cache/$suite.lock"
flock -w 3600 9 || die "another compat run holds $cache/$suite.lock"

# What the root is made of: the package list, and for the CUDA flavour the stub's revision too.
cudnn_stub=3
recipe=$(printf '%s\n' "${packages[@]}"; if [ "$flavour" = cuda ]; then echo "# cudnn stub $cudnn_stub"; fi)
if [ $refresh = 1 ] || [ ! -f "$root/.ablate-packages" ]; then
  build_root
elif [ "$(cat "$root/.ablate-packages")" != "$recipe" ]; then
  # A package added to the list: install it into the cached root rather than debootstrapping it again.
  say "updating the $suite root: ${packages[*]}"
  install_packages "$root" || die "apt-get install in the $suite root failed (bash scripts/compat.sh --refresh rebuilds the root)"
fi

# Copy the project (tracked and untracked-but-not-ignored files, as CI would see it) to /ablate in the root.
# node_modules, native/build and dist stay from the previous run: npm ci, node-gyp and tsc inside the root decide
# what is stale, so trixie's node and libtorch build their own native code (sharp's prebuilt binary included).
dest="$root/ablate"
mkdir -p "$dest"
shopt -s dotglob nullglob
for entry in "$dest"/*; do
  case "${entry##*/}" in node_modules|native|dist) ;; *) rm -rf "$entry" ;; esac
done
for entry in "$dest"/native/*; do [ "${entry##*/}" = build ] || rm -rf "$entry"; done
shopt -u dotglob nullglob
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$dest"
rm -rf "$root/tmp" && mkdir -m 1777 "$root/tmp"

libtorch_version=$(in_root "$root" python3 -c 'import re;t=open("/usr/include/torch/csrc/api/include/torch/version.h").read();print(".".join(re.findall(r"TORCH_VERSION_(?:MAJOR|MINOR|PATCH) (\d+)",t)))' 2>/dev/null || echo '?')
node_version=$(in_root "$root" node --version 2>/dev/null || echo '?')
[ "$flavour" = cuda ] && libtorch_version="$libtorch_version with CUDA"
say "$suite root: libtorch $libtorch_version, node $node_version"

if [ $shell = 1 ]; then
  in_root "$root" bash -c 'cd /ablate && exec bash -i'
  exit $?
fi

status=0
if [ -n "$run" ]; then
  in_root "$root" bash -c 'cd /ablate && exec bash -c "$1"' _ "$run" || status=$?
elif [ ${#tests[@]} -gt 0 ]; then
  in_root "$root" bash -c 'cd /ablate && bash scripts/setup.sh --test && exec node --import tsx --test --test-reporter=spec "$@"' _ "${tests[@]}" || status=$?
else
  in_root "$root" bash -c 'cd /ablate && exec bash scripts/test.sh' || status=$?
fi
elapsed=$(( $(date +%s) - started ))
if [ $status = 0 ]; then
  say "PASSED on $suite (libtorch $libtorch_version, node $node_version) in $((elapsed / 60)) min $((elapsed % 60)) s"
else
  say "FAILED on $suite (libtorch $libtorch_version, node $node_version) after $((elapsed / 60)) min $((elapsed % 60)) s (exit $status)"
fi
exit $status
