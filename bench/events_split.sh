#!/usr/bin/env bash
# Push overhead of webhook delivery with the receivers "on another host" (issue 21): the registry server
# runs alone on CPU 0 (`taskset -c 0`), and everything else — the clients creating versions (wrk) and the
# three receivers (bench/webhook_receiver.py) — on CPU 1. bench/events.sh runs all of it in one process
# sharing both cores, so there the receivers' CPU counts against the pushes; here only what the registry
# itself does per delivery (read the log window, build and sign the event, send it, read the 200) does.
# Each round: a fresh server (embedded defaults: SQLite `synchronous = FULL`, local blob dir), a seed
# version pushed, then wrk -t1 -c8 creating new labels of its manifest for SECONDS s — once with no
# subscription and once with 3 (`version.created`, CloudEvents), order alternating per round.
# Reported per setting: creations/s, server CPU seconds per 1,000 creations (utime + stime from
# /proc), and with subscribers how long after wrk stopped the last event arrived (every event is
# counted at the receivers: a round fails unless each got every creation).
# usage: bench/events_split.sh [SECONDS=10] [ROUNDS=6]; SERVER=PATH runs that registry-server binary,
# SERVER_ARGS="..." adds flags to it (e.g. --webhook-normal-priority).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-10}; rounds=${2:-6}
command -v wrk > /dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs" >&2; exit 1; }
cargo build --release -q -p registry-server -p registry-client
bin=${CARGO_TARGET_DIR:-$root/target}/release
R=$bin/registry; S=${SERVER:-$bin/registry-server}
work=$(mktemp -d); port=18596; rports=(18597 18598 18599)
spid=""; rpid=""
cleanup() { [ -n "$spid" ] && kill "$spid" 2>/dev/null; [ -n "$rpid" ] && kill "$rpid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

taskset -c 1 python3 bench/webhook_receiver.py "${rports[@]}" > "$work/recv.out" 2>&1 &
rpid=$!
until grep -q ready "$work/recv.out"; do sleep 0.05; done
counts() { curl -sf "http://127.0.0.1:${rports[0]}/count"; }
# A failed check inside $(round ...) must stop the run, not print a half row.
fail() { echo "$1" >&2; kill -TERM $$; exit 1; }

mkdir -p "$work/m"
for f in 1 2 3 4; do head -c 65536 /dev/urandom > "$work/m/shard-$f.bin"; done
echo '{"arch": "gbdt"}' > "$work/m/config.json"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # clock ticks
hz=$(getconf CLK_TCK)

# round SUBS TAG -> "creations/s cpu_ms_per_1000 tail_ms created"
round() {
  local subs=$1 tag=$2
  rm -rf "$work/data" "$work/cfg"
  REGISTRY_LOG=warn taskset -c 0 "$S" --listen 127.0.0.1:$port --data-dir "$work/data" --webhooks-allow-private \
    ${SERVER_ARGS:-} > "$work/server.log" 2>&1 &
  spid=$!
  until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.05; done
  export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/cfg
  REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token"); export REGISTRY_TOKEN
  curl -sf "http://127.0.0.1:${rports[0]}/reset" > /dev/null
  local before; before=$(counts)
  local i
  for i in $(seq "$subs"); do
    taskset -c 1 "$R" webhook add --url "http://127.0.0.1:${rports[$((i - 1))]}/hook" --namespace '*' \
      --events version.created > /dev/null
  done
  taskset -c 1 "$R" push "$work/m" --model bench/detector --version seed > /dev/null
  curl -sf -H "Authorization: Bearer $REGISTRY_TOKEN" \
    "http://127.0.0.1:$port/v1/models/bench/detector/versions/seed/manifest" > "$work/manifest.json"
  python3 -c 'import json,sys; json.dump({"manifest": json.load(open(sys.argv[1]))}, open(sys.argv[2], "w"))' \
    "$work/manifest.json" "$work/body.json"
  cat > "$work/create.lua" <<LUA
local counter = 0
local body = io.open("$work/body.json"):read("*a")
function init(args) wrk.method = "PUT"; wrk.body = body
  wrk.headers["Content-Type"] = "application/json"; wrk.headers["Authorization"] = "Bearer $REGISTRY_TOKEN" end
function request() counter = counter + 1
  return wrk.format(nil, string.format("/v1/models/bench/detector/versions/$tag-%d", counter)) end
function response(status) if status ~= 201 then print("status " .. status) end end
LUA
  # The seed's event has reached every subscriber (the delivery connections are open) before timing.
  python3 - "$before" "$subs" "${rports[0]}" <<'PY'
import json, sys, time, urllib.request
before, subs, port = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
deadline = time.time() + 30
while True:
    now = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/count"))
    if all(now[i] - before[i] >= 1 for i in range(subs)): break
    assert time.time() < deadline, "the seed's event never arrived"
    time.sleep(0.01)
PY
  [ $? -eq 0 ] || fail "round $tag: the seed's event did not arrive"
  local c0 c1 t_end
  c0=$(cpu "$spid")
  taskset -c 1 wrk -t1 -c8 -d"${secs}s" -s "$work/create.lua" "http://127.0.0.1:$port" > "$work/wrk.out"
  t_end=$(date +%s.%N)
  c1=$(cpu "$spid")
  local created
  created=$(curl -sf -H "Authorization: Bearer $REGISTRY_TOKEN" "http://127.0.0.1:$port/v1/models/bench/detector" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["version_count"] - 1)')
  ! grep -q '^status ' "$work/wrk.out" || { echo "wrk saw errors:" >&2; grep '^status ' "$work/wrk.out" | sort | uniq -c >&2; fail "round $tag: wrk saw errors"; }
  local tail_ms=-
  if [ "$subs" -gt 0 ]; then
    tail_ms=$(python3 - "$before" "$subs" "${rports[0]}" "$created" "$t_end" <<'PY'
import json, sys, time, urllib.request
before, subs, port, created, t_end = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
deadline = time.time() + 120
while True:
    now = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/count"))
    if all(now[i] - before[i] >= 1 + created for i in range(subs)): break
    assert time.time() < deadline, f"events missing: {[now[i] - before[i] for i in range(subs)]} of {1 + created}"
    time.sleep(0.002)
print(f"{(time.time() - t_end) * 1000:.0f}")
PY
) || fail "round $tag: events missing"
  fi
  kill "$spid"; wait "$spid" 2>/dev/null || true; spid=""
  awk -v n="$created" -v s="$secs" -v c=$((c1 - c0)) -v hz="$hz" -v t="$tail_ms" \
    'BEGIN{printf "%.1f %.1f %s %d\n", n/s, c*1000/hz/n*1000, t, n}'
}

declare -a none three
for r in $(seq "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then none[$r]=$(round 0 "n$r"); three[$r]=$(round 3 "t$r")
  else three[$r]=$(round 3 "t$r"); none[$r]=$(round 0 "n$r"); fi
  echo "round $r: 0 subscribers ${none[$r]} | 3 subscribers ${three[$r]}" >&2
done
python3 - "$secs" "$(printf '%s;' "${none[@]}")" "$(printf '%s;' "${three[@]}")" <<'PY'
import statistics as st, sys
secs = sys.argv[1]
parse = lambda s: [r.split() for r in s.split(";") if r]
none, three = parse(sys.argv[2]), parse(sys.argv[3])
print(f"server on CPU 0; wrk -t1 -c8 ({secs} s per setting) and 3 receivers on CPU 1; rounds alternate the order")
print("| round | creations/s, 0 subscribers | creations/s, 3 subscribers | ratio 3 / 0 | server CPU ms per 1,000 creations, 0 / 3 | last event after the last push, ms |")
print("|---|---|---|---|---|---|")
ratios = []
for i, (n, t) in enumerate(zip(none, three), 1):
    ratios.append(float(t[0]) / float(n[0]))
    print(f"| {i} | {n[0]} | {t[0]} | {ratios[-1]:.3f} | {n[1]} / {t[1]} | {t[2]} |")
pooled = sum(float(t[0]) for t in three) / sum(float(n[0]) for n in none)
cpu = st.median(float(t[1]) for t in three) / st.median(float(n[1]) for n in none)
print(f"| all | {st.mean(float(n[0]) for n in none):.1f} | {st.mean(float(t[0]) for t in three):.1f} | "
      f"pooled {pooled:.3f}, median {st.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) | CPU ratio of medians {cpu:.3f} | |")
PY
