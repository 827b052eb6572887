#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and a CUDA PyTorch 2.x in python3 (pip, conda or venv). In one go,
# under 10 minutes: builds ablate against that PyTorch's libtorch (python3 -c 'import torch' → torch/include and
# torch/lib), records `ablate info`, runs the CUDA tests (test/cuda, required to run rather than skip; among them two
# `deterministic: true` runs that must give bit-identical histories and weights), the NCCL
# data-parallel check (one rank per GPU: world size 1 through the whole NCCL path on one GPU, two ranks with two or
# more) and the training benchmark (ResNet-50, 224², batch 64 and 256, bf16 + channels-last, from the decoded cache)
# against PyTorch on the same GPU. Everything lands in $OUT (default ./gpu-check-out): summary.json, gpu-check.log,
# pytorch.json, build.log, info.json, cuda-tests.log, nccl.json, nccl-tests.log, gpu-train.json, parity-tests.log.
#   bash scripts/gpu-check.sh
#   OUT=/somewhere LIBTORCH_PYTHON=/opt/conda/bin/python bash scripts/gpu-check.sh
#   bash scripts/gpu-check.sh --dry-run   # without a GPU: every step up to the CUDA parts, against a CPU PyTorch
#   GPU_CHECK_DEADLINE_S=480 GPU_CHECK_BATCHES=64 bash scripts/gpu-check.sh   # fit a time-limited lease
#   GPU_CHECK_STEPS=nccl bash scripts/gpu-check.sh   # build, then only these of cuda-tests,nccl,benchmark,parity
# A build that fails in the data-parallel code (a libtorch whose c10d headers changed) is retried without it
# (ABLATE_WITHOUT_DISTRIBUTED=1), so the CUDA tests and the benchmark still run; build.log keeps the errors.
# Exit status: 0 all passed; 1 a step failed; 2 no GPU here (says why; nothing was measured on a GPU). A dry run
# builds against whatever PyTorch it finds, records `ablate info`, runs the CUDA tests (they skip, and it says so), the
# device-independence tests, NCCL's refusals without a GPU and a tiny CPU run of the benchmark; it exits 2 when all of
# that passed, 1 if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument $arg (expected --dry-run or --help)" >&2; exit 64 ;;
  esac
done
OUT="${OUT:-$PWD/gpu-check-out}"
PY="${LIBTORCH_PYTHON:-python3}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
started=$(date +%s)
say() { printf '[gpu-check %4ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }
json_string() { local s="${1//\\/\\\\}"; s="${s//\"/\\\"}"; printf '"%s"' "${s//$'\n'/ }"; }
steps=()
summary() {
  local status="$1" reason="$2"
  printf '{"status":%s,"reason":%s,"dryRun":%s,"seconds":%s,"steps":[%s]}\n' "$(json_string "$status")" "$(json_string "$reason")" \
    "$([ $dry = 1 ] && echo true || echo false)" "$(( $(date +%s) - started ))" "$(IFS=,; echo "${steps[*]:-}")" > "$OUT/summary.json"
}
# step NAME LIMIT_S CMD...: runs with a time limit, records ok/failed and its duration.
want() { [[ ",${GPU_CHECK_STEPS:-cuda-tests,nccl,benchmark,parity}," == *",$1,"* ]]; }
# GPU_CHECK_DEADLINE_S bounds the whole check: each step's limit is cut to the time left (at least 10 s).
deadline=$(( started + ${GPU_CHECK_DEADLINE_S:-100000} ))
step() {
  local name="$1" limit="$2"; shift 2
  local left=$(( deadline - $(date +%s) ))
  [ $left -lt 10 ] && left=10
  [ $limit -gt $left ] && limit=$left
  local t0; t0=$(date +%s)
  say "$name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  local result=ok
  [ $rc = 0 ] || result=$([ $rc = 124 ] && echo "timed out" || echo "failed ($rc)")
  steps+=("{\"step\":\"$name\",\"result\":\"$result\",\"seconds\":$dt}")
  say "$name: $result in ${dt}s"
  return $rc
}
[ $dry = 1 ] && say "dry run: everything up to the CUDA parts; the CUDA tests may skip and the benchmark runs tiny on the CPU"

# 1. Which PyTorch, and does it see a GPU? (One interpreter start: importing torch takes seconds.)
if ! "$PY" - > "$OUT/pytorch.json" 2>"$OUT/pytorch.err" <<'EOF'
import json, os, torch
cuda = torch.cuda.is_available()
print(json.dumps({
  "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "cuda_available": cuda,
  "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
  "lib": os.path.join(os.path.dirname(torch.__file__), "lib"),
}))
EOF
then
  say "no PyTorch in $PY ($(tail -1 "$OUT/pytorch.err")): install a CUDA PyTorch (pip install torch) or set LIBTORCH_PYTHON to the python that has one"
  summary nogpu "no PyTorch in $PY"; exit 2
fi
say "PyTorch: $(cat "$OUT/pytorch.json")"
gpus=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | paste -sd';')
cxx=$( (c++ --version || g++ --version) 2>/dev/null | head -1)
say "machine: $(nproc 2>/dev/null || echo '?') cores; ${cxx:-no C++ compiler on PATH}; GPUs (nvidia-smi): ${gpus:-none}"
gpu=1
if ! "$PY" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["cuda_available"] else 1)' "$OUT/pytorch.json"; then
  why="torch $("$PY" -c 'import json,sys; p=json.load(open(sys.argv[1])); print("%s (CUDA %s)" % (p["torch"], p["cuda"] or "none: a CPU-only build"))' "$OUT/pytorch.json") sees no CUDA device"
  if [ $dry = 0 ]; then
    say "no GPU: $why — nothing to measure here (a GPU machine with a CUDA PyTorch runs the whole check; --dry-run runs the rest)"
    summary nogpu "$why"; exit 2
  fi
  say "no GPU: $why — dry run, so carrying on with everything that needs none"
  gpu=0
