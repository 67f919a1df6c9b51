#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs and starts what the tests need, then runs
#   1. cargo fmt --check and cargo clippy -D warnings
#   2. every test (unit, store conformance on SQLite AND PostgreSQL, end-to-end, CLI) on SQLite, then the
#      Python suite (tests/python, one pytest call: the real MLflow client against our server, the web UI in
#      headless Chromium, skopeo/oras-py/modelpack-client pulling through the OCI view)
#   3. the end-to-end suite again on the scale-out stack: PostgreSQL + S3 (SeaweedFS)
# Blob-store conformance runs on memory, a local directory AND S3 in step 2; the server's keys in a
# PKCS#11 token are tested on SoftHSM2 (scripts/softhsm.sh installs it from apt); the web UI in Debian's
# Chromium (scripts/chromium.sh, apt) with pinned axe-core rules (scripts/axe.sh); the OCI view with skopeo
# (scripts/skopeo.sh, apt).
# .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work="$root/target/test-services"
# A whole-suite run is not an edit loop: incremental caches would only add gigabytes to target/ (4 GB seen).
export CARGO_INCREMENTAL=0
mkdir -p "$work"

pg_port=${REGISTRY_TEST_PG_PORT:-55433}
cleanup() { scripts/pg.sh stop "$work/pg" || true; scripts/s3.sh stop "$work/s3" || true; }
trap cleanup EXIT

# Each step names the time so far and the disk left (a full disk once failed a build mid-run).
step() { printf '\n=== %s (%ss, %s free)\n' "$*" "$SECONDS" "$(df -h --output=avail . | tail -1 | tr -d ' ')"; }

step "PostgreSQL"
pg_url=$(scripts/pg.sh start "$work/pg" "$pg_port")
export REGISTRY_TEST_POSTGRES_URL="$pg_url" REGISTRY_REQUIRE_POSTGRES=1

step "S3-compatible store (SeaweedFS)"
eval "$(scripts/s3.sh start "$work/s3" "${REGISTRY_TEST_S3_PORT:-8333}")"
export REGISTRY_REQUIRE_S3=1

step "SoftHSM2 (the server's keys in a PKCS#11 token)"
eval "$(scripts/softhsm.sh)"
export REGISTRY_REQUIRE_SOFTHSM=1

step "Chromium and axe-core (the browser tests of the web UI in the Python suite)"
eval "$(scripts/chromium.sh)"
export REGISTRY_REQUIRE_CHROMIUM=1
REGISTRY_AXE=$(scripts/axe.sh)
export REGISTRY_AXE

step "skopeo (the OCI interop tests in the Python suite)"
eval "$(scripts/skopeo.sh)"
export REGISTRY_REQUIRE_SKOPEO=1

step "format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings

# The scale-out pass runs the server, client and end-to-end tests of the --workspace build: naming
# packages with -p would unify features differently and build everything a second time (a full-disk CI).
scale_out=(registry-e2e registry-client registry-server)
if cargo nextest --version >/dev/null 2>&1; then
  run_tests() { cargo nextest run --no-fail-fast "$@"; }
  run_scale_out() {
    local f; f=$(printf 'package(%s) | ' "${scale_out[@]}")
    run_tests --workspace -E "${f% | }"
  }
else
  run_tests() { cargo test --no-fail-fast "$@"; }
  run_scale_out() { run_tests $(printf -- '-p %s ' "${scale_out[@]}"); }
fi

step "tests (SQLite; store conformance on SQLite and PostgreSQL)"
run_tests --workspace
cargo test --workspace --doc
scripts/pg.sh prune "$work/pg" "$pg_port"

step "API conformance (schemathesis against a live server)"
scripts/api-conformance.sh

step "interop with model_signing, securesystemslib and in-toto-attestation"
scripts/interop.sh

step "Python suite (real MLflow client against the MLflow-compatible API, ...)"
scripts/python-tests.sh

step "fuzz smoke (every cargo-fuzz target, 10 s each)"
nice -n 5 scripts/fuzz.sh 10

step "end-to-end tests on PostgreSQL + S3"
REGISTRY_TEST_DB=postgres REGISTRY_TEST_BLOBS=s3 run_scale_out

step "all green"
