//! The authorisation matrix over every route the server mounts (`registry_server::mounted`: the
//! OpenAPI operations and the routes beside the document): every route x every kind of caller, each
//! cell checked against the access the route declares. A new route without a request here fails the
//! test, so no route escapes the matrix.
#![allow(clippy::unwrap_used)]

use registry_core::Digest;
use registry_core::auth::Scope;
use registry_e2e::*;
use registry_server::auth::token;
use registry_server::db::tokens::TokenRow;
use serde_json::{Value, json};

/// A kind of caller.
struct Caller {
    name: &'static str,
    token: Option<String>,
    /// Scopes it holds over `fraud/*` (None: not authenticated at all).
    scopes: Option<Vec<Scope>>,
    /// Holds its scopes over another namespace, not `fraud/*`.
    other_namespace: bool,
}

async fn raw_token(s: &TestServer, name: &str, expires_at: Option<i64>, revoked: bool) -> String {
    let t = token::generate().unwrap();
    let now = registry_server::db::now_ms();
    let row = TokenRow {
        id: t.id.clone(),
        name: name.into(),
        secret_hash: token::hash(&t.text),
        scopes: "admin".into(),
        namespace: "*".into(),
        created_by: "test".into(),
        created_at: now,
        expires_at,
        revoked_at: revoked.then_some(now),
    };
    s.state.db.token_insert(&row).await.unwrap();
    t.text
}

/// A request: method, path, optional JSON body, optional raw body.
type Request = (reqwest::Method, String, Option<Value>, Option<Vec<u8>>);

