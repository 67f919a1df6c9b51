#!/usr/bin/env python3
"""Deploy-side MLflow compatibility check (CI script, issue 16).

Plain MLflow client code, no registry-specific calls. Configured only through env vars:
  MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN  (token is sent as `Authorization: Bearer <token>`)
  MODEL_NAME        registered model name (default fraud.detector)
  MODEL_VERSION     version to promote (default: highest version returned by search_model_versions)
  ALIAS             alias to set and load through (default production)
  DENIED_ALIAS      optional: an alias whose set_registered_model_alias must fail with PERMISSION_DENIED
  DENY_MESSAGE      optional: substring the denial's message must contain (the policy reasons)
  MODE              normal (default) | quarantined | forbidden
                    quarantined: alias not touched; version record readable, but download_artifacts and
                                 load_model must fail with PERMISSION_DENIED
                    forbidden:   (wrong-namespace token) get_model_version_by_alias must fail with PERMISSION_DENIED
  OUT_JSON          optional: write {version, files: {relpath: sha256}} here (compare with the manifest)
Prints 'deploy.py: N passed, 0 failed' on success; any failure raises (exit code != 0).
"""
import hashlib, json, os, tempfile

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

assert os.environ.get("MLFLOW_TRACKING_URI"), "set MLFLOW_TRACKING_URI"
NAME = os.environ.get("MODEL_NAME", "fraud.detector")
ALIAS = os.environ.get("ALIAS", "production")
MODE = os.environ.get("MODE", "normal")
URI = f"models:/{NAME}@{ALIAS}"
client = MlflowClient()
passed = 0


def expect_error(code, fn, *a, contains=None, **kw):
    try:
        fn(*a, **kw)
    except MlflowException as e:
        codes = (code,) if isinstance(code, str) else tuple(code)
        assert e.error_code in codes, f"expected {codes}, got {e.error_code}: {e.message}"
        assert contains is None or contains in e.message, f"{contains!r} not in {e.message!r}"
        print(f"ok: {fn.__name__} -> {e.error_code}: {e.message[:200]}")
        return e
    raise AssertionError(f"{fn.__name__} succeeded, expected {code}")


if MODE == "forbidden":
    expect_error("PERMISSION_DENIED", client.get_model_version_by_alias, NAME, ALIAS)
    expect_error("PERMISSION_DENIED", mlflow.artifacts.download_artifacts, URI,
                 dst_path=tempfile.mkdtemp())
    print("deploy.py: 2 passed, 0 failed")
    raise SystemExit(0)

# search_model_versions: every version of the model, each with name/version/status/source
versions = client.search_model_versions(f"name='{NAME}'")
assert versions, f"no versions of {NAME}"
assert all(v.name == NAME and v.version.isdigit() for v in versions), versions
version = os.environ.get("MODEL_VERSION") or str(max(int(v.version) for v in versions))
assert version in {v.version for v in versions}, (version, [v.version for v in versions])
passed += 1

if MODE == "normal":
    client.set_registered_model_alias(NAME, ALIAS, version)
    passed += 1
    if os.environ.get("DENIED_ALIAS"):
        expect_error("PERMISSION_DENIED", client.set_registered_model_alias, NAME,
                     os.environ["DENIED_ALIAS"], version, contains=os.environ.get("DENY_MESSAGE"))
        passed += 1

mv = client.get_model_version_by_alias(NAME, ALIAS)
assert mv.name == NAME and mv.version == version, (mv.name, mv.version, version)
assert ALIAS in mv.aliases, mv.aliases
assert mv.source, "model version has no source"
passed += 1
rm = client.get_registered_model(NAME)
assert rm.aliases.get(ALIAS) == version, rm.aliases
passed += 1
# MLflow's own server answers a missing alias with 400 INVALID_PARAMETER_VALUE; ours may say 404
# RESOURCE_DOES_NOT_EXIST. The client treats both the same (no retry, MlflowException).
expect_error(("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"), client.get_model_version_by_alias,
             NAME, "no-such-alias-x", contains="no-such-alias-x")
passed += 1

df = pd.DataFrame({"amount": [1000.0, 0.0], "night": [1.0, 0.0]})
if MODE == "quarantined":
    expect_error("PERMISSION_DENIED", mlflow.artifacts.download_artifacts, URI,
                 dst_path=tempfile.mkdtemp())
    expect_error("PERMISSION_DENIED", mlflow.pyfunc.load_model, URI)
    passed += 2
    print(f"deploy.py: {passed} passed, 0 failed")
    raise SystemExit(0)

dst = mlflow.artifacts.download_artifacts(URI, dst_path=tempfile.mkdtemp())
files = {}
for root, _, names in os.walk(dst):
    for n in names:
        p = os.path.join(root, n)
        if os.path.relpath(p, dst) == "registered_model_meta":
            continue  # written locally by the MLflow client (model name+version), never on the server
        files[os.path.relpath(p, dst)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
assert {"MLmodel", "python_model.pkl"} <= set(files), files
passed += 1

model = mlflow.pyfunc.load_model(URI)
pred = np.asarray(model.predict(df), dtype=float)
assert np.allclose(pred, [1.0, 0.0]), pred
passed += 1

out = {"name": NAME, "alias": ALIAS, "version": version, "source": mv.source, "run_id": mv.run_id,
       "files": files}
if os.environ.get("OUT_JSON"):
    with open(os.environ["OUT_JSON"], "w") as f:
        json.dump(out, f, indent=1)
print(json.dumps(out))
print(f"deploy.py: {passed} passed, 0 failed")
