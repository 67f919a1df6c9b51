"""Issue 16: existing MLflow training and deploy code, unmodified, against our MLflow-compatible API.

Everything MLflow-side runs as subprocesses of the real client (mlflow-skinny 3.17.2 from the CI venv):
tests/python/mlflow/train.py and deploy.py (plain MLflow code, configured by env vars), and a few short
MlflowClient calls. Each run goes through a recording proxy, so the tests see exactly what the client
uploaded and every status it was answered (the client retries any 5xx for minutes: none may occur).
Our side is checked with the real `registry` CLI.
"""
import base64
import hashlib
import json
import shutil
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import HERE, RecordingProxy, run_python

SCRIPTS = HERE / "mlflow"
GIT_COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
GIT_REPO = "https://git.example.com/acme/fraud-model.git"
DATA_URI = "https://data.example.com/fraud/train-2026-11.csv"
PARAMS = {"learning_rate": "0.05", "max_depth": "6", "n_estimators": "200", "features": "amount,night"}
DENY_REASON = "alias 'blocked' is reserved for incident drills"
DENY_POLICY = f"""package registry.promote

import rego.v1

allow := true

deny contains "{DENY_REASON}" if input.alias.name == "blocked"
"""


# ---- running the MLflow client ---------------------------------------------------------------

class MlflowRun(SimpleNamespace):
    """stdout, stderr, out (the script's OUT_JSON or the snippet's last JSON line), proxy (RecordingProxy)."""


