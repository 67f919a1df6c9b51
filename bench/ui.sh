#!/usr/bin/env bash
# Web UI render time at scale (issue 18; target: p99 < 50 ms). `tests/src/bin/bench_ui.rs` starts an
# in-process registry server (SQLite + local blob dir in a temp dir), creates one model `bench/big` with
# VERSIONS versions through the real API (8 at a time; lineage, datasets, params, metrics; every 100th
# signed), VERSIONS/10 promotions, tops the log up to LOG_ENTRIES by bulk appends, signs in to the UI with
# the admin token, and times REQUESTS sequential GETs (client-side, one keep-alive connection) of: the
# model page, the version pages of the middle, newest and oldest versions, the log's newest and a deep
# page, and the same-run `/v1` reads of the same data (a version also by manifest digest); then the same
# UI pages of a fresh registry with one version. BENCH_UI_PROFILE=1 adds the version page's service
# calls timed one by one in process.
# The machine is noisy, so it runs RUNS times (fresh data each time) and prints each run's table.
# usage: bench/ui.sh [REQUESTS=200] [VERSIONS=10000] [LOG_ENTRIES=100000] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}; versions=${2:-10000}; entries=${3:-100000}; runs=${4:-3}
cargo build --release -q -p registry-e2e --bin bench_ui
for r in $(seq 1 "$runs"); do
  echo "## run $r of $runs ($(date -u +%H:%M:%S) UTC)"
  target/release/bench_ui "$n" "$versions" "$entries"
  echo
done
