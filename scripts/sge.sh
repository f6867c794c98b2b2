#!/usr/bin/env bash
# A private single-host Grid Engine (Son of Grid Engine 8.1.9, Debian gridengine-*) inside a network
# namespace that has only `lo` (SGE binds INADDR_ANY, hard-coded: the namespace keeps it off eth0).
#
#   scripts/sge.sh install     apt-get install gridengine-master gridengine-exec gridengine-client if missing (root)
#   scripts/sge.sh up DIR      private SGE_ROOT, spool and client wrappers under DIR, qmaster + execd in the
#                              namespace, queue all.q with SGE_SLOTS slots (default 4), 1-s scheduler; idempotent.
#                              Prints the `export …` lines (PATH first with the client wrappers).
#   scripts/sge.sh down DIR    qdel -f all jobs, wait for an empty queue, stop execd and qmaster (only the PIDs
#                              started for DIR, checked by /proc/PID/cmdline and environ), delete the namespace
#   scripts/sge.sh env DIR     print the `export …` lines (eval "$(scripts/sge.sh env DIR)")
#   scripts/sge.sh purge DIR   down, then delete DIR
#
# Jobs run inside the namespace too: they cannot reach servers on the host's 127.0.0.1.
# The client wrappers in DIR/bin (qsub qstat qdel qacct qconf qhost qalter qhold qrls qmod qselect) run the
# real client inside the namespace with the private SGE_ROOT/SGE_CELL/ports.
set -euo pipefail

cmd=${1:-}
DIR=${2:-}
log() { echo "sge.sh: $*" >&2; }
usage() {
  log "usage: $0 install | up DIR | down DIR | env DIR | purge DIR"
  exit 2
}
[ -n "$cmd" ] || usage
if [ "$cmd" != install ]; then
  [ -n "$DIR" ] || usage
  DIR=$(realpath -m "$DIR")
fi
HOST=$(hostname)
ROOT="$DIR/root"
CELL=default
COMMON="$ROOT/$CELL/common"
QPORT=${SGE_QMASTER_PORT_PRIVATE:-16444}
EPORT=$((QPORT + 1))
NS="rcsge-$(printf '%s' "$DIR" | md5sum | cut -c1-10)"
LIB=/usr/lib/gridengine
CLIENTS="qsub qstat qdel qacct qconf qhost qalter qhold qrls qmod qselect"

install_pkg() {
  if [ -x $LIB/sge_qmaster ] && [ -x $LIB/sge_execd ] && [ -x $LIB/qsub ] && command -v ip >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    log "Grid Engine is missing and I am not root: run 'sudo apt-get install gridengine-master gridengine-exec gridengine-client iproute2'"
    exit 1
  fi
  log "installing gridengine from Debian"
  for p in gridengine-common gridengine-master gridengine-client gridengine-exec; do
    echo "$p shared/gridengineconfig boolean true"
    echo "$p shared/gridenginecell string default"
    echo "$p shared/gridenginemaster string $HOST"
  done | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  local pkgs="gridengine-master gridengine-exec gridengine-client iproute2"
  # shellcheck disable=SC2086
  apt-get install -y -qq $pkgs >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $pkgs >/dev/null; }
}

sge_env() {
  echo "SGE_ROOT=$ROOT SGE_CELL=$CELL SGE_QMASTER_PORT=$QPORT SGE_EXECD_PORT=$EPORT"
}

# in_ns CMD…: run a real SGE binary inside the namespace with the private environment.
in_ns() {
  # shellcheck disable=SC2046
  env $(sge_env) ip netns exec "$NS" "$@"
}

