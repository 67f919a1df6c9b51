#!/usr/bin/env bash
# Chromium for the browser tests of the web UI (tests/python/test_ui.py, driven by Playwright with this
# executable: Playwright's own browser downloads are never used). Installed from apt if missing. Prints the
# executable's export line:
#   eval "$(scripts/chromium.sh)"   -> REGISTRY_CHROMIUM=/usr/bin/chromium
set -euo pipefail
chromium=${REGISTRY_CHROMIUM:-/usr/bin/chromium}
if [ ! -f "$chromium" ] || [ ! -x "$chromium" ]; then
  echo "installing Chromium from apt..." >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends chromium >&2
fi
{ [ -f "$chromium" ] && [ -x "$chromium" ]; } || { echo "Chromium not found at $chromium" >&2; exit 1; }
echo "export REGISTRY_CHROMIUM=$chromium"
