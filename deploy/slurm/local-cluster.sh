#!/usr/bin/env bash
# A single-node Slurm on this machine, for the demo and the tests: munge, slurmctld and
# slurmd from Debian's packages, one partition, two fake GPUs (gres files, no devices).
#
#   deploy/slurm/local-cluster.sh start [DIR]   install (apt-get) if missing, configure, start
#   deploy/slurm/local-cluster.sh stop [DIR]    stop the daemons it started
#   deploy/slurm/local-cluster.sh status [DIR]  exit 0 and say so when the cluster answers
#
# Everything it writes lives under DIR (default $ARENA_SLURM_CLUSTER_DIR, else
# /tmp/oellm-arena-slurm): slurm.conf, gres.conf, state, logs, pid files, the fake GPUs.
# Client commands (sbatch, squeue) find the configuration through SLURM_CONF=DIR/slurm.conf,
# or through /etc/slurm/slurm.conf, which `start` links to it when that file is absent.
# Needs root (it starts munged as the munge user and slurmd as root); no systemd needed.
# Idempotent: `start` on a running cluster only checks it, `stop` on a stopped one is a no-op.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|status [DIR]" >&2
  exit 2
}

[ $# -ge 1 ] || usage
action=$1
dir=${2:-${ARENA_SLURM_CLUSTER_DIR:-/tmp/oellm-arena-slurm}}
conf="$dir/slurm.conf"
etc_conf=/etc/slurm/slurm.conf
node=$(hostname -s)
export SLURM_CONF="$conf"

log() { echo "local-cluster: $*" >&2; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# running: the controller answers and the node is usable (idle, mixed or allocated).
running() {
  [ -f "$conf" ] || return 1
  # sinfo retries a controller that is not there for ~10 s: ask only a live one.
  pid_alive "$dir/slurmctld.pid" || return 1
  local state
  state=$(timeout 10 sinfo -h -n "$node" -o %t 2>/dev/null) || return 1
  case "$state" in
    idle* | mix* | alloc* | comp*) return 0 ;;
    *) return 1 ;;
  esac
}

install_packages() {
  local missing=()
  command -v sinfo >/dev/null 2>&1 && command -v slurmctld >/dev/null 2>&1 \
    || missing+=(slurm-wlm)
  command -v munged >/dev/null 2>&1 || [ -x /usr/sbin/munged ] || missing+=(munge)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return 0
  fi
  [ -f /etc/munge/munge.key ] || { log "no /etc/munge/munge.key (reinstall munge)"; exit 1; }
  mkdir -p /run/munge
  chown munge:munge /run/munge
  chmod 0755 /run/munge
  su -s /bin/sh munge -c /usr/sbin/munged
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "munged does not answer"
  exit 1
}

write_config() {
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/gpu"
  : >"$dir/gpu/fakegpu0"
  : >"$dir/gpu/fakegpu1"
  cat >"$dir/gres.conf" <<EOF
# Two GPUs without devices: files stand in for /dev/nvidia0 and /dev/nvidia1.
Name=gpu File=$dir/gpu/fakegpu[0-1]
EOF
  cat >"$conf" <<EOF
# Written by deploy/slurm/local-cluster.sh: a single-node cluster for demos and tests.
ClusterName=oellm-arena-local
SlurmctldHost=$node
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
KillWait=5
MinJobAge=120
SchedulerParameters=sched_min_interval=100000
NodeName=$node CPUs=$(nproc) RealMemory=1024 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
  if [ ! -e "$etc_conf" ] && [ -d /etc/slurm ]; then
    ln -s "$conf" "$etc_conf"
  fi
}

start() {
  if running; then
    log "already running ($conf)"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || { log "start needs root (munged, slurmd, apt-get)"; exit 1; }
  install_packages
  start_munge
  write_config
  pid_alive "$dir/slurmctld.pid" || /usr/sbin/slurmctld -f "$conf"
  for _ in $(seq 100); do
    timeout 5 scontrol ping 2>/dev/null | grep -q UP && break
    sleep 0.2
  done
  pid_alive "$dir/slurmd.pid" || /usr/sbin/slurmd -f "$conf"
  local state=""
  for _ in $(seq 150); do
    state=$(timeout 5 sinfo -h -n "$node" -o %t 2>/dev/null || true)
    case "$state" in
      drain* | down* | inval*) scontrol update nodename="$node" state=resume 2>/dev/null || true ;;
    esac
    running && break
    sleep 0.2
  done
  if ! running; then
    log "the node did not come up (state '${state:-none}'); logs in $dir/log"
    tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2>/dev/null || true
    exit 1
  fi
  log "running: node $node, partition debug, gpu:2 ($conf)"
  if [ "$(readlink "$etc_conf" 2>/dev/null)" != "$conf" ]; then
    log "$etc_conf is another cluster's: export SLURM_CONF=$conf for sbatch and squeue"
  fi
}

stop() {
  if [ -f "$conf" ] && pid_alive "$dir/slurmctld.pid"; then
    timeout 10 scancel --user="$(id -un)" 2>/dev/null || true
    timeout 10 scontrol shutdown 2>/dev/null || true
  fi
  local pidfile
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    for _ in $(seq 50); do pid_alive "$pidfile" || break; sleep 0.2; done
    if pid_alive "$pidfile"; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  if [ -L "$etc_conf" ] && [ "$(readlink "$etc_conf")" = "$conf" ]; then
    rm -f "$etc_conf"
  fi
  log "stopped (munged keeps running: other programs may use it)"
}

case "$action" in
  start) start ;;
  stop) stop ;;
  status)
    if running; then
      echo "running: $(sinfo -h -n "$node" -o '%P %t %G') ($conf)"
    else
      echo "not running ($conf)"
      exit 1
    fi
    ;;
  *) usage ;;
esac