# is_ours NAME PID: the process is that SGE daemon and runs with our SGE_ROOT.
is_ours() {
  local name=$1 pid=$2
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q -- "$name" || return 1
  { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qx -- "SGE_ROOT=$ROOT"
}

qmaster_pid() { cat "$DIR/spool/qmaster/qmaster.pid" 2>/dev/null || true; }
# The execd spool dir is named as qmaster resolves the host (`localhost` with our host_aliases).
execd_pid() { cat "$DIR"/spool/execd/*/execd.pid 2>/dev/null | head -1 || true; }
ns_exists() { ip netns list 2>/dev/null | grep -qw -- "$NS"; }

write_files() {
  mkdir -p "$COMMON" "$DIR/spool/qmaster" "$DIR/spool/execd" "$DIR/bin" "$DIR/log"
  for l in bin lib util utilbin; do ln -sfn "/var/lib/gridengine/$l" "$ROOT/$l"; done
  cat >"$COMMON/bootstrap" <<EOF
admin_user              none
default_domain          none
ignore_fqdn             true
spooling_method         berkeleydb
spooling_lib            libspoolb
spooling_params         $DIR/spool/spooldb
binary_path             /usr/sbin
qmaster_spool_dir       $DIR/spool/qmaster
security_mode           none
listener_threads        2
worker_threads          2
scheduler_threads       1
EOF
  echo "$HOST" >"$COMMON/act_qmaster"
  echo "$HOST localhost" >"$COMMON/host_aliases"
  sed -e "s|^execd_spool_dir .*|execd_spool_dir        $DIR/spool/execd|" \
    -e 's|^min_uid .*|min_uid                0|' \
    -e 's|^min_gid .*|min_gid                0|' \
    -e 's|^login_shells .*|login_shells           none|' \
    -e 's|^load_report_time .*|load_report_time       00:00:05|' \
    -e 's|^reporting_params .*|reporting_params       accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00|' \
    -e 's|^mailer .*|mailer                 /bin/true|' \
    /usr/share/gridengine/default-configuration >"$DIR/global-config"
  for c in $CLIENTS; do
    cat >"$DIR/bin/$c" <<EOF
#!/bin/sh
export SGE_ROOT='$ROOT' SGE_CELL='$CELL' SGE_QMASTER_PORT='$QPORT' SGE_EXECD_PORT='$EPORT'
exec ip netns exec '$NS' $LIB/$c "\$@"
EOF
    chmod 755 "$DIR/bin/$c"
  done
}

init_spool() {
  [ -d "$DIR/spool/spooldb" ] && return 0
  mkdir -p "$DIR/spool/spooldb"
  # shellcheck disable=SC2046
  (
    export $(sge_env)
    $LIB/spoolinit berkeleydb libspoolb "$DIR/spool/spooldb" init
    $LIB/spooldefaults configuration "$DIR/global-config"
    $LIB/spooldefaults complexes /usr/share/gridengine/util/resources/centry
    $LIB/spooldefaults usersets /usr/share/gridengine/util/resources/usersets
    $LIB/spooldefaults managers root
  ) >"$DIR/log/spoolinit.log" 2>&1 || {
    log "spool init failed:"
    tail -n 20 "$DIR/log/spoolinit.log" >&2
    rm -rf "$DIR/spool/spooldb"
    exit 1
  }
}

q() { "$DIR/bin/$1" "${@:2}"; }

start_qmaster() {
  if is_ours sge_qmaster "$(qmaster_pid)"; then return 0; fi
  in_ns $LIB/sge_qmaster </dev/null >>"$DIR/log/qmaster.out" 2>&1
  for _ in $(seq 1 100); do
    if q qstat -g c >/dev/null 2>&1; then
      q qconf -as "$HOST" >/dev/null 2>&1 || true
      return 0
    fi
    sleep 0.2
  done
  log "sge_qmaster did not answer within 20 s:"
  tail -n 20 "$DIR/spool/qmaster/messages" >&2 2>/dev/null || true
  exit 1
}

start_execd() {
  if ! is_ours sge_execd "$(execd_pid)"; then
    in_ns $LIB/sge_execd </dev/null >>"$DIR/log/execd.out" 2>&1
  fi
  for _ in $(seq 1 100); do
    if q qconf -sel 2>/dev/null | grep -q .; then return 0; fi
    sleep 0.2
  done
  log "sge_execd did not register within 20 s:"
  tail -n 20 "$DIR"/spool/execd/*/messages >&2 2>/dev/null || true
  exit 1
}

setup_queue() {
  if q qconf -sql 2>/dev/null | grep -qx all.q; then return 0; fi
  local f="$DIR/all.q"
  # qconf -aq with EDITOR=cat prints the template and then fails (its pe_list names missing PEs): fine.
  { EDITOR=cat q qconf -aq all.q 2>/dev/null || true; } |
    sed -e "s|^hostlist .*|hostlist              $HOST|" \
      -e 's|^pe_list .*|pe_list               NONE|' \
      -e "s|^slots .*|slots                 ${SGE_SLOTS:-4}|" \
      -e 's|^load_thresholds .*|load_thresholds       NONE|' \
      -e 's|^shell .*|shell                 /bin/sh|' \
      -e 's|^shell_start_mode .*|shell_start_mode      unix_behavior|' >"$f"
  grep -q '^qname' "$f" || {
    log "could not read the queue template (qconf -aq)"
    exit 1
  }
  q qconf -Aq "$f" >/dev/null 2>&1 || {
    log "qconf -Aq failed: $(q qconf -Aq "$f" 2>&1 | tail -1)"
    exit 1
  }
  q qconf -ssconf |
    sed -e 's|^schedule_interval .*|schedule_interval                 0:0:1|' \
      -e 's|^flush_submit_sec .*|flush_submit_sec                  1|' \
      -e 's|^flush_finish_sec .*|flush_finish_sec                  1|' >"$DIR/sconf"
  q qconf -Msconf "$DIR/sconf" >/dev/null 2>&1
}

wait_ready() {
  for _ in $(seq 1 100); do
    if q qstat -f 2>/dev/null | grep -q '^all.q@'; then return 0; fi
    sleep 0.2
  done
  log "queue all.q@$HOST did not appear within 20 s"
  exit 1
}

print_env() {
  echo "export PATH=$DIR/bin:\$PATH"
  echo "export SGE_ROOT=$ROOT SGE_CELL=$CELL SGE_QMASTER_PORT=$QPORT SGE_EXECD_PORT=$EPORT"
}

up() {
  [ "$(id -u)" = 0 ] || {
    log "needs root (ip netns, daemons as root)"
    exit 1
  }
  install_pkg
  if ns_exists && is_ours sge_qmaster "$(qmaster_pid)" && is_ours sge_execd "$(execd_pid)" &&
    q qstat -f 2>/dev/null | grep -q '^all.q@'; then
    print_env
    return 0
  fi
  mkdir -p "$DIR"
  write_files
  init_spool
  if ! ns_exists; then
    ip netns add "$NS"
  fi
  ip netns exec "$NS" ip link set lo up
  echo "$NS" >"$DIR/netns"
  start_qmaster
  start_execd
  setup_queue
  wait_ready
  print_env
}

# stop NAME PID SECONDS
stop() {
  local name=$1 pid=$2 secs=$3
  is_ours "$name" "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((secs * 10))); do
    is_ours "$name" "$pid" || return 0
    sleep 0.1
  done
  log "$name ($pid) did not stop in $secs s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

down() {
  [ -d "$DIR" ] || return 0
  local qm ex
  qm=$(qmaster_pid)
  ex=$(execd_pid)
  if is_ours sge_qmaster "$qm" && [ -x "$DIR/bin/qdel" ]; then
    q qdel -f -u '*' >/dev/null 2>&1 || true
    for _ in $(seq 1 150); do
      [ -z "$(q qstat -u '*' 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  stop sge_execd "$ex" 10
  stop sge_qmaster "$qm" 20
  if ns_exists; then
    local left
    left=$(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')
    [ -n "$left" ] && log "processes still in namespace $NS: $left (not killed: not started by this script)"
    ip netns del "$NS" 2>/dev/null || true
  fi
}

case "$cmd" in
  install) install_pkg ;;
  up) up ;;
  down) down ;;
  env) print_env ;;
  purge)
    down
    rm -rf "$DIR"
    ;;
  *) usage ;;
esac