fi

# 2. What the build needs besides PyTorch: node ≥ 20 and the npm dependencies (a machine without network cannot
# `npm ci`, so they must be there already).
if ! command -v node >/dev/null || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  say "node ≥ 20 is needed and $(command -v node >/dev/null && echo "this is node $(node --version)" || echo "there is no node on PATH"): install Node.js 20 or later"
  summary failed "no node >= 20"; exit 1
fi
if [ ! -d node_modules ] && ! timeout 20 npm ping >/dev/null 2>&1; then
  say "node_modules is missing and the npm registry cannot be reached: run npm ci where it can be, and bring node_modules along"
  summary failed "no node_modules and no npm registry"; exit 1
fi

# 3. Build against that PyTorch (npm ci when needed, the addon, TypeScript).
export LIBTORCH_USE_PYTORCH=1 LIBTORCH_PYTHON="$PY"
# The tests that compare with PyTorch use this interpreter's, the one ablate was built against.
export ABLATE_TEST_PYTHON="$(command -v "$PY" || echo "$PY")"
export ABLATE_NO_APT=1   # never reach for apt here: a GPU box may be offline; setup says what is missing instead
build_errors() { grep -E '(error|Error)[: ]' "$OUT/build.log" | grep -v '^gyp info' | head -30; }
# setup.sh with its output in build.log and only the tail on the console.
build=(bash -c 'bash scripts/setup.sh > "$0/build.log" 2>&1; rc=$?; tail -5 "$0/build.log"; exit $rc' "$OUT")
if ! step build 360 "${build[@]}"; then
  say "the build failed; its first errors:"; build_errors
  if grep -qE 'dist_ops\.cc' "$OUT/build.log"; then
    cp "$OUT/build.log" "$OUT/build-distributed.log"
    say "the data-parallel code (native/src/dist_ops.cc) does not compile against this libtorch: building without it (ABLATE_WITHOUT_DISTRIBUTED=1) so the rest is checked; errors in build-distributed.log"
    export ABLATE_WITHOUT_DISTRIBUTED=1
    step build-without-distributed 300 "${build[@]}" \
      || { build_errors; summary failed "build against PyTorch failed, also without data parallelism"; exit 1; }
    distributed_broken=1
  else
    summary failed "build against PyTorch failed"; exit 1
  fi
fi
step info 60 bash -c 'node bin/ablate.js info --json > "$0/info.json" && node bin/ablate.js info' "$OUT" || { summary failed "ablate info failed"; exit 1; }
lib=$(node -p 'require(process.argv[1]).libtorch' "$OUT/info.json")
if ! node -e 'const i = require(process.argv[1]); process.exit(i.cuda && i.devices.length > 0 ? 0 : 1)' "$OUT/info.json"; then
  if [ $gpu = 1 ]; then
    say "ablate was built against libtorch $lib but sees no GPU (a CPU-only build?)"
    summary failed "ablate sees no GPU"; exit 1
  fi
  say "ablate was built against libtorch $lib and sees no GPU, as expected in a dry run"
fi

# 4. CUDA tests (must run, not skip, when there is a GPU), and the device-independent ones again on this build.
failed=0
[ "${distributed_broken:-0}" = 1 ] && failed=1
require=$([ $gpu = 1 ] && echo require || echo skip)
if want cuda-tests; then
  step cuda-tests 240 env ABLATE_CUDA_TESTS=$require OMP_WAIT_POLICY=PASSIVE node --import tsx --test --test-reporter=spec \
    test/cuda/cuda.test.ts test/cuda/deterministic.test.ts test/tensor/device.test.ts test/train/checkpoint-device.test.ts test/train/read-back.test.ts > "$OUT/cuda-tests.log" 2>&1 || failed=1
  tail -15 "$OUT/cuda-tests.log"
fi
if want cuda-tests && [ $gpu = 0 ]; then
  skipped=$(grep -oE 'skipped [0-9]+' "$OUT/cuda-tests.log" | tail -1 | grep -oE '[0-9]+' || echo '?')
  say "without a GPU the CUDA tests skipped ($skipped tests skipped, see cuda-tests.log); on a GPU machine they must run"
