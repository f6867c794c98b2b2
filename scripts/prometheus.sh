#!/usr/bin/env bash
# Install, start and stop a private Prometheus (Debian's package: prometheus and promtool) bound to 127.0.0.1.
#
#   scripts/prometheus.sh install                 apt-get install prometheus if missing (root)
#   scripts/prometheus.sh up DIR TARGET [PORT]    start prometheus with its config and data under DIR, scraping
#                                                 TARGET (host:port) every second, on PORT (default: a free
#                                                 port); prints the URL once /-/ready answers. Idempotent.
#   scripts/prometheus.sh down DIR                stop the prometheus started for DIR (only that PID)
#   scripts/prometheus.sh url DIR                 print the URL of the running server
#
# The package's own service does not run here (no systemd): the tests start their own instance. Targets
# appear about 5 s after start (the discovery manager batches updates): poll /api/v1/targets before asserting.
set -euo pipefail

cmd=${1:-up}

log() { echo "prometheus.sh: $*" >&2; }

install_pkg() {
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" != 0 ]; then log "prometheus is missing and I am not root: run 'sudo apt-get install prometheus'"; exit 1; fi
  log "installing prometheus from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  }
}

if [ "$cmd" = install ]; then install_pkg; exit 0; fi

DIR=$(realpath -m "${2:?usage: $0 up|down|url DIR [TARGET] [PORT]}")

# shellcheck source=scripts/ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

is_ours() { # pid
  local pid=$1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--config.file=$DIR/prometheus.yml"
}

ready() { curl -fsS -o /dev/null -m 2 "http://127.0.0.1:$1/-/ready" 2>/dev/null; }

up() {
  local target=${1:?usage: $0 up DIR TARGET [PORT]} chosen=${2:-} port attempt pid
  install_pkg
  mkdir -p "$DIR/data"
  if [ -f "$DIR/prometheus.pid" ] && is_ours "$(cat "$DIR/prometheus.pid")" && ready "$(cat "$DIR/port")"; then
    echo "http://127.0.0.1:$(cat "$DIR/port")"
    return 0
  fi
  cat >"$DIR/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: runctrl
    static_configs:
      - targets: ['$target']
CONF
  promtool check config "$DIR/prometheus.yml" >/dev/null
  for attempt in 1 2 3; do
    port=${chosen:-$(free_port)}
    echo "$port" >"$DIR/port"
    setsid prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/data" \
      --web.listen-address="127.0.0.1:$port" --log.level=warn </dev/null >"$DIR/prometheus.log" 2>&1 &
    pid=$!
    echo "$pid" >"$DIR/prometheus.pid"
    for _ in $(seq 1 300); do
      if ready "$port"; then echo "http://127.0.0.1:$port"; return 0; fi
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && { log "prometheus did not get ready within 30 s"; tail -20 "$DIR/prometheus.log" >&2; exit 1; }
    if [ -n "$chosen" ] || ! grep -q "address already in use" "$DIR/prometheus.log"; then break; fi
    log "attempt $attempt: port $port was taken meanwhile, starting again on another"
  done
  log "prometheus exited during start-up:"; tail -20 "$DIR/prometheus.log" >&2; exit 1
}

down() {
  [ -f "$DIR/prometheus.pid" ] || return 0
  local pid; pid=$(cat "$DIR/prometheus.pid")
  if is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/prometheus.pid"
}

case "$cmd" in
  up) up "${3:-}" "${4:-}" ;;
  down) down ;;
  url) echo "http://127.0.0.1:$(cat "$DIR/port")" ;;
  *) log "usage: $0 install|up|down|url DIR [TARGET] [PORT]"; exit 2 ;;
esac
