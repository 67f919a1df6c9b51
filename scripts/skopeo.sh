#!/usr/bin/env bash
# skopeo for the OCI interop tests (tests/python/test_oci_interop.py: a real containers/image client
# pulls model versions through /v2). Installed from apt if missing (Debian 12: 1.9.3). Prints the
# executable's export line:
#   eval "$(scripts/skopeo.sh)"   -> REGISTRY_SKOPEO=/usr/bin/skopeo
set -euo pipefail
skopeo=${REGISTRY_SKOPEO:-/usr/bin/skopeo}
if [ ! -f "$skopeo" ] || [ ! -x "$skopeo" ]; then
  echo "installing skopeo from apt..." >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends skopeo >&2
fi
{ [ -f "$skopeo" ] && [ -x "$skopeo" ]; } || { echo "skopeo not found at $skopeo" >&2; exit 1; }
echo "export REGISTRY_SKOPEO=$skopeo"
