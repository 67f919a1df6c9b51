#!/usr/bin/env bash
# The write path (issue 22): creating versions at 8 concurrent clients, side by side with MLflow's
# create-model-version, both driven by wrk (-t2 -c8 keep-alive), RUNS rounds alternating ours / MLflow's.
#  - ours: PUT /v1/models/bench/detector/versions/<new label> with one manifest (4 files, blobs stored
#    once before), a lineage with one dataset and metrics; every request a new label (wrk Lua: thread
#    id + counter). Each creation checks its blobs, writes the version, appends a log entry and commits
#    (fsync) before answering 201.
#  - MLflow 3 (1 worker, SQLite; ../shared/bench/start_mlflow.sh): POST model-versions/create of one
#    registered model (a new version number per request), the same body every time.
# DB=postgres runs ours on PostgreSQL (scripts/pg.sh, a private cluster) instead of SQLite; SERVER=PATH runs
# that registry-server binary instead of this tree's release build (to compare two builds in one run).
# usage: bench/create_version.sh [SECONDS=10] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-10}; runs=${2:-3}; db=${DB:-sqlite}
shared=$root/../shared/bench
export PEERS=${PEERS:-/tmp/registry-peers}
command -v wrk > /dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$PEERS/venv-mlflow/bin/mlflow" ] || { python3 -m venv "$PEERS/venv-mlflow" && "$PEERS/venv-mlflow/bin/pip" install -q mlflow httpx; }
cargo build --release -q -p registry-server -p registry-client
bin=${CARGO_TARGET_DIR:-$root/target}/release
R=$bin/registry
work=$(mktemp -d); port=18586; mlport=5003
spid=""; mlpid=""; pgdir=""
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null
  [ -n "$mlpid" ] && bash "$shared/stop_pidtree.sh" "$mlpid" > /dev/null 2>&1
  if [ "$db" = postgres ]; then scripts/pg.sh stop "$pgdir" > /dev/null 2>&1; rm -rf "$pgdir"; fi
  rm -rf "$work"
}
trap cleanup EXIT

dbargs=()
if [ "$db" = postgres ]; then
  # Durable (fsync and synchronous commit on), as our SQLite runs; outside $work, whose 0700 the
  # postgres user could not enter.
  pgdir=$(mktemp -d); chmod 755 "$pgdir"
  dbargs=(--database-url "$(PG_DURABLE=1 scripts/pg.sh start "$pgdir" 55439)")
