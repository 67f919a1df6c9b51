//! The MLflow-compatible API at the HTTP level: the rules behind what the real MLflow client does
//! (which `tests/python/test_mlflow.py` drives end to end). Requests are shaped as the client sends
//! them (see docs/mlflow.md).
#![allow(clippy::unwrap_used)]

use registry_core::Digest;
use registry_core::auth::Scope;
use registry_e2e::*;
use registry_server::testing::TestServer;
use serde_json::{Value, json};

const API: &str = "/api/2.0/mlflow";
const FILES: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// An MLflow call: `(status, body)`.
async fn call(
    c: &reqwest::Client,
    s: &TestServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", s.url);
    let rb = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        "PATCH" => c.patch(url),
        "DELETE" => c.delete(url),
        _ => unreachable!(),
    };
    let rb = match body {
        Some(b) => rb.json(&b),
        None => rb,
    };
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn ok(c: &reqwest::Client, s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = call(c, s, method, path, body).await;
    assert_eq!(status, 200, "{method} {path}: {v}");
    v
}

/// What a training run left: its id, its logged model and where the files went.
struct Trained {
    run: String,
    model_id: String,
    root: String,
}

/// Does what `mlflow.start_run()` + `log_params`/`log_metric`/`log_input` + `pyfunc.log_model` do:
/// a run with lineage, a logged model, its files uploaded, finalized.
async fn train(
    c: &reqwest::Client,
    s: &TestServer,
    files: &[(&str, &[u8])],
    dataset_digest: &str,
) -> Trained {
    let run =
        ok(c, s, "POST", &format!("{API}/runs/create"), Some(json!({"experiment_id": "0", "run_name": "t"})))
            .await["run"]["info"]["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
    ok(
        c,
        s,
        "POST",
        &format!("{API}/runs/log-batch"),
        Some(json!({"run_id": run,
        "params": [{"key": "depth", "value": "6"}],
        "tags": [{"key": "mlflow.source.git.commit", "value": "0123456789abcdef0123456789abcdef01234567"},
                 {"key": "mlflow.source.git.repoURL", "value": "https://git.example.com/acme/fraud.git"}]})),
    )
    .await;
    // Metric points out of order, and one re-sent (log_model re-logs the run's metrics): the current
    // value is the highest step's, not the last written.
    for (v, step) in [(0.5, 1), (0.25, 2), (1.0, 0), (0.25, 2)] {
        ok(
            c,
            s,
            "POST",
            &format!("{API}/runs/log-metric"),
            Some(json!({"run_id": run, "key": "loss", "value": v, "timestamp": 1000 + step, "step": step})),
        )
        .await;
    }
    ok(
        c,
        s,
        "POST",
        &format!("{API}/runs/log-inputs"),
        Some(json!({"run_id": run, "datasets": [{
        "tags": [{"key": "mlflow.data.context", "value": "training"}],
        "dataset": {"name": "train", "digest": dataset_digest, "source_type": "http",
                    "source": "{\"url\": \"https://data.example.com/train.csv\"}"}}]})),
    )
    .await;
    let m = ok(
        c,
        s,
        "POST",
        &format!("{API}/logged-models"),
        Some(json!({"experiment_id": "0", "name": "model", "source_run_id": run})),
    )
    .await;
    let model_id = m["model"]["info"]["model_id"].as_str().unwrap().to_owned();
    let uri = m["model"]["info"]["artifact_uri"].as_str().unwrap();
    let root = uri.strip_prefix("mlflow-artifacts:/").unwrap().to_owned();
    for (path, bytes) in files {
        let r = c.put(format!("{}{FILES}/{root}/{path}", s.url)).body(bytes.to_vec()).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    ok(
        c,
        s,
        "PATCH",
        &format!("{API}/logged-models/{model_id}"),
        Some(json!({"status": "LOGGED_MODEL_READY"})),
    )
    .await;
    Trained { run, model_id, root }
}

/// The transparency log's size.
async fn log_size(s: &TestServer) -> u64 {
    let cp = client(s).log_checkpoint().await.unwrap();
    cp.lines().nth(1).unwrap().parse().unwrap()
}

/// `NS/NAME@LABEL` of the registry.
async fn stored(
    s: &TestServer,
    label: &str,
) -> Result<registry_core::api::VersionResponse, registry_client::ClientError> {
    client(s).get_version(&"fraud/detector".parse().unwrap(), label).await
}

async fn register(c: &reqwest::Client, s: &TestServer, name: &str, t: &Trained) -> Value {
    let (status, _) =
        call(c, s, "POST", &format!("{API}/registered-models/create"), Some(json!({"name": name}))).await;
    assert!(status == 200 || status == 400, "{status}");
    ok(
        c,
        s,
        "POST",
        &format!("{API}/model-versions/create"),
        Some(json!({"name": name, "source": format!("models:/{}", t.model_id), "model_id": t.model_id})),
    )
    .await["model_version"]
        .clone()
}

#[tokio::test]
async fn a_registered_logged_model_is_an_immutable_version_with_the_runs_lineage() {
    let s = TestServer::start().await;
    let c = http(&s);
    let data = Digest::of(b"training data");
    let t = train(&c, &s, &[("MLmodel", b"flavors: {}"), ("sub/model.pkl", b"weights")], &data.hex()).await;
    // The source is recorded as provenance: a model_id naming another logged model is refused.
    let (status, e) = call(
        &c,
        &s,
        "POST",
        &format!("{API}/model-versions/create"),
        Some(json!({"name": "fraud.detector", "source": "models:/m-00000000000000000000000000000000",
                    "model_id": t.model_id})),
    )
    .await;
    assert_eq!((status, e["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{e}");
    for source in
        ["runs:/ffffffffffffffffffffffffffffffff/evil", "s3://elsewhere/model", "mlflow-artifacts:/0/x"]
    {
        let (status, e) = call(
            &c,
            &s,
            "POST",
            &format!("{API}/model-versions/create"),
            Some(json!({"name": "fraud.detector", "source": source, "model_id": t.model_id})),
        )
        .await;
        assert_eq!(status, 400, "{source}: {e}");
    }
    let (status, e) = call(
        &c,
        &s,
        "POST",
        &format!("{API}/model-versions/create"),
        Some(json!({"name": "fraud.detector", "source": format!("models:/{}", t.model_id),
                    "run_id": "ffffffffffffffffffffffffffffffff"})),
    )
    .await;
    assert_eq!(status, 400, "a run_id that is not the source's run: {e}");
    let v = register(&c, &s, "fraud.detector", &t).await;
    assert_eq!(v["version"], "1");
    // No tag may make the model vanish from MLflow clients (they hide prompts).
    let (status, _) = call(
        &c,
        &s,
        "POST",
        &format!("{API}/registered-models/set-tag"),
        Some(json!({"name": "fraud.detector", "key": "mlflow.prompt.is_prompt", "value": "true"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["status"], "READY");
    assert_eq!(v["run_id"], t.run.as_str());

    let got = stored(&s, "1").await.unwrap();
    let l = &got.lineage;
    assert_eq!(l.params["depth"], registry_core::lineage::Scalar::Text("6".into()));
    assert_eq!(
        l.metrics["loss"],
        registry_core::lineage::Scalar::Number(serde_json::Number::from_f64(0.25).unwrap())
    );
    let code = l.code.as_ref().unwrap();
    assert_eq!(code.commit, "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(l.datasets.len(), 1);
    assert_eq!(l.datasets[0].digest, data);
    assert_eq!(l.datasets[0].uri, "https://data.example.com/train.csv");
    assert_eq!(l.datasets[0].role, "train");
    assert_eq!(l.run.as_ref().unwrap().id, t.run);
    assert_eq!(got.created_by, "token:bootstrap-admin");
    let paths: Vec<&str> = v["tags"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
    for k in ["registry.label", "registry.manifest_digest", "registry.log_index", "registry.quarantined"] {
        assert!(paths.contains(&k), "{k} in {paths:?}");
    }
    let tag = |k: &str| {
        v["tags"].as_array().unwrap().iter().find(|t| t["key"] == k).unwrap()["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(tag("registry.manifest_digest"), got.manifest_digest.to_string());

    // The download URI names the manifest digest; listing and reading through it give the files.
    let uri = ok(
        &c,
        &s,
        "GET",
        &format!("{API}/model-versions/get-download-uri?name=fraud.detector&version=1"),
        None,
    )
    .await["artifact_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(uri.ends_with(&got.manifest_digest.hex()), "{uri}");
    let root = uri.strip_prefix("mlflow-artifacts:/").unwrap();
    let list = ok(&c, &s, "GET", &format!("{FILES}?path={root}"), None).await;
    assert_eq!(
        list["files"],
        json!([{"path": "MLmodel", "is_dir": false, "file_size": 11}, {"path": "sub", "is_dir": true}])
    );
    let sub = ok(&c, &s, "GET", &format!("{FILES}?path={root}/sub"), None).await;
    assert_eq!(sub["files"], json!([{"path": "model.pkl", "is_dir": false, "file_size": 7}]));
    let body =
        c.get(format!("{}{FILES}/{root}/sub/model.pkl", s.url)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], b"weights");

    // Immutable: the logged model's files cannot change once finalized, nor be deleted.
    let r = c.put(format!("{}{FILES}/{}/MLmodel", s.url, t.root)).body("other").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let (status, e) =
        call(&c, &s, "DELETE", &format!("{API}/model-versions/delete?name=fraud.detector&version=1"), None)
            .await;
    assert_eq!((status, e["error_code"].as_str()), (403, Some("PERMISSION_DENIED")));
    let (status, _) =
        call(&c, &s, "DELETE", &format!("{API}/registered-models/alias?name=fraud.detector&alias=x"), None)
            .await;
    assert_eq!(status, 403);
    let (status, _) = call(&c, &s, "POST", &format!("{API}/model-versions/set-tag"),
        Some(json!({"name": "fraud.detector", "version": "1", "key": "registry.quarantined", "value": "false"}))).await;
    assert_eq!(status, 400, "registry.* tags are the registry's");
}

#[tokio::test]
async fn versions_are_numbered_per_model_and_mlflow_labels_step_aside_for_taken_ones() {
    let s = TestServer::start().await;
    let c = http(&s);
    // Two versions pushed through /v1: numbers 1 and 2. Label "3" is taken by the second.
    TestPush::new("fraud/detector", "1.0.0").run(&client(&s)).await.unwrap();
    TestPush::new("fraud/detector", "3").run(&client(&s)).await.unwrap();
    let v = ok(&c, &s, "GET", &format!("{API}/model-versions/get?name=fraud.detector&version=2"), None).await;
    let label = |v: &Value| {
        v["model_version"]["tags"].as_array().unwrap().iter().find(|t| t["key"] == "registry.label").unwrap()
            ["value"]
            .clone()
    };
    assert_eq!(label(&v), "3");
    let t = train(&c, &s, &[("MLmodel", b"a")], "short").await;
    assert_eq!(register(&c, &s, "fraud.detector", &t).await["version"], "3");
    assert!(stored(&s, "mlflow-3").await.is_ok(), "label 3 was taken");
    let t = train(&c, &s, &[("MLmodel", b"b")], "short").await;
    assert_eq!(register(&c, &s, "fraud.detector", &t).await["version"], "4");
    // Labels pushed through /v1 cannot block MLflow registration: versions 5 and 6 take the labels
    // "7" and "mlflow-7" that version 7 would get.
    TestPush::new("fraud/detector", "7").run(&client(&s)).await.unwrap();
    TestPush::new("fraud/detector", "mlflow-7").run(&client(&s)).await.unwrap();
    let t = train(&c, &s, &[("MLmodel", b"c")], "short").await;
    let v = register(&c, &s, "fraud.detector", &t).await;
    assert_eq!((v["version"].as_str(), v["status"].as_str()), (Some("7"), Some("READY")), "{v}");
    assert_eq!(label(&json!({"model_version": v})), "mlflow-7.1");
    assert!(stored(&s, "4").await.is_ok());
    // A short MLflow dataset digest is not lineage; it is kept as a label.
    let got = stored(&s, "4").await.unwrap();
    assert!(got.lineage.datasets.is_empty());
    assert!(got.metadata.labels["mlflow.dataset.train"].contains("short"), "{:?}", got.metadata.labels);
    let search =
        ok(&c, &s, "GET", &format!("{API}/model-versions/search?filter=name%3D%27fraud.detector%27"), None)
            .await;
    let numbers: Vec<&str> =
        search["model_versions"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["7", "6", "5", "4", "3", "2", "1"]);
}

#[tokio::test]
async fn a_registration_a_rule_refuses_fails_with_the_reason_and_writes_nothing() {
    let s = TestServer::start().await;
    let c = http(&s);
    let r = c
        .put(format!("{}/v1/namespaces/fraud", s.url))
        .json(&json!({"require_provenance": true}))
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 200);
    let size = log_size(&s).await;
    let t = train(&c, &s, &[("MLmodel", b"x")], "d").await;
    let v = register(&c, &s, "fraud.detector", &t).await;
    assert_eq!(v["status"], "FAILED_REGISTRATION");
    assert!(v["status_message"].as_str().unwrap().contains("requires signed SLSA provenance"), "{v}");
    let (status, e) =
        call(&c, &s, "GET", &format!("{API}/model-versions/get?name=fraud.detector&version=1"), None).await;
    assert_eq!((status, e["error_code"].as_str()), (404, Some("RESOURCE_DOES_NOT_EXIST")));
    // Only the model's creation is logged, no version.
    assert_eq!(log_size(&s).await - size, 1);
}

#[tokio::test]
async fn quarantine_stops_every_download_path_but_leaves_the_record_readable() {
    let s = TestServer::start().await;
    let c = http(&s);
    let t = train(&c, &s, &[("MLmodel", b"m"), ("w.bin", b"w")], "d").await;
    register(&c, &s, "fraud.detector", &t).await;
    let uri = ok(
        &c,
        &s,
        "GET",
        &format!("{API}/model-versions/get-download-uri?name=fraud.detector&version=1"),
        None,
    )
    .await["artifact_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let root = uri.strip_prefix("mlflow-artifacts:/").unwrap().to_owned();
    let req = registry_core::incident::QuarantineRequest {
        dataset: None,
        commit: None,
        key: None,
        version: Some("fraud/detector@1".into()),
        reason: "poisoned".into(),
        rollback: false,
    };
    client(&s).quarantine(&req).await.unwrap();
    let denied = |path: String| {
        let c = c.clone();
        let url = format!("{}{path}", s.url);
        async move {
            let r = c.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            assert_eq!((status, v["error_code"].as_str()), (403, Some("PERMISSION_DENIED")), "{v}");
            assert!(v["message"].as_str().unwrap().contains("quarantined"), "{v}");
        }
    };
    denied(format!("{API}/model-versions/get-download-uri?name=fraud.detector&version=1")).await;
    denied(format!("{FILES}/{root}/w.bin")).await;
    denied(format!("{FILES}?path={root}")).await;
    // A version registered from a run's files (`runs:/RUN/model`) withdraws the run's files too.
    let run = t.run.clone();
    let r = c
        .put(format!("{}{FILES}/0/{run}/artifacts/model/weights.bin", s.url))
        .body("run weights")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = ok(
        &c,
        &s,
        "POST",
        &format!("{API}/model-versions/create"),
        Some(json!({"name": "fraud.detector", "source": format!("runs:/{run}/model")})),
    )
    .await;
    assert_eq!(v["model_version"]["version"], "2");
    let req2 = registry_core::incident::QuarantineRequest {
        version: Some("fraud/detector@2".into()),
        ..req.clone()
    };
    client(&s).quarantine(&req2).await.unwrap();
    denied(format!("{FILES}/0/{run}/artifacts/model/weights.bin")).await;
    denied(format!("{FILES}?path=0/{run}/artifacts/model")).await;
    // The logged model's own root (`load_model("models:/m-...")`) is the same version.
    denied(format!("{FILES}/{}/w.bin", t.root)).await;
    denied(format!("{FILES}?path={}", t.root)).await;
    let v = ok(&c, &s, "GET", &format!("{API}/model-versions/get?name=fraud.detector&version=1"), None).await;
    let q = v["model_version"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "registry.quarantined")
        .cloned();
    assert_eq!(q.unwrap()["value"], "true");
}

#[tokio::test]
async fn runs_logged_models_and_their_files_belong_to_their_creator() {
    let s = TestServer::start().await;
    let c = http(&s);
    let t = train(&c, &s, &[("MLmodel", b"m")], "d").await;
    let other = http_with(&s.token("other", &[Scope::Read, Scope::Push], "fraud/*").await);
    // Someone else's run and model read as absent; their files list empty and are not served.
    let (status, e) = call(&other, &s, "GET", &format!("{API}/runs/get?run_id={}", t.run), None).await;
    assert_eq!((status, e["error_code"].as_str()), (404, Some("RESOURCE_DOES_NOT_EXIST")));
    let (status, _) = call(&other, &s, "GET", &format!("{API}/logged-models/{}", t.model_id), None).await;
    assert_eq!(status, 404);
    assert_eq!(ok(&other, &s, "GET", &format!("{FILES}?path={}", t.root), None).await, json!({}));
    let r = other.get(format!("{}{FILES}/{}/MLmodel", s.url, t.root)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let (status, _) = call(
        &other,
        &s,
        "POST",
        &format!("{API}/model-versions/create"),
        Some(json!({"name": "fraud.detector", "source": format!("models:/{}", t.model_id)})),
    )
    .await;
    assert_eq!(status, 404, "cannot register someone else's logged model");
    let r = other.put(format!("{}{FILES}/0/{}/artifacts/x", s.url, t.run)).body("x").send().await.unwrap();
    assert_eq!(r.status(), 404);
    // Once registered, whoever can read the version reads it through the logged model too.
    register(&c, &s, "fraud.detector", &t).await;
    let r = other.get(format!("{}{FILES}/{}/MLmodel", s.url, t.root)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Search is bounded by the caller's pattern: no page and no cursor names another namespace.
    TestPush::new("other/secret-alpha", "1").run(&client(&s)).await.unwrap();
    TestPush::new("other/secret-beta", "1").run(&client(&s)).await.unwrap();
    let page = ok(
        &other,
        &s,
        "GET",
        &format!("{API}/registered-models/search?filter=name%20LIKE%20%27other.%25%27&max_results=1"),
        None,
    )
    .await;
    assert_eq!(page, json!({"registered_models": []}), "{page}");
    let page = ok(&other, &s, "GET", &format!("{API}/registered-models/search?max_results=1"), None).await;
    assert!(!page.to_string().contains("other"), "{page}");
    // A reader outside the namespace is refused on the name, whether or not the model exists.
    let outsider = http_with(&s.token("outsider", &[Scope::Read], "other/*").await);
    for name in ["fraud.detector", "fraud.no-such-model"] {
        let (status, e) =
            call(&outsider, &s, "GET", &format!("{API}/registered-models/get?name={name}"), None).await;
        assert_eq!((status, e["error_code"].as_str()), (403, Some("PERMISSION_DENIED")), "{name}");
    }
}

#[tokio::test]
async fn artifact_files_are_write_once_and_their_paths_are_checked() {
    let s = TestServer::start().await;
    let c = http(&s);
    let run = ok(&c, &s, "POST", &format!("{API}/runs/create"), Some(json!({"experiment_id": "0"}))).await["run"]["info"]
        ["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = |path: String, body: &'static str| {
        let c = c.clone();
        let url = format!("{}{FILES}/0/{run}/artifacts/{path}", s.url);
        async move {
            let r = c.put(url).body(body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or_default())
        }
    };
    assert_eq!(put("a.txt".into(), "one").await.0, 200);
    assert_eq!(put("a.txt".into(), "one").await.0, 200, "the same bytes again: a retry");
    let (status, e) = put("a.txt".into(), "two").await;
    assert_eq!((status, e["error_code"].as_str()), (400, Some("RESOURCE_ALREADY_EXISTS")), "{e}");
    // Sent raw: reqwest itself would normalise dot segments away before they reach the server.
    for bad in ["x/../../y", "a/./b", "%2e%2e/y", "a/%2e/b", "a//b", "con/aux.txt", "a/%00/b"] {
        let head = format!(
            "PUT {FILES}/0/{run}/artifacts/{bad} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
             content-length: 1\r\nconnection: close\r\n\r\n",
            s.admin_token
        );
        let r = raw_request(&s.url, head, b"z".to_vec()).await.unwrap();
        assert!(
            r.status == 400 || r.status == 404,
            "{bad}: {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.json()["error_code"].is_string(), "{bad}");
    }
    let body = c
        .get(format!("{}{FILES}/0/{run}/artifacts/a.txt", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "one");
}

#[tokio::test]
async fn garbage_collection_keeps_the_blobs_of_artifact_files() {
    let s = TestServer::start().await;
    let c = http(&s);
    let t = train(&c, &s, &[("MLmodel", b"kept by its artifact row")], "d").await;
    let zero = std::time::Duration::ZERO;
    registry_server::service::gc::pass(&s.state, zero, zero).await.unwrap();
    let body =
        c.get(format!("{}{FILES}/{}/MLmodel", s.url, t.root)).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, "kept by its artifact row");
}

#[tokio::test]
async fn bad_input_on_mlflow_routes_is_a_4xx_in_mlflows_shape() {
    let s = TestServer::start().await;
    let c = http(&s);
    for (method, path, body) in [
        ("POST", "runs/create", json!({"experiment_id": "x"})),
        ("POST", "runs/create", json!({"experiment_id": "999"})),
        ("POST", "runs/log-metric", json!({"run_id": "r", "key": "k", "value": "NaN"})),
        ("POST", "runs/log-batch", json!({"params": "not a list"})),
        ("POST", "experiments/create", json!({"name": ""})),
        ("POST", "registered-models/create", json!({"name": "no-dot"})),
        ("POST", "registered-models/create", json!({"name": "Bad.Name"})),
        ("POST", "model-versions/create", json!({"name": "fraud.detector", "source": "s3://elsewhere"})),
        (
            "POST",
            "registered-models/alias",
            json!({"name": "fraud.detector", "alias": "a", "version": "one"}),
        ),
        ("GET", "model-versions/get?name=fraud.detector&version=-1", Value::Null),
        ("GET", "model-versions/search?filter=tags.x%3D%27y%27", Value::Null),
        ("GET", "registered-models/search?filter=name%20LIKE%20%27%25x%25%27", Value::Null),
        ("GET", "metrics/get-history?run_id=x", Value::Null),
        ("GET", "experiments/get?experiment_id=abc", Value::Null),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (status, e) = call(&c, &s, method, &format!("{API}/{path}"), body).await;
        assert!((400..500).contains(&status), "{method} {path}: {status} {e}");
        assert!(e["error_code"].is_string() && e["message"].is_string(), "{method} {path}: {e}");
    }
    // Broken JSON and a wrong content type.
    let r = c
        .post(format!("{}{API}/runs/create", s.url))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], "INVALID_PARAMETER_VALUE");
    // No credential: MLflow's UNAUTHENTICATED; Basic with the token as password works.
    let (status, e) =
        call(&reqwest::Client::new(), &s, "GET", &format!("{API}/experiments/get?experiment_id=0"), None)
            .await;
    assert_eq!((status, e["error_code"].as_str()), (401, Some("UNAUTHENTICATED")));
    let r = reqwest::Client::new()
        .get(format!("{}{API}/experiments/get?experiment_id=0", s.url))
        .basic_auth("anyone", Some(&s.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["experiment"]["name"], "Default");
}

/// Every MLflow route, given malformed input, answers 4xx in MLflow's shape (never a 5xx, which the
/// client would retry for minutes): broken JSON for bodies, missing or mistyped parameters for
/// queries, a path naming nothing for files.
#[tokio::test]
async fn every_mlflow_route_answers_bad_input_with_a_4xx_in_mlflows_shape() {
    let s = TestServer::start().await;
    let c = http(&s);
    let routes: Vec<_> = registry_server::mounted::mounted_routes()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/"))
        .collect();
    assert!(routes.len() >= 40, "{} MLflow routes", routes.len());
    let mut checked = 0;
    for r in routes {
        let op = format!("{} {}", r.method, r.path);
        let path = r.path.replace("{model_id}", "m-0").replace("{*path}", "0/nothing/artifacts/x");
        let rb = match r.method.as_str() {
            // No input to get wrong.
            "GET" if path.ends_with("/server-info") => continue,
            // Optional inputs only: a mistyped one.
            "GET" if path.ends_with("/registered-models/search") => {
                c.get(format!("{}{path}?max_results=-1", s.url))
            }
            "GET" if path.ends_with("/mlflow-artifacts/artifacts") => {
                c.get(format!("{}{path}?path=a&path=b", s.url))
            }
            "GET" | "DELETE" => c.request(r.method.clone(), format!("{}{path}", s.url)),
            "PUT" => c.put(format!("{}{path}", s.url)).body("x"),
            _ => c
                .request(r.method.clone(), format!("{}{path}", s.url))
                .header("content-type", "application/json")
                .body("{"),
        };
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or_default();
        assert!((400..500).contains(&status), "{op}: {status} {body}");
        assert!(body["error_code"].is_string() && body["message"].is_string(), "{op}: {body}");
        checked += 1;
    }
    eprintln!("{checked} MLflow routes answered bad input with a 4xx in MLflow's shape");
}

/// What the MLflow client sends that other clients do not: DELETEs with a JSON body, non-finite
/// metrics (a diverging run must not crash; MLflow's server keeps NaN and clamps infinities).
#[tokio::test]
async fn deletes_with_json_bodies_and_non_finite_metrics_work_as_on_mlflow() {
    let s = TestServer::start().await;
    let c = http(&s);
    let t = train(&c, &s, &[("MLmodel", b"m")], "d").await;
    register(&c, &s, "fraud.detector", &t).await;
    ok(
        &c,
        &s,
        "POST",
        &format!("{API}/model-versions/set-tag"),
        Some(json!({"name": "fraud.detector", "version": "1", "key": "team", "value": "risk"})),
    )
    .await;
    ok(
        &c,
        &s,
        "DELETE",
        &format!("{API}/model-versions/delete-tag"),
        Some(json!({"name": "fraud.detector", "version": "1", "key": "team"})),
    )
    .await;
    let v = ok(&c, &s, "GET", &format!("{API}/model-versions/get?name=fraud.detector&version=1"), None).await;
    assert!(!v.to_string().contains("\"team\""), "{v}");
    let (status, e) = call(
        &c,
        &s,
        "DELETE",
        &format!("{API}/registered-models/alias"),
        Some(json!({"name": "fraud.detector", "alias": "production"})),
    )
    .await;
    assert_eq!((status, e["error_code"].as_str()), (403, Some("PERMISSION_DENIED")), "{e}");

    for (v, step) in [(json!("NaN"), 3), (json!("Infinity"), 4)] {
        ok(
            &c,
            &s,
            "POST",
            &format!("{API}/runs/log-metric"),
            Some(json!({"run_id": t.run, "key": "odd", "value": v, "timestamp": 1, "step": step})),
        )
        .await;
    }
    let h =
        ok(&c, &s, "GET", &format!("{API}/metrics/get-history?run_id={}&metric_key=odd", t.run), None).await;
    assert_eq!(h["metrics"][0]["value"], "NaN");
    assert_eq!(h["metrics"][1]["value"], f64::MAX);
    let (status, _) = call(&c, &s, "GET", &format!("{FILES}?path=0%2F..%2F..%2Fetc"), None).await;
    assert_eq!(status, 400);
}

/// An artifact file whose blob garbage collection takes between its upload and its record is not
/// recorded (it would name bytes that are gone): the upload answers 503 and, sent again, lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_never_names_a_blob_gc_removed_while_it_was_recorded() {
    let s = TestServer::start().await;
    let c = http(&s);
    let run = ok(&c, &s, "POST", &format!("{API}/runs/create"), Some(json!({"experiment_id": "0"}))).await["run"]["info"]
        ["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}{FILES}/0/{run}/artifacts/w.bin", s.url);
    let (reached, release) = s.state.pauses.arm("mlflow.artifact.stored");
    let upload = tokio::spawn({
        let (c, url) = (c.clone(), url.clone());
        async move {
            let r = c.put(url).body("weights GC takes").send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or_default())
        }
    });
    reached.await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let gc = registry_server::service::gc::pass(
        &s.state,
        std::time::Duration::ZERO,
        registry_server::service::gc::ORPHAN_MIN_AGE,
    )
    .await
    .unwrap();
    assert_eq!(gc.blobs_removed, 1, "the stored, not yet named blob is garbage: {gc:?}");
    release.send(()).unwrap();
    let (status, e) = upload.await.unwrap();
    assert_eq!((status, e["error_code"].as_str()), (503, Some("TEMPORARILY_UNAVAILABLE")), "{e}");
    let listed = ok(&c, &s, "GET", &format!("{FILES}?path=0/{run}/artifacts"), None).await;
    assert!(listed.get("files").is_none_or(|f| f.as_array().unwrap().is_empty()), "{listed}");
    assert_eq!(c.put(&url).body("weights GC takes").send().await.unwrap().status(), 200, "sent again");
    assert_eq!(c.get(&url).send().await.unwrap().text().await.unwrap(), "weights GC takes");
}
