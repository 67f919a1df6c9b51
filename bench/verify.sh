#!/usr/bin/env bash
# Verification cost (issue 3), in one run:
#   1. `registry verify --dir` of a 2 GiB / 8-file model (both cores) vs single-core `openssl dgst -sha256`
#      of the same files;
#   2. the time to verify 100 attestations on one version (`registry verify --trusted-key`: list, fetch
#      each exact bytes, check signature, statement and binding locally).
# usage: bench/verify.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${1:-/tmp/registry-verify-bench}
rm -rf "$work"; mkdir -p "$work/model"
cargo build --release -q -p registry-server -p registry-client
srv=$root/target/release/registry-server; cli=$root/target/release/registry
now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.2f\", $2-$1}"; }
for i in 0 1 2 3 4 5 6 7; do openssl rand -out "$work/model/shard-$i.bin" $((256 * 1024 * 1024)); done
cat "$work/model"/* > /dev/null
port=18585
"$srv" --listen 127.0.0.1:$port --data-dir "$work/data" > "$work/log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token") REGISTRY_CONFIG_DIR=$work/cfg
cd "$work"
"$cli" keygen --out k > /dev/null 2>&1
"$cli" keys add --namespace 'bench/*' --public-key k.pub > /dev/null
"$cli" push model --model bench/big --version 1 --sign-key k.key > /dev/null 2>&1

echo "| what | time | throughput |"
echo "|---|---|---|"
t0=$(now); openssl dgst -sha256 model/* > /dev/null; t1=$(now)
echo "| openssl dgst -sha256, 2 GiB, 1 core | $(secs "$t0" "$t1") s | $(awk "BEGIN{printf \"%.0f MiB/s\", 2048/($t1-$t0)}") |"
t0=$(now); "$cli" verify bench/big@1 --dir model --trusted-key k.pub > /dev/null; t1=$(now)
echo "| registry verify --dir --trusted-key, 2 GiB, 2 cores | $(secs "$t0" "$t1") s | $(awk "BEGIN{printf \"%.0f MiB/s\", 2048/($t1-$t0)}") |"

# 100 attestations on one small version: the 2 made by push + 98 evaluations.
mkdir -p small; echo w > small/w.bin
"$cli" push small --model bench/small --version 1 --sign-key k.key > /dev/null 2>&1
echo '{"auc": 0.9}' > eval.json
for i in $(seq 98); do
  "$cli" attest bench/small@1 --predicate-type "https://example.com/eval/v$i" --predicate eval.json --sign-key k.key > /dev/null
done
n=$("$cli" --json attestations bench/small@1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
t0=$(now); "$cli" verify bench/small@1 --trusted-key k.pub > /dev/null; t1=$(now)
echo "| registry verify --trusted-key, $n attestations | $(secs "$t0" "$t1") s | $(awk "BEGIN{printf \"%.1f ms each\", 1000*($t1-$t0)/$n}") |"
