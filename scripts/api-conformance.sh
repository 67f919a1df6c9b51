#!/usr/bin/env bash
# API conformance gate: schemathesis, every check, against a live registry-server seeded with one
# model (so generated requests reach real data), using ci/schemathesis.toml. Exit 0 only with 0 failures.
#   scripts/api-conformance.sh [SERVER_BIN] [CLIENT_BIN]   (default: debug builds)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
server=${1:-$root/target/debug/registry-server}
client=${2:-$root/target/debug/registry}
[ -x "$server" ] && [ -x "$client" ] || cargo build -q -p registry-server -p registry-client
bin=$(scripts/venv.sh)
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$server" --listen "127.0.0.1:$port" --data-dir "$work/data" > "$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null && break; sleep 0.1; done
# The first start wrote a bootstrap admin token; schemathesis sends it (and its ignored_auth check
# also tries every operation without it).
token=$(cat "$work/data/bootstrap-admin.token")
export REGISTRY_TOKEN=$token REGISTRY_CONFIG_DIR=$work/config

# Seed: the examples in the OpenAPI document name fraud/detector@1.4.0 and the blob of "hello".
mkdir -p "$work/model"; printf hello > "$work/model/weights.bin"; printf '{}' > "$work/model/config.json"
"$client" --registry "http://127.0.0.1:$port" push "$work/model" --model fraud/detector --version 1.4.0 \
  --metric auc=0.93 > /dev/null

"$bin/schemathesis" --config-file ci/schemathesis.toml run "http://127.0.0.1:$port/v1/openapi.json" \
  --no-color --seed "${SCHEMATHESIS_SEED:-$RANDOM}" --max-failures 20 -H "Authorization: Bearer $token"
if grep -E "panicked|internal error" "$work/server.log"; then
  echo "server log shows a panic or internal error" >&2
  exit 1
fi
