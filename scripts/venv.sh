#!/usr/bin/env bash
# The Python tools the tests use, pinned, in target/ci-venv (created once, reused).
#   scripts/venv.sh      -> prints the venv's bin directory
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${REGISTRY_VENV:-$(pwd)/target/ci-venv}
# interop/conformance tools, then the Python test suite (tests/python): pytest and the MLflow client of
# issue 16 (mlflow-skinny with the numpy/pandas/cloudpickle that pyfunc models need). These resolve together
# without conflicts (pip check clean), ~50 s fresh.
want="schemathesis==4.32.5 model-signing==1.1.1 pyopenssl==26.4.0 securesystemslib[crypto]==1.6.0 in-toto-attestation==0.9.3"
# sigstore-python verifies the test Sigstore deployment's keyless bundles (issue 17; also model-signing's own dependency)
want="$want sigstore==4.5.1"
want="$want pytest==9.2.0 mlflow-skinny==3.17.2 numpy==2.4.6 pandas==3.1.1 cloudpickle==3.1.3"
# the Python SDK (issue 20): maturin builds its wheel, mypy checks its stubs
want="$want maturin==1.16.0 mypy==2.4.1"
# the web UI's browser tests (tests/python/test_ui.py): Playwright drives the apt Chromium (scripts/chromium.sh)
# through its bundled node driver; `playwright install` (a browser download) is never run
want="$want playwright==1.65.2"
# the OCI view's third-party clients (tests/python/test_oci_interop.py, issue 19): oras-py pulls through /v2
# (files named by their title annotation), modelpack-client pulls and checks a CNCF ModelPack artifact
want="$want oras==0.2.43 modelpack-client==0.1.0"
# webhooks (tests/python/test_webhooks.py, issue 21): Standard Webhooks signature checks, OpenLineage events
# against schemas/openlineage/ (jsonschema: the version schemathesis already pulls in, with the uri/date-time
# format checkers) and rebuilt by the OpenLineage client
want="$want standardwebhooks==1.1.0 jsonschema[format-nongpl]==4.26.0 openlineage-python==1.54.0"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.pins" 2>/dev/null)" != "$want" ]; then
  echo "creating Python venv in $venv ..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || { echo "python3 -m venv failed: install python3-venv (apt)" >&2; exit 1; }
  "$venv/bin/pip" install -q --disable-pip-version-check $want >&2
  echo "$want" > "$venv/.pins"
fi
echo "$venv/bin"
