#!/usr/bin/env bash
# Disk flushes a pull costs the server (issue 22, many files): a model of FILES files (1 KiB-1 MiB,
# log-uniform, fixed seed; the same generator as bench/many_files.sh) pushed to a fresh registry on
# embedded defaults (scrubber off), then `registry pull` (--jobs 4, the default) while strace counts the
# server's fsync/fdatasync calls. Every download writes its access-audit record before a byte leaves;
# the count shows how many commits those records cost. Also: the pull's wall time, and the group-commit
# counters from /metrics (batches / grouped writes, push and pull together).
# usage: bench/pull_fsyncs.sh [FILES=2000] [RUNS=3]; BUILDS="DIR_A DIR_B" compares release bin dirs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
files=${1:-2000}; runs=${2:-3}
command -v strace > /dev/null || { echo "needs strace (apt-get install strace)" >&2; exit 1; }
[ -n "${BUILDS:-}" ] || cargo build --release -q -p registry-server -p registry-client
builds=${BUILDS:-$root/target/release}
work=$(mktemp -d); port=18191; spid=""
trap '[ -n "$spid" ] && kill $spid 2>/dev/null; rm -rf "$work"' EXIT
python3 bench/many_files_model.py "$work/model" "$files"
echo "| run | build | server fsync calls during the pull | pull s | group commits: batches / writes |"
echo "|---|---|---|---|---|"
for r in $(seq "$runs"); do
for bin in $builds; do
  rm -rf "$work/data" "$work/cfg" "$work/pulled"
  REGISTRY_LOG=warn "$bin/registry-server" --listen 127.0.0.1:$port --data-dir "$work/data" --scrub-interval 0 \
    > "$work/server.log" 2>&1 &
  spid=$!
  until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
  export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/cfg
  REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token"); export REGISTRY_TOKEN
  "$bin/registry" push "$work/model" --model bench/many --version 1 > /dev/null 2>&1
  sync
  strace -f -c -o "$work/strace.out" -e trace=fsync,fdatasync -p "$spid" 2> /dev/null & tp=$!
  sleep 0.5
  t0=$(date +%s.%N); "$bin/registry" pull bench/many@1 -o "$work/pulled" > /dev/null 2>&1; t1=$(date +%s.%N)
  sleep 0.2; kill -INT $tp; wait $tp 2> /dev/null || true
  calls=$(awk '$NF == "total" {print $4}' "$work/strace.out")
  group=$(curl -s -H "Authorization: Bearer $REGISTRY_TOKEN" "http://127.0.0.1:$port/metrics" \
    | awk '/^registry_db_group_commits_total/ {b=$2} /^registry_db_grouped_writes_total/ {w=$2} END {print b " / " w}')
  kill "$spid"; wait "$spid" 2>/dev/null || true; spid=""
  echo "| $r | $bin | $calls | $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") | $group |"
done
done
