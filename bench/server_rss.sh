#!/usr/bin/env bash
# Server memory and CPU during a push and a pull, per server setting, side by side (issue 22, memory
# bound). Three models: one 1 GiB random file ("big": pushed through an upload session, as every file of
# 512 MiB or more is), four files of 256 MiB ("four": streamed PUTs) and FILES small files ("many":
# 1 KiB-1 MiB, bench/many_files_model.py). For each round and each
# variant: a fresh server on embedded defaults, `registry push`, `registry pull`, each timed to the end
# of a `sync`; peak server RSS sampled every 0.05 s during each; the server's CPU (utime + stime from
# /proc) over each; its RSS 2 s after the pull.
# usage: bench/server_rss.sh [FILES=2000] [RUNS=3] [WORKDIR=/tmp/registry-rss]
#   VARIANTS="label[@BIN_DIR]=ENV=VALUE,ENV2=VALUE ..." (default: "default= delay10=MIMALLOC_PURGE_DELAY=10"):
#   each variant's server runs with those environment variables, from BIN_DIR when given (a directory
#   of release `registry-server` and `registry`, e.g. an older build's), else from BIN.
#   BIN: directory of the release registry-server and registry (default: target/release, built here).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
files=${1:-2000}; runs=${2:-3}; work=${3:-/tmp/registry-rss}
shared=${SHARED_BENCH:-$root/../shared/bench}
variants=${VARIANTS:-"default= delay10=MIMALLOC_PURGE_DELAY=10"}
port=18189
rm -rf "$work"; mkdir -p "$work"
[ -n "${BIN:-}" ] || cargo build --release -q -p registry-server -p registry-client
bin=${BIN:-$root/target/release}
spid=""
trap '[ -n "$spid" ] && kill $spid 2>/dev/null; rm -rf "$work"' EXIT

mkdir -p "$work/big" "$work/four"
openssl rand -out "$work/big/weights.bin" $((1024 * 1024 * 1024))
for i in 0 1 2 3; do openssl rand -out "$work/four/shard-$i.bin" $((256 * 1024 * 1024)); done
python3 bench/many_files_model.py "$work/many" "$files"
cat "$work/big"/* "$work/four"/* "$work/many"/*/* > /dev/null
now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.2f\", $2-$1}"; }
cpu_ms() { awk '{print ($14+$15)*10}' "/proc/$1/stat"; }   # USER_HZ = 100
rss_mib() { awk '/^VmRSS/{printf "%d", $2/1024}' "/proc/$1/status"; }

echo "server memory: 1 GiB file, 4 x 256 MiB and $files small files, $runs rounds, variants: $variants"
echo "| round | variant | model | push s | pull s | server CPU ms push / pull | peak RSS push / pull MiB | RSS 2 s after MiB |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq "$runs"); do
for v in $variants; do
  label=${v%%=*}; envs=${v#*=}
  vbin=$bin; case $label in *@*) vbin=${label#*@}; label=${label%%@*};; esac
  for model in big four many; do
    rm -rf "$work/data" "$work/cfg" "$work/pulled"
    sync
    # shellcheck disable=SC2086
    env ${envs//,/ } REGISTRY_LOG=warn "$vbin/registry-server" --listen 127.0.0.1:$port \
      --data-dir "$work/data" > "$work/server.log" 2>&1 &
    spid=$!
    until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
    export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_CONFIG_DIR=$work/cfg
    REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token"); export REGISTRY_TOKEN

    "$shared/rss_sampler.sh" $spid "$work/rss.push" 0.05 & rp=$!
    c0=$(cpu_ms $spid); t0=$(now)
    "$vbin/registry" push "$work/$model" --model bench/m --version 1 > "$work/push.log" 2>&1; sync
    t1=$(now); c1=$(cpu_ms $spid)
    touch "$work/rss.push.stop"; wait $rp || true
    "$shared/rss_sampler.sh" $spid "$work/rss.pull" 0.05 & rp=$!
    t2=$(now)
    "$vbin/registry" pull bench/m@1 -o "$work/pulled" > "$work/pull.log" 2>&1; sync
    t3=$(now); c2=$(cpu_ms $spid)
    touch "$work/rss.pull.stop"; wait $rp || true
    sleep 2; after=$(rss_mib $spid)
    kill $spid; wait $spid 2>/dev/null || true; spid=""
    p1=$(( $(cut -d= -f2 "$work/rss.push") / 1024 )); p2=$(( $(cut -d= -f2 "$work/rss.pull") / 1024 ))
    echo "| $r | $label | $model | $(secs "$t0" "$t1") | $(secs "$t2" "$t3") | $((c1 - c0)) / $((c2 - c1)) | $p1 / $p2 | $after |"
  done
done
done
