#!/usr/bin/env bash
# Mean time to detect silent tampering with the scrubber on its default schedule (a pass, then 60 s of
# rest; 64 MiB/s). Release server on embedded defaults, a 256 MiB model of 4 files pushed; then, for
# each trial, one stored blob is overwritten in place (same length, one byte flipped) at a given delay
# after a pass ended, and the version record is polled every 0.2 s until it says `corrupted`.
# usage: bench/scrub_mttd.sh [DELAYS_AFTER_PASS="0 30"]
set -euo pipefail
cd "$(dirname "$0")/.."
delays=${1:-"0 30"}
cargo build --release -q -p registry-server -p registry-client
R=target/release/registry
work=$(mktemp -d); port=18686
target/release/registry-server --listen 127.0.0.1:$port --data-dir "$work/data" > "$work/server.log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/cfg REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token")
echo "| trial | tampered | delay after a pass | detected after |"
echo "|---|---|---|---|"
t=0
for delay in $delays; do
  t=$((t + 1))
  mkdir -p "$work/m$t"
  for i in 1 2 3 4; do head -c 67108864 /dev/urandom > "$work/m$t/part$i.bin"; done
  $R push "$work/m$t" --model bench/scrub --version "$t" > /dev/null 2>&1
  victim=$(sha256sum "$work/m$t/part3.bin" | cut -c1-64)
  # Wait for a pass that saw this version's blobs to end, then the delay.
  passes=$(grep -c "scrub pass done" "$work/server.log" || true)
  until [ "$(grep -c "scrub pass done" "$work/server.log" || true)" -gt "$((passes + 1))" ]; do sleep 0.2; done
  sleep "$delay"
  python3 - "$work/data/blobs/sha256/$victim" <<'PY'
import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(12345); b = f.read(1); f.seek(12345); f.write(bytes([b[0] ^ 1]))
PY
  t0=$(date +%s.%N)
  until $R show "bench/scrub@$t" --json | grep -q '"corrupted": true'; do sleep 0.2; done
  t1=$(date +%s.%N)
  echo "| $t | 1 of 4 × 64 MiB blobs | ${delay} s | $(python3 -c "print(f'{$t1-$t0:.1f} s')") |"
done
