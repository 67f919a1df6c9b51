#!/usr/bin/env python3
"""Plain MLflow client steps for bench/mlflow.sh, identical against our server and MLflow's own.
Configured by MLFLOW_TRACKING_URI / MLFLOW_TRACKING_TOKEN like any MLflow code.

  mlflow_client.py setup NAME            log a tiny pyfunc model, register it as NAME, alias `champion` -> it
  mlflow_client.py logmodel NAME FILE    log a pyfunc model carrying FILE as an artifact (timed: upload),
                                         then mlflow.register_model it as NAME (timed: register)
Prints one JSON line.
"""
import json
import os
import sys
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


class Scorer(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def setup(name):
    with mlflow.start_run(run_name="bench-setup"):
        info = mlflow.pyfunc.log_model(name="model", python_model=Scorer(), registered_model_name=name)
    v = str(info.registered_model_version)
    MlflowClient().set_registered_model_alias(name, "champion", v)
    mv = MlflowClient().get_model_version_by_alias(name, "champion")
    assert mv.version == v, (mv.version, v)
    return {"name": name, "version": v}


def logmodel(name, path):
    size = os.path.getsize(path)
    with mlflow.start_run(run_name="bench-1gib"):
        t0 = time.perf_counter()
        info = mlflow.pyfunc.log_model(name="model", python_model=Scorer(), artifacts={"weights": path})
        t1 = time.perf_counter()
    t2 = time.perf_counter()
    mv = mlflow.register_model(info.model_uri, name)
    t3 = time.perf_counter()
    assert mv.status == "READY", (mv.status, mv.status_message)
    loc = mlflow.get_logged_model(info.model_id).artifact_location
    files = mlflow.artifacts.list_artifacts(artifact_uri=loc.rstrip("/") + "/artifacts")
    assert any(f.file_size == size for f in files), files
    return {"name": name, "version": mv.version, "bytes": size, "upload_s": round(t1 - t0, 3),
            "register_s": round(t3 - t2, 3), "model_uri": info.model_uri}


if __name__ == "__main__":
    cmd = sys.argv[1]
    out = setup(sys.argv[2]) if cmd == "setup" else logmodel(sys.argv[2], sys.argv[3])
    print("RESULT " + json.dumps(out))
