#!/usr/bin/env bash
# Database reads the webhook worker makes per change (issue 21): on PostgreSQL (scripts/pg.sh, a private
# cluster), 3 subscriptions (`version.created`) to the receivers of bench/webhook_receiver.py, then
# CHANGES versions created by 8 concurrent curl PUTs; once every event has arrived (and 1.5 s for the
# statistics to flush), the scans of `log_entries` counted by pg_stat_user_tables, per creation. Version
# creation itself does not read `log_entries`; the polls (every 200 ms per subscription) are included.
# usage: bench/events_log_reads.sh [CHANGES=200] [RUNS=3]; BUILDS="DIR_A DIR_B" compares release bin dirs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-200}; runs=${2:-3}
[ -n "${BUILDS:-}" ] || cargo build --release -q -p registry-server -p registry-client
builds=${BUILDS:-$root/target/release}
work=$(mktemp -d); chmod 755 "$work"; port=18601; rports=(18597 18598 18599)
spid=""; rpid=""
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null; [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
  scripts/pg.sh stop "$work/pg" > /dev/null 2>&1; rm -rf "$work"
}
trap cleanup EXIT
base=$(scripts/pg.sh start "$work/pg" 55447)
python3 bench/webhook_receiver.py "${rports[@]}" > "$work/recv.out" 2>&1 &
rpid=$!
until grep -q ready "$work/recv.out"; do sleep 0.05; done
mkdir -p "$work/m"; for f in 1 2; do head -c 4096 /dev/urandom > "$work/m/f$f"; done
scans() { psql "$1" -tAc "SELECT idx_scan + seq_scan FROM pg_stat_user_tables WHERE relname = 'log_entries'"; }

echo "| run | build | log_entries scans during $n creations, 3 subscribers | per creation |"
echo "|---|---|---|---|"
for r in $(seq "$runs"); do
for bin in $builds; do
  db="reads_${r}_$RANDOM"; psql "$base" -qc "CREATE DATABASE $db"; url="${base%/*}/$db"
  curl -sf "http://127.0.0.1:${rports[0]}/reset" > /dev/null
  rm -rf "$work/data" "$work/cfg"
  REGISTRY_LOG=warn "$bin/registry-server" --listen 127.0.0.1:$port --data-dir "$work/data" --database-url "$url" \
    --webhooks-allow-private > "$work/server.log" 2>&1 &
  spid=$!
  until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
  export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/cfg
  REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token"); export REGISTRY_TOKEN
  for p in "${rports[@]}"; do
    "$bin/registry" webhook add --url "http://127.0.0.1:$p/hook" --namespace '*' --events version.created > /dev/null
  done
  "$bin/registry" push "$work/m" --model bench/d --version seed > /dev/null 2>&1
  curl -sf -H "Authorization: Bearer $REGISTRY_TOKEN" "http://127.0.0.1:$port/v1/models/bench/d/versions/seed/manifest" \
    | python3 -c 'import json,sys; json.dump({"manifest": json.load(sys.stdin)}, open(sys.argv[1], "w"))' "$work/body.json"
  sleep 1.5
  s0=$(scans "$url")
  seq "$n" | xargs -P 8 -I{} curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $REGISTRY_TOKEN" \
    -H 'Content-Type: application/json' --data @"$work/body.json" "http://127.0.0.1:$port/v1/models/bench/d/versions/v{}"
  want="[$((n + 1)), $((n + 1)), $((n + 1))]"
  until [ "$(curl -sf "http://127.0.0.1:${rports[0]}/count")" = "$want" ]; do sleep 0.1; done
  sleep 1.5
  s1=$(scans "$url")
  kill "$spid"; wait "$spid" 2>/dev/null || true; spid=""
  echo "| $r | $bin | $((s1 - s0)) | $(awk "BEGIN{printf \"%.2f\", ($s1 - $s0) / $n}") |"
done
done
