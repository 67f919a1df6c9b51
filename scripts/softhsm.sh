#!/usr/bin/env bash
# SoftHSM2 for the PKCS#11 tests (installed from apt if missing; tests make their own tokens in temp
# dirs through SOFTHSM2_CONF, so nothing is configured here). Prints the module's export line:
#   eval "$(scripts/softhsm.sh)"   -> REGISTRY_TEST_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
set -euo pipefail
module=${REGISTRY_TEST_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
if [ ! -f "$module" ] || ! command -v softhsm2-util >/dev/null 2>&1; then
  echo "installing SoftHSM2 from apt..." >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq softhsm2 >&2
fi
[ -f "$module" ] || { echo "SoftHSM2 module not found at $module" >&2; exit 1; }
echo "export REGISTRY_TEST_PKCS11_MODULE=$module"
