#!/usr/bin/env bash
# Our MLflow-compatible API side by side with MLflow's own server, in ONE run (issue 16):
#  a. get-model-version-by-alias (GET /api/2.0/mlflow/registered-models/alias) at 8 connections with wrk
#     (-t2 -c8, keep-alive, the same tool and request against both; an Authorization header on both, MLflow
#     ignores it): req/s, p50, p99. Target: ours >= 50x MLflow's req/s with p99 <= 5 ms.
#  b. the real MLflow client (the CI venv's mlflow-skinny 3.17.2, bench/mlflow_client.py): mlflow.pyfunc.log_model
#     of a model carrying a SIZE_MIB random file (upload, timed), then mlflow.register_model (register, timed
#     separately), against each server. A fresh random file per round, so our content-addressed store cannot
#     skip a single byte. Target: ours at least as fast as MLflow's artifact proxy.
# Each comparison runs ROUNDS times, alternating ours / MLflow's; one table at the end.
# Servers: registry-server from $REGISTRY_BIN_DIR (default target/release; built only if missing there) on
# embedded defaults (SQLite + local dir with fsync); MLflow 3.17.2 via ../shared/bench/start_mlflow.sh (SQLite,
# --serve-artifacts, MLFLOW_WORKERS workers, default 1; its artifact proxy does not fsync).
# usage: bench/mlflow.sh [SECONDS=10] [SIZE_MIB=1024] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-10}; size_mib=${2:-1024}; rounds=${3:-3}
shared=${SHARED_BENCH:-$root/../shared/bench}
export PEERS=${PEERS:-/tmp/registry-peers} MLFLOW_DISABLE_TELEMETRY=true
bindir=${REGISTRY_BIN_DIR:-$root/target/release}
command -v wrk > /dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
if [ ! -x "$bindir/registry-server" ] || [ ! -x "$bindir/registry" ]; then
  [ "$bindir" = "$root/target/release" ] || { echo "no binaries in REGISTRY_BIN_DIR=$bindir" >&2; exit 1; }
  cargo build --release -q -p registry-server -p registry-client
fi
[ -x "$PEERS/venv-mlflow/bin/mlflow" ] || { python3 -m venv "$PEERS/venv-mlflow" && "$PEERS/venv-mlflow/bin/pip" install -q mlflow==3.17.2 httpx; }
py=$(scripts/venv.sh)/python
R=$bindir/registry

work=$(mktemp -d "${BENCH_TMP:-/tmp}/mlflow-bench.XXXX")
port=${REGISTRY_BENCH_PORT:-18585}; mlport=${MLFLOW_BENCH_PORT:-18586}
spid=""; mlpid=""
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2> /dev/null && wait "$spid" 2> /dev/null
  [ -n "$mlpid" ] && bash "$shared/stop_pidtree.sh" "$mlpid" > /dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# ---- both servers up -------------------------------------------------------------------------
"$bindir/registry-server" --listen 127.0.0.1:$port --data-dir "$work/data" > "$work/server.log" 2>&1 &
spid=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null && break; sleep 0.1; done
export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/cfg
export REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token")
tok() { $R --json token create --name "$1" --scopes "$2" --namespace "$3" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
trainer=$(tok bench-trainer read,push,promote 'bench/*')
reader=$(tok bench-reader read 'bench/*')
# start_mlflow.sh keeps its SQLite db and artifacts in $PEERS/mlflow: give it a private, empty $PEERS (the
# shared MLflow venv linked in), so nothing of another run or another engineer's server is touched.
mkdir -p "$work/peers"; ln -s "$PEERS/venv-mlflow" "$work/peers/venv-mlflow"
PEERS=$work/peers bash "$shared/start_mlflow.sh" $mlport "${MLFLOW_WORKERS:-1}" > "$work/mlflow.start" 2>&1
mlpid=$(cat "$work/peers/mlflow/server.pid")
ours=http://127.0.0.1:$port; theirs=http://127.0.0.1:$mlport

client() { # URL TOKEN ARGS... -> the RESULT json line of bench/mlflow_client.py
  local url=$1 token=$2; shift 2
  (cd "$work" && env -u MLFLOW_TRACKING_USERNAME -u MLFLOW_TRACKING_PASSWORD HOME="$work" \
     MLFLOW_TRACKING_URI="$url" MLFLOW_TRACKING_TOKEN="$token" MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 \
     "$py" "$root/bench/mlflow_client.py" "$@" > "$work/client.out" 2> "$work/client.err") \
    || { echo "mlflow_client.py $* against $url failed:" >&2; tail -30 "$work/client.err" >&2; exit 1; }
  grep '^RESULT ' "$work/client.out" | cut -c8-
}

# ---- a. get-model-version-by-alias ---------------------------------------------------------------
name=bench.detector
client "$ours" "$trainer" setup $name > /dev/null
client "$theirs" "$trainer" setup $name > /dev/null
path="/api/2.0/mlflow/registered-models/alias?name=$name&alias=champion"
for u in "$ours" "$theirs"; do
  code=$(curl -s -o "$work/alias.json" -w '%{http_code}' -H "Authorization: Bearer $reader" "$u$path")
  [ "$code" = 200 ] && grep -q '"version": *"1"' "$work/alias.json" \
    || { echo "get-by-alias on $u answered $code: $(head -c 300 "$work/alias.json")" >&2; exit 1; }
done

wrk_run() { # URL -> "rps p50_ms p99_ms errors"
  wrk -t2 -c8 -d"${secs}s" --latency -H "Authorization: Bearer $reader" "$1$path" > "$work/wrk.out"
  python3 - "$work/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v):
    n, u = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p = {q: ms(re.search(rf"^\s+{q}%\s+(\S+)", t, re.M).group(1)) for q in (50, 99)}
m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
errs = (int(m.group(1)) if m else 0) + (sum(map(int, e.groups())) if e else 0)
print(f"{rps:.0f} {p[50]:.2f} {p[99]:.2f} {errs}")
PY
}

declare -a a_ours a_theirs
for i in $(seq "$rounds"); do
  a_ours[$i]=$(wrk_run "$ours")
  a_theirs[$i]=$(wrk_run "$theirs")
done

# ---- b. log_model + register of a SIZE_MIB model ----------------------------------------------------
declare -a b_ours b_theirs
file=$work/weights.bin
for i in $(seq "$rounds"); do
  head -c "$((size_mib * 1048576))" /dev/urandom > "$file"
  for side in ours theirs; do
    if [ $side = ours ]; then u=$ours; pid=$spid; else u=$theirs; pid=$mlpid; fi
    sync; cat "$file" > /dev/null   # same start for both: nothing dirty, the file in the page cache
    bash "$shared/rss_sampler.sh" "$pid" "$work/rss" 0.2 & sampler=$!
    res=$(client "$u" "$trainer" logmodel "$name" "$file")
    touch "$work/rss.stop"; wait $sampler
    rss=$(( $(cut -d= -f2 "$work/rss") / 1024 ))
    row=$(echo "$res" | python3 -c "import json,sys; r=json.load(sys.stdin); print(r['upload_s'], r['register_s'], r['version'], $rss)")
    if [ $side = ours ]; then
      read -r _ _ v _ <<< "$row"
      got=$($R --json show "bench/detector@$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total_size"])')
      [ "$got" -ge "$((size_mib * 1048576))" ] || { echo "bench/detector@$v holds $got bytes" >&2; exit 1; }
      b_ours[$i]=$row
    else
      b_theirs[$i]=$row
      rm -rf "$work/peers/mlflow/artifacts/"*/models   # keep disk use bounded
    fi
  done
  rm -f "$file"