def mlflow_env(url, home, token=None, basic=None):
    env = {"MLFLOW_TRACKING_URI": url, "MLFLOW_DISABLE_TELEMETRY": "true", "HOME": str(home),
           # The client retries 5xx and connection errors for ~4 minutes; the server must never answer a 5xx
           # (the proxy checks), so fail at once instead of hanging CI.
           "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}
    if token is not None:
        env["MLFLOW_TRACKING_TOKEN"] = token
    if basic is not None:
        env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"] = basic
    return env


def run_mlflow(ml, what, *, token=None, basic=None, env=None, timeout=240):
    """Run tests/python/mlflow/<what> (a copy outside any git checkout, so MLflow adds no git tags of its own)
    or, if `what` is not a file name, a Python snippet whose last stdout line is JSON. Fails the test on a non-zero
    exit or on any 5xx the client saw."""
    ml.n += 1
    proxy = RecordingProxy(ml.registry.url)
    out_json = ml.work / f"out-{ml.n}.json"
    e = mlflow_env(proxy.url, ml.home, token, basic)
    e["OUT_JSON"] = str(out_json)
    e.update(env or {})
    is_script = what.endswith(".py") and "\n" not in what
    code = ml.work / what if is_script else "import json, os, mlflow\nfrom mlflow.exceptions import MlflowException\n" \
        "from mlflow.tracking import MlflowClient\nclient = MlflowClient()\n" + textwrap.dedent(what)
    try:
        p = run_python(code, e, timeout=timeout, cwd=ml.work)
    finally:
        proxy.close()
    label = what if is_script else "snippet"
    if p.returncode != 0:
        pytest.fail(f"{label} exited {p.returncode}\n--- stdout\n{p.stdout[-4000:]}\n--- stderr\n{p.stderr[-8000:]}"
                    f"\n--- last exchanges\n{proxy.exchanges[-40:]}", pytrace=False)
    if proxy.server_errors():
        pytest.fail(f"{label}: the server answered 5xx (the client retries those for minutes): " + "; ".join(
            f"{x!r} {x.resp_body[:300]!r}" for x in proxy.server_errors()), pytrace=False)
    if is_script:
        out = json.loads(out_json.read_text()) if out_json.exists() else None
    else:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    return MlflowRun(stdout=p.stdout, stderr=p.stderr, out=out, proxy=proxy)


def train(ml, model_name, **env):
    e = {"MODEL_NAME": model_name, "GIT_COMMIT": GIT_COMMIT, "GIT_REPO_URL": GIT_REPO, "DATASET_URI": DATA_URI}
    e.update(env)
    r = run_mlflow(ml, "train.py", token=ml.trainer, env=e)
    assert "train.py: 1 passed, 0 failed" in r.stdout, r.stdout
    return r


def logged_model_uploads(run):
    """{relative path: Exchange} of the files the client PUT into the logged model's artifact location (the
    `artifact_uri` our server handed out in its `POST logged-models` answer)."""
    created = [x for x in run.proxy.exchanges if x.method == "POST" and x.path.split("?")[0].endswith("/mlflow/logged-models")]
    assert len(created) == 1, created
    uri = json.loads(created[0].resp_body)["model"]["info"]["artifact_uri"]
    assert uri.startswith("mlflow-artifacts:/"), uri
    prefix = uri.removeprefix("mlflow-artifacts:").lstrip("/").rstrip("/") + "/"
    ups = {p[len(prefix):]: x for p, x in run.proxy.uploads().items() if p.startswith(prefix)}
    assert all(x.status == 200 for x in ups.values()), ups
    return ups


def sha256_tree(root):
    root = Path(root)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def tags_of(mv):
    return {t["key"]: t["value"] for t in mv.get("tags", [])}


GET_VERSION = """
mv = client.get_model_version(os.environ["M"], os.environ["V"])
print(json.dumps({"version": mv.version, "status": mv.status, "run_id": mv.run_id, "source": mv.source,
                  "tags": [{"key": k, "value": v} for k, v in mv.tags.items()], "aliases": list(mv.aliases)}))
"""


# ---- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ml(registry, tmp_path_factory):
    """Tokens (a trainer that may push to fraud/*, a deployer that may promote there, an outsider of another
    namespace), the alias-denying policy, and copies of the scripts."""
    work = tmp_path_factory.mktemp("mlflow")
    for f in ("train.py", "deploy.py"):
        shutil.copy(SCRIPTS / f, work / f)
    (work / "home").mkdir()
    trainer, trainer_id = registry.token("ml-trainer", "read,push", "fraud/*")
    deployer, deployer_id = registry.token("ml-deployer", "read,promote", "fraud/*")
    outsider, outsider_id = registry.token("ml-outsider", "read,push,promote", "other/*")
    (work / "deny-blocked.rego").write_text(DENY_POLICY)
    registry.cli("policy", "set", "fraud/*", "blocked", work / "deny-blocked.rego")
    return SimpleNamespace(registry=registry, work=work, home=work / "home", n=0, trainer=trainer,
                           trainer_id=trainer_id, deployer=deployer, deployer_id=deployer_id,
                           outsider=outsider, outsider_id=outsider_id)


@pytest.fixture(scope="module")
def trained(ml):
    """train.py once: fraud.detector version 1."""
    return train(ml, "fraud.detector")


@pytest.fixture(scope="module")
def deployed(ml, trained):
    """deploy.py once as the deployer: promote version 1 to production (allowed) and to `blocked` (denied by
    policy), read it back by alias, search, download, load and predict."""
    return run_mlflow(ml, "deploy.py", token=ml.deployer,
                      env={"MODEL_NAME": "fraud.detector", "MODEL_VERSION": "1", "DENIED_ALIAS": "blocked",
                           "DENY_MESSAGE": DENY_REASON})


# ---- training side -------------------------------------------------------------------------------

def test_train_registers_version_1_with_lineage_from_the_run(ml, trained):
    out = trained.out
    assert out["version"] == "1", out
    v = ml.registry.cli("show", "fraud/detector@1")
    assert (v["namespace"], v["name"], v["version"]) == ("fraud", "detector", "1"), v
    lin = v["lineage"]
    for k, val in PARAMS.items():
        assert lin["params"].get(k) == val, ("params are the strings MLflow logged", k, lin["params"])
    m = lin["metrics"]
    # latest per key in MLflow's order (max step, then timestamp): loss was 1, 1/2, 1/3 at steps 0..2
    assert m.get("loss") == pytest.approx(1 / 3), m
    assert m.get("auc") == pytest.approx(0.91) and m.get("precision") == pytest.approx(0.87), m
    code = lin.get("code") or {}
    assert (code.get("repo"), code.get("commit")) == (GIT_REPO, GIT_COMMIT), lin.get("code")
    ds = [(d["uri"], d["digest"]) for d in lin.get("datasets", [])]
    assert (DATA_URI, "sha256:" + out["dataset_sha256"]) in ds, ds
    assert lin.get("run", {}).get("id") == out["run_id"], lin.get("run")
    assert v["created_by"] == ml.trainer_id, v["created_by"]
    assert v["quarantined"] is False and v["corrupted"] is False


def test_pull_verifies_every_byte_mlflow_uploaded(ml, trained, tmp_path):
    ups = logged_model_uploads(trained)
    assert {"MLmodel", "python_model.pkl"} <= set(ups), sorted(ups)
    res = ml.registry.cli("pull", "fraud/detector@1", "-o", tmp_path / "pulled")
    assert res["files"] == len(ups), (res, sorted(ups))
    pulled = sha256_tree(tmp_path / "pulled")
    assert pulled == {p: x.req_sha256 for p, x in ups.items()}, "pulled files differ from the uploaded ones"
    manifest = ml.registry.manifest("fraud/detector", "1")
    assert {p: d for p, (d, _) in manifest.items()} == pulled
    assert {p: s for p, (_, s) in manifest.items()} == {p: x.req_len for p, x in ups.items()}


def test_log_verify_passes_after_mlflow_training(ml, trained):
    res = ml.registry.cli("log", "verify")
    assert res["ok"] is True and res["problems"] == [], res
    assert res["size"] > ml.registry.cli("show", "fraud/detector@1")["log_index"], res


def test_second_run_registers_version_2_of_the_same_model(ml, trained):
    before = ml.registry.cli("show", "fraud/detector@1")
    second = train(ml, "fraud.detector")
    assert second.out["version"] == "2", second.out
    assert second.out["run_id"] != trained.out["run_id"]
    v2 = ml.registry.cli("show", "fraud/detector@2")
    assert v2["lineage"]["run"]["id"] == second.out["run_id"], v2["lineage"]
    assert ml.registry.cli("show", "fraud/detector@1") == before, "version 1 changed when version 2 was registered"
    vs = run_mlflow(ml, """
        print(json.dumps(sorted(v.version for v in client.search_model_versions("name='fraud.detector'"))))
    """, token=ml.trainer).out
    assert vs == ["1", "2"], vs


def test_run_without_repo_url_has_no_code_lineage_and_short_digest_is_no_sha256(ml, trained):
    # MLflow's own dataset digests are short hashes; only a full SHA-256 may become a lineage digest.
    r = train(ml, "fraud.bare", GIT_REPO_URL="", DATASET_DIGEST_LEN="32")
    v = ml.registry.cli("show", f"fraud/bare@{r.out['version']}")
    assert not v["lineage"].get("code"), ("no repository URL, yet code lineage", v["lineage"])
    short = r.out["dataset_digest"]
    assert len(short) == 32
    for d in v["lineage"].get("datasets", []):
        assert d["digest"] != "sha256:" + r.out["dataset_sha256"], ("the server cannot know the full SHA-256", d)
        assert short not in d["digest"], ("a 32-hex MLflow digest recorded as a SHA-256", d)
    mv = run_mlflow(ml, GET_VERSION, token=ml.trainer, env={"M": "fraud.bare", "V": r.out["version"]}).out
    assert short in json.dumps(v) + json.dumps(mv["tags"]), ("the short digest is recorded as a tag", v, mv)


def test_mlflow_version_tags_name_our_record(ml, trained):
    v = ml.registry.cli("show", "fraud/detector@1")
    mv = run_mlflow(ml, GET_VERSION, token=ml.trainer, env={"M": "fraud.detector", "V": "1"}).out
    t = tags_of(mv)
    assert mv["version"] == "1" and mv["status"] == "READY" and mv["run_id"] == trained.out["run_id"], mv
    assert t.get("registry.label") == "1", t
    assert t.get("registry.manifest_digest") == v["manifest_digest"], t
    assert t.get("registry.oms_root_digest") == v["oms_root_digest"], t
    assert t.get("registry.log_index") == str(v["log_index"]), t
    assert t.get("registry.attestation_count") == str(len(ml.registry.cli("attestations", "fraud/detector@1"))), t
    assert t.get("registry.quarantined") == "false", t


def test_pushed_versions_get_per_model_sequence_numbers(ml, tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    digests = {}
    for label in ("1.4.0", "1.5.0"):
        (d / "weights.bin").write_bytes(label.encode() * 100)
        ml.registry.cli("push", d, "--model", "fraud/pushed", "--version", label, token=ml.trainer)
        digests[label] = ml.registry.cli("show", f"fraud/pushed@{label}")["manifest_digest"]
    got = run_mlflow(ml, """
        out = {}
        for v in ("1", "2"):
            mv = client.get_model_version("fraud.pushed", v)
            out[v] = {"version": mv.version, "status": mv.status, "tags": dict(mv.tags)}
        try:
            client.get_model_version("fraud.pushed", "3")
            out["3"] = "found"
        except MlflowException as e:
            out["3"] = e.error_code
        out["search"] = sorted(v.version for v in client.search_model_versions("name='fraud.pushed'"))
        import hashlib, tempfile
        d = mlflow.artifacts.download_artifacts("models:/fraud.pushed/2", dst_path=tempfile.mkdtemp())
        out["files"] = {n: hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()
                        for n in os.listdir(d) if n != "registered_model_meta"}
        print(json.dumps(out))
    """, token=ml.deployer).out
    for seq, label in (("1", "1.4.0"), ("2", "1.5.0")):
        assert got[seq]["version"] == seq and got[seq]["status"] == "READY", got
        assert got[seq]["tags"].get("registry.label") == label, got[seq]
        assert got[seq]["tags"].get("registry.manifest_digest") == digests[label], got[seq]
    assert got["3"] == "RESOURCE_DOES_NOT_EXIST", got
    assert got["search"] == ["1", "2"], got
    assert got["files"] == {p: d for p, (d, _) in ml.registry.manifest("fraud/pushed", "1.5.0").items()}, got["files"]


def test_registered_version_whose_number_is_a_taken_label_is_labelled_mlflow_seq(ml, trained, tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "weights.bin").write_bytes(b"pushed first")
    ml.registry.cli("push", d, "--model", "fraud/taken", "--version", "2", token=ml.trainer)  # sequence 1
    got = run_mlflow(ml, """
        mv = mlflow.register_model(os.environ["SRC"], "fraud.taken")
        print(json.dumps({"version": mv.version, "status": mv.status, "tags": dict(client.get_model_version("fraud.taken", mv.version).tags)}))
    """, token=ml.trainer, env={"SRC": trained.out["model_uri"]}).out
    assert got["version"] == "2" and got["status"] == "READY", got
    assert got["tags"].get("registry.label") == "mlflow-2", got
    v = ml.registry.cli("show", "fraud/taken@mlflow-2")
    assert v["manifest_digest"] == ml.registry.cli("show", "fraud/detector@1")["manifest_digest"], v
    assert ml.registry.cli("show", "fraud/taken@2")["manifest_digest"] != v["manifest_digest"], "label 2 moved"


# ---- deploy side ----------------------------------------------------------------------------------

def test_deploy_script_passes_with_allowed_and_denied_alias(deployed):
    # 8 checks: search, alias set, alias denied with our reasons, get by alias, model aliases, missing alias,
    # download, load+predict
    assert "deploy.py: 8 passed, 0 failed" in deployed.stdout, deployed.stdout
    denied = [x for x in deployed.proxy.exchanges if x.method == "POST" and "registered-models/alias" in x.path
              and b'"blocked"' in x.req_body]
    assert [x.status for x in denied] == [403], denied
    body = json.loads(denied[0].resp_body)
    assert body["error_code"] == "PERMISSION_DENIED" and DENY_REASON in body["message"], body


def test_deploy_downloads_hash_to_the_manifest(ml, deployed):
    manifest = ml.registry.manifest("fraud/detector", "1")
    assert deployed.out["version"] == "1"
    assert deployed.out["files"] == {p: d for p, (d, _) in manifest.items()}, (deployed.out["files"], manifest)
    # the download URI names the manifest digest: moving the alias cannot change a download in flight
    digest = ml.registry.cli("show", "fraud/detector@1")["manifest_digest"].removeprefix("sha256:")
    uris = [json.loads(x.resp_body)["artifact_uri"] for x in deployed.proxy.exchanges if "get-download-uri" in x.path]
    assert uris and all(digest in u for u in uris), (digest, uris)


def test_aliases_set_through_mlflow_are_promotions(ml, deployed):
    a = ml.registry.cli("alias", "get", "fraud/detector", "production")
    assert a["version"] == "1" and a["updated_by"] == ml.deployer_id, a
    assert a["manifest_digest"] == ml.registry.cli("show", "fraud/detector@1")["manifest_digest"]
    hist = ml.registry.cli("alias", "history", "fraud/detector", "blocked")["events"]
    assert [(e["decision"], e["actor"], e["version"]) for e in hist] == [("failed", ml.deployer_id, "1")], hist
    assert any(DENY_REASON in r for r in hist[0]["reasons"]), hist
    p = ml.registry.cli("alias", "get", "fraud/detector", "blocked", check=False, json_out=True)
    assert p.returncode != 0, "a denied alias exists"


def test_access_audit_records_the_mlflow_downloads(ml, deployed):
    manifest = ml.registry.manifest("fraud/detector", "1")
    entries = ml.registry.cli("audit", "--actor", ml.deployer_id, "--limit", "1000")
    got = {e["target"].removeprefix("sha256:") for e in entries if e["action"].endswith("download")}
    missing = {p for p, (d, _) in manifest.items() if d not in got}
    assert not missing, (f"downloads of {sorted(missing)} not in the access audit", entries)


def test_basic_auth_password_is_the_token(ml, deployed):
    r = run_mlflow(ml, "deploy.py", basic=("ci", ml.deployer),
                   env={"MODEL_NAME": "fraud.detector", "MODEL_VERSION": "1", "ALIAS": "staging"})
    assert "deploy.py: 7 passed, 0 failed" in r.stdout, r.stdout
    assert {x.authorization for x in r.proxy.exchanges} == {"Basic"}
    assert ml.registry.cli("alias", "get", "fraud/detector", "staging")["updated_by"] == ml.deployer_id
    bad = base64.b64encode(b"ci:" + ml.deployer.encode()[:-2] + b"xx").decode()
    st, _, body = ml.registry.http("GET", "/api/2.0/mlflow/registered-models/get?name=fraud.detector",
                                   headers={"Authorization": f"Basic {bad}"})
    assert st == 401 and json.loads(body)["error_code"] == "UNAUTHENTICATED", (st, body)


def test_token_of_another_namespace_is_permission_denied(ml, deployed):
    r = run_mlflow(ml, "deploy.py", token=ml.outsider, env={"MODEL_NAME": "fraud.detector", "MODE": "forbidden"})
    assert "deploy.py: 2 passed, 0 failed" in r.stdout, r.stdout
    assert not [e for e in ml.registry.cli("audit", "--actor", ml.outsider_id) if e["action"].endswith("download")]


def test_history_is_append_only_through_mlflow(ml, deployed):
    got = run_mlflow(ml, """
        calls = {
            "delete_alias": lambda: client.delete_registered_model_alias("fraud.detector", "production"),
            "delete_version": lambda: client.delete_model_version("fraud.detector", "1"),
            "delete_model": lambda: client.delete_registered_model("fraud.detector"),
            "rename_model": lambda: client.rename_registered_model("fraud.detector", "fraud.other"),
            "transition_stage": lambda: client.transition_model_version_stage("fraud.detector", "1", "Production"),
        }
        out = {}
        for k, f in calls.items():
            try:
                f()
                out[k] = "succeeded"
            except MlflowException as e:
                out[k] = e.error_code
        mv = client.get_model_version_by_alias("fraud.detector", "production")
        out["production"] = mv.version
        print(json.dumps(out))
    """, token=ml.registry.admin_token).out
    assert got == {"delete_alias": "PERMISSION_DENIED", "delete_version": "PERMISSION_DENIED",
                   "delete_model": "PERMISSION_DENIED", "rename_model": "PERMISSION_DENIED",
                   "transition_stage": "PERMISSION_DENIED", "production": "1"}, got
    assert ml.registry.cli("show", "fraud/detector@1")["version"] == "1"


def test_version_tags_and_descriptions_are_mutable_annotations(ml, trained):
    before = ml.registry.cli("show", "fraud/detector@1")
    size0 = ml.registry.cli("log", "verify")["size"]
    got = run_mlflow(ml, """
        out = {}
        client.set_model_version_tag("fraud.detector", "1", "reviewed-by", "alice")
        client.update_model_version("fraud.detector", "1", description="holdout auc 0.91")
        mv = client.get_model_version("fraud.detector", "1")
        out["set"] = [mv.tags.get("reviewed-by"), mv.description]
        client.delete_model_version_tag("fraud.detector", "1", "reviewed-by")
        out["deleted"] = "reviewed-by" in client.get_model_version("fraud.detector", "1").tags
        try:
            client.set_model_version_tag("fraud.detector", "1", "registry.label", "forged")
            out["reserved"] = "accepted"
        except MlflowException as e:
            out["reserved"] = e.error_code
        out["label"] = client.get_model_version("fraud.detector", "1").tags.get("registry.label")
        print(json.dumps(out))
    """, token=ml.trainer).out
    assert got == {"set": ["alice", "holdout auc 0.91"], "deleted": False, "reserved": "INVALID_PARAMETER_VALUE",
                   "label": "1"}, got
    after = ml.registry.cli("show", "fraud/detector@1")
    assert (after["manifest_digest"], after["lineage"], after["log_index"]) == (
        before["manifest_digest"], before["lineage"], before["log_index"]), "an annotation changed the version"
    # each change (tag set, description, tag deleted) is a log entry; the refused one is not
    res = ml.registry.cli("log", "verify")
    assert res["ok"] is True and res["size"] == size0 + 3, (size0, res)


def test_non_finite_metrics_are_logged_as_on_mlflow(ml):
    """A diverging run logs loss=NaN; MLflow's server stores NaN and +-inf, so unmodified training code must not
    crash here either. JSON lineage cannot hold them: the version's lineage keeps only the finite metrics."""
    got = run_mlflow(ml, """
        import math
        class M(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input
        with mlflow.start_run() as r:
            mlflow.log_metric("loss", float("nan"), step=0)
            mlflow.log_metric("grad", float("inf"), step=0)
            mlflow.log_metric("auc", 0.5, step=0)
            info = mlflow.pyfunc.log_model(name="model", python_model=M(), registered_model_name="fraud.diverged")
        m = client.get_run(r.info.run_id).data.metrics
        print(json.dumps({"loss_nan": math.isnan(m["loss"]), "grad": m["grad"] > 1e300, "auc": m["auc"],
                          "version": str(info.registered_model_version)}))
    """, token=ml.trainer).out
    assert got == {"loss_nan": True, "grad": True, "auc": 0.5, "version": "1"}, got
    v = ml.registry.cli("show", "fraud/diverged@1")
    assert v["lineage"]["metrics"] == {"auc": 0.5}, v["lineage"]


def test_quarantined_version_is_refused_but_readable(ml, trained):
    q = train(ml, "fraud.quarantined")
    label = f"fraud/quarantined@{q.out['version']}"
    ml.registry.cli("promote", label, "--to", "production")
    ml.registry.cli("quarantine", "--version", label, "--reason", "python suite: quarantine drill")
    r = run_mlflow(ml, "deploy.py", token=ml.deployer, env={"MODEL_NAME": "fraud.quarantined", "MODE": "quarantined"})
    assert "deploy.py: 6 passed, 0 failed" in r.stdout, r.stdout
    refused = [x for x in r.proxy.exchanges if "get-download-uri" in x.path]
    assert refused and all(x.status == 403 for x in refused), r.proxy.exchanges
    # the logged model's own location (models:/m-<id>) never asks get-download-uri: the artifact reads refuse.
    # As its creator (the trainer), so that the logged model itself is visible and only the bytes are refused.
    got = run_mlflow(ml, """
        import tempfile
        try:
            mlflow.artifacts.download_artifacts(os.environ["SRC"], dst_path=tempfile.mkdtemp())
            print(json.dumps("downloaded"))
        except Exception as e:
            print(json.dumps(str(e)[-2000:]))
    """, token=ml.trainer, env={"SRC": q.out["model_uri"]})
    assert got.out != "downloaded" and "403" in got.out, got.out
    reads = [x for x in got.proxy.exchanges if x.method == "GET" and "/mlflow-artifacts/artifacts" in x.path]
    assert reads and all(x.status == 403 for x in reads), (got.out, got.proxy.exchanges)
    # and each file itself, read directly where the client uploaded it
    for path in q.proxy.uploads():
        st, _, body = ml.registry.http("GET", "/api/2.0/mlflow-artifacts/artifacts/" + path, token=ml.trainer)
        assert st == 403 and json.loads(body)["error_code"] == "PERMISSION_DENIED", (path, st, body[:300])
    mv = run_mlflow(ml, GET_VERSION, token=ml.deployer, env={"M": "fraud.quarantined", "V": q.out["version"]}).out
    assert tags_of(mv).get("registry.quarantined") == "true", mv


def test_foreign_namespace_cannot_tell_existing_models_from_missing(ml, deployed):
    """The outsider's PERMISSION_DENIED must not be an existence oracle for models of fraud/*."""
    answers = {}
    for name in ("fraud.detector", "fraud.no-such-model"):
        st, _, body = ml.registry.http("GET", f"/api/2.0/mlflow/registered-models/get?name={name}", token=ml.outsider)
        b = json.loads(body)
        answers[name] = (st, b.get("error_code"), b.get("message", "").replace(name, "<name>").replace(
            name.replace(".", "/", 1), "<name>"))
    assert answers["fraud.detector"][0] == 403, answers
    assert answers["fraud.detector"] == answers["fraud.no-such-model"], answers


BAD_INPUT = [
    ("GET", "/api/2.0/mlflow/model-versions/get?name=fraud.inputs&version=abc", None),
    ("GET", "/api/2.0/mlflow/model-versions/get?name=fraud.inputs&version=99999", None),
    ("GET", "/api/2.0/mlflow/registered-models/get?name=fraud.no-such-model", None),
    ("GET", "/api/2.0/mlflow/registered-models/get?name=nodot", None),
    ("GET", "/api/2.0/mlflow/registered-models/alias?name=fraud.inputs&alias=no-such-alias", None),
    ("POST", "/api/2.0/mlflow/registered-models/alias", {"name": "fraud.inputs", "alias": "x", "version": "99999"}),
    ("POST", "/api/2.0/mlflow/registered-models/alias", {"name": "fraud.inputs", "alias": "../x", "version": "1"}),
    ("POST", "/api/2.0/mlflow/registered-models/create", {"name": "fraud.inputs"}),
    ("POST", "/api/2.0/mlflow/registered-models/create", {"name": "a/b"}),
    ("POST", "/api/2.0/mlflow/registered-models/create", b"{not json"),
    ("POST", "/api/2.0/mlflow/model-versions/create", {"name": "fraud.inputs", "source": "file:///etc"}),
    ("POST", "/api/2.0/mlflow/model-versions/create", {"name": "fraud.inputs", "source": "models:/m-doesnotexist"}),
    ("GET", "/api/2.0/mlflow/model-versions/search?filter=name%3D%27fraud.inputs", None),
    ("GET", "/api/2.0/mlflow/experiments/get?experiment_id=987654321", None),
    ("GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=no-such-experiment", None),
    ("GET", "/api/2.0/mlflow/runs/get?run_id=00000000000000000000000000000000", None),
    ("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": "00000000000000000000000000000000", "key": "k", "value": 1.0,
                                                 "timestamp": 1, "step": 0}),
    ("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "not-a-number"}),
    ("GET", "/api/2.0/mlflow/logged-models/m-doesnotexist", None),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=0%2F..%2F..%2Fetc", None),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/0/%2e%2e/%2e%2e/etc/passwd", None),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/%2e%2e/%2e%2e/escape.txt", b"x"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/0/models/m-doesnotexist/artifacts/MLmodel", None),
]


@pytest.fixture(scope="module")
def pushed_inputs(ml, tmp_path_factory):
    """fraud/inputs, one version pushed with the CLI (MLflow: fraud.inputs version 1), for the bad-input cases."""
    d = tmp_path_factory.mktemp("inputs")
    (d / "weights.bin").write_bytes(b"inputs")
    ml.registry.cli("push", d, "--model", "fraud/inputs", "--version", "1.0", token=ml.trainer)


@pytest.mark.parametrize("method,path,body", BAD_INPUT, ids=[f"{m} {p[:70]}" for m, p, _ in BAD_INPUT])
def test_bad_input_gets_a_4xx_with_mlflows_error_body(ml, pushed_inputs, method, path, body):
    st, headers, raw = ml.registry.http(method, path, body=body, token=ml.trainer)
    assert 400 <= st < 500, (st, raw[:500])
    b = json.loads(raw)
    assert isinstance(b.get("error_code"), str) and b["error_code"].isupper(), b
    assert isinstance(b.get("message"), str) and b["message"], b
    assert b["error_code"] in {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS",
                               "BAD_REQUEST", "MALFORMED_REQUEST", "PERMISSION_DENIED"}, b
