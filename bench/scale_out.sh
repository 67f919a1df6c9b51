#!/usr/bin/env bash
# Scale-out benchmarks, side by side in one run:
#   1. push/pull of a 2 GiB model of 8 random files with SeaweedFS S3 as the blob store, against boto3
#      put/get of the same 8 files to the same SeaweedFS (and ../shared/bench/s3_putget.sh on one file);
#   2. metadata throughput at 16 clients (wrk): one replica vs two replicas on one PostgreSQL and one
#      bucket — reads (get a version by alias) and writes (create versions, each a log append).
# usage: bench/scale_out.sh [WORKDIR]   (needs ~6 GiB free; builds release binaries; apt: wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=${SHARED_BENCH:-$root/../shared/bench}
work=${1:-/tmp/registry-scale-bench}
rm -rf "$work"; mkdir -p "$work"
secs=${SECS:-10}
command -v wrk > /dev/null || { apt-get install -y -qq wrk > /dev/null 2>&1 || { echo "needs wrk" >&2; exit 1; }; }

cargo build --release -q -p registry-server -p registry-client
srv=$root/target/release/registry-server
cli=$root/target/release/registry
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; scripts/s3.sh stop "$work/s3"; scripts/pg.sh stop "$work/pg"; }
trap cleanup EXIT

eval "$(scripts/s3.sh start "$work/s3" 8333)"
pg=$(scripts/pg.sh start "$work/pg" 55499)
python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q boto3 awscli

now() { date +%s.%N; }
mib=2048
rate() { awk "BEGIN{printf \"%7.1f MiB/s  (%5.2f s)\", $mib/($2-$1), $2-$1}"; }
row() { printf '| %-52s | %s |\n' "$1" "$2"; }