/// The request each operation gets.
fn request(op: &str, n: usize) -> Option<Request> {
    use reqwest::Method;
    let hello = Digest::of(b"hello");
    let v = "/v1/models/fraud/detector/versions/1.4.0";
    Some(match op {
        "GET /v1/health" => (Method::GET, "/v1/health".into(), None, None),
        "GET /v1/openapi.json" => (Method::GET, "/v1/openapi.json".into(), None, None),
        "GET /metrics" => (Method::GET, "/metrics".into(), None, None),
        "HEAD /v1/blobs/{digest}" => (Method::HEAD, format!("/v1/blobs/{hello}"), None, None),
        "GET /v1/blobs/{digest}" => (Method::GET, format!("/v1/blobs/{hello}"), None, None),
        // Each caller uploads its own bytes: an upload proves possession, after which the dedup
        // check rightly reports that blob present to its uploader.
        "PUT /v1/blobs/{digest}" => {
            let bytes = format!("hello {n}").into_bytes();
            (Method::PUT, format!("/v1/blobs/{}", Digest::of(&bytes)), None, Some(bytes))
        }
        "POST /v1/blobs:check" => {
            (Method::POST, "/v1/blobs:check".into(), Some(json!({"digests": [hello]})), None)
        }
        // Upload sessions belong to their opener: other callers get 404 for one that exists.
        "POST /v1/uploads" => (
            Method::POST,
            "/v1/uploads".into(),
            Some(json!({"digest": Digest::of(format!("upload {n}").as_bytes()), "size": 10})),
            None,
        ),
        "GET /v1/uploads" => (Method::GET, "/v1/uploads".into(), None, None),
        "GET /v1/uploads/{id}" => (Method::GET, format!("/v1/uploads/{}", uuid(n)), None, None),
        "DELETE /v1/uploads/{id}" => (Method::DELETE, format!("/v1/uploads/{}", uuid(n)), None, None),
        "PUT /v1/uploads/{id}/parts/{part}" => {
            (Method::PUT, format!("/v1/uploads/{}/parts/0", uuid(n)), None, Some(b"0123456789".to_vec()))
        }
        "POST /v1/uploads/{id}/complete" => {
            (Method::POST, format!("/v1/uploads/{}/complete", uuid(n)), None, None)
        }
        "GET /v1/models" => (Method::GET, "/v1/models".into(), None, None),
        "GET /v1/models/{namespace}/{name}" => (Method::GET, "/v1/models/fraud/detector".into(), None, None),
        "GET /v1/models/{namespace}/{name}/versions" => {
            (Method::GET, "/v1/models/fraud/detector/versions".into(), None, None)
        }
        "GET /v1/models/{namespace}/{name}/versions/{version}" => (Method::GET, v.into(), None, None),
        "PUT /v1/models/{namespace}/{name}/versions/{version}" => {
            (Method::PUT, v.into(), Some(seed_body()), None)
        }
        "GET /v1/models/{namespace}/{name}/versions/{version}/manifest" => {
            (Method::GET, format!("{v}/manifest"), None, None)
        }
        "GET /v1/whoami" => (Method::GET, "/v1/whoami".into(), None, None),
        "POST /v1/tokens" => (
            Method::POST,
            "/v1/tokens".into(),
            Some(json!({"name": format!("made-{n}"), "scopes": ["read"], "namespace": "fraud/*"})),
            None,
        ),
        "GET /v1/tokens" => (Method::GET, "/v1/tokens".into(), None, None),
        "DELETE /v1/tokens/{id}" => (Method::DELETE, "/v1/tokens/no-such-token".into(), None, None),
        "GET /v1/audit" => (Method::GET, "/v1/audit".into(), None, None),
        "GET /v1/models/{namespace}/{name}/versions/{version}/attestations" => {
            (Method::GET, format!("{v}/attestations"), None, None)
        }
        "POST /v1/models/{namespace}/{name}/versions/{version}/attestations" => (
            Method::POST,
            format!("{v}/attestations"),
            Some(json!({"payloadType": "x", "payload": "", "signatures": []})),
            None,
        ),
        "GET /v1/models/{namespace}/{name}/versions/{version}/attestations/{id}" => {
            (Method::GET, format!("{v}/attestations/1"), None, None)
        }
        "GET /v1/keys" => (Method::GET, "/v1/keys".into(), None, None),
        "POST /v1/keys" => (
            Method::POST,
            "/v1/keys".into(),
            Some(json!({"namespace": "fraud/*", "public_key": "not a key"})),
            None,
        ),
        "DELETE /v1/keys/{key_id}" => (Method::DELETE, format!("/v1/keys/{hello}"), None, None),
        "GET /v1/trust-roots" => (Method::GET, "/v1/trust-roots".into(), None, None),
        "PUT /v1/trust-roots/{name}" => {
            (Method::PUT, "/v1/trust-roots/private".into(), Some(json!({})), None)
        }
        "DELETE /v1/trust-roots/{name}" => (Method::DELETE, "/v1/trust-roots/private".into(), None, None),
        "GET /v1/identities" => (Method::GET, "/v1/identities".into(), None, None),
        "POST /v1/identities" => (
            Method::POST,
            "/v1/identities".into(),
            Some(json!({"namespace": "fraud/*", "issuer": "", "subject": "x"})),
            None,
        ),
        "DELETE /v1/identities/{id}" => (Method::DELETE, "/v1/identities/identity-999".into(), None, None),
        "GET /v1/namespaces/{namespace}" => (Method::GET, "/v1/namespaces/fraud".into(), None, None),
        "GET /v1/log/key" => (Method::GET, "/v1/log/key".into(), None, None),
        "GET /v1/log/checkpoint" => (Method::GET, "/v1/log/checkpoint".into(), None, None),
        "GET /v1/log/entries" => (Method::GET, "/v1/log/entries?start=0&end=10".into(), None, None),
        "GET /v1/events" => (Method::GET, "/v1/events?after=-1&limit=10".into(), None, None),
        "POST /v1/webhooks" => (
            Method::POST,
            "/v1/webhooks".into(),
            Some(json!({"url": "http://127.0.0.1:9/hook", "namespace": "*", "events": ["*"]})),
            None,
        ),
        "GET /v1/webhooks" => (Method::GET, "/v1/webhooks".into(), None, None),
        "GET /v1/webhooks/{id}" => (Method::GET, "/v1/webhooks/webhook-999".into(), None, None),
        "DELETE /v1/webhooks/{id}" => (Method::DELETE, "/v1/webhooks/webhook-999".into(), None, None),
        "POST /v1/webhooks/{id}/pause" => (Method::POST, "/v1/webhooks/webhook-999/pause".into(), None, None),
        "POST /v1/webhooks/{id}/resume" => {
            (Method::POST, "/v1/webhooks/webhook-999/resume".into(), None, None)
        }
        "POST /v1/webhooks/{id}/redeliver" => {
            (Method::POST, "/v1/webhooks/webhook-999/redeliver".into(), None, None)
        }
        "POST /v1/webhooks/{id}/rotate-secret" => {
            (Method::POST, "/v1/webhooks/webhook-999/rotate-secret".into(), None, None)
        }
        "GET /v1/log/proofs/inclusion" => {
            (Method::GET, "/v1/log/proofs/inclusion?index=0&tree_size=1".into(), None, None)
        }
        "GET /v1/log/proofs/consistency" => {
            (Method::GET, "/v1/log/proofs/consistency?from=1&to=2".into(), None, None)
        }
        "GET /v1/models/{namespace}/{name}/versions/{version}/bundle" => {
            (Method::GET, format!("{v}/bundle"), None, None)
        }
        "PUT /v1/namespaces/{namespace}" => {
            (Method::PUT, "/v1/namespaces/fraud".into(), Some(json!({"require_provenance": false})), None)
        }
        "GET /v1/attestation-key" => (Method::GET, "/v1/attestation-key".into(), None, None),
        "GET /v1/models/{namespace}/{name}/aliases" => {
            (Method::GET, "/v1/models/fraud/detector/aliases".into(), None, None)
        }
        "GET /v1/models/{namespace}/{name}/aliases/{alias}" => {
            (Method::GET, "/v1/models/fraud/detector/aliases/staging".into(), None, None)
        }
        "PUT /v1/models/{namespace}/{name}/aliases/{alias}" => (
            Method::PUT,
            format!("/v1/models/fraud/detector/aliases/a{n}"),
            Some(json!({"version": "1.4.0", "reason": "matrix"})),
            None,
        ),
        "POST /v1/models/{namespace}/{name}/aliases/{alias}:rollback" => (
            Method::POST,
            "/v1/models/fraud/detector/aliases/staging:rollback".into(),
            Some(json!({"reason": "matrix"})),
            None,
        ),
        "GET /v1/models/{namespace}/{name}/aliases/{alias}/history" => {
            (Method::GET, "/v1/models/fraud/detector/aliases/staging/history".into(), None, None)
        }
        "POST /v1/policies" => (
            Method::POST,
            "/v1/policies".into(),
            Some(json!({"namespace": "fraud/*", "alias": format!("p{n}"),
                        "rego": "package registry.promote\n\nallow := true\n"})),
            None,
        ),
        "GET /v1/policies" => (Method::GET, "/v1/policies".into(), None, None),
        "GET /v1/policies/{id}" => (Method::GET, "/v1/policies/1".into(), None, None),
        "POST /v1/policies:test" => (
            Method::POST,
            "/v1/policies:test".into(),
            Some(json!({"version": "fraud/detector@1.4.0", "alias": "production"})),
            None,
        ),
        "GET /v1/lineage/affected" => {
            (Method::GET, format!("/v1/lineage/affected?dataset={hello}"), None, None)
        }
        "POST /v1/quarantines" => (
            Method::POST,
            "/v1/quarantines".into(),
            Some(json!({"dataset": Digest::of(format!("nothing {n}").as_bytes()), "reason": "matrix"})),
            None,
        ),
        "GET /v1/quarantines" => (Method::GET, "/v1/quarantines".into(), None, None),
        "GET /v1/reports/compliance" => (Method::GET, "/v1/reports/compliance".into(), None, None),
        "GET /v1/quarantines/{id}" => (Method::GET, "/v1/quarantines/1".into(), None, None),
        "POST /v1/quarantines/{id}/lift" => {
            (Method::POST, "/v1/quarantines/1/lift".into(), Some(json!({"reason": "matrix"})), None)
        }
        "GET /v2/" => (Method::GET, "/v2/".into(), None, None),
        "GET /v2/token" => {
            (Method::GET, "/v2/token?service=x&scope=repository:fraud/detector:pull".into(), None, None)
        }
        "GET /v2/{ns}/{name}/manifests/{reference}" => {
            (Method::GET, "/v2/fraud/detector/manifests/1.4.0".into(), None, None)
        }
        "HEAD /v2/{ns}/{name}/manifests/{reference}" => {
            (Method::HEAD, "/v2/fraud/detector/manifests/1.4.0".into(), None, None)
        }
        "GET /v2/{ns}/{name}/blobs/{digest}" => {
            (Method::GET, format!("/v2/fraud/detector/blobs/{hello}"), None, None)
        }
        "HEAD /v2/{ns}/{name}/blobs/{digest}" => {
            (Method::HEAD, format!("/v2/fraud/detector/blobs/{hello}"), None, None)
        }
        "GET /v2/{ns}/{name}/tags/list" => (Method::GET, "/v2/fraud/detector/tags/list".into(), None, None),
        "GET /v2/{ns}/{name}/referrers/{digest}" => {
            (Method::GET, format!("/v2/fraud/detector/referrers/{hello}"), None, None)
        }
        op if op.contains("/api/") => return mlflow_request(op, n),
        _ => return None,
    })
}

