#!/usr/bin/env bash
# Pull of a 2 GiB model of 8 random files through the OCI view (issue 19), side by side in one run:
#   cp -r + sync of the same files;
#   `registry pull` (/v1: download, hash while writing, rename);
#   `skopeo copy docker://…/NS/NAME:TAG dir:` from registry-server's /v2 (token flow, every digest checked);
#   the same `skopeo copy` from the CNCF distribution registry (Debian docker-registry 2.8.2, filesystem
#   storage, ../shared/bench/start_registry.sh) serving the same bytes, loaded with `skopeo copy dir: docker://`
#   from the /v2 pull (so it holds the very manifest, config and layers the view served).
# Peak server RSS during each pull is sampled with ../shared/bench/rss_sampler.sh. One run.
# usage: bench/oci.sh [WORKDIR]   (needs ~10 GiB free; builds release binaries; skopeo and docker-registry
#                                  from apt: scripts/skopeo.sh, apt-get install docker-registry)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=${SHARED_BENCH:-$root/../shared/bench}
work=${1:-/tmp/registry-bench-oci}
rm -rf "$work"; mkdir -p "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=${PORT:-$(free_port)}
dport=${DIST_PORT:-$(free_port)}
target=${CARGO_TARGET_DIR:-$root/target}

cargo build --release -q -p registry-server -p registry-client
srv=$target/release/registry-server
cli=$target/release/registry
eval "$(scripts/skopeo.sh)"
command -v docker-registry > /dev/null || { echo "docker-registry missing: apt-get install docker-registry" >&2; exit 1; }
printf '{"default":[{"type":"insecureAcceptAnything"}]}' > "$work/policy.json"
mkdir -p "$work/tmp"
skopeo() { "$REGISTRY_SKOPEO" --policy "$work/policy.json" --tmpdir "$work/tmp" "$@"; }

now() { date +%s.%N; }
mib=2048
rate() { awk "BEGIN{printf \"%7.1f MiB/s  (%5.2f s)\", $mib/($2-$1), $2-$1}"; }
row() { printf '| %-58s | %s |\n' "$1" "$2"; }
peak() { echo $(( $(cut -d= -f2 "$1") / 1024 )); }

echo "generating 8 x 256 MiB random files..." >&2
mkdir -p "$work/model"
for i in 0 1 2 3 4 5 6 7; do
  openssl rand -out "$work/model/shard-$i.safetensors" $((256 * 1024 * 1024))
done
cat "$work/model"/* > /dev/null   # warm the page cache

spid=; dpid=
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
  [ -n "$dpid" ] && "$shared/stop_pidtree.sh" "$dpid" || true
}
trap cleanup EXIT

echo "| what | throughput |"
echo "|---|---|"
t0=$(now); cp -r "$work/model" "$work/copy"; sync; t1=$(now); rm -rf "$work/copy"
row "cp -r + sync" "$(rate "$t0" "$t1")"

# --- registry-server: push once (untimed), then pull through /v1 and through /v2 ---
REGISTRY_LOG=warn "$srv" --listen "127.0.0.1:$port" --data-dir "$work/data" > "$work/server.log" 2>&1 &
spid=$!
until [ -s "$work/data/bootstrap-admin.token" ] && curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do
  sleep 0.1
done
export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/config
REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token"); export REGISTRY_TOKEN
"$cli" push "$work/model" --model bench/model --version 1.0+cu121 > /dev/null 2>&1
token=$("$cli" --json token create --name bench-oci --scopes read --namespace 'bench/*' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
rm -rf "$work/model"

sync; "$shared/rss_sampler.sh" "$spid" "$work/rss.v1" 0.1 & rp=$!
t0=$(now); "$cli" pull bench/model@1.0+cu121 -o "$work/pulled" > /dev/null 2>&1; t1=$(now)
touch "$work/rss.v1.stop"; wait $rp || true
row "registry pull (/v1: download + verify + write)" "$(rate "$t0" "$t1")"
rm -rf "$work/pulled"

sync; "$shared/rss_sampler.sh" "$spid" "$work/rss.v2" 0.1 & rp=$!
t0=$(now)
skopeo copy -q --src-tls-verify=false --src-creds "ci:$token" \
  "docker://127.0.0.1:$port/bench/model:1.0_cu121" "dir:$work/sk"
t1=$(now)
touch "$work/rss.v2.stop"; wait $rp || true
row "skopeo copy dir: from registry-server /v2" "$(rate "$t0" "$t1")"
kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
rm -rf "$work/data"

# --- CNCF distribution, loaded with the manifest and blobs the /v2 pull got ---
PEERS=$work "$shared/start_registry.sh" "$work/distribution" "$dport" > /dev/null
dpid=$(cat "$work/distribution/registry.pid")
skopeo copy -q --dest-tls-verify=false "dir:$work/sk" "docker://127.0.0.1:$dport/bench/model:1.0_cu121"
rm -rf "$work/sk"
sync; "$shared/rss_sampler.sh" "$dpid" "$work/rss.dist" 0.1 & rp=$!
t0=$(now)
skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$dport/bench/model:1.0_cu121" "dir:$work/sk-dist"
t1=$(now)
touch "$work/rss.dist.stop"; wait $rp || true
row "skopeo copy dir: from distribution 2.8.2" "$(rate "$t0" "$t1")"
"$shared/stop_pidtree.sh" "$dpid"; dpid=
row "peak server RSS: registry pull / skopeo from registry / from distribution" \
  "$(peak "$work/rss.v1") / $(peak "$work/rss.v2") / $(peak "$work/rss.dist") MiB"
rm -rf "$work"
