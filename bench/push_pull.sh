#!/usr/bin/env bash
# Push/pull throughput of a 2 GiB model of 8 random files, side by side in one run with:
#   cp + sync of the same files, openssl dgst -sha256 of them (single core), and the same bytes through
#   the CNCF distribution registry (../shared/bench/start_registry.sh + registry_bench.sh).
# Peak server RSS during push and during pull is sampled with ../shared/bench/rss_sampler.sh.
# usage: bench/push_pull.sh [WORKDIR]   (needs ~8 GiB free; builds release binaries)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=${SHARED_BENCH:-$root/../shared/bench}
work=${1:-/tmp/registry-bench}
rm -rf "$work"; mkdir -p "$work"
port=${PORT:-18181}

cargo build --release -q -p registry-server -p registry-client
srv=$root/target/release/registry-server
cli=$root/target/release/registry

now() { date +%s.%N; }
mib=2048
rate() { awk "BEGIN{printf \"%7.1f MiB/s  (%5.2f s)\", $mib/($2-$1), $2-$1}"; }
row() { printf '| %-44s | %s |\n' "$1" "$2"; }

echo "generating 8 x 256 MiB random files..." >&2
mkdir -p "$work/model"
for i in 0 1 2 3 4 5 6 7; do
  openssl rand -out "$work/model/shard-$i.bin" $((256 * 1024 * 1024))
done
cat "$work/model"/* > /dev/null   # warm the page cache, as for every row below

echo "| what | throughput |"
echo "|---|---|"
t0=$(now); cp -r "$work/model" "$work/copy"; sync; t1=$(now); rm -rf "$work/copy"
row "cp -r + sync" "$(rate "$t0" "$t1")"
t0=$(now); openssl dgst -sha256 "$work/model"/* > /dev/null; t1=$(now)
row "openssl dgst -sha256 (1 core)" "$(rate "$t0" "$t1")"

# --- registry ---
REGISTRY_LOG=warn "$srv" --listen 127.0.0.1:$port --data-dir "$work/data" > "$work/server.log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
export REGISTRY_URL=http://127.0.0.1:$port

"$shared/rss_sampler.sh" $spid "$work/rss.push" 0.1 & rp=$!
t0=$(now); "$cli" push "$work/model" --model bench/model --version 1 > /dev/null 2>&1; t1=$(now)
touch "$work/rss.push.stop"; wait $rp || true
row "registry push (hash + upload + publish)" "$(rate "$t0" "$t1")"
push_rss=$(( $(cut -d= -f2 "$work/rss.push") / 1024 ))

sync; "$shared/rss_sampler.sh" $spid "$work/rss.pull" 0.1 & rp=$!
t0=$(now); "$cli" pull bench/model@1 -o "$work/pulled" > /dev/null 2>&1; t1=$(now)
touch "$work/rss.pull.stop"; wait $rp || true
row "registry pull (download + verify + write)" "$(rate "$t0" "$t1")"
pull_rss=$(( $(cut -d= -f2 "$work/rss.pull") / 1024 ))
rm -rf "$work/pulled2"; sync
t0=$(now); "$cli" pull bench/model@1 -o "$work/pulled2" > /dev/null 2>&1; t1=$(now)
row "registry pull, 2nd run" "$(rate "$t0" "$t1")"
rm -rf "$work/pulled2"
t0=$(now); "$cli" verify bench/model@1 --dir "$work/pulled" > /dev/null 2>&1; t1=$(now)
row "registry verify --dir (2 cores)" "$(rate "$t0" "$t1")"
row "registry-server peak RSS during push / pull" "${push_rss} MiB / ${pull_rss} MiB"
kill $spid; wait $spid 2>/dev/null || true
rm -rf "$work/pulled" "$work/data"

# --- CNCF distribution, same bytes (one 2 GiB blob) ---
if command -v docker-registry > /dev/null; then
  cat "$work/model"/* > "$work/all.bin"; rm -rf "$work/model"
  PEERS=$work "$shared/start_registry.sh" "$work/distribution" 5055 > /dev/null
  dpid=$(cat "$work/distribution/registry.pid")
  PEERS=$work "$shared/registry_bench.sh" "$work/all.bin" http://127.0.0.1:5055 "$dpid" 64 | sed 's/^/    distribution: /' >&2
  "$shared/stop_pidtree.sh" "$dpid"
else
  echo "docker-registry not installed (apt-get install docker-registry): distribution rows skipped" >&2
fi
rm -rf "$work"
