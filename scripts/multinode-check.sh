#!/usr/bin/env bash
# Two machines for real, on one: two Linux network namespaces ("hosts") joined by a veth pair on a private
# network of their own (10.213.0.1 <-> 10.213.0.2; traffic only between the two namespaces), each running
# its own ranks with Gloo over the veth (GLOO_SOCKET_IFNAME), never loopback between hosts. Phases:
#   ddp     4 ranks (2 per host) step by step equal to one process on the concatenated batch
#   train   `ablate train --nproc-per-node 2 --nnodes 2 --node-rank R --master-addr 10.213.0.1` on each host,
#           equal to a 4-rank run on one host; host 1's ranks killed -9 leave it `interrupted` naming node and
#           rank; the same commands with --resume finish it to the uninterrupted result
#   late    host 1 starts 20 s after host 0: the run still forms and trains
#   absent  host 1 never comes: a clear rendezvous timeout naming what was awaited, within the timeout
#   drop    host 1's packets to the master dropped silently (nft DROP): both hosts fail within the timeout
#   study   one study folder, a `study run --worker` per host: every run once; a killed worker's run taken over
#   slurm   slurmctld + a slurmd per host (own NodeName and address): the README's 2-node srun recipe and
#           the job-array study, unchanged
#   bench   (only when asked) bench/allreduce.ts across the two hosts: ablate against PyTorch DDP
# Prints "multinode-check: <phase> ok …" per phase, "multinode-check: PASS" at the end, and
# "multinode-check: SKIP <reason>" (exit 0) where it cannot run (not root, no `ip netns`, no Gloo). Every
# namespace, process, daemon and mount it made is removed on any exit; the last line says so.
#   bash scripts/multinode-check.sh [WORKDIR [PHASE…]]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
say() { printf '[multinode-check] %s\n' "$*" >&2; }
skip() { echo "multinode-check: SKIP $*"; exit 0; }
fail() { echo "multinode-check: FAIL $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
[ "${ABLATE_COMPAT_ROOT:-}" = 1 ] && skip "inside scripts/compat.sh's chroot (namespaces are checked on the host)"
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || skip "no 'ip netns' here (iproute2)"
node --import tsx --input-type=module -e "import('$repo/src/tensor/index.ts').then(m => process.exit(m.distributedSupport().available ? 0 : 3))" 2>/dev/null \
  || skip "the addon was built without Gloo (apt-get install libgloo-dev, then npm run setup)"

work=${1:-$(mktemp -d /tmp/ablate-multinode.XXXXXX)}
[ $# -gt 0 ] && shift
phases=${*:-ddp train late absent drop study slurm}
mkdir -p "$work"
# Names carry this script's pid, so two checks at once never share a namespace.
tag=$$
ns=("abmn$tag-0" "abmn$tag-1")
addr=(10.213.0.1 10.213.0.2)
# Both ends carry the same name, as every node of a cluster has its eth0: one GLOO_SOCKET_IFNAME for all.
ifn=(mn0 mn0)
master=${addr[0]}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1
# The sources themselves (a dist/ left from an older build would test old code).
cli=(node --import tsx "$repo/src/cli/main.ts")

# Every process started in a namespace is ended by pid, then the namespaces go (with their veth ends).
cleanup_hooks=()
cleanup() {
  set +e
  local j; for j in $(jobs -p); do kill "$j" 2>/dev/null; done
  for h in "${cleanup_hooks[@]}"; do "$h"; done
  for n in "${ns[@]}"; do
    ip netns list 2>/dev/null | grep -qw "$n" || continue
    pids=$(ip netns pids "$n" 2>/dev/null)
    [ -n "$pids" ] && kill $pids 2>/dev/null
    for _ in $(seq 1 50); do [ -z "$(ip netns pids "$n" 2>/dev/null)" ] && break; sleep 0.1; done
    pids=$(ip netns pids "$n" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    ip netns del "$n" 2>/dev/null
  done
  left=$(ip netns list 2>/dev/null | grep -c "abmn$tag-" || true)
  echo "multinode-check: cleanup namespaces-left=$left"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for i in 0 1; do ip netns add "${ns[$i]}"; ip -n "${ns[$i]}" link set lo up; done
ip link add "${ifn[0]}" netns "${ns[0]}" type veth peer name "${ifn[1]}" netns "${ns[1]}"
for i in 0 1; do
  ip -n "${ns[$i]}" addr add "${addr[$i]}/24" dev "${ifn[$i]}"
  ip -n "${ns[$i]}" link set "${ifn[$i]}" up
done
# Reachable: a connection to a closed port on host 0 is refused (an answer), not left unanswered.
reach=$(ip netns exec "${ns[1]}" timeout 10 bash -c "exec 3<>/dev/tcp/$master/9" 2>&1 || true)
[[ $reach == *refused* ]] || fail "host 1 cannot reach host 0 ($master) over the veth: $reach"
say "hosts: ${ns[0]} (${addr[0]} on ${ifn[0]}) and ${ns[1]} (${addr[1]} on ${ifn[1]})"

# on HOST CMD…: runs CMD in host HOST's namespace with that host's Gloo interface.
# Each host has its own host name too (a UTS namespace), as two machines would: claims and logs name it; and
# an /etc/hosts naming both hosts, bound in a mount namespace of its own (gone with its processes). Only the
# network namespace is entered (nsenter, not `ip netns exec`, which would hide /sys/fs/cgroup from slurmd).
printf '127.0.0.1 localhost\n%s abmn-host0\n%s abmn-host1\n' "${addr[0]}" "${addr[1]}" > "$work/hosts"
on() {
  local h=$1; shift
  nsenter --net="/run/netns/${ns[$h]}" unshare --uts --mount --propagation private \
    sh -c 'hostname "$0" && mount --bind "$1" /etc/hosts && shift && exec "$@"' "abmn-host$h" "$work/hosts" \
    env GLOO_SOCKET_IFNAME="${ifn[$h]}" "$@"
}
tx_bytes() { ip -n "${ns[$1]}" -s -j link show "${ifn[$1]}" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s)[0].stats64.tx.bytes))"; }

# dp-child ranks: host H, global rank R, world W; extra env as further args.
dp_rank() {
  local h=$1 r=$2 w=$3; shift 3
  on "$h" env MASTER_ADDR="$master" MASTER_PORT=29400 WORLD_SIZE="$w" RANK="$r" "$@" \
    timeout -s KILL 300 node --import tsx "$repo/test/dist/dp-child.ts"
}

phase_ddp() {
  local d=$work/ddp; mkdir -p "$d"
  local tx0; tx0=$(tx_bytes 1)
  dp_rank 0 0 4 STEPS=5 >"$d/r0.out" 2>"$d/r0.err" & local p0=$!
  dp_rank 0 1 4 STEPS=5 >"$d/r1.out" 2>"$d/r1.err" & local p1=$!
  dp_rank 1 2 4 STEPS=5 >"$d/r2.out" 2>"$d/r2.err" & local p2=$!
  dp_rank 1 3 4 STEPS=5 >"$d/r3.out" 2>"$d/r3.err" & local p3=$!
  WORLD_SIZE=1 RANK=0 STEPS=5 timeout -s KILL 300 node --import tsx "$repo/test/dist/dp-child.ts" >"$d/single.out" 2>"$d/single.err"
  local rc=0
  for p in $p0 $p1 $p2 $p3; do wait "$p" || rc=1; done
  [ $rc = 0 ] || { tail -n 5 "$d"/r*.err >&2; fail "ddp: a rank failed"; }
  local sent=$(( $(tx_bytes 1) - tx0 ))
  node - "$d" "$sent" <<'EOF' || fail "ddp: the 4 ranks across the hosts differ from one process"
const fs = require('fs'); const [d, sent] = process.argv.slice(2);
const lines = (f) => fs.readFileSync(`${d}/${f}`, 'utf8').split('\n').filter((l) => l.startsWith('{"step"')).map(JSON.parse);
const ranks = [0, 1, 2, 3].map((r) => lines(`r${r}.out`)); const single = lines('single.out');
if (single.length !== 5 || ranks.some((l) => l.length !== 5)) throw new Error(`expected 5 steps from every process`);
for (let k = 0; k < 5; k++) {
  if (new Set(ranks.map((l) => l[k].params)).size !== 1) throw new Error(`step ${k}: the ranks' weights differ`);
  const loss = ranks.reduce((s, l) => s + l[k].loss, 0) / 4;
  if (Math.abs(loss - single[k].loss) > 1e-5 * Math.abs(single[k].loss)) throw new Error(`step ${k}: loss ${loss} vs single ${single[k].loss}`);
  ranks[0][k].sample.forEach((v, i) => { if (Math.abs(v - single[k].sample[i]) > 1e-5) throw new Error(`step ${k}: weight ${v} vs ${single[k].sample[i]}`); });
}
// Host 1 sent its gradients over the veth: at least its share of 5 all-reduces of every parameter.
const numel = 8 * 3 * 9 + 8 + 16 * 8 * 9 + 16 + 4 * 16 + 4;
if (!(Number(sent) >= 5 * numel * 4)) throw new Error(`only ${sent} bytes left host 1 over the veth`);
EOF
  say "ddp: host 1 sent $sent bytes over ${ifn[1]}"
  echo "multinode-check: ddp ok (4 ranks on 2 hosts, 5 steps equal to one process, veth-bytes=$sent)"
}

# A rendezvous that must fail: host 0's ranks (and host 1's when given) with a 20 s timeout, each bounded.
expect_timeout() {
  local name=$1 with_host1=$2 d=$work/$1; mkdir -p "$d"
  local t0=$SECONDS pids=()
  dp_rank 0 0 4 DIST_TIMEOUT_MS=20000 STEPS=2 >"$d/r0.out" 2>"$d/r0.err" & pids+=($!)
  dp_rank 0 1 4 DIST_TIMEOUT_MS=20000 STEPS=2 >"$d/r1.out" 2>"$d/r1.err" & pids+=($!)
  if [ "$with_host1" = 1 ]; then
    dp_rank 1 2 4 DIST_TIMEOUT_MS=20000 STEPS=2 >"$d/r2.out" 2>"$d/r2.err" & pids+=($!)
    dp_rank 1 3 4 DIST_TIMEOUT_MS=20000 STEPS=2 >"$d/r3.out" 2>"$d/r3.err" & pids+=($!)
  fi
  local ok=0 r
  for p in "${pids[@]}"; do wait "$p" && ok=1; done
  local took=$((SECONDS - t0))
  [ $ok = 0 ] || fail "$name: a rank finished although the run could not form"
  for f in "$d"/r*.err; do
    r=$(basename "$f" .err)
    grep -q 'Killed\|SIGKILL' "$f" && fail "$name: $r had to be killed (a hang)"
    echo "multinode-check: $name $r: $(grep -m1 -o 'rendezvous at .*\|creating the Gloo .*\|Error: .*' "$f" | head -c 400)"
  done
  echo "multinode-check: $name ok (every rank failed in ${took} s with a 20 s rendezvous timeout)"
}

# One host's launcher of `ablate train`: host H, run folder OUT, more flags after.
train_node() {
  local h=$1 out=$2; shift 2
  on "$h" timeout -s KILL 600 "${cli[@]}" train "$work/train.json" --nproc-per-node 2 --nnodes 2 --node-rank "$h" \
    --master-addr "$master" --master-port 29410 --out "$out" "$@"
}
# Both hosts' launchers; fails with both logs when one does.
train_both() {
  local out=$1 log=$2; shift 2
  train_node 0 "$out" "$@" >"$log-0.out" 2>"$log-0.err" & local p0=$!
  train_node 1 "$out" "$@" >"$log-1.out" 2>"$log-1.err" & local p1=$!
  local rc=0
  wait $p0 || rc=1; wait $p1 || rc=1
  [ $rc = 0 ] || { tail -n 8 "$log"-*.err >&2; fail "train: the 2-node run $(basename "$out") failed"; }
}
status_of() { node -e "const s=JSON.parse(require('fs').readFileSync('$1/status.json','utf8'));console.log([s.status,s.env&&s.env.worldSize,s.reason||s.error||''].join('|'))"; }
# Same weights (byte for byte) and the same metrics per epoch (times left out).
same_result() {
  cmp -s "$1/model.pth" "$2/model.pth" && node -e "
const fs=require('fs');
const h=(d)=>fs.readFileSync(d+'/history.jsonl','utf8').trim().split('\n').map((l)=>JSON.stringify(Object.entries(JSON.parse(l)).filter(([k])=>!/time|per_s|wait|seconds/.test(k))));
process.exit(JSON.stringify(h('$1'))===JSON.stringify(h('$2'))?0:1)"
}

train_config() {
  cat > "$work/train.json" <<'EOF'
{"model":"resnet20-cifar","data":{"source":"generated","generated":{"classes":4,"trainCount":64,"testCount":16,"size":16,"difficulty":"easy"},"split":"train","valSplit":"test"},
 "epochs":24,"batchSize":8,"precision":"fp32","threads":1,"seed":5,"optimizer":{"name":"sgd","lr":0.05,"momentum":0.9},"checkpoint":{"everySteps":2}}
EOF
}
phase_train() {
  local d=$work/train; mkdir -p "$d"
  train_config
  # The reference: 2 hosts × 2 ranks, uninterrupted; and the same 4 ranks on one host.
  train_both "$d/ref" "$d/ref"
  [ "$(status_of "$d/ref")" = "ok|4|" ] || fail "train: the 2-node run's status.json is $(status_of "$d/ref"), expected ok with worldSize 4"
  timeout -s KILL 600 "${cli[@]}" train "$work/train.json" --nproc-per-node 4 --out "$d/one-host" >"$d/one-host.out" 2>"$d/one-host.err" \
    || { tail -n 8 "$d/one-host.err" >&2; fail "train: the 4-rank run on one host failed"; }
  same_result "$d/ref" "$d/one-host" || fail "train: 2 hosts x 2 ranks differ from 4 ranks on one host (model.pth or history)"
  echo "multinode-check: train ok (2 hosts x 2 ranks equal 4 ranks on one host: model.pth and history)"

  # Host 1's ranks killed -9 once epoch 1 is checkpointed (24 epochs of 2 steps, so the run is still going
  # when the kill lands on a quiet machine; with 3 the survivors could finish first).
  train_node 0 "$d/run" >"$d/run-0.out" 2>"$d/run-0.err" & local p0=$!
  train_node 1 "$d/run" >"$d/run-1.out" 2>"$d/run-1.err" & local p1=$!
  for _ in $(seq 1 1200); do
    grep -qs '"epoch":1' "$d/run/history.jsonl" && break
    kill -0 $p1 2>/dev/null || break
    sleep 0.25
  done
  sleep 0.3
  local ranks=() p
  for p in $(ip netns pids "${ns[1]}"); do tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx 'RANK=[23]' && ranks+=("$p"); done
  [ ${#ranks[@]} = 2 ] || fail "train: expected host 1's 2 ranks running after epoch 1, found ${#ranks[@]}"
  kill -9 "${ranks[@]}"
  local t0=$SECONDS rc0=0 rc1=0
  wait $p0 || rc0=$?; wait $p1 || rc1=$?
  local took=$((SECONDS - t0))
  [ $rc0 != 0 ] && [ $rc1 != 0 ] || fail "train: after host 1's ranks were killed, the launchers exited $rc0 and $rc1 (expected both non-zero)"
  local st; st=$(status_of "$d/run")
  echo "multinode-check: train killed: status=$st host0-exit=$rc0 host1-exit=$rc1 in ${took} s"
  echo "multinode-check: train host0 says: $(grep -m1 'other ranks were stopped' "$d/run-0.err" | head -c 300)"
  echo "multinode-check: train host1 says: $(grep -m1 'other ranks were stopped' "$d/run-1.err" | head -c 300)"
  [[ $st == "interrupted|4|rank "[23]" of 4 (node 1) was killed by SIGKILL" ]] || fail "train: status.json after host 1's ranks were killed: $st"
  # The same commands, resumed, finish it to the uninterrupted result.
  train_both "$d/run" "$d/resume" --resume
  grep -q resuming "$d/resume-0.err" || fail "train: the resumed run did not say it was resuming"
  [ "$(status_of "$d/run")" = "ok|4|" ] || fail "train: the resumed run's status.json is $(status_of "$d/run")"
  same_result "$d/ref" "$d/run" || fail "train: the resumed run differs from the uninterrupted one"
  echo "multinode-check: train resume ok (killed at epoch 1, resumed by the same commands to the uninterrupted model.pth and history)"
}

# The 4-run study in DIR finished: every run ok with epochs 1..8 exactly once (no epoch trained twice), and the report.
study_done_once() {
  node - "$1" <<'EOF'
const fs = require('fs'), path = require('path'); const dir = process.argv[2];
const runs = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'status.json')));
const bad = runs.filter((d) => JSON.parse(fs.readFileSync(path.join(dir, d, 'status.json'), 'utf8')).status !== 'ok');
const epochs = runs.map((d) => fs.readFileSync(path.join(dir, d, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch).join(','));
if (runs.length !== 4 || bad.length || epochs.some((e) => e !== '1,2,3,4,5,6,7,8') || !fs.existsSync(path.join(dir, 'report.md'))) {
  console.error({ runs, bad, epochs, report: fs.existsSync(path.join(dir, 'report.md')) }); process.exit(1);
}
EOF
}

phase_study() {
  mkdir -p "$work/study"
  phase_study_file
  phase_study_body
}
phase_study_file() {
  cat > "$work/study.yaml" <<'EOF'
name: multinode-workers
base:
  model: resnet20-cifar
  data: { source: generated, generated: { classes: 4, trainCount: 32, testCount: 16, size: 16, difficulty: easy }, split: train, valSplit: test }
  epochs: 8
  batchSize: 16
  precision: fp32
  optimizer: { name: sgd, lr: 0.05, momentum: 0.9 }
axes:
  model: [resnet20-cifar, plain20-cifar]
seeds: [0, 1]
EOF
}
phase_study_body() {
  local d=$work/study
  # A dead worker's claim is taken over once its heartbeat is 15 s old (90 s by default).
  local stale=15000 out=$d/folder
  worker() { on "$1" env ABLATE_CLAIM_STALE_MS=$stale timeout -s KILL 600 "${cli[@]}" study run "$work/study.yaml" --out "$out" --worker --threads 1; }
  worker 0 >"$d/w0.out" 2>"$d/w0.err" & local p0=$!
  worker 1 >"$d/w1.out" 2>"$d/w1.err" & local p1=$!
  # Host 0 dies (every process on it, -9) once a run it holds has a checkpointed epoch (8 epochs, so on a quiet
  # machine the run is still going when the kill lands; with 2 it could finish first and nothing was taken over).
  local held="" c pid
  for _ in $(seq 1 1200); do
    for c in "$out"/*/claim.json; do
      [ -f "$c" ] || continue
      pid=$(node -e "try{console.log(JSON.parse(require('fs').readFileSync('$c','utf8')).pid)}catch{}")
      if ip netns pids "${ns[0]}" | grep -qx "$pid" && grep -qs '"epoch":1' "$(dirname "$c")/history.jsonl"; then held=$(dirname "$c"); break 2; fi
    done
    kill -0 $p0 2>/dev/null || break
    sleep 0.25
  done
  [ -n "$held" ] || { tail -n 5 "$d/w0.err" >&2; fail "study: host 0's worker never held a run with a finished epoch"; }
  local killed_at=$SECONDS
  kill -9 $(ip netns pids "${ns[0]}") 2>/dev/null || true
  wait $p0 || true
  local rc1=0; wait $p1 || rc1=$?
  [ $rc1 = 0 ] || { tail -n 8 "$d/w1.err" >&2; fail "study: host 1's worker exited $rc1"; }
  grep -q "$(basename "$held"): taking over from worker abmn-host0:" "$d/w1.err" \
    || { tail -n 12 "$d/w1.err" >&2; fail "study: host 1's worker did not say it took over $(basename "$held") from host 0"; }
  study_done_once "$out" || fail "study: the shared folder's runs are not each done once"
  echo "multinode-check: study ok (2 hosts' workers on one folder: 4 runs, each epoch once; host 0 killed, $(basename "$held") taken over by host 1 $((SECONDS - killed_at)) s later, report written)"
}

phase_late() {
  local d=$work/late; mkdir -p "$d"
  local t0=$SECONDS
  dp_rank 0 0 4 DIST_TIMEOUT_MS=120000 STEPS=2 >"$d/r0.out" 2>"$d/r0.err" & local p0=$!
  dp_rank 0 1 4 DIST_TIMEOUT_MS=120000 STEPS=2 >"$d/r1.out" 2>"$d/r1.err" & local p1=$!
  sleep 20
  dp_rank 1 2 4 DIST_TIMEOUT_MS=120000 STEPS=2 >"$d/r2.out" 2>"$d/r2.err" & local p2=$!
  dp_rank 1 3 4 DIST_TIMEOUT_MS=120000 STEPS=2 >"$d/r3.out" 2>"$d/r3.err" & local p3=$!
  local rc=0
  for p in $p0 $p1 $p2 $p3; do wait "$p" || rc=1; done
  [ $rc = 0 ] || { tail -n 5 "$d"/r*.err >&2; fail "late: the run did not form when host 1 came 20 s late"; }
  [ "$(cat "$d"/r*.out | grep -c '"step":1')" = 4 ] || fail "late: not every rank trained 2 steps"
  echo "multinode-check: late ok (host 1 started 20 s after host 0; 4 ranks trained, $((SECONDS - t0)) s in all)"
}

phase_absent() { expect_timeout absent 0; }

nft_ready() {
  command -v nft >/dev/null && return 0
  command -v apt-get >/dev/null || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables >/dev/null 2>&1
}
phase_drop() {
  nft_ready || { echo "multinode-check: drop SKIP no nft (apt-get install nftables)"; return 0; }
  # Silence, not a refusal: host 1 drops every packet it would send to the master.
  ip netns exec "${ns[1]}" nft -f - <<EOF
table inet abmn {
  chain out {
    type filter hook output priority 0;
    ip daddr $master drop
  }
}
EOF
  # Silence indeed: a connection attempt gets no answer at all (not a refusal).
  local probe; probe=$(ip netns exec "${ns[1]}" timeout 3 bash -c "exec 3<>/dev/tcp/$master/9" 2>&1; echo "rc=$?")
  [[ $probe == *rc=124* ]] || fail "drop: host 1's packets to the master were not dropped silently ($probe)"
  expect_timeout drop 1
  ip netns exec "${ns[1]}" nft delete table inet abmn
}

slurm_ready() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
      || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1; }
  fi
}
# The README's code block after the line starting with $1, with its paths pointed into this check's folder.
readme_block() {
  awk -v head="$1" 'index($0, head) == 1 { f = 1; next } f && /^```sh/ { on = 1; next } on && /^```/ { exit } on { print }' "$repo/README.md"
}
slurm_stop() {
  local f pid
  for f in "$work"/slurm/munge/munged.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
}
phase_slurm() {
  slurm_ready || { echo "multinode-check: slurm SKIP could not install slurm-wlm and munge"; return 0; }
  [ -f "$repo/dist/src/cli/main.js" ] || fail "slurm: the README's recipes run bin/ablate.js, which needs the build (npm run setup)"
  local s=$work/slurm; mkdir -p "$s/state" "$s/munge" "$s/spool-abmn-host0" "$s/spool-abmn-host1" "$s/shared"
  cleanup_hooks+=(slurm_stop)
  local i
  cat > "$s/slurm.conf" <<EOF
ClusterName=abmncheck
SlurmctldHost=abmn-host0(${addr[0]})
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
AuthInfo=socket=$s/munge/munge.socket
StateSaveLocation=$s/state
SlurmdSpoolDir=$s/spool-%n
SlurmctldPidFile=$s/slurmctld.pid
SlurmdPidFile=$s/slurmd-%n.pid
SlurmctldLogFile=$s/slurmctld.log
SlurmdLogFile=$s/slurmd-%n.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=abmn-host0 NodeAddr=${addr[0]} CPUs=16 RealMemory=2000 State=UNKNOWN
NodeName=abmn-host1 NodeAddr=${addr[1]} CPUs=16 RealMemory=2000 State=UNKNOWN
PartitionName=check Nodes=abmn-host0,abmn-host1 Default=YES MaxTime=30 State=UP OverSubscribe=FORCE:8
EOF
  export SLURM_CONF=$s/slurm.conf
  # One munged with its own key and socket (a file path both namespaces see), as every node shares the key.
  dd if=/dev/urandom of="$s/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$s/munge/munge.key"
  munged --force --key-file="$s/munge/munge.key" --socket="$s/munge/munge.socket" \
    --pid-file="$s/munge/munged.pid" --log-file="$s/munge/munged.log" --seed-file="$s/munge/munge.seed" 2>/dev/null
  on 0 slurmctld -f "$SLURM_CONF"
  on 0 slurmd -f "$SLURM_CONF" -N abmn-host0
  on 1 slurmd -f "$SLURM_CONF" -N abmn-host1
  for _ in $(seq 1 120); do [ "$(on 0 sinfo -h -N -o %t 2>/dev/null | grep -c idle)" = 2 ] && break; sleep 0.5; done
  [ "$(on 0 sinfo -h -N -o %t 2>/dev/null | grep -c idle)" = 2 ] \
    || { tail -n 20 "$s"/*.log >&2; fail "slurm: the two nodes never became idle ($(on 0 sinfo -h -N -o '%N %t' 2>&1 | tr '\n' ' '))"; }
  say "slurm: abmn-host0 (controller, ${addr[0]}) and abmn-host1 (${addr[1]}) are idle"

  # 1. The README's 2-node srun recipe, its paths pointed here.
  [ -f "$work/train.json" ] || train_config
  sed 's/"epochs":24/"epochs":2/' "$work/train.json" > "$s/train.json"
  readme_block '**A 2-node `srun` data-parallel run**' | sed "s#config.yaml#$s/train.json#; s#/shared/runs#$s/shared#" > "$s/ddp.sh"
  grep -q '^srun ' "$s/ddp.sh" || fail "slurm: no srun recipe found in README.md"
  on 0 timeout 600 sbatch --wait --chdir="$repo" --output="$s/ddp-%j.log" "$s/ddp.sh" >/dev/null \
    || { cat "$s"/ddp-*.log >&2; fail "slurm: the README's 2-node srun job failed"; }
  local st; st=$(status_of "$s/shared/resnet50-ddp")
  [ "$st" = "ok|2|" ] || { cat "$s"/ddp-*.log >&2; fail "slurm: the srun run's status.json is $st"; }
  for i in 0 1; do grep -q 'launch task' "$s/slurmd-abmn-host$i.log" || fail "slurm: no task of the srun job ran on abmn-host$i"; done
  echo "multinode-check: slurm srun ok (2 nodes, worldSize 2; a task launched on abmn-host0 and on abmn-host1)"

  # 2. The README's job-array study, its study file and folder pointed here.
  readme_block '**A study as a Slurm job array**' | sed "s#studies/resnet-vs-plain.yaml#$work/study.yaml#; s#/shared/runs#$s/shared#" > "$s/array.sh"
  grep -q -- '--array=' "$s/array.sh" || fail "slurm: no job-array recipe found in README.md"
  [ -f "$work/study.yaml" ] || phase_study_file
  on 0 timeout 900 sbatch --wait --chdir="$repo" --output="$s/array-%a.log" "$s/array.sh" >/dev/null \
    || { tail -n 5 "$s"/array-*.log >&2; fail "slurm: the README's job array failed"; }
  study_done_once "$s/shared/rvp" || { tail -n 5 "$s"/array-*.log >&2; fail "slurm: the job array's study is not each run once"; }
  local on0 on1
  on0=$(grep -c 'Launching batch job' "$s/slurmd-abmn-host0.log" || true); on1=$(grep -c 'Launching batch job' "$s/slurmd-abmn-host1.log" || true)
  echo "multinode-check: slurm array ok (README's --array recipe: 4 runs, each once, report written; batch jobs on abmn-host0: $on0, abmn-host1: $on1)"
}

# Not a check: bench/allreduce.ts with its two ranks on the two hosts, ablate against PyTorch DDP.
phase_bench() {
  MASTER_ADDR=$master GLOO_SOCKET_IFNAME=${ifn[0]} BENCH_NETNS="${ns[0]},${ns[1]}" \
    node --import tsx "$repo/bench/allreduce.ts" --steps "${BENCH_STEPS:-10}" --warmup 2 --rounds "${BENCH_ROUNDS:-3}" --out "$work/allreduce-multinode.json"
}

for p in $phases; do
  case $p in
    ddp|late|absent|drop) say "phase $p"; "phase_$p" ;;
    train|study|slurm|bench) say "phase $p"; "phase_$p" ;;
    *) fail "unknown phase '$p' (expected ddp, train, late, absent, drop, study, slurm, bench)" ;;
  esac
done
echo "multinode-check: PASS"
