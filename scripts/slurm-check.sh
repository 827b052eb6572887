#!/usr/bin/env bash
# A real scheduler on this machine: Debian's slurm-wlm (slurmctld + slurmd) and munge on 127.0.0.1, in a
# private folder with its own ports, then
#   1. a 2-task `srun` data-parallel training run (ranks from SLURM_PROCID/SLURM_NTASKS), and
#   2. a 4-run study as a job array (`ablate study run FILE --worker`, shard from SLURM_ARRAY_TASK_ID),
#   3. a --requeue job preempted by SIGUSR1 mid-run that requeues itself and ends identical to a plain run,
# checking what they wrote. Prints "slurm-check: SKIP <reason>" and exits 0 where Slurm cannot run here
# (not root, no apt, no Gloo); exits non-zero on any real failure. Tear-down happens on every exit.
#   bash scripts/slurm-check.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
say() { printf '[slurm-check] %s\n' "$*" >&2; }
skip() { echo "slurm-check: SKIP $*"; exit 0; }

[ "$(id -u)" = 0 ] || skip "needs root to start slurmctld, slurmd and munged"
# scripts/compat.sh's chroot has no init, cgroups or host name of its own for slurmd; the scheduler is checked by the host's suite.
[ "${ABLATE_COMPAT_ROOT:-}" = 1 ] && skip "inside scripts/compat.sh's chroot (Slurm's daemons are checked on the host)"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || skip "slurm-wlm is not installed and there is no apt-get"
  say "installing slurm-wlm and munge"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1; } \
    || skip "could not install slurm-wlm and munge"
fi
node --input-type=module -e "import('$repo/src/tensor/index.ts').then(m => process.exit(m.distributedSupport().available ? 0 : 3))" --import tsx 2>/dev/null \
  || skip "the addon was built without Gloo (apt-get install libgloo-dev, then npm run setup)"

work=${1:-$(mktemp -d /tmp/ablate-slurm.XXXXXX)}
mkdir -p "$work/state" "$work/spool" "$work/munge" "$work/out"
host=$(hostname -s)
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
ctld_port=$(free_port); slurmd_port=$(free_port)
cat > "$work/slurm.conf" <<EOF
ClusterName=ablatecheck
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=30 State=UP OverSubscribe=FORCE:8
EOF
export SLURM_CONF=$work/slurm.conf

# slurmctld saves its state on SIGTERM, so wait for each daemon to be gone: a caller that removes
# $work right after this script returns must not race a daemon still writing into it.
cleanup() {
  for p in slurmd slurmctld munged; do
    f="$work/$p.pid"; [ "$p" = munged ] && f="$work/munge/munged.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

# munge with its own key and socket, so a munged already on the machine is left alone.
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/munge.seed" 2>/dev/null
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 60); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 0.5; done
sinfo -h -o %t | grep -q idle || { tail -n 20 "$work/slurmctld.log" "$work/slurmd.log" >&2; echo "slurm-check: FAIL the node never became idle"; exit 1; }
say "Slurm is up ($host, ports $ctld_port/$slurmd_port)"

# 1. Two-task data-parallel run: srun gives each task SLURM_PROCID/SLURM_NTASKS; the job exports the rendezvous.
cat > "$work/train.json" <<'EOF'
{"model":"resnet20-cifar","data":{"source":"generated","generated":{"classes":4,"trainCount":64,"testCount":32,"size":32,"difficulty":"easy"},"split":"train","valSplit":"test"},
 "epochs":2,"batchSize":16,"precision":"fp32","threads":1,"seed":3,"optimizer":{"name":"sgd","lr":0.05,"momentum":0.9}}
EOF
port=$(free_port)
say "srun -n 2: data-parallel training"
timeout 300 srun -n 2 -t 10 --export=ALL,MASTER_ADDR=127.0.0.1,MASTER_PORT=$port,OMP_WAIT_POLICY=PASSIVE \
  node "$repo/bin/ablate.js" train "$work/train.json" --out "$work/out/ddp" > "$work/srun.log" 2>&1 \
  || { cat "$work/srun.log" >&2; echo "slurm-check: FAIL srun data-parallel run"; exit 1; }
node -e "
const s = JSON.parse(require('fs').readFileSync('$work/out/ddp/status.json', 'utf8'));
if (s.status !== 'ok' || s.env.worldSize !== 2 || s.epochsDone !== 2) { console.error('unexpected status', s.status, s.env.worldSize, s.epochsDone); process.exit(1); }
" || { echo "slurm-check: FAIL the srun run's status.json"; exit 1; }
say "srun data-parallel run ok (worldSize 2)"

# 2. A study as a job array: each array task is a worker; runs are claimed, each done exactly once.
if [ -f "$repo/studies/ci-slurm.yaml" ] || node "$repo/bin/ablate.js" study run --help 2>/dev/null | grep -q -- '--worker'; then
  cat > "$work/study.yaml" <<'EOF'
name: slurm-array
base:
  model: resnet20-cifar
  data: { source: generated, generated: { classes: 4, trainCount: 64, testCount: 32, size: 32, difficulty: easy }, split: train, valSplit: test }
  epochs: 1
  batchSize: 16
  precision: fp32
  optimizer: { name: sgd, lr: 0.05, momentum: 0.9 }
