#!/usr/bin/env bash
# Promotion latency and get-by-alias throughput, side by side with MLflow's get-by-alias in one run.
#  1. A release registry-server on embedded defaults (SQLite + local dir). Two versions pushed with
#     --sign-key (SLSA provenance + OMS signature), each given 18 more signed attestations (20 in all).
#     A realistic policy set for fraud/detector@production: docs/policies/{provenance,metrics,
#     not-quarantined,separation-of-duties}.rego, attached to four pattern pairs that all match (the
#     promoter is a promote-only token).
#  2. Promotion latency: N sequential promotions alternating between the two versions (each evaluates four
#     policies over 20 attestations, signs a VSA, appends two log entries), client-side p50/p99.
#  3. get-by-alias: GET /v1/models/fraud/detector/versions/production with an API token, wrk -t2 -c8.
#  4. MLflow 3 (1 worker, SQLite; ../shared/bench/start_mlflow.sh) get-by-alias with its own 8-client
#     closed-loop generator (../shared/bench/mlflow_load.py), same duration.
# usage: bench/promote.sh [SECONDS=10] [PROMOTIONS=200]
#   BUILDS="DIR_A DIR_B" [RUNS=3]: promotion latency only, for each bin dir (release registry-server and
#   registry) in turn, RUNS rounds: two builds compared in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-10}; n=${2:-200}
shared=$root/../shared/bench
export PEERS=${PEERS:-/tmp/registry-peers}
command -v wrk > /dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
R=$root/target/release/registry
work=$(mktemp -d); port=18585
spid=""; mlpid=""
trap '[ -n "$spid" ] && kill $spid 2>/dev/null; [ -n "$mlpid" ] && bash "$shared/stop_pidtree.sh" "$mlpid" > /dev/null 2>&1; rm -rf "$work"' EXIT
export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/cfg

# A fresh registry from bin dir $1 (registry-server and registry), set up: key, trust, two signed versions
# with 20 attestations each, four policies; then $n promotions. Leaves the server running ($spid) and
# sets pp50 pp99 pbad natt npol promoter.
promotion_run() {
  local bin=$1
  [ -n "$spid" ] && { kill $spid; wait $spid 2>/dev/null || true; }
  rm -rf "$work/data" "$work/cfg" "$work"/train.*
  REGISTRY_LOG=${REGISTRY_LOG:-warn} "$bin/registry-server" --listen 127.0.0.1:$port --data-dir "$work/data" > "$work/server.log" 2>&1 &
  spid=$!
  until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
  export REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token")
  local R=$bin/registry
  $R keygen --out "$work/train" > /dev/null 2>&1
  $R keys add --namespace 'fraud/*' --public-key "$work/train.pub" > /dev/null
  for v in 1 2; do
    mkdir -p "$work/m$v"; head -c 1048576 /dev/urandom > "$work/m$v/weights.bin"; echo "{\"v\": $v}" > "$work/m$v/config.json"
    $R push "$work/m$v" --model fraud/detector --version $v --sign-key "$work/train.key" --metric auc=0.9$v \
      --dataset "s3://data/fraud-$v.parquet=sha256:$(printf %064d $v)" > /dev/null 2>&1
    for i in $(seq 18); do
      echo "{\"suite\": \"holdout-$i\", \"auc\": 0.95, \"passed\": true}" > "$work/eval.json"
      $R attest fraud/detector@$v --predicate-type "https://in-toto.io/attestation/test-result/v0.1" \
        --predicate "$work/eval.json" --sign-key "$work/train.key" > /dev/null
    done
  done
  # Policies are per (namespace pattern, alias pattern) pair; four pairs that all cover fraud/detector@production.
  $R policy set 'fraud/*' production docs/policies/provenance.rego > /dev/null
  $R policy set 'fraud/detector' production docs/policies/metrics.rego > /dev/null
  $R policy set '*' production docs/policies/not-quarantined.rego > /dev/null
  $R policy set 'fraud/*' 'prod*' docs/policies/separation-of-duties.rego > /dev/null
  promoter=$($R token create --name releaser --scopes read,promote --namespace 'fraud/*' --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  # Promotion latency (keep-alive connection, sequential).
  python3 - "$port" "$promoter" "$n" > "$work/promote.out" <<'PY'
import http.client, json, sys, time
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
H = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
lat, bad = [], 0
for i in range(n):
    body = json.dumps({"version": str(i % 2 + 1), "reason": f"bench {i}"})
    t0 = time.perf_counter()
    c.request("PUT", "/v1/models/fraud/detector/aliases/production", body=body, headers=H)
    r = c.getresponse(); r.read()
    lat.append((time.perf_counter() - t0) * 1000)
    bad += r.status != 200
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q / 100 * len(lat)))]
print(f"{p(50):.2f} {p(99):.2f} {bad}")
PY
  read -r pp50 pp99 pbad < "$work/promote.out"
  # Attestations per version at the end (20 + a VSA per allowed promotion of it).
  natt=$($R attestations fraud/detector@1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  # The VSA on the last promotion's version still says 4 policies were applied.
  npol=$(curl -sf -H "Authorization: Bearer $REGISTRY_TOKEN" "http://127.0.0.1:$port/v1/models/fraud/detector/aliases/production/history?limit=1" \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["events"][0]["policies"]))')
}

