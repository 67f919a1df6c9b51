#!/usr/bin/env bash
# A model of many small files (issue 22): FILES files (default 10,000) of 1 KiB to 1 MiB (log-uniform,
# fixed seed: ~1.4 GiB), in 100 directories. Side by side in one run, RUNS rounds:
#   cp -r + sync of the tree (the bound the issue sets: push and pull each >= 50 % of its throughput),
#   registry push (hash + blobs:check batches + uploads + publish) to a fresh registry on embedded
#   defaults, registry pull (download + verify + write) into a fresh directory, both timed to the end of
#   a `sync` so the registry's bytes are on disk as cp's are. Peak server RSS is sampled during both.
# usage: bench/many_files.sh [FILES=10000] [RUNS=3] [WORKDIR=/tmp/registry-many]
#   BUILDS="DIR_A DIR_B": each round runs the registry rows once per bin dir (release registry-server and
#   registry), to compare two builds in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
files=${1:-10000}; runs=${2:-3}; work=${3:-/tmp/registry-many}
shared=${SHARED_BENCH:-$root/../shared/bench}
port=18187
rm -rf "$work"; mkdir -p "$work"
[ -n "${BUILDS:-}" ] || cargo build --release -q -p registry-server -p registry-client
builds=${BUILDS:-$root/target/release}
spid=""
trap '[ -n "$spid" ] && kill $spid 2>/dev/null; rm -rf "$work"' EXIT

python3 bench/many_files_model.py "$work/model" "$files"
bytes=$(du -sb "$work/model" | cut -f1)
mib=$(awk "BEGIN{printf \"%.0f\", $bytes/1048576}")
cat "$work/model"/*/* > /dev/null   # warm the page cache, as for every row
now() { date +%s.%N; }
rate() { awk "BEGIN{printf \"%.1f\", $mib/($2-$1)}"; }
secs() { awk "BEGIN{printf \"%.2f\", $2-$1}"; }

echo "many files: $files files, $mib MiB (1 KiB-1 MiB log-uniform), $runs rounds"
echo "| round | build | cp -r + sync MiB/s (s) | push MiB/s (s) | push / cp | pull MiB/s (s) | pull / cp | server peak RSS push / pull MiB |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq "$runs"); do
for bin in $builds; do
  srv=$bin/registry-server; cli=$bin/registry
  sync
  t0=$(now); cp -r "$work/model" "$work/copy"; sync; t1=$(now); rm -rf "$work/copy"; sync
  cp_rate=$(rate "$t0" "$t1"); cp_s=$(secs "$t0" "$t1")

  rm -rf "$work/data" "$work/cfg" "$work/pulled"
  REGISTRY_LOG=warn "$srv" --listen 127.0.0.1:$port --data-dir "$work/data" > "$work/server.log" 2>&1 &
  spid=$!
  until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
  export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/cfg
  REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token"); export REGISTRY_TOKEN

  rm -f "$work"/rss.*
  "$shared/rss_sampler.sh" $spid "$work/rss.push" 0.1 & rp=$!
  t0=$(now); "$cli" push "$work/model" --model bench/many --version 1 > "$work/push.log" 2>&1; sync; t1=$(now)
  touch "$work/rss.push.stop"; wait $rp || true
  push_rate=$(rate "$t0" "$t1"); push_s=$(secs "$t0" "$t1")

  "$shared/rss_sampler.sh" $spid "$work/rss.pull" 0.1 & rp=$!
  t0=$(now); "$cli" pull bench/many@1 -o "$work/pulled" > "$work/pull.log" 2>&1; sync; t1=$(now)
  touch "$work/rss.pull.stop"; wait $rp || true
  pull_rate=$(rate "$t0" "$t1"); pull_s=$(secs "$t0" "$t1")
  got=$(find "$work/pulled" -type f | wc -l)
  [ "$got" -eq "$files" ] || { echo "pulled $got files, expected $files" >&2; exit 1; }
  push_rss=$(( $(cut -d= -f2 "$work/rss.push") / 1024 )); pull_rss=$(( $(cut -d= -f2 "$work/rss.pull") / 1024 ))
  kill $spid; wait $spid 2>/dev/null || true; spid=""
  echo "| $r | $bin | $cp_rate ($cp_s) | $push_rate ($push_s) | $(awk "BEGIN{printf \"%.2f\", $push_rate/$cp_rate}") | $pull_rate ($pull_s) | $(awk "BEGIN{printf \"%.2f\", $pull_rate/$cp_rate}") | $push_rss / $pull_rss |"
done
done