fi
"${SERVER:-$bin/registry-server}" --listen 127.0.0.1:$port --data-dir "$work/data" "${dbargs[@]}" > "$work/server.log" 2>&1 &
spid=$!
until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/cfg
export REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token")
pusher=$($R --json token create --name bench-pusher --scopes read,push --namespace 'bench/*' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# One model directory pushed once: its blobs are stored, its manifest is what every request names.
mkdir -p "$work/m"
for f in 1 2 3 4; do head -c 65536 /dev/urandom > "$work/m/shard-$f.bin"; done
echo '{"arch": "gbdt"}' > "$work/m/config.json"
$R push "$work/m" --model bench/detector --version seed --dataset "s3://data/train.parquet=sha256:$(printf %064d 7)" \
  --metric auc=0.93 > /dev/null
curl -sf -H "Authorization: Bearer $pusher" "http://127.0.0.1:$port/v1/models/bench/detector/versions/seed/manifest" > "$work/manifest.json"
python3 - "$work/manifest.json" "$work/body.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
body = {"manifest": m, "lineage": {"datasets": [{"uri": "s3://data/train.parquet", "digest": "sha256:" + "0" * 63 + "7",
        "role": "train"}], "metrics": {"auc": 0.93}, "params": {"depth": 8}}}
json.dump(body, open(sys.argv[2], "w"))
PY
cat > "$work/create.lua" <<LUA
local counter = 0; round = 1
local body = io.open("$work/body.json"):read("*a")
local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function init(args) wrk.method = "PUT"; wrk.body = body
  wrk.headers["Content-Type"] = "application/json"; wrk.headers["Authorization"] = "Bearer $pusher" end
function request() counter = counter + 1
  return wrk.format(nil, string.format("/v1/models/bench/detector/versions/r%d-t%d-%d", round, id, counter)) end
function response(status) if status ~= 201 then print("status " .. status) end end
LUA

mkdir -p "$work/peers"; ln -s "$PEERS/venv-mlflow" "$work/peers/venv-mlflow"
PEERS=$work/peers bash "$shared/start_mlflow.sh" $mlport 1 > "$work/mlflow.start" 2>&1
mlpid=$(cat "$work/peers/mlflow/server.pid")
API=http://127.0.0.1:$mlport/api/2.0/mlflow
curl -sf -H "Content-Type: application/json" -X POST "$API/registered-models/create" -d '{"name": "bench-detector"}' > /dev/null
exp=$(curl -sf -H "Content-Type: application/json" -X POST "$API/experiments/create" -d "{\"name\": \"bench-$$\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["experiment_id"])')
run=$(curl -sf -H "Content-Type: application/json" -X POST "$API/runs/create" -d "{\"experiment_id\": \"$exp\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["info"]["run_id"])')
cat > "$work/mlflow.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name": "bench-detector", "source": "mlflow-artifacts:/$exp/$run/artifacts/model", "run_id": "$run", "tags": [{"key": "sha256", "value": "$(printf 'ab%.0s' $(seq 32))"}]}'
function response(status) if status ~= 200 then print("status " .. status) end end
LUA

wrk_run() { # LUA URL -> "rps p50_ms p99_ms non2xx"
  wrk -t2 -c8 -d"${secs}s" --latency -s "$1" "$2" > "$work/wrk.out"
  python3 - "$work/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
ms = lambda s: float(s[:-2]) if s.endswith("ms") else float(s[:-2]) / 1000 if s.endswith("us") else float(s[:-1]) * 1000
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"\n\s+50%\s+(\S+)", t).group(1)); p99 = ms(re.search(r"\n\s+99%\s+(\S+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t); bad = int(bad.group(1)) if bad else 0
bad += len(re.findall(r"^status ", t, re.M))
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {bad}")
PY
}

declare -a ours theirs
for i in $(seq "$runs"); do
  sed -i "s/^local counter = 0.*/local counter = 0; round = $i/" "$work/create.lua"
  ours[$i]=$(wrk_run "$work/create.lua" "http://127.0.0.1:$port")
  theirs[$i]=$(wrk_run "$work/mlflow.lua" "$API/model-versions/create")
done
n=$(curl -sf -H "Authorization: Bearer $pusher" "http://127.0.0.1:$port/v1/models/bench/detector" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version_count"])')
echo "create version, wrk -t2 -c8 keep-alive, ${secs} s per round, rounds alternating; ours on $db ($n versions created in all)"
echo "| row |$(for i in $(seq "$runs"); do printf ' run %d |' "$i"; done)"
echo "|---|$(for i in $(seq "$runs"); do printf -- '---|'; done)"
printf '| ours req/s |'; for i in $(seq "$runs"); do printf ' %s |' "$(echo "${ours[$i]}" | cut -d' ' -f1)"; done; echo
printf '| ours p50 / p99 ms |'; for i in $(seq "$runs"); do printf ' %s / %s |' $(echo "${ours[$i]}" | cut -d' ' -f2,3); done; echo
printf '| MLflow req/s |'; for i in $(seq "$runs"); do printf ' %s |' "$(echo "${theirs[$i]}" | cut -d' ' -f1)"; done; echo
printf '| MLflow p50 / p99 ms |'; for i in $(seq "$runs"); do printf ' %s / %s |' $(echo "${theirs[$i]}" | cut -d' ' -f2,3); done; echo
printf '| errors ours / MLflow |'; for i in $(seq "$runs"); do printf ' %s / %s |' "$(echo "${ours[$i]}" | cut -d' ' -f4)" "$(echo "${theirs[$i]}" | cut -d' ' -f4)"; done; echo
printf '| **ratio** |'; for i in $(seq "$runs"); do python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f' **{a/b:.1f}×** |', end='')" "$(echo "${ours[$i]}" | cut -d' ' -f1)" "$(echo "${theirs[$i]}" | cut -d' ' -f1)"; done; echo
