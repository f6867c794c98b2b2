#!/usr/bin/env bash
# Headless Chromium from Debian for the dashboard's browser tests (test/browser).
#   bash scripts/chromium.sh install   # idempotent: installs the Debian package only when missing
#   bash scripts/chromium.sh path      # prints the executable
set -euo pipefail
cmd=${1:-install}
case "$cmd" in
  install)
    if command -v chromium >/dev/null 2>&1; then exit 0; fi
    if [ "$(id -u)" -ne 0 ]; then echo "chromium.sh: run as root to install Debian's chromium" >&2; exit 1; fi
    if ! apt-cache show chromium >/dev/null 2>&1; then apt-get update -qq; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    ;;
  path) command -v chromium ;;
  *) echo "usage: chromium.sh install|path" >&2; exit 2 ;;
esac
