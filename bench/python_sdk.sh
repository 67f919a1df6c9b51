#!/usr/bin/env bash
# 1 GiB push from Python (the registry-sdk wheel: `registry.Client().push(...)`) against the same push by
# the `registry` CLI, in one run: 3 rounds, the order alternating each round (CLI first in odd rounds,
# Python first in even ones). Every push goes to a fresh server (empty store and config dir, so nothing is
# deduplicated; ~1 GiB of disk at a time), started before the clock starts and stopped after it stops.
# Times are wall clock of the whole process (interpreter start and import included for Python, as the
# CLI's start is for the CLI).
# usage: bench/python_sdk.sh [WORKDIR]   (needs ~2.5 GiB free; builds release binaries and the wheel)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${1:-/tmp/registry-bench-sdk}
rm -rf "$work"; mkdir -p "$work"
target=${CARGO_TARGET_DIR:-$root/target}

cargo build --release -q -p registry-server -p registry-client
srv=$target/release/registry-server
cli=$target/release/registry
bin=$(scripts/venv.sh)
rm -f "$target"/wheels/registry_sdk-*.whl
"$bin/maturin" build --quiet --release -m registry-python/Cargo.toml --out "$target/wheels" >&2
"$bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$target"/wheels/registry_sdk-*.whl >&2

echo "generating 4 x 256 MiB random files..." >&2
mkdir -p "$work/model"
for i in 0 1 2 3; do openssl rand -out "$work/model/shard-$i.bin" $((256 * 1024 * 1024)); done

now() { date +%s.%N; }
spid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null || true' EXIT
start_server() {
  rm -rf "$work/data" "$work/config"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  REGISTRY_LOG=warn "$srv" --listen "127.0.0.1:$port" --data-dir "$work/data" > "$work/server.log" 2>&1 &
  spid=$!
  until [ -s "$work/data/bootstrap-admin.token" ] && curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do
    sleep 0.1
  done
  export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/config
  REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token"); export REGISTRY_TOKEN
}
stop_server() { kill "$spid"; wait "$spid" 2>/dev/null || true; spid=; rm -rf "$work/data"; }
push_cli() { "$cli" push "$work/model" --model bench/sdk --version 1 > /dev/null 2>&1; }
push_py() {
  "$bin/python" -c 'import sys, registry; registry.Client().push(sys.argv[1], "bench/sdk", "1")' "$work/model"
}

# One untimed push first: the first write of a fresh GiB after generating the files is the disk's
# write-back of those files, not the client's cost.
start_server; push_cli; stop_server
declare -A t
for r in 1 2 3; do
  order="cli py"; [ $((r % 2)) -eq 0 ] && order="py cli"
  for who in $order; do
    start_server
    cat "$work/model"/* > /dev/null; sync   # page cache warm, disk quiet
    t0=$(now); "push_$who"; t1=$(now)
    stop_server
    t[$who,$r]=$(awk "BEGIN{printf \"%.2f\", $t1-$t0}")
    echo "round $r $who: ${t[$who,$r]} s" >&2
  done
done
rm -rf "$work"
rate() { awk "BEGIN{printf \"%.2f s (%.0f MiB/s)\", $1, 1024/$1}"; }
ratio() { awk "BEGIN{printf \"%.3f\", $1/$2}"; }
echo "| 1 GiB push (4 x 256 MiB) | round 1 | round 2 | round 3 |"
echo "|---|---|---|---|"
echo "| registry CLI | $(rate "${t[cli,1]}") | $(rate "${t[cli,2]}") | $(rate "${t[cli,3]}") |"
echo "| Python SDK | $(rate "${t[py,1]}") | $(rate "${t[py,2]}") | $(rate "${t[py,3]}") |"
echo "| SDK / CLI | $(ratio "${t[py,1]}" "${t[cli,1]}") | $(ratio "${t[py,2]}" "${t[cli,2]}") | $(ratio "${t[py,3]}" "${t[cli,3]}") |"
