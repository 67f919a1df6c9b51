#!/usr/bin/env bash
# The Python test suite (tests/python: the MLflow client against our MLflow-compatible API, ...) in ONE
# pytest call, with the pinned CI venv (scripts/venv.sh). Uses the registry-server and registry binaries in
# $REGISTRY_BIN_DIR (default target/debug; built only if missing there). Extra arguments go to pytest.
#   scripts/python-tests.sh [-k EXPR] [-x] ...
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export REGISTRY_BIN_DIR=${REGISTRY_BIN_DIR:-$root/target/debug}
if [ ! -x "$REGISTRY_BIN_DIR/registry-server" ] || [ ! -x "$REGISTRY_BIN_DIR/registry" ]; then
  [ "$REGISTRY_BIN_DIR" = "$root/target/debug" ] || { echo "no binaries in REGISTRY_BIN_DIR=$REGISTRY_BIN_DIR" >&2; exit 1; }
  cargo build -q -p registry-server -p registry-client
fi
bin=$(scripts/venv.sh)
exec "$bin/pytest" -q -p no:cacheprovider tests/python "$@"
