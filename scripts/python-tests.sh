#!/usr/bin/env bash
# The Python test suite (tests/python: the MLflow client against our MLflow-compatible API, the Python
# SDK, ...) in ONE pytest call, with the pinned CI venv (scripts/venv.sh). Uses the registry-server and
# registry binaries in $REGISTRY_BIN_DIR (default target/debug; built only if missing there).
# The SDK (registry-python) is built here as a wheel with maturin, installed into the venv, its type
# stubs are checked with `mypy --strict` on the installed package, and pytest then runs with no cargo or
# rustc on PATH: the tests use the installed wheel only. Extra arguments go to pytest.
#   scripts/python-tests.sh [-k EXPR] [-x] ...
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export REGISTRY_BIN_DIR=${REGISTRY_BIN_DIR:-$root/target/debug}
# sigstore-testkit: a test Sigstore deployment (keyless bundles for the sigstore-python interop test).
if [ ! -x "$REGISTRY_BIN_DIR/registry-server" ] || [ ! -x "$REGISTRY_BIN_DIR/registry" ] \
   || [ ! -x "$REGISTRY_BIN_DIR/sigstore-testkit" ]; then
  [ "$REGISTRY_BIN_DIR" = "$root/target/debug" ] || { echo "no binaries in REGISTRY_BIN_DIR=$REGISTRY_BIN_DIR" >&2; exit 1; }
  cargo build -q -p registry-server -p registry-client -p sigstore-testkit
fi
bin=$(scripts/venv.sh)

# The SDK wheel (one abi3 wheel), rebuilt from this tree and reinstalled every run.
wheels=${CARGO_TARGET_DIR:-$root/target}/wheels
rm -f "$wheels"/registry_sdk-*.whl
"$bin/maturin" build --quiet --release -m registry-python/Cargo.toml --out "$wheels" >&2
wheel=$(ls "$wheels"/registry_sdk-*-abi3-*.whl)
"$bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$wheel" >&2
# Strict typing of the installed package: its .pyi stubs (native module) and typed Python.
(cd "$root/target" && "$bin/mypy" --strict --no-incremental -p registry)

# No Rust toolchain on PATH from here on.
nort=
IFS=: read -ra dirs <<< "$PATH"
for d in "${dirs[@]}"; do
  [ -e "$d/cargo" ] || [ -e "$d/rustc" ] || nort="$nort${nort:+:}$d"
done
if PATH=$nort command -v cargo >/dev/null || PATH=$nort command -v rustc >/dev/null; then
  echo "cargo/rustc still on PATH" >&2; exit 1
fi
cd "$root/target"  # not the source tree: `import registry` must find the installed wheel only
PATH=$nort "$bin/python" -c 'import registry, sys; assert "site-packages" in registry.__file__, registry.__file__'
exec env PATH="$nort" "$bin/pytest" -q -p no:cacheprovider --rootdir "$root" "$root/tests/python" "$@"