if [ -n "${BUILDS:-}" ]; then
  # Two (or more) builds side by side: RUNS rounds, each promoting on every build in turn.
  echo "promotion: $n sequential promotions per run, 4 policies (Rego) over 20 attestations growing by a VSA per promotion"
  echo "| build | run | p50 ms | p99 ms | failures | attestations at end |"
  echo "|---|---|---|---|---|---|"
  for r in $(seq "${RUNS:-3}"); do
    for b in $BUILDS; do
      promotion_run "$b"
      echo "| $b | $r | $pp50 | $pp99 | $pbad | $natt |"
    done
  done
  exit 0
fi
[ -x "$PEERS/venv-mlflow/bin/mlflow" ] || { python3 -m venv "$PEERS/venv-mlflow" && "$PEERS/venv-mlflow/bin/pip" install -q mlflow httpx; }
cargo build --release -q -p registry-server -p registry-client
promotion_run "$root/target/release"

# 3. get-by-alias on the registry.
url="http://127.0.0.1:$port/v1/models/fraud/detector/versions/production"
out=$(wrk -t2 -c8 -d"${secs}s" --latency -H "Authorization: Bearer $promoter" "$url")
rrps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
rp50=$(echo "$out" | awk '$1=="50%"{print $2}'); rp99=$(echo "$out" | awk '$1=="99%"{print $2}')
rnon2xx=$(echo "$out" | awk '/Non-2xx/{print $NF}'); rnon2xx=${rnon2xx:-0}
kill $spid; wait $spid 2>/dev/null || true; spid=""

# 4. MLflow get-by-alias, same machine, same run.
mlport=5001
bash "$shared/start_mlflow.sh" $mlport 1 > "$work/mlflow.start" 2>&1
mlpid=$(cat "$PEERS/mlflow/server.pid")
ml=$("$PEERS/venv-mlflow/bin/python" "$shared/mlflow_load.py" --base "http://127.0.0.1:$mlport" --op get_alias -c 8 -d "$secs" | grep '^RESULT ' | cut -c8-)
bash "$shared/stop_pidtree.sh" "$mlpid" > /dev/null 2>&1; mlpid=""
read -r mrps mp50 mp99 < <(echo "$ml" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["rps"], r["p50_ms"], r["p99_ms"])')

echo "promotion: $n sequential promotions, $npol policies (Rego) over 20 to $natt attestations per version, VSA signed each time"
echo "| promotion (PUT .../aliases/production) | p50 ms | p99 ms | failures |"
echo "|---|---|---|---|"
echo "| registry, SQLite | $pp50 | $pp99 | $pbad |"
echo
echo "get-by-alias, 8 concurrent clients, ${secs} s"
echo "| system | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
echo "| registry (GET .../versions/production, API token; wrk -c8) | $rrps | $rp50 | $rp99 | $rnon2xx |"
echo "| MLflow 3 (GET registered-models/alias; mlflow_load.py -c 8) | $mrps | ${mp50}ms | ${mp99}ms | |"
python3 -c "print(f'ratio: {float(\"$rrps\")/float(\"$mrps\"):.1f}x MLflow (target >= 50x, p99 <= 5 ms)')"