/// The request each MLflow-compatible route gets (`/api/2.0/mlflow...`, `/api/3.0/...`): reads of
/// fraud/detector (whose 1.4.0 is its version 1), writes that reach their service, and runs, logged
/// models and files that do not exist (their owner checks are the services', tested elsewhere).
fn mlflow_request(op: &str, n: usize) -> Option<Request> {
    use reqwest::Method;
    let (method, template) = op.split_once(' ')?;
    let method: Method = method.parse().ok()?;
    let api = "/api/2.0/mlflow";
    let run = "0123456789abcdef0123456789abcdef";
    let model = format!("m-{run}");
    let body = |v: Value| Some(v);
    let key =
        template.strip_prefix("/api/2.0/mlflow/").map_or_else(|| template.to_owned(), |t| format!("/{t}"));
    let (path, json) = match key.as_str() {
        "/experiments/get-by-name" => {
            (format!("{api}/experiments/get-by-name?experiment_name=Default"), None)
        }
        "/experiments/get" => (format!("{api}/experiments/get?experiment_id=0"), None),
        "/experiments/create" => (template.into(), body(json!({"name": format!("exp-{n}")}))),
        "/experiments/search" | "/runs/search" | "/logged-models/search" => {
            (template.into(), body(json!({"experiment_ids": ["0"]})))
        }
        "/runs/create" | "/logged-models" => (template.into(), body(json!({"experiment_id": "0"}))),
        "/runs/get" => (format!("{api}/runs/get?run_id={run}"), None),
        "/metrics/get-history" => (format!("{api}/metrics/get-history?run_id={run}&metric_key=loss"), None),
        "/runs/update"
        | "/runs/log-batch"
        | "/runs/log-parameter"
        | "/runs/log-metric"
        | "/runs/set-tag"
        | "/runs/log-inputs"
        | "/runs/outputs" => (
            template.into(),
            body(
                json!({"run_id": run, "key": "k", "value": 1.0, "status": "FINISHED", "timestamp": 1, "step": 0}),
            ),
        ),
        "/logged-models/{model_id}" => {
            (format!("{api}/logged-models/{model}"), body(json!({"status": "LOGGED_MODEL_READY"})))
        }
        "/logged-models/{model_id}/tags" => {
            (format!("{api}/logged-models/{model}/tags"), body(json!({"tags": []})))
        }
        "/registered-models/create" => (template.into(), body(json!({"name": format!("fraud.m{n}")}))),
        "/registered-models/get" | "/registered-models/get-latest-versions" | "/registered-models/delete" => {
            (format!("{template}?name=fraud.detector"), body(json!({"name": "fraud.detector"})))
        }
        "/registered-models/search" => (format!("{template}?filter=name%3D%27fraud.detector%27"), None),
        "/registered-models/alias" => (
            format!("{template}?name=fraud.detector&alias=staging"),
            body(json!({"name": "fraud.detector", "alias": format!("a{n}"), "version": "1"})),
        ),
        "/registered-models/update"
        | "/registered-models/rename"
        | "/registered-models/set-tag"
        | "/model-versions/update"
        | "/model-versions/set-tag"
        | "/model-versions/transition-stage" => (
            template.into(),
            body(json!({"name": "fraud.detector", "version": "1", "key": "k", "value": "v",
                        "description": "d", "new_name": "fraud.x", "stage": "Production"})),
        ),
        "/registered-models/delete-tag"
        | "/model-versions/delete-tag"
        | "/model-versions/get"
        | "/model-versions/delete"
        | "/model-versions/get-download-uri" => {
            (format!("{template}?name=fraud.detector&version=1&key=k"), None)
        }
        "/model-versions/search" => (format!("{template}?filter=name%3D%27fraud.detector%27"), None),
        "/model-versions/create" => {
            (template.into(), body(json!({"name": "fraud.detector", "source": format!("models:/{model}")})))
        }
        "/api/2.0/mlflow-artifacts/artifacts" => (format!("{template}?path=0/{run}/artifacts"), None),
        "/api/2.0/mlflow-artifacts/artifacts/{*path}" => {
            let path = format!("/api/2.0/mlflow-artifacts/artifacts/0/{run}/artifacts/f{n}.txt");
            return Some((method, path, None, Some(b"x".to_vec())));
        }
        "/api/3.0/mlflow/server-info" => (template.into(), None),
        _ => return None,
    };
    // GET and DELETE carry the request in the query; the others a JSON body.
    let json = if matches!(method, Method::GET | Method::DELETE) { None } else { json };
    Some((method, path, json, None))
}