fi

# 5. Data parallelism on CUDA with NCCL, as PyTorch's DDP does it. NCCL allows one rank per GPU: with one GPU the
# NCCL path runs at world size 1 (broadcast, DDP's Reducer, sync batch norm, Gloo beside it for CPU sums, shutdown),
# with two or more two ranks train together and `ablate train --nproc-per-node 2` records the backend. Without a GPU
# (a dry run) the GPU tests skip and test/dist/nccl.test.ts checks the refusals. Results: nccl.json, nccl-tests.log.
nccl_built=$(node -p 'String(require(process.argv[1]).nccl === true)' "$OUT/info.json" 2>/dev/null || echo false)
nccl_find=$(node native/find-nccl.cjs check 2>&1 | tail -1)
gpu_count=$(node -p 'require(process.argv[1]).devices.length' "$OUT/info.json" 2>/dev/null || echo 0)
say "$nccl_find; $gpu_count GPU(s) visible"
case "$gpu_count" in
  0) nccl_mode="no GPU: the NCCL runs skip, the refusals are checked" ;;
  1) nccl_mode="1 GPU: NCCL at world size 1 through the whole data-parallel path (NCCL allows one rank per GPU)" ;;
  *) nccl_mode="$gpu_count GPUs: 2 ranks on cuda:0 and cuda:1 with NCCL, and ablate train --nproc-per-node 2" ;;
esac
nccl_result=ok
if want nccl; then
  step nccl 240 env ABLATE_CUDA_TESTS=$require OMP_WAIT_POLICY=PASSIVE node --import tsx --test --test-reporter=spec \
    test/cuda/nccl.test.ts test/dist/nccl.test.ts > "$OUT/nccl-tests.log" 2>&1 || { failed=1; nccl_result=failed; }
  tail -12 "$OUT/nccl-tests.log"
else
  nccl_result=skipped; : > "$OUT/nccl-tests.log"
fi
count() { grep -oE "^ℹ $1 [0-9]+" "$OUT/nccl-tests.log" | tail -1 | grep -oE '[0-9]+$' || echo null; }
printf '{"built":%s,"find":%s,"gpus":%s,"mode":%s,"result":"%s","tests":%s,"pass":%s,"fail":%s,"skipped":%s}\n' "$nccl_built" \
  "$(json_string "$nccl_find")" "$gpu_count" "$(json_string "$nccl_mode")" "$nccl_result" "$(count tests)" "$(count pass)" "$(count fail)" "$(count skipped)" > "$OUT/nccl.json"
say "NCCL: $(cat "$OUT/nccl.json")"

# 6. Training benchmark against PyTorch on the same GPU (a dry run: a few tiny CPU steps of both sides, no figures).
if ! want benchmark; then
  say "benchmark skipped (GPU_CHECK_STEPS)"
elif [ $gpu = 1 ]; then
  step benchmark 300 node --import tsx bench/gpu-train.ts --batches "${GPU_CHECK_BATCHES:-64,256}" --steps-per-epoch 24 --model resnet50 --size 224 --python "$PY" \
    --dir "${TMPDIR:-/tmp}/ablate-gpu-check" --out "$OUT/gpu-train.json" || failed=1
else
  step benchmark-smoke 300 node --import tsx bench/gpu-train.ts --device cpu --batches 4 --model resnet18 --size 32 --epochs 2 \
    --python "$PY" --dir "${TMPDIR:-/tmp}/ablate-gpu-check-dry" --out "$OUT/gpu-train.json" || failed=1
fi

# 7. PyTorch parity on this libtorch (CPU ops, against the same PyTorch's), if the deadline leaves time for it.
if ! want parity; then
  say "parity tests skipped (GPU_CHECK_STEPS)"
elif [ $(( deadline - $(date +%s) )) -ge 60 ]; then
  step parity 240 env OMP_WAIT_POLICY=PASSIVE node --import tsx --test --test-reporter=spec test/models/parity.test.ts \
    test/tensor/autograd-optim.test.ts test/models/pth-torch.test.ts test/augment/torchvision.test.ts > "$OUT/parity-tests.log" 2>&1 || failed=1
  tail -8 "$OUT/parity-tests.log"
else
  say "parity tests skipped: under 60 s left before GPU_CHECK_DEADLINE_S"
fi

if [ $failed = 1 ]; then summary failed "see $OUT/gpu-check.log"; say "FAILED; see $OUT/gpu-check.log"; exit 1; fi
if [ $gpu = 0 ]; then
  summary nogpu "dry run passed: built against torch $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["torch"])' "$OUT/pytorch.json") (libtorch $lib), tests ran with the CUDA ones skipped, CPU benchmark smoke ran; nothing measured on a GPU"
  say "dry run passed (no GPU, so nothing was measured on one); results in $OUT"; exit 2
fi
summary passed ""; say "all passed; results in $OUT"; exit 0