axes:
  model: [resnet20-cifar, plain20-cifar]
seeds: [0, 1]
EOF
  cat > "$work/array.sh" <<EOF
#!/bin/bash
#SBATCH --array=0-3
#SBATCH --time=10
#SBATCH --output=$work/array-%a.log
export OMP_WAIT_POLICY=PASSIVE
exec node "$repo/bin/ablate.js" study run "$work/study.yaml" --out "$work/out/study" --worker --threads 1
EOF
  say "sbatch --array=0-3: a 4-run study"
  timeout 600 sbatch --wait "$work/array.sh" >/dev/null || { cat "$work"/array-*.log >&2; echo "slurm-check: FAIL the job array"; exit 1; }
  node -e "
const fs = require('fs'), path = require('path');
const dir = '$work/out/study';
const runs = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'status.json')));
const bad = runs.filter((d) => JSON.parse(fs.readFileSync(path.join(dir, d, 'status.json'), 'utf8')).status !== 'ok');
const lines = runs.map((d) => fs.readFileSync(path.join(dir, d, 'history.jsonl'), 'utf8').trim().split('\n').length);
if (runs.length !== 4 || bad.length || lines.some((n) => n !== 1) || !fs.existsSync(path.join(dir, 'report.md'))) {
  console.error({ runs, bad, lines, report: fs.existsSync(path.join(dir, 'report.md')) }); process.exit(1);
}" || { cat "$work"/array-*.log >&2; echo "slurm-check: FAIL the study array's results"; exit 1; }
  say "job array study ok: 4 runs, each once, report written"
fi

# 3. Preemption: a --requeue job gets SIGUSR1 (as --signal=B:USR1@90 would send it) mid-run, checkpoints, calls
# scontrol requeue itself, runs again (SLURM_RESTART_COUNT=1) and ends identical to an uninterrupted run.
cat > "$work/preempt.json" <<'EOF'
{"model":"resnet20-cifar","data":{"source":"generated","generated":{"classes":4,"trainCount":256,"testCount":32,"size":32,"difficulty":"easy"},"split":"train","valSplit":"test"},
 "epochs":4,"batchSize":16,"precision":"fp32","threads":1,"seed":5,"optimizer":{"name":"sgd","lr":0.05,"momentum":0.9}}
EOF
say "preemption: reference run without Slurm"
OMP_WAIT_POLICY=PASSIVE timeout 300 node "$repo/bin/ablate.js" train "$work/preempt.json" --out "$work/out/preempt-ref" > "$work/preempt-ref.log" 2>&1 \
  || { cat "$work/preempt-ref.log" >&2; echo "slurm-check: FAIL the preemption reference run"; exit 1; }
cat > "$work/preempt.sh" <<EOF
#!/bin/bash
#SBATCH --time=10 --requeue --signal=B:USR1@90
#SBATCH --output=$work/preempt.log --open-mode=append
export OMP_WAIT_POLICY=PASSIVE
exec node "$repo/bin/ablate.js" train "$work/preempt.json" --out "$work/out/preempt" --resume --requeue
EOF
job=$(sbatch --parsable "$work/preempt.sh") || { echo "slurm-check: FAIL sbatch of the preemption job"; exit 1; }
for _ in $(seq 1 300); do [ -s "$work/out/preempt/history.jsonl" ] && break; sleep 1; done
[ -s "$work/out/preempt/history.jsonl" ] || { cat "$work/preempt.log" >&2; echo "slurm-check: FAIL the preemption job never finished an epoch"; exit 1; }
say "preemption: scancel --signal=USR1 --batch $job after epoch 1"
scancel --signal=USR1 --batch "$job"
for _ in $(seq 1 600); do
  [ -z "$(squeue -h -j "$job" -o %T 2>/dev/null)" ] && break
  sleep 1
done
node -e "
const fs = require('fs');
const metrics = (l) => { const { epoch_time_s, data_wait_fraction, images_per_s, ...m } = JSON.parse(l); return JSON.stringify(m); };
const read = (d) => ({ st: JSON.parse(fs.readFileSync(d + '/status.json', 'utf8')), h: fs.readFileSync(d + '/history.jsonl', 'utf8').trim().split('\n').map(metrics) });
const a = read('$work/out/preempt'), b = read('$work/out/preempt-ref');
const sameModel = fs.readFileSync('$work/out/preempt/model.pth').equals(fs.readFileSync('$work/out/preempt-ref/model.pth'));
const sameHistory = JSON.stringify(a.h) === JSON.stringify(b.h);
const restarts = a.st.env.provenance && a.st.env.provenance.env.SLURM_RESTART_COUNT;
if (a.st.status !== 'ok' || restarts !== '1' || !sameHistory || !sameModel) { console.error({ status: a.st.status, restarts, sameHistory, sameModel }); process.exit(1); }
" || { cat "$work/preempt.log" >&2; echo "slurm-check: FAIL the preempted job did not requeue and finish identically"; exit 1; }
grep -q "requeued Slurm job $job" "$work/preempt.log" || { cat "$work/preempt.log" >&2; echo "slurm-check: FAIL the job did not requeue itself"; exit 1; }
say "preemption ok: SIGUSR1, checkpoint, scontrol requeue, resumed byte-identical to the reference"
echo "slurm-check: PASS"