echo "generating 8 x 256 MiB random files..." >&2
mkdir -p "$work/model"
for i in 0 1 2 3 4 5 6 7; do openssl rand -out "$work/model/shard-$i.bin" $((256 * 1024 * 1024)); done
cat "$work/model"/* > /dev/null

echo "## 2 GiB / 8 files, SeaweedFS S3 store"
echo "| what | throughput |"
echo "|---|---|"
# boto3, same files, same SeaweedFS: sequential put_object, then upload_file (multipart, threads), get.
"$work/venv/bin/python" - "$work/model" <<'PY'
import boto3, os, sys, time, concurrent.futures as cf
from botocore.config import Config
d = sys.argv[1]; files = sorted(os.listdir(d)); mb = sum(os.path.getsize(f"{d}/{f}") for f in files) / 1048576
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], config=Config(s3={"addressing_style": "path"}))
def row(what, dt): print(f"| {what:52s} | {mb/dt:7.1f} MiB/s  ({dt:5.2f} s) |")
t = time.perf_counter()
for f in files:
    with open(f"{d}/{f}", "rb") as fh: s3.put_object(Bucket="models", Key=f"boto/{f}", Body=fh)
row("boto3 put_object x8 (sequential)", time.perf_counter() - t)
t = time.perf_counter()
with cf.ThreadPoolExecutor(4) as ex: list(ex.map(lambda f: s3.upload_file(f"{d}/{f}", "models", f"boto-mp/{f}"), files))
row("boto3 upload_file x8 (multipart, 4 files at once)", time.perf_counter() - t)
t = time.perf_counter()
for f in files: s3.get_object(Bucket="models", Key=f"boto/{f}")["Body"].read()
row("boto3 get_object x8 (sequential, to memory)", time.perf_counter() - t)
t = time.perf_counter()
with cf.ThreadPoolExecutor(4) as ex: list(ex.map(lambda f: s3.download_file("models", f"boto-mp/{f}", f"{d}/../dl-{f}"), files))
row("boto3 download_file x8 (4 at once, to disk)", time.perf_counter() - t)
PY
rm -f "$work"/dl-*

REGISTRY_LOG=warn "$srv" --listen 127.0.0.1:18191 --data-dir "$work/data" --database-url "$pg" \
  --blobs-url s3://models/registry --scrub-interval 0 > "$work/server.log" 2>&1 &
spid=$!; pids+=($spid)
until curl -sf http://127.0.0.1:18191/v1/health > /dev/null; do sleep 0.1; done
export REGISTRY_URL=http://127.0.0.1:18191 REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token") REGISTRY_CONFIG_DIR=$work/cfg
"$shared/rss_sampler.sh" $spid "$work/rss.push" 0.1 & rp=$!
t0=$(now); "$cli" push "$work/model" --model bench/model --version 1 > /dev/null 2>&1; t1=$(now)
touch "$work/rss.push.stop"; wait $rp || true
row "registry push (hash + upload + publish)" "$(rate "$t0" "$t1")"
push_rss=$(( $(cut -d= -f2 "$work/rss.push") / 1024 ))
"$shared/rss_sampler.sh" $spid "$work/rss.pull" 0.1 & rp=$!
t0=$(now); "$cli" pull bench/model@1 -o "$work/pulled" > /dev/null 2>&1; t1=$(now)
touch "$work/rss.pull.stop"; wait $rp || true
row "registry pull (through the server, verified)" "$(rate "$t0" "$t1")"
pull_rss=$(( $(cut -d= -f2 "$work/rss.pull") / 1024 ))
rm -rf "$work/pulled"
kill $spid; wait $spid 2>/dev/null || true
REGISTRY_LOG=warn "$srv" --listen 127.0.0.1:18191 --data-dir "$work/data" --database-url "$pg" \
  --blobs-url s3://models/registry --scrub-interval 0 --direct-downloads > "$work/server.log" 2>&1 &
spid=$!; pids+=($spid)
until curl -sf http://127.0.0.1:18191/v1/health > /dev/null; do sleep 0.1; done
t0=$(now); "$cli" pull bench/model@1 -o "$work/pulled" > /dev/null 2>&1; t1=$(now)
row "registry pull, --direct-downloads (presigned, verified)" "$(rate "$t0" "$t1")"
row "registry-server peak RSS during push / pull" "${push_rss} MiB / ${pull_rss} MiB"
rm -rf "$work/pulled"
echo
echo "s3_putget.sh on one 256 MiB shard (same SeaweedFS):" >&2
AWSVENV=$work/venv PEERS=$work "$shared/s3_putget.sh" "$AWS_ENDPOINT" "$work/model/shard-0.bin" models 2>&1 | sed 's/^/    /' >&2 || true
rm -rf "$work/model"

# --- metadata at 16 clients: one replica vs two ---
mkdir -p "$work/m"; echo weights > "$work/m/w.bin"
"$cli" push "$work/m" --model bench/meta --version 1 > /dev/null 2>&1
"$cli" promote bench/meta@1 --to production > /dev/null
wd=$(openssl dgst -sha256 -r "$work/m/w.bin" | cut -d' ' -f1)
cat > "$work/put.lua" <<LUA
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $REGISTRY_TOKEN"
wrk.body = '{"manifest":{"mediaType":"application/vnd.registry.manifest.v1+json","files":[{"path":"w.bin","size":8,"digest":"sha256:$wd"}]}}'
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, string.format("/v1/models/bench/meta/versions/w%d-%d-%d", math.random(1, 1e9), n, math.random(1, 1e9)))
end
LUA
REGISTRY_LOG=warn "$srv" --listen 127.0.0.1:18192 --data-dir "$work/data2" --database-url "$pg" \
  --blobs-url s3://models/registry --scrub-interval 0 --log-key-file "$work/data/log-signing.key" \
  --attestation-key-file "$work/data/attestation-signing.key" --webhook-key-file "$work/data/webhook.key" \
  > "$work/server2.log" 2>&1 &
pids+=($!)
until curl -sf http://127.0.0.1:18192/v1/health > /dev/null; do sleep 0.1; done
wrk_rps() { wrk -t"$1" -c"$2" -d"${secs}s" "${@:3}" | awk '/Requests\/sec/{print $2}'; }
alias_url=/v1/models/bench/meta/versions/production
auth=(-H "Authorization: Bearer $REGISTRY_TOKEN")
echo "## metadata at 16 clients, PostgreSQL + S3"
echo "| request | 1 replica req/s | 2 replicas req/s |"
echo "|---|---|---|"
one=$(wrk_rps 2 16 "${auth[@]}" "http://127.0.0.1:18191$alias_url")
a=$(wrk_rps 1 8 "${auth[@]}" "http://127.0.0.1:18191$alias_url" & wrk_rps 1 8 "${auth[@]}" "http://127.0.0.1:18192$alias_url" & wait)
two=$(echo "$a" | awk '{s+=$1} END{print s}')
printf '| %-40s | %10s | %10s |\n' "get-by-alias (read)" "$one" "$two"
one=$(wrk_rps 2 16 -s "$work/put.lua" "http://127.0.0.1:18191")
a=$(wrk_rps 1 8 -s "$work/put.lua" "http://127.0.0.1:18191" & wrk_rps 1 8 -s "$work/put.lua" "http://127.0.0.1:18192" & wait)
two=$(echo "$a" | awk '{s+=$1} END{print s}')
printf '| %-40s | %10s | %10s |\n' "create version (write + log append)" "$one" "$two"
n=$(psql "$pg" -Atc "SELECT COUNT(*) FROM versions" 2>/dev/null || echo '?')
echo "versions created: $n; log verified by: registry log verify" >&2
"$cli" log verify >&2 || echo "LOG DID NOT VERIFY" >&2
