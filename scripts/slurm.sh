#!/usr/bin/env bash
# A private single-node Slurm (22.05) on loopback for tests and local trials.
#
#   scripts/slurm.sh install     apt-get install slurm-wlm munge if missing (root)
#   scripts/slurm.sh up DIR      start munged, slurmctld and slurmd with all their files under DIR, free ports,
#                                run a warm-up job; idempotent (a running setup is left alone). Prints the
#                                `export SLURM_CONF=…` line.
#   scripts/slurm.sh down DIR    scancel all jobs, wait for an empty queue, stop the daemons started for DIR
#                                (only those PIDs, checked against /proc/PID/cmdline); keeps DIR
#   scripts/slurm.sh env DIR     print `export SLURM_CONF=…` (eval "$(scripts/slurm.sh env DIR)")
#   scripts/slurm.sh status DIR  exit 0 when the controller answers
#   scripts/slurm.sh purge DIR   down, then delete DIR
#
# Environment for `up`: SLURM_MIN_JOB_AGE (seconds a finished job stays in squeue, default 300), SLURM_MAX_JOB_COUNT
# (jobs the controller holds at once, pending array tasks included; default 10000),
# SLURM_CPUS (CPUs of the node, default 4; may exceed the real core count), SLURM_REAL_MEMORY (MB, default 1000).
# Needs root (the daemons run as root, apt-get). Nothing binds outside 127.0.0.1.
set -euo pipefail

cmd=${1:-}
DIR=${2:-}
log() { echo "slurm.sh: $*" >&2; }
usage() {
  log "usage: $0 install | up DIR | down DIR | env DIR | status DIR | purge DIR"
  exit 2
}
[ -n "$cmd" ] || usage
if [ "$cmd" != install ]; then
  [ -n "$DIR" ] || usage
  DIR=$(realpath -m "$DIR")
fi
CONF="$DIR/slurm.conf"
SOCK="$DIR/munge/run/munge.socket"

install_pkg() {
  if command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 && command -v sbatch >/dev/null 2>&1 &&
    command -v munged >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    log "Slurm/munge are missing and I am not root: run 'sudo apt-get install slurm-wlm munge'"
    exit 1
  fi
  log "installing slurm-wlm and munge from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq slurm-wlm munge >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq slurm-wlm munge >/dev/null; }
}

# shellcheck source=scripts/ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

# is_ours NAME: the PID recorded for NAME is alive and is the process we started for DIR.
is_ours() {
  local name=$1 pid pat
  [ -f "$DIR/pids/$name" ] || return 1
  pid=$(cat "$DIR/pids/$name")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  case $name in
    munged) pat="munged -F --socket=$SOCK" ;;
    slurmctld) pat="slurmctld -D -f $CONF" ;;
    slurmd) pat="slurmd -D -f $CONF" ;;
  esac
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pat"
}

# stop NAME SECONDS: SIGTERM our PID, wait, then SIGKILL.
stop() {
  local name=$1 secs=$2 pid
  if is_ours "$name"; then
    pid=$(cat "$DIR/pids/$name")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((secs * 10))); do
      is_ours "$name" || break
      sleep 0.1
    done
    if is_ours "$name"; then
      log "$name ($pid) did not stop in ${secs} s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$DIR/pids/$name"
}

ctld_up() { SLURM_CONF=$CONF timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; }

