#!/usr/bin/env bash
# Webhook delivery (issue 21; target: pushes slow down by at most 5 % with 3 subscribers).
# `tests/src/bin/bench_events.rs` starts in-process registry servers (SQLite + local blob dir in a temp
# dir, `TestServer`) and minimal HTTP receivers on 127.0.0.1 that record when each `webhook-id`
# (`log-<index>`) arrives. Each change is a `PUT /v1/models/bench/m/versions/{label}` of one manifest
# whose blob was uploaded first; subscriptions are `POST /v1/webhooks` (`*`, `version.created`). It
# measures, once with the server's default poll (200 ms) and once with a 20 ms poll:
# - lag from each PUT's answer (the commit) to its event's arrival, at RATE changes/s for SECONDS s
#   (open loop): p50 / p99 / max;
# - outbox throughput: subscription paused, PENDING versions created, resumed; events/s until the last
#   one arrived;
# - push overhead: PUSHES versions by 8 concurrent clients with 0 and with 3 active subscribers, ROUNDS
#   rounds in alternating order, each on a fresh server.
# The machine is noisy, so it runs RUNS times and prints each run's table.
# usage: bench/events.sh [RATE=100] [SECONDS=10] [PENDING=1000] [PUSHES=500] [ROUNDS=4] [RUNS=3];
# NORMAL_PRIORITY=1 sends deliveries at the requests' priority (--webhook-normal-priority).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100}; secs=${2:-10}; pending=${3:-1000}; pushes=${4:-500}; rounds=${5:-4}; runs=${6:-3}
cargo build --release -q -p registry-e2e --bin bench_events
for r in $(seq 1 "$runs"); do
  echo "## run $r of $runs ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
  target/release/bench_events "$rate" "$secs" "$pending" "$pushes" "$rounds"
  echo
done
