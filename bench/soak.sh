#!/usr/bin/env bash
# Soak: mixed traffic from several clients for a few minutes against a release server on embedded
# defaults; prints errors (must be 0), latency percentiles, and server RSS sampled every 10 s.
# usage: bench/soak.sh [SECONDS=180] [CLIENTS=8]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-180}; clients=${2:-8}
cargo build --release -q -p registry-server -p registry-e2e --bin soak
work=$(mktemp -d); port=18383
target/release/registry-server --listen 127.0.0.1:$port --data-dir "$work/data" > "$work/server.log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
( while kill -0 $spid 2>/dev/null; do awk '/^VmRSS/{print $2}' /proc/$spid/status; sleep 10; done ) > "$work/rss" 2>/dev/null &
rss=$!
REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token") target/release/soak "http://127.0.0.1:$port" "$secs" "$clients"
kill $rss 2>/dev/null || true
echo
echo "server RSS (MiB) every 10 s: $(awk '{printf "%d ", $1/1024}' "$work/rss")"
echo "server error lines: $(grep -c ERROR "$work/server.log" || true)"