write_conf() {
  local ctld_port slurmd_port
  if [ -f "$DIR/ports" ]; then
    read -r ctld_port slurmd_port <"$DIR/ports"
    # Reuse the ports of an earlier run unless something else took them meanwhile.
    if (echo >"/dev/tcp/127.0.0.1/$ctld_port") 2>/dev/null || (echo >"/dev/tcp/127.0.0.1/$slurmd_port") 2>/dev/null; then
      ctld_port=$(free_port)
      slurmd_port=$(free_port "$ctld_port")
    fi
  else
    ctld_port=$(free_port)
    slurmd_port=$(free_port "$ctld_port")
  fi
  echo "$ctld_port $slurmd_port" >"$DIR/ports"
  cat >"$CONF" <<CONF
ClusterName=runctrl
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=${SLURM_MIN_JOB_AGE:-300}
MaxJobCount=${SLURM_MAX_JOB_COUNT:-10000}
NodeName=localhost NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 CPUs=${SLURM_CPUS:-4} RealMemory=${SLURM_REAL_MEMORY:-1000} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munged() {
  is_ours munged && return 0
  mkdir -p "$DIR/munge/run"
  # munged needs o+x on every directory of the socket path.
  chmod 755 "$DIR" "$DIR/munge" "$DIR/munge/run"
  local d=$DIR
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    if [ "$(( 0$(stat -c %a "$d") & 1 ))" = 0 ]; then
      log "munged needs execute permission for all on every directory of $SOCK, but $d is $(stat -c %A "$d"): chmod o+x $d"
      exit 1
    fi
  done
  if [ ! -s "$DIR/munge/munge.key" ]; then
    if command -v mungekey >/dev/null 2>&1; then
      mungekey -c -k "$DIR/munge/munge.key" -b 1024 -f
    else
      head -c 128 /dev/urandom >"$DIR/munge/munge.key"
    fi
  fi
  chmod 600 "$DIR/munge/munge.key"
  rm -f "$SOCK" "$SOCK.lock"
  setsid munged -F --socket="$SOCK" --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/run/munged.pid" \
    --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" </dev/null >>"$DIR/log/munged.out" 2>&1 &
  echo $! >"$DIR/pids/munged"
  for _ in $(seq 1 100); do
    if munge -S "$SOCK" -n 2>/dev/null | unmunge -S "$SOCK" >/dev/null 2>&1; then return 0; fi
    is_ours munged || break
    sleep 0.1
  done
  log "munged did not start:"
  tail -n 5 "$DIR/log/munged.log" "$DIR/log/munged.out" >&2 || true
  exit 1
}

start_slurmctld() {
  is_ours slurmctld && return 0
  setsid slurmctld -D -f "$CONF" </dev/null >>"$DIR/log/slurmctld.out" 2>&1 &
  echo $! >"$DIR/pids/slurmctld"
  for _ in $(seq 1 150); do
    ctld_up && return 0
    is_ours slurmctld || break
    sleep 0.2
  done
  log "slurmctld did not come up:"
  tail -20 "$DIR/log/slurmctld.log" >&2 || true
  return 1
}

start_slurmd() {
  if ! is_ours slurmd; then
    setsid slurmd -D -f "$CONF" -N localhost </dev/null >>"$DIR/log/slurmd.out" 2>&1 &
    echo $! >"$DIR/pids/slurmd"
  fi
  local st
  for _ in $(seq 1 150); do
    st=$(SLURM_CONF=$CONF timeout 5 sinfo -h -o %T 2>/dev/null | head -1 || true)
    case $st in idle* | mixed* | allocated* | completing*) return 0 ;; esac
    is_ours slurmd || break
    sleep 0.2
  done
  log "node did not become idle (state '${st:-}'):"
  tail -20 "$DIR/log/slurmd.log" >&2 || true
  return 1
}

warm_up() {
  local id out
  id=$(SLURM_CONF=$CONF timeout 20 sbatch --parsable -J warmup -o /dev/null -e /dev/null --wrap true | tail -1)
  id=${id%%;*}
  for _ in $(seq 1 300); do
    out=$(SLURM_CONF=$CONF timeout 5 scontrol show job "$id" -o 2>/dev/null || true)
    case $out in
      *JobState=COMPLETED*) return 0 ;;
      *JobState=FAILED* | *JobState=CANCELLED* | *JobState=NODE_FAIL*)
        log "warm-up job $id failed: $out"
        exit 1
        ;;
    esac
    # Already purged (tiny MinJobAge): finished.
    [ -z "$out" ] && ! SLURM_CONF=$CONF timeout 5 squeue -h -j "$id" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "warm-up job $id did not complete in 30 s"
  exit 1
}

up() {
  [ "$(id -u)" = 0 ] || {
    log "needs root (the private Slurm daemons run as root)"
    exit 1
  }
  install_pkg
  mkdir -p "$DIR"/{munge/run,state,spool,log,pids}
  if is_ours munged && is_ours slurmctld && is_ours slurmd && ctld_up; then
    echo "export SLURM_CONF=$CONF"
    return 0
  fi
  start_munged
  # a port taken between choosing it and binding it (another server starting at the same moment): other ports
  local attempt
  for attempt in 1 2 3; do
    if ! is_ours slurmctld; then write_conf; fi
    if start_slurmctld && start_slurmd; then
      warm_up
      echo "export SLURM_CONF=$CONF"
      return 0
    fi
    # another failure than a port taken meanwhile is not helped by other ports
    grep -qs "Address already in use" "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" || break
    log "attempt $attempt failed: starting again on other ports"
    stop slurmd 10
    stop slurmctld 20
    rm -f "$DIR/ports"
  done
  exit 1
}

down() {
  [ -d "$DIR/pids" ] || return 0
  if is_ours slurmctld && ctld_up; then
    local ids
    ids=$(SLURM_CONF=$CONF timeout 15 squeue -h -o %i 2>/dev/null || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      SLURM_CONF=$CONF timeout 15 scancel $ids 2>/dev/null || true
      for _ in $(seq 1 150); do
        [ -z "$(SLURM_CONF=$CONF timeout 5 squeue -h -o %i 2>/dev/null || true)" ] && break
        sleep 0.1
      done
    fi
  fi
  stop slurmd 10
  stop slurmctld 20
  stop munged 10
}

case "$cmd" in
  install) install_pkg ;;
  up) up ;;
  down) down ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  status) ctld_up ;;
  purge)
    down
    rm -rf "$DIR"
    ;;
  *) usage ;;
esac
