#!/usr/bin/env bash
# Scale of history (issue 22; outside CI): the same requests against a registry holding one model, then
# against the same registry grown to VERSIONS versions in MODELS models, LOG new log entries and MOVES
# alias moves (bench/history.py grow: rows copied from a real push and promotion, every log entry a
# real leaf of the Merkle tree). A copy of the registry before growing is kept, and the two are then
# measured side by side, alternating, ROUNDS times (default 3): p50/p99 of get-by-alias, create-version,
# list, inclusion proof and blast radius, with the generation time and the database's size.
# usage: DB=sqlite|postgres bench/history.sh [VERSIONS=1000000] [MODELS=1000] [LOG=10000000] [MOVES=100000] [N=300]
#   BIN=DIR: registry-server and registry from DIR (default: a release build of this tree).
#   WORK=DIR: where the data goes (default /tmp/registry-history; SQLite at 1M versions needs ~8 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
versions=${1:-1000000}; models=${2:-1000}; log=${3:-10000000}; moves=${4:-100000}; n=${5:-300}
db=${DB:-sqlite}; work=${WORK:-/tmp/registry-history}; port=18590
if [ -z "${BIN:-}" ]; then cargo build --release -q -p registry-server -p registry-client; fi
bin=${BIN:-${CARGO_TARGET_DIR:-$root/target}/release}
R=$bin/registry
rm -rf "$work"; mkdir -p "$work"; chmod 755 "$work"
spid=""
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null
  [ "$db" = postgres ] && scripts/pg.sh stop "$work/pg" > /dev/null 2>&1
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
dbargs=(); url="$work/data/registry.db"
if [ "$db" = postgres ]; then
  url=$(PG_DURABLE=1 scripts/pg.sh start "$work/pg" 55438); dbargs=(--database-url "$url")
fi
# start [DATA_DIR [DATABASE_URL]]: the grown registry by default.
start() {
  local dir=${1:-$work/data} args=("${dbargs[@]}")
  [ -n "${2:-}" ] && args=(--database-url "$2")
  "$bin/registry-server" --listen 127.0.0.1:$port --data-dir "$dir" "${args[@]}" >> "$work/server.log" 2>&1 &
  spid=$!
  until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
}
stop() { kill "$spid"; wait "$spid" 2>/dev/null || true; spid=""; }
start
export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/cfg
export REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token")
mkdir -p "$work/m"
for f in 1 2 3 4; do head -c 4096 /dev/urandom > "$work/m/shard-$f.bin"; done
$R push "$work/m" --model hist/seed --version 1 --dataset "s3://data/train.parquet=sha256:$(printf %064d 7)" > /dev/null
$R promote hist/seed@1 --to prod > /dev/null
$R push "$work/m" --model hist/seed --version 2 --dataset "s3://data/train.parquet=sha256:$(printf %064d 7)" > /dev/null

stop
# The registry as it is now, kept to measure beside the grown one.
cp -a "$work/data" "$work/empty-data"
empty_url=""
if [ "$db" = postgres ]; then
  empty_url=${url%/*}/registry_empty
  psql "$url" -qc "CREATE DATABASE registry_empty TEMPLATE ${url##*/}"
fi
t0=$(date +%s)
python3 bench/history.py grow "$url" "$versions" "$models" "$log" "$moves" "$work"
t1=$(date +%s)
size=$(du -sb "$work/data" ${dbargs:+"$work/pg"} | awk '{s += $1} END {printf "%.1f", s / 1e9}')

echo "history on $db: +$versions versions in $models models, +$log log entries, $moves alias moves;" \
  "generated in $((t1 - t0)) s, data $size GB; $n sequential requests per row (one keep-alive client)," \
  "empty and grown measured alternately"
echo "| round | request | empty p50 / p99 ms | grown p50 / p99 ms | p50 ratio | p99 ratio |"
echo "|---|---|---|---|---|---|"
for round in $(seq "${ROUNDS:-3}"); do
  start "$work/empty-data" "$empty_url"
  python3 bench/history.py measure "$REGISTRY_URL" "$REGISTRY_TOKEN" hist/seed "$n" > "$work/empty.txt"
  stop
  start
  python3 bench/history.py measure "$REGISTRY_URL" "$REGISTRY_TOKEN" hist/m00000 "$n" > "$work/grown.txt"
  stop
  paste -d' ' "$work/empty.txt" "$work/grown.txt" | while read -r kind e50 e99 _ g50 g99; do
    printf '| %s | %s | %s / %s | %s / %s | %s | %s |\n' "$round" "$kind" "$e50" "$e99" "$g50" "$g99" \
      "$(awk "BEGIN{printf \"%.2f\", $g50/$e50}")" "$(awk "BEGIN{printf \"%.2f\", $g99/$e99}")"
  done
done