/// MLflow-compatible routes that refuse every caller allowed to call them: history is append-only.
const REFUSED: &[&str] = &[
    "DELETE /api/2.0/mlflow/registered-models/alias",
    "DELETE /api/2.0/mlflow/registered-models/delete",
    "POST /api/2.0/mlflow/registered-models/rename",
    "DELETE /api/2.0/mlflow/model-versions/delete",
    "POST /api/2.0/mlflow/model-versions/transition-stage",
    "DELETE /api/2.0/mlflow-artifacts/artifacts/{*path}",
];

/// A session id no one opened.
fn uuid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn seed_body() -> Value {
    json!({"manifest": {"mediaType": registry_core::manifest::MEDIA_TYPE,
        "files": [{"path": "weights.bin", "size": 5, "digest": Digest::of(b"hello")}]}})
}

/// What a caller should get: `Ok(())` when authorised (any status but 401/403), else the status.
fn expected(op: &str, required: Option<Option<Scope>>, c: &Caller) -> Result<(), u16> {
    let Some(required) = required else { return Ok(()) }; // public
    let Some(scopes) = &c.scopes else { return Err(401) };
    let has = |s: Scope| scopes.contains(&Scope::Admin) || scopes.contains(&s);
    if let Some(s) = required
        && !has(s)
    {
        return Err(403);
    }
    if REFUSED.contains(&op) {
        return Err(403);
    }
    if op == "GET /v1/log/entries" && !scopes.contains(&Scope::Admin) {
        return Err(403); // the whole log needs a credential covering every namespace
    }
    if c.other_namespace {
        // Outside its pattern: fraud/* reads look absent, writes are forbidden.
        return match op {
            "GET /v1/models/{namespace}/{name}"
            | "GET /v1/models/{namespace}/{name}/versions"
            | "GET /v1/models/{namespace}/{name}/versions/{version}"
            | "GET /v1/models/{namespace}/{name}/versions/{version}/manifest"
            | "GET /v1/models/{namespace}/{name}/versions/{version}/attestations"
            | "GET /v1/models/{namespace}/{name}/versions/{version}/attestations/{id}"
            | "GET /v1/models/{namespace}/{name}/versions/{version}/bundle"
            | "GET /v1/models/{namespace}/{name}/aliases"
            | "GET /v1/models/{namespace}/{name}/aliases/{alias}"
            | "GET /v1/models/{namespace}/{name}/aliases/{alias}/history"
            | "GET /v1/blobs/{digest}"
            | "HEAD /v1/blobs/{digest}"
            // The OCI view: a repository outside the pattern is NAME_UNKNOWN, as a missing one.
            | "GET /v2/{ns}/{name}/manifests/{reference}"
            | "HEAD /v2/{ns}/{name}/manifests/{reference}"
            | "GET /v2/{ns}/{name}/blobs/{digest}"
            | "HEAD /v2/{ns}/{name}/blobs/{digest}"
            | "GET /v2/{ns}/{name}/tags/list"
            | "GET /v2/{ns}/{name}/referrers/{digest}" => Err(404),
            "PUT /v1/models/{namespace}/{name}/versions/{version}"
            | "POST /v1/models/{namespace}/{name}/versions/{version}/attestations"
            | "PUT /v1/models/{namespace}/{name}/aliases/{alias}"
            | "POST /v1/models/{namespace}/{name}/aliases/{alias}:rollback"
            | "POST /v1/policies:test" => Err(403),
            // MLflow's API answers 403 for any model outside the pattern, decided on the name.
            op if op.contains("/api/2.0/mlflow/registered-models/")
                || op.contains("/api/2.0/mlflow/model-versions/") =>
            {
                if op.ends_with("/registered-models/search") { Ok(()) } else { Err(403) }
            }
            _ => Ok(()),
        };
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_by_every_caller_gets_exactly_what_its_scope_allows() {
    let s = TestServer::start().await;
    let admin = http(&s);
    assert_eq!(
        admin
            .put(format!("{}/v1/blobs/{}", s.url, Digest::of(b"hello")))
            .body("hello")
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let r = admin
        .put(format!("{}/v1/models/fraud/detector/versions/1.4.0", s.url))
        .json(&seed_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let past = registry_server::db::now_ms() - 1000;
    let mut callers = vec![
        Caller { name: "no token", token: None, scopes: None, other_namespace: false },
        Caller {
            name: "wrong token",
            token: Some("reg_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
            scopes: None,
            other_namespace: false,
        },
        Caller { name: "garbage", token: Some("not-a-token".into()), scopes: None, other_namespace: false },
        Caller {
            name: "expired",
            token: Some(raw_token(&s, "expired", Some(past), false).await),
            scopes: None,
            other_namespace: false,
        },
        Caller {
            name: "revoked",
            token: Some(raw_token(&s, "revoked", None, true).await),
            scopes: None,
            other_namespace: false,
        },
    ];
    for sc in [Scope::Read, Scope::Push, Scope::Attest, Scope::Promote] {
        let name: &'static str = Box::leak(format!("{sc} on fraud/*").into_boxed_str());
        callers.push(Caller {
            name,
            token: Some(s.token(&format!("only-{sc}"), &[sc], "fraud/*").await),
            scopes: Some(vec![sc]),
            other_namespace: false,
        });
    }
    let all = vec![Scope::Read, Scope::Push, Scope::Attest, Scope::Promote];
    callers.push(Caller {
        name: "all but admin on other/*",
        token: Some(s.token("other", &all, "other/*").await),
        scopes: Some(all),
        other_namespace: true,
    });
    callers.push(Caller {
        name: "admin",
        token: Some(s.admin_token.clone()),
        scopes: Some(vec![Scope::Admin]),
        other_namespace: false,
    });

    use registry_server::mounted::{Access, mounted_routes};
    let mounted = mounted_routes();
    let ops: Vec<(String, Option<Option<Scope>>)> = mounted
        .iter()
        .map(|r| {
            let required = match r.access {
                Access::Public => None,
                Access::Authenticated => Some(None),
                Access::Scope(scope) => Some(Some(scope)),
            };
            (format!("{} {}", r.method, r.path), required)
        })
        .collect();
    assert!(ops.len() >= 16, "{} operations", ops.len());

    let clients: Vec<reqwest::Client> =
        callers.iter().map(|c| c.token.as_deref().map_or_else(reqwest::Client::new, http_with)).collect();
    let mut cells = 0;
    let mut wrong = Vec::new();
    for (i, (op, required)) in ops.iter().enumerate() {
        for (j, c) in callers.iter().enumerate() {
            let (method, path, json, bytes) = request(op, i * 100 + j)
                .unwrap_or_else(|| panic!("no request for {op}: add one to the matrix"));
            let mut rb = clients[j].request(method, format!("{}{path}", s.url));
            if let Some(j) = json {
                rb = rb.json(&j);
            }
            if let Some(b) = bytes {
                rb = rb.body(b);
            }
            let resp = rb.send().await.unwrap();
            let got = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            cells += 1;
            let ok = match expected(op, *required, c) {
                // 405: the route is not mounted with the method the table gives it.
                Ok(()) => !matches!(got, 401 | 403 | 405) && got < 500,
                Err(want) => got == want,
            };
            if !ok {
                wrong.push(format!(
                    "{op} as {}: got {got} {body}, expected {:?}",
                    c.name,
                    expected(op, *required, c)
                ));
            }
            if c.other_namespace && op == "GET /v1/models" {
                assert!(!body.contains("detector"), "listing shows only covered models: {body}");
            }
            if c.other_namespace && op == "POST /v1/blobs:check" {
                assert!(
                    body.contains(&Digest::of(b"hello").to_string()),
                    "blobs of other namespaces read as missing: {body}"
                );
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {cells} cells wrong:\n{}", wrong.len(), wrong.join("\n"));
    eprintln!("{cells} cells, {} operations x {} callers, all as declared", ops.len(), callers.len());
}
