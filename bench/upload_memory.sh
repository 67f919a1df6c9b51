#!/usr/bin/env bash
# Server memory under concurrent resumable uploads (issue 22): CLIENTS `registry push` processes at once,
# each pushing FILES random files of SIZE_MIB MiB, every file through an upload session
# (REGISTRY_RESUMABLE_MIN=1MiB; a client sends 4 files at once, 4 parts in flight each), parts of PART.
# Per store (a local directory; S3 on SeaweedFS from scripts/s3.sh) it prints: wall time and MiB/s of all
# pushes together, the server's peak RSS (../shared/bench/rss_sampler.sh, every 0.1 s), the most upload
# memory the server reported holding (`registry_upload_memory_held_bytes`, sampled every 0.1 s), the 429s
# it answered (`registry_http_requests_total`), and whether every push succeeded.
# usage: bench/upload_memory.sh [CLIENTS=8] [FILES=4] [SIZE_MIB=96] [PART=32MiB] [BUDGET=64MiB] [STORES="local s3"]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
clients=${1:-8}; files=${2:-4}; size=${3:-96}; part=${4:-32MiB}; budget=${5:-64MiB}; stores=${6:-local s3}
shared=${SHARED_BENCH:-$root/../shared/bench}
work=${WORK:-/tmp/registry-upload-memory}
port=${PORT:-18183}
rm -rf "$work"; mkdir -p "$work"
cargo build --release -q -p registry-server -p registry-client
srv=$root/target/release/registry-server
cli=$root/target/release/registry
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -d "$work/s3" ] && scripts/s3.sh stop "$work/s3" || true
}
trap cleanup EXIT

echo "generating $clients x $files x $size MiB of random files..." >&2
for c in $(seq 1 "$clients"); do
  mkdir -p "$work/models/$c"
  for f in $(seq 1 "$files"); do openssl rand -out "$work/models/$c/shard-$f.bin" $((size << 20)); done
done
total=$((clients * files * size))

metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
busy() { curl -sf "http://127.0.0.1:$port/metrics" | awk '/^registry_http_requests_total/ && /status="429"/ {n += $2} END {print n + 0}'; }

echo "| store | pushes ok | wall s | MiB/s | peak server RSS MiB | peak upload memory held MiB (budget) | 429s answered |"
echo "|---|---|---|---|---|---|---|"
for store in $stores; do
  extra=()
  if [ "$store" = s3 ]; then
    eval "$(scripts/s3.sh start "$work/s3" 8343)"
    extra=(--blobs-url "s3://models/upload-memory")
  fi
  rm -rf "$work/data"
  REGISTRY_LOG=warn "$srv" --listen 127.0.0.1:$port --data-dir "$work/data" --scrub-interval 0 \
    --upload-part-size "$part" --upload-memory-budget "$budget" "${extra[@]}" > "$work/server-$store.log" 2>&1 &
  spid=$!; pids+=($spid)
  until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
  export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token")
  # One config directory per store (each server has its own log key); the clients share it, as
  # parallel CI jobs on one runner do.
  export REGISTRY_CONFIG_DIR=$work/cfg-$store REGISTRY_RESUMABLE_MIN=1MiB
  "$shared/rss_sampler.sh" $spid "$work/rss.$store" 0.1 & rp=$!
  ( peak=0; while [ ! -e "$work/held.$store.stop" ]; do
      h=$(metric registry_upload_memory_held_bytes || echo 0); [ "${h:-0}" -gt "$peak" ] && peak=$h; sleep 0.1
    done; echo "$peak" > "$work/held.$store" ) & hp=$!
  t0=$(date +%s.%N); ok=0; cpids=()
  for c in $(seq 1 "$clients"); do
    "$cli" push "$work/models/$c" --model "bench/m$c" --version 1 > "$work/push-$store-$c.log" 2>&1 & cpids+=($!)
  done
  for p in "${cpids[@]}"; do wait "$p" && ok=$((ok + 1)); done
  t1=$(date +%s.%N)
  touch "$work/rss.$store.stop" "$work/held.$store.stop"; wait $rp $hp || true
  rss=$(( $(cut -d= -f2 "$work/rss.$store") / 1024 ))
  held=$(( $(cat "$work/held.$store") >> 20 ))
  printf '| %s | %d of %d | %.1f | %.1f | %d | %d (%s) | %s |\n' "$store" "$ok" "$clients" \
    "$(awk "BEGIN{print $t1-$t0}")" "$(awk "BEGIN{print $total/($t1-$t0)}")" "$rss" "$held" "$budget" "$(busy)"
  kill $spid; wait $spid 2>/dev/null || true
  if [ "$store" = s3 ]; then scripts/s3.sh stop "$work/s3"; fi
done
for f in "$work"/push-*.log; do grep -l -i "error" "$f" > /dev/null && { echo "--- $f"; tail -3 "$f"; }; done || true
