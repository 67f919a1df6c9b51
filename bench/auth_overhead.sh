#!/usr/bin/env bash
# Cost of authentication on the hottest reads (get a version by label, and by alias): wrk, 2 threads, 8 connections,
# 10 s each, against a release server on embedded defaults started with --anonymous-read, first with no
# credential (anonymous reader: no token lookup) and then with an API token (lookup + constant-time hash).
# usage: bench/auth_overhead.sh [SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk > /dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p registry-server -p registry-client
work=$(mktemp -d); port=18484
target/release/registry-server --listen 127.0.0.1:$port --data-dir "$work/data" --anonymous-read > "$work/log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token") REGISTRY_CONFIG_DIR=$work/cfg
mkdir -p "$work/m"; echo weights > "$work/m/w.bin"
target/release/registry push "$work/m" --model bench/model --version 1.0.0 > /dev/null 2>&1
target/release/registry promote bench/model@1.0.0 --to production > /dev/null
url="http://127.0.0.1:$port/v1/models/bench/model/versions/1.0.0"
row() { printf '| %-52s | %10s | %8s | %8s |\n' "$1" "$2" "$3" "$4"; }
run() {
  out=$(wrk -t2 -c8 -d"${secs}s" --latency "$@" "$url")
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  p50=$(echo "$out" | awk '$1=="50%"{print $2}'); p99=$(echo "$out" | awk '$1=="99%"{print $2}')
  echo "$rps $p50 $p99"
}
echo "| request | req/s | p50 | p99 |"
echo "|---|---|---|---|"
read -r a b c < <(run); row "get-by-version, anonymous (no token check)" "$a" "$b" "$c"
read -r a b c < <(run -H "Authorization: Bearer $REGISTRY_TOKEN"); row "get-by-version, API token (lookup + SHA-256 + ct-eq)" "$a" "$b" "$c"
url="http://127.0.0.1:$port/v1/models/bench/model/versions/production"
read -r a b c < <(run); row "get-by-alias, anonymous (no token check)" "$a" "$b" "$c"
read -r a b c < <(run -H "Authorization: Bearer $REGISTRY_TOKEN"); row "get-by-alias, API token" "$a" "$b" "$c"
