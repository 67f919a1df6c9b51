#!/usr/bin/env python3
"""Training-side MLflow compatibility check (CI script, issue 16).

Plain MLflow client code, no registry-specific calls. Configured only through env vars:
  MLFLOW_TRACKING_URI    server (ours or MLflow's), e.g. http://127.0.0.1:8080
  MLFLOW_TRACKING_TOKEN  sent by the MLflow client as `Authorization: Bearer <token>`
  MODEL_NAME             registered model name (default fraud.detector; NS.NAME maps to NS/NAME on our server)
  EXPERIMENT_NAME        optional; default: MLflow's Default experiment (id 0)
  GIT_COMMIT / GIT_REPO_URL  values for the mlflow.source.git.* tags
  DATASET_DIGEST_LEN     hex chars of the dataset's SHA-256 used as MLflow dataset digest (default 64 = full
                         SHA-256, for our server; MLflow's own server rejects digests > 36 chars, use 32 there)
  OUT_JSON               optional; write {run_id, model_id, version, dataset_digest, ...} here for later checks
Exits non-zero (AssertionError / MlflowException) on any mismatch.
"""
import hashlib, json, os, sys

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

assert os.environ.get("MLFLOW_TRACKING_URI"), "set MLFLOW_TRACKING_URI"
MODEL_NAME = os.environ.get("MODEL_NAME", "fraud.detector")
GIT_COMMIT = os.environ.get("GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567")
GIT_REPO = os.environ.get("GIT_REPO_URL", "https://git.example.com/acme/fraud-model.git")
DATA_URI = os.environ.get("DATASET_URI", "https://data.example.com/fraud/train-2026-11.csv")


class FraudModel(mlflow.pyfunc.PythonModel):
    """Tiny deterministic linear scorer: score = 0.5*amount/1000 + 0.5*night."""

    def predict(self, context, model_input, params=None):
        return (0.5 * model_input["amount"] / 1000.0 + 0.5 * model_input["night"]).to_numpy()


# deterministic training data; its SHA-256 is the dataset digest
df = pd.DataFrame({"amount": np.arange(1, 101, dtype=float) * 10.0,
                   "night": (np.arange(100) % 2).astype(float),
                   "label": (np.arange(100) % 3 == 0).astype(int)})
csv_bytes = df.to_csv(index=False).encode()
data_sha256 = hashlib.sha256(csv_bytes).hexdigest()
dataset_digest = data_sha256[: int(os.environ.get("DATASET_DIGEST_LEN", "64"))]

if os.environ.get("EXPERIMENT_NAME"):
    mlflow.set_experiment(os.environ["EXPERIMENT_NAME"])

params = {"learning_rate": "0.05", "max_depth": "6", "n_estimators": "200"}
with mlflow.start_run(run_name="fraud-train") as run:
    mlflow.set_tags({"mlflow.source.git.commit": GIT_COMMIT, "mlflow.source.git.repoURL": GIT_REPO})
    mlflow.log_params(params)
    mlflow.log_param("features", "amount,night")
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"auc": 0.91, "precision": 0.87})
    dataset = mlflow.data.from_pandas(df, source=DATA_URI, name="fraud-train", targets="label",
                                      digest=dataset_digest)
    mlflow.log_input(dataset, context="training")
    info = mlflow.pyfunc.log_model(name="model", python_model=FraudModel(),
                                   registered_model_name=MODEL_NAME)
    run_id = run.info.run_id

# ---- self-checks against what the server returns -------------------------------------------
client = MlflowClient()
r = client.get_run(run_id)
assert r.info.status == "FINISHED", r.info.status
for k, v in params.items():
    assert r.data.params.get(k) == v, (k, r.data.params)
assert r.data.params.get("features") == "amount,night"
assert abs(r.data.metrics["loss"] - 1.0 / 3) < 1e-9, r.data.metrics
assert r.data.metrics["auc"] == 0.91 and r.data.metrics["precision"] == 0.87
assert [m.value for m in client.get_metric_history(run_id, "loss")] == [1.0, 0.5, 1.0 / 3]
assert r.data.tags.get("mlflow.source.git.commit") == GIT_COMMIT, r.data.tags
assert r.data.tags.get("mlflow.source.git.repoURL") == GIT_REPO
ds = [d.dataset for d in r.inputs.dataset_inputs]
assert any(d.digest == dataset_digest and d.name == "fraud-train" for d in ds), ds
assert any(json.loads(d.source).get("url") == DATA_URI for d in ds), [d.source for d in ds]

assert info.registered_model_version is not None, "log_model did not register a version"
version = str(info.registered_model_version)
assert version.isdigit(), version
mv = client.get_model_version(MODEL_NAME, version)
assert mv.status == "READY", (mv.status, mv.status_message)
assert mv.run_id == run_id, (mv.run_id, run_id)
assert mv.source and (info.model_id in mv.source or run_id in mv.source), mv.source
assert mv.model_id in (None, "", info.model_id), (mv.model_id, info.model_id)
lm = mlflow.get_logged_model(info.model_id)
assert lm.status == "READY" or str(lm.status).endswith("READY"), lm.status
model_files = {f.path for f in mlflow.artifacts.list_artifacts(info.model_uri)}
assert {"MLmodel", "python_model.pkl"} <= model_files, model_files
rm = client.get_registered_model(MODEL_NAME)
assert rm.name == MODEL_NAME

out = {"run_id": run_id, "model_id": info.model_id, "model_uri": info.model_uri, "version": version,
       "dataset_sha256": data_sha256, "dataset_digest": dataset_digest, "dataset_uri": DATA_URI, "source": mv.source,
       "model_files": sorted(model_files)}
if os.environ.get("OUT_JSON"):
    with open(os.environ["OUT_JSON"], "w") as f:
        json.dump(out, f, indent=1)
print(json.dumps(out))
print("train.py: 1 passed, 0 failed")