done
grep -E "panicked|internal error" "$work/server.log" && { echo "our server log shows a panic or internal error" >&2; exit 1; }

# ---- table ----------------------------------------------------------------------------------------
python3 - "$rounds" "$secs" "$size_mib" "${MLFLOW_WORKERS:-1}" "${a_ours[@]}" "${a_theirs[@]}" "${b_ours[@]}" "${b_theirs[@]}" <<'PY'
import sys
n, secs, mib, workers = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
rest = sys.argv[5:]
ao, at, bo, bt = (rest[k * n:(k + 1) * n] for k in range(4))
ao, at, bo, bt = ([r.split() for r in x] for x in (ao, at, bo, bt))
hdr = "| row | " + " | ".join(f"run {i + 1}" for i in range(n)) + " |"
sep = "|---|" + "---|" * n
print(f"a. get-model-version-by-alias, wrk -t2 -c8 keep-alive, {secs} s each; MLflow 3.17.2 with {workers} worker(s)")
print(hdr); print(sep)
print("| **ours** req/s | " + " | ".join(r[0] for r in ao) + " |")
print("| ours p50 / p99 ms | " + " | ".join(f"{r[1]} / {r[2]}" for r in ao) + " |")
print("| MLflow req/s | " + " | ".join(r[0] for r in at) + " |")
print("| MLflow p50 / p99 ms | " + " | ".join(f"{r[1]} / {r[2]}" for r in at) + " |")
print("| errors ours / MLflow | " + " | ".join(f"{o[3]} / {t[3]}" for o, t in zip(ao, at)) + " |")
print("| **ratio** | " + " | ".join(f"{float(o[0]) / float(t[0]):.1f}x" for o, t in zip(ao, at)) + " |")
ok = [float(o[0]) >= 50 * float(t[0]) and float(o[2]) <= 5 and o[3] == "0" for o, t in zip(ao, at)]
print(f"target >= 50x MLflow's req/s with p99 <= 5 ms and no errors: reached in {sum(ok)} of {n} runs")
print()
print(f"b. mlflow.pyfunc.log_model of a {mib} MiB file (upload) then mlflow.register_model (register), real client")
print(hdr); print(sep)
mbps = lambda s: f"{mib / float(s):.0f} MiB/s"
print("| **ours** upload s (MiB/s) | " + " | ".join(f"{r[0]} ({mbps(r[0])})" for r in bo) + " |")
print("| **ours** register s | " + " | ".join(r[1] for r in bo) + " |")
print("| MLflow upload s (MiB/s) | " + " | ".join(f"{r[0]} ({mbps(r[0])})" for r in bt) + " |")
print("| MLflow register s | " + " | ".join(r[1] for r in bt) + " |")
print("| server peak RSS ours / MLflow MiB | " + " | ".join(f"{o[3]} / {t[3]}" for o, t in zip(bo, bt)) + " |")
tot = lambda r: float(r[0]) + float(r[1])
print("| upload+register ours / MLflow | " + " | ".join(f"{tot(o) / tot(t):.2f}" for o, t in zip(bo, bt)) + " |")
PY
