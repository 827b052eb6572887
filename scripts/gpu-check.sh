#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and a CUDA PyTorch 2.x in python3 (pip, conda or venv). In one go,
# under 10 minutes: builds ablate against that PyTorch's libtorch, records `ablate info`, runs the CUDA tests
# (test/cuda, required to run rather than skip) and the training benchmark (ResNet-50, 224², batch 64 and 256,
# bf16 + channels-last, from the decoded cache) against PyTorch on the same GPU. Everything lands in $OUT
# (default ./gpu-check-out): summary.json, gpu-check.log, pytorch.json, info.json, cuda-tests.log, gpu-train.json.
#   bash scripts/gpu-check.sh
#   OUT=/somewhere LIBTORCH_PYTHON=/opt/conda/bin/python bash scripts/gpu-check.sh
# Exit status: 0 all passed; 1 a step failed; 2 no GPU here (says why; nothing was measured).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check-out}"
PY="${LIBTORCH_PYTHON:-python3}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
started=$(date +%s)
say() { printf '[gpu-check %4ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }
steps=()
summary() {
  local status="$1" reason="$2"
  printf '{"status":"%s","reason":"%s","seconds":%s,"steps":[%s]}\n' "$status" "$reason" "$(( $(date +%s) - started ))" \
    "$(IFS=,; echo "${steps[*]:-}")" > "$OUT/summary.json"
}
# step NAME LIMIT_S CMD...: runs with a time limit, records ok/failed and its duration.
step() {
  local name="$1" limit="$2"; shift 2
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

# 1. Which PyTorch, and does it see a GPU? (One interpreter start: importing torch takes seconds.)
if ! "$PY" - > "$OUT/pytorch.json" 2>"$OUT/pytorch.err" <<'EOF'
import json, torch
cuda = torch.cuda.is_available()
print(json.dumps({
  "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "cuda_available": cuda,
  "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
}))
EOF
then
  say "no PyTorch in $PY ($(tail -1 "$OUT/pytorch.err")): install a CUDA PyTorch (pip install torch) or set LIBTORCH_PYTHON to the python that has one"
  summary nogpu "no PyTorch in $PY"; exit 2
fi
say "PyTorch: $(cat "$OUT/pytorch.json")"
if ! node -e 'process.exit(require(process.argv[1]).cuda_available ? 0 : 1)' "$OUT/pytorch.json"; then
  why="torch $(node -p 'const p = require(process.argv[1]); `${p.torch} (CUDA ${p.cuda ?? "none: a CPU-only build"})`' "$OUT/pytorch.json") sees no CUDA device"
  say "no GPU: $why — nothing to measure here (a GPU machine with a CUDA PyTorch runs the whole check)"
  summary nogpu "$why"; exit 2
fi

# 2. Build against that PyTorch (npm ci, the addon, TypeScript).
export LIBTORCH_USE_PYTORCH=1 LIBTORCH_PYTHON="$PY"
step build 360 bash scripts/setup.sh || { summary failed "build against PyTorch failed"; exit 1; }
step info 60 bash -c 'node bin/ablate.js info --json > "$0/info.json" && node bin/ablate.js info' "$OUT" || { summary failed "ablate info failed"; exit 1; }
if ! node -e 'const i = require(process.argv[1]); process.exit(i.cuda && i.devices.length > 0 ? 0 : 1)' "$OUT/info.json"; then
  say "ablate was built against $(node -p 'require(process.argv[1]).libtorch' "$OUT/info.json") but sees no GPU (a CPU-only build?)"
  summary failed "ablate sees no GPU"; exit 1
fi

# 3. CUDA tests (must run, not skip), and the device-independent ones again on this build.
failed=0
step cuda-tests 240 env ABLATE_CUDA_TESTS=require OMP_WAIT_POLICY=PASSIVE node --import tsx --test --test-reporter=spec \
  test/cuda/cuda.test.ts test/tensor/device.test.ts test/train/checkpoint-device.test.ts > "$OUT/cuda-tests.log" 2>&1 || failed=1
tail -15 "$OUT/cuda-tests.log"

# 4. Training benchmark against PyTorch on the same GPU.
step benchmark 300 node --import tsx bench/gpu-train.ts --batches 64,256 --model resnet50 --size 224 --python "$PY" \
  --dir "${TMPDIR:-/tmp}/ablate-gpu-check" --out "$OUT/gpu-train.json" || failed=1

if [ $failed = 0 ]; then summary passed ""; say "all passed; results in $OUT"; exit 0; fi
summary failed "see $OUT/gpu-check.log"; say "FAILED; see $OUT/gpu-check.log"; exit 1
