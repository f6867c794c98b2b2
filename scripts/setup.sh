#!/usr/bin/env bash
# Installs what runctrl needs on a Debian machine, only what is missing (idempotent, quiet):
#   - Debian packages: influxdb, influxdb-client (InfluxDB 1.x), curl, openssl (tests' TLS certificates)
#                                                                      (apt-get; needs root)
#   - node_modules from package-lock.json                              (npm ci, when missing or stale)
# Node.js >= 20.19 must already be installed (Debian 12's nodejs is too old).
#
#   bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "setup.sh: $*" >&2; }

# --- Debian packages --------------------------------------------------------------------------------
missing=()
command -v influxd >/dev/null 2>&1 || missing+=(influxdb)
command -v influx >/dev/null 2>&1 || missing+=(influxdb-client)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing ${missing[*]} and not root: run 'sudo apt-get install -y ${missing[*]}' (or run this script as root)"
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # `apt-get update` only when the package lists do not know the packages yet
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# --- Node.js ----------------------------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "Node.js >= 20.19 with npm is needed (https://nodejs.org or NodeSource packages); install it first"
  exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  log "Node.js $(node -v) is too old: runctrl needs >= 20.19"
  exit 1
fi

# --- node_modules -----------------------------------------------------------------------------------
# `npm ci` (which wipes node_modules) only when node_modules does not match package-lock.json: a package
# missing (optional, platform-specific ones excepted) or at another version than the lock file says.
modules_match_lock() {
  node -e '
    const fs = require("node:fs");
    const read = (f) => JSON.parse(fs.readFileSync(f, "utf8")).packages || {};
    let lock, have;
    try { lock = read("package-lock.json"); have = read("node_modules/.package-lock.json"); } catch { process.exit(1); }
    for (const [k, v] of Object.entries(lock)) {
      if (k === "" || !k.startsWith("node_modules/") || v.link) continue;
      const h = have[k];
      if (!h) { if (v.optional || v.devOptional) continue; process.exit(1); }
      if (h.version !== v.version) process.exit(1);
    }
  '
}
if ! modules_match_lock; then
  log "installing node modules (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
