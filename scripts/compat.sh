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
# Environment: ABLATE_COMPAT_CACHE (cache folder), ABLATE_COMPAT_MIRROR (Debian mirror URL), ABLATE_COMPAT_SUITE.
set -euo pipefail
cd "$(dirname "$0")/.."
project="$PWD"
suite="${ABLATE_COMPAT_SUITE:-trixie}"
cache="${ABLATE_COMPAT_CACHE:-/var/cache/ablate/compat}"
root="$cache/$suite"
# Everything the build and the suite need inside the root: node + headers for node-gyp, a compiler, libtorch,
# fast BLAS, libjpeg-turbo's headers (the direct JPEG decoder), and PyTorch/torchvision for the parity tests (what `scripts/setup.sh --test` installs on the host).
packages=(ca-certificates nodejs npm libnode-dev g++ make python3 libtorch-dev libopenblas0-pthread libjpeg62-turbo-dev
  python3-torch python3-torchvision python3-pil)

say() { printf '[compat] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
started=$(date +%s)

refresh=0; shell=0; run=''; tests=()
while [ $# -gt 0 ]; do
  case "$1" in
    --refresh) refresh=1 ;;
    --shell) shell=1 ;;
    --run) [ $# -ge 2 ] || die "--run needs a command"; run="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

build_root() {
  local tmp="$root.partial"
  rm -rf "$tmp" "$root"
  mkdir -p "$tmp"
  local mirror; mirror=$(debian_mirror)
  say "debootstrap $suite from $mirror into $root (once; a few minutes)"
  debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
  printf 'deb %s %s main\n' "$mirror" "$suite" > "$tmp/etc/apt/sources.list"
  say "installing ${packages[*]}"
  in_root "$tmp" bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null' _ "${packages[@]}" \
    || die "apt-get install in the $suite root failed"
  printf '%s\n' "${packages[@]}" > "$tmp/.ablate-packages"
  mv "$tmp" "$root"
}

mkdir -p "$cache"
exec 9>"$cache/$suite.lock"
flock -w 3600 9 || die "another compat run holds $cache/$suite.lock"

want_packages=$(printf '%s\n' "${packages[@]}")
if [ $refresh = 1 ] || [ ! -f "$root/.ablate-packages" ]; then
  build_root
elif [ "$(cat "$root/.ablate-packages")" != "$want_packages" ]; then
  # A package added to the list: install it into the cached root rather than debootstrapping it again.
  say "updating the $suite root: ${packages[*]}"
  in_root "$root" bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null' _ "${packages[@]}" \
    || die "apt-get install in the $suite root failed (bash scripts/compat.sh --refresh rebuilds the root)"
  printf '%s\n' "${packages[@]}" > "$root/.ablate-packages"
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
