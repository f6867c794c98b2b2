#!/usr/bin/env bash
# Install, start and stop a private InfluxDB 1.x bound to 127.0.0.1.
#
#   scripts/influxdb.sh install          apt-get install influxdb influxdb-client if missing (root)
#   scripts/influxdb.sh up [DIR] [PORT]  start influxd with its data under DIR (default .runctrl/influxdb),
#                                        on PORT (default: a free port); prints the URL. Idempotent.
#   scripts/influxdb.sh down [DIR]       stop the influxd started for DIR (only that PID), keep the data
#   scripts/influxdb.sh url [DIR]        print the URL of the running server
#   scripts/influxdb.sh purge [DIR]      down, then delete DIR
set -euo pipefail

cmd=${1:-up}
DIR=$(realpath -m "${2:-${RUNCTRL_INFLUXDB_DIR:-.runctrl/influxdb}}")
PORT=${3:-}

log() { echo "influxdb.sh: $*" >&2; }

install_pkg() {
  if command -v influxd >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" != 0 ]; then log "influxd is missing and I am not root: run 'sudo apt-get install influxdb influxdb-client'"; exit 1; fi
  log "installing influxdb from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq influxdb influxdb-client >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq influxdb influxdb-client >/dev/null; }
}

# shellcheck source=scripts/ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

is_ours() { # pid
  local pid=$1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "influxd run -config $DIR/influxdb.conf"
}

ping_ok() { curl -fsS -o /dev/null -m 2 "http://127.0.0.1:$1/ping" 2>/dev/null; }

up() {
  install_pkg
  mkdir -p "$DIR"
  if [ -f "$DIR/influxd.pid" ] && is_ours "$(cat "$DIR/influxd.pid")"; then
    local p; p=$(cat "$DIR/port")
    if ping_ok "$p"; then echo "http://127.0.0.1:$p"; return 0; fi
  fi
  local chosen=$PORT attempt
  for attempt in 1 2 3; do
    PORT=$chosen
    if [ -z "$PORT" ]; then
      if [ "$attempt" = 1 ] && [ -f "$DIR/port" ] && ! ping_ok "$(cat "$DIR/port")"; then PORT=$(cat "$DIR/port"); else PORT=$(free_port); fi
    fi
    if ping_ok "$PORT"; then log "something else already answers on 127.0.0.1:$PORT: choose another port"; exit 1; fi
    start_on "$PORT" && return 0
    # a port taken between choosing it and binding it: other ports, unless the caller named one
    if [ -n "$chosen" ] || ! grep -q "address already in use" "$DIR/influxd.log"; then break; fi
    log "attempt $attempt: a port was taken meanwhile, starting again on others"
  done
  log "influxd exited during start-up:"; tail -20 "$DIR/influxd.log" >&2; exit 1
}

# Writes the configuration for PORT (RPC on the next free port after PORT + 1) and starts influxd; 1 when it
# exits during start-up.
start_on() {
  local port=$1 rpc=$(($1 + 2))
  while (echo >"/dev/tcp/127.0.0.1/$rpc") 2>/dev/null; do rpc=$((rpc + 1)); done
  cat >"$DIR/influxdb.conf" <<CONF
reporting-enabled = false
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$DIR/meta"
[data]
  dir = "$DIR/data"
  wal-dir = "$DIR/wal"
  query-log-enabled = false
  max-series-per-database = 0
  max-values-per-tag = 0
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$port"
  auth-enabled = ${RUNCTRL_INFLUXDB_AUTH:-false}
  log-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
CONF
  echo "$port" >"$DIR/port"
  setsid influxd run -config "$DIR/influxdb.conf" </dev/null >"$DIR/influxd.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$DIR/influxd.pid"
  for _ in $(seq 1 300); do
    if ping_ok "$port"; then echo "http://127.0.0.1:$port"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  log "influxd did not answer /ping within 30 s"; tail -20 "$DIR/influxd.log" >&2; exit 1
}

down() {
  [ -f "$DIR/influxd.pid" ] || return 0
  local pid; pid=$(cat "$DIR/influxd.pid")
  if is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/influxd.pid"
}

case "$cmd" in
  install) install_pkg ;;
  up) up ;;
  down) down ;;
  url) echo "http://127.0.0.1:$(cat "$DIR/port")" ;;
  purge) down; rm -rf "$DIR" ;;
  *) log "usage: $0 install|up|down|url|purge [DIR] [PORT]"; exit 2 ;;
esac
