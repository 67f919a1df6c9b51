#!/usr/bin/env bash
# Two builds of the registry side by side, for a refactor that must not slow anything down: push and pull
# of a 1 GiB model (4 random files) on embedded defaults, and get-by-alias with an API token (wrk, 2
# threads, 8 connections). Runs alternate (before, after, before, after, ...) so machine noise hits both;
# the table gives every run and the medians, and after/before.
# usage: bench/compare_builds.sh BEFORE_BIN_DIR AFTER_BIN_DIR [RUNS=3] [SECONDS=10]
#   each BIN_DIR holds release `registry-server` and `registry` binaries (e.g. a worktree's target/release).
set -euo pipefail
before=$1; after=$2; runs=${3:-3}; secs=${4:-10}
command -v wrk > /dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d /tmp/registry-compare.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT
port=18585
mib=1024
mkdir -p "$work/model"
for i in 0 1 2 3; do openssl rand -out "$work/model/shard-$i.bin" $((mib / 4 * 1024 * 1024)); done
cat "$work/model"/* > /dev/null

now() { date +%s.%N; }
# one run of build $1 (a bin dir): prints "push_MiB/s pull_MiB/s alias_req/s"
one() {
  local bin=$1 d="$work/run"
  rm -rf "$d"; mkdir -p "$d"
  REGISTRY_LOG=warn "$bin/registry-server" --listen 127.0.0.1:$port --data-dir "$d/data" > "$d/log" 2>&1 &
  local spid=$!
  until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
  export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_TOKEN REGISTRY_CONFIG_DIR=$d/cfg
  REGISTRY_TOKEN=$(cat "$d/data/bootstrap-admin.token")
  local t0 t1 t2
  t0=$(now); "$bin/registry" push "$work/model" --model bench/model --version 1 > /dev/null 2>&1; t1=$(now)
  "$bin/registry" pull bench/model@1 -o "$d/out" > /dev/null 2>&1; t2=$(now)
  "$bin/registry" promote bench/model@1 --to production > /dev/null 2>&1
  local rps
  rps=$(wrk -t2 -c8 -d"${secs}s" -H "Authorization: Bearer $REGISTRY_TOKEN" \
    "http://127.0.0.1:$port/v1/models/bench/model/versions/production" | awk '/Requests\/sec/{print $2}')
  kill $spid; wait $spid 2>/dev/null || true
  cmp -s "$work/model/shard-0.bin" "$d/out/shard-0.bin" || { echo "pull gave other bytes" >&2; exit 1; }
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v r="$rps" -v m=$mib \
    'BEGIN{printf "%.1f %.1f %.0f\n", m/(b-a), m/(c-b), r}'
}

median() { sort -n | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
: > "$work/before"; : > "$work/after"
echo "| run | build | push MiB/s | pull MiB/s | get-by-alias req/s |"
echo "|---|---|---|---|---|"
for i in $(seq 1 "$runs"); do
  for b in before after; do
    dir=$before; [ $b = after ] && dir=$after
    r=$(one "$dir"); echo "$r" >> "$work/$b"
    read -r p q a <<< "$r"
    printf '| %s | %s | %s | %s | %s |\n' "$i" "$b" "$p" "$q" "$a"
  done
done
echo
echo "| median of $runs | push MiB/s | pull MiB/s | get-by-alias req/s |"
echo "|---|---|---|---|"
declare -A med
for b in before after; do
  for col in 1 2 3; do med[$b$col]=$(cut -d' ' -f$col "$work/$b" | median); done
  printf '| %s | %s | %s | %s |\n' "$b" "${med[${b}1]}" "${med[${b}2]}" "${med[${b}3]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b/a}'; }
printf '| after/before | %s | %s | %s |\n' "$(ratio "${med[before1]}" "${med[after1]}")" \
  "$(ratio "${med[before2]}" "${med[after2]}")" "$(ratio "${med[before3]}" "${med[after3]}")"
