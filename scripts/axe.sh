#!/usr/bin/env bash
# axe-core (the accessibility rules the browser tests of the web UI run on every page), pinned: the npm
# tarball is fetched once (curl, or python3 without it; no node needed), checked against its SHA-256, and
# package/axe.min.js is kept in target/axe. Prints the path of axe.min.js:
#   REGISTRY_AXE=$(scripts/axe.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
version=4.14.1
# SHA-256 of axe-core-$version.tgz (its sha1 and sha512 agree with the npm registry's dist.shasum and
# dist.integrity), and of the package/axe.min.js inside it.
tgz_sha256=e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745
js_sha256=29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c
url="https://registry.npmjs.org/axe-core/-/axe-core-$version.tgz"
dir=${CARGO_TARGET_DIR:-$(pwd)/target}/axe
out="$dir/axe.min.js"

sha256() { python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

if [ -f "$out" ] && [ "$(sha256 "$out")" = "$js_sha256" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "fetching axe-core $version ..." >&2
if command -v curl >/dev/null 2>&1; then
  curl -sSfL --retry 3 -o "$tmp/axe.tgz" "$url"
else
  python3 - "$url" "$tmp/axe.tgz" <<'PY'
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=60) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)
PY
fi
got=$(sha256 "$tmp/axe.tgz")
[ "$got" = "$tgz_sha256" ] || { echo "axe-core-$version.tgz: SHA-256 $got, expected $tgz_sha256" >&2; exit 1; }
tar -xzf "$tmp/axe.tgz" -C "$tmp" package/axe.min.js
got=$(sha256 "$tmp/package/axe.min.js")
[ "$got" = "$js_sha256" ] || { echo "axe.min.js: SHA-256 $got, expected $js_sha256" >&2; exit 1; }
mv "$tmp/package/axe.min.js" "$out"
echo "$out"
