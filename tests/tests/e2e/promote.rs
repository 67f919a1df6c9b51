//! Promotion end to end: aliases move only when every attached Rego policy allows it, every decision
//! (passed or failed) is in the history and the log, allowed moves carry a VSA signed by the server,
//! aliases resolve wherever a version does, rollback finds the last known-good target, and concurrent
//! promotions serialize. The example policies under docs/policies/ are exercised here.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use registry_client::{Client, ClientError, NoProgress};
use registry_core::api::AddKeyRequest;
use registry_core::attest::keys::{KeyKind, SigningKey};
use registry_core::attest::predicates::{OMS_V1, SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use registry_core::auth::{NamePattern, Scope};
use registry_core::lineage::{Dataset, Scalar};
use registry_core::promote::{PolicyTestRequest, PromoteRequest, SetPolicyRequest};
use registry_core::tlog::entry::LogEntry;
use registry_core::{Digest, Lineage, ModelName, ModelRef};
use registry_e2e::*;
use serde_json::{Value, json};

fn m(s: &str) -> ModelName {
    ModelName::parse(s).unwrap()
}

fn example(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/policies").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn lineage(auc: f64, datasets: &[(&str, &[u8])]) -> Lineage {
    let mut l = Lineage::default();
    l.metrics.insert("auc".into(), Scalar::Number(serde_json::Number::from_f64(auc).unwrap()));
    for (uri, content) in datasets {
        l.datasets.push(Dataset { uri: (*uri).into(), digest: Digest::of(content), role: "train".into() });
    }
    l
}

async fn push_version(c: &Client, model: &str, version: &str, l: Lineage, sign: Option<&SigningKey>) {
    let content = format!("weights of {version}");
    TestPush::new(model, version)
        .files(&[("weights.bin", content.as_bytes())])
        .lineage(l)
        .signed(sign)
        .run(c)
        .await
        .unwrap();
}

async fn set_policy(c: &Client, ns: &str, alias: &str, rego: &str) -> i64 {
    c.set_policy(&SetPolicyRequest {
        namespace: NamePattern::parse(ns).unwrap(),
        alias: alias.into(),
        rego: rego.into(),
    })
    .await
    .unwrap()
    .id
}

async fn log_kinds(s: &TestServer) -> Vec<LogEntry> {
    let size = s.state.db.log_size().await.unwrap();
    let v: Value = http(s)
        .get(format!("{}/v1/log/entries?start=0&end={size}", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| LogEntry::parse(e["body"].as_str().unwrap().as_bytes()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_moves_under_policy_with_signed_decisions_and_resolves_everywhere() {
    let s = TestServer::start().await;
    let c = client(&s);
    let model = m("fraud/detector");
    push_version(&c, "fraud/detector", "1", lineage(0.95, &[]), None).await;
    push_version(&c, "fraud/detector", "2", lineage(0.50, &[]), None).await;

    // No policy: allowed, and it says so; the decision is still signed.
    let r = c.promote(&model, "staging", &promote_req("1")).await.unwrap();
    assert!(r.decision.allowed);
    assert!(r.decision.policies.is_empty());
    assert!(r.decision.reasons[0].contains("no policy applies"), "{:?}", r.decision.reasons);
    let vsa = r.vsa.clone().unwrap();
    assert_eq!((vsa.predicate_type.as_str(), vsa.status.as_str()), (SLSA_VSA_V1, "verified"));
    let server_key =
        registry_core::attest::keys::PublicKey::from_pem(&c.attestation_key().await.unwrap()).unwrap();
    assert_eq!(vsa.signer_key_id, server_key.key_id());

    // The alias resolves wherever a version does: record, pull.
    assert_eq!(c.get_version(&model, "staging").await.unwrap().version, "1");
    let out = tempfile::tempdir().unwrap();
    let pulled = registry_client::pull::pull(
        &c,
        &model,
        "staging",
        &out.path().join("m"),
        false,
        Arc::new(NoProgress),
        2,
    )
    .await
    .unwrap();
    assert_eq!(pulled.version.version, "1");

    // A metric policy on prod*: 2 is denied (403 with the reason, recorded), 1 passes.
    let pid = set_policy(&c, "fraud/*", "prod*", &example("metrics.rego")).await;
    let (status, code, reasons) =
        refusal(c.promote(&model, "production", &promote_req("2")).await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "policy_denied"));
    assert_eq!(reasons, [format!("policy {pid}: auc 0.5 is below 0.9")]);
    assert!(c.get_alias(&model, "production", None).await.is_err(), "a denial moved nothing");
    let before = registry_server::db::now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let r = c.promote(&model, "production", &promote_req("1")).await.unwrap();
    assert_eq!((r.alias.version.as_str(), r.decision.policies[0].id), ("1", pid));
    let vsa_id = r.vsa.as_ref().unwrap().id;

    // The VSA: signed by the server's key over this version's manifest, naming the policy digest.
    let v1 = c.get_version(&model, "1").await.unwrap();
    let infos = c.list_attestations(&model, "1").await.unwrap().attestations;
    let info = infos.iter().find(|a| a.id == vsa_id).unwrap();
    let raw = c.attestation_bytes(&model, "1", info).await.unwrap();
    let manifest = c.get_manifest(&v1).await.unwrap();
    let trusted = [registry_core::attest::TrustedKey { key: server_key.clone(), predicate_types: vec![] }];
    let ok = registry_core::attest::verify(
        &raw,
        &trusted,
        registry_core::attest::Target { model: &model, manifest: &manifest },
    )
    .unwrap();
    let p = &ok.statement.predicate;
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(p["resourceUri"], "registry:fraud/detector@1");
    assert_eq!(p["policy"]["digest"]["sha256"].as_str().unwrap().len(), 64);

    // History (both decisions), point-in-time lookups, and the log (moved + denied).
    let h = c.alias_history(&model, "production", None).await.unwrap().events;
    assert_eq!(
        h.iter().map(|e| (e.decision.as_str(), e.version.as_str())).collect::<Vec<_>>(),
        [("passed", "1"), ("failed", "2")]
    );
    assert_eq!(h[1].reasons, [format!("policy {pid}: auc 0.5 is below 0.9")]);
    let then = registry_server::db::rfc3339(before);
    assert_eq!(c.get_alias(&model, "production", Some(&then)).await.map_err(refusal).unwrap_err().0, 404);
    let now = registry_server::db::rfc3339(registry_server::db::now_ms() + 1000);
    assert_eq!(c.get_alias(&model, "production", Some(&now)).await.unwrap().version, "1");
    let kinds: Vec<String> = log_kinds(&s).await.into_iter().map(|e| e.kind).collect();
    for k in ["alias.moved", "alias.denied", "policy.changed"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }

    // The dry run agrees and moves nothing.
    let d = c
        .test_policy(&PolicyTestRequest {
            version: ModelRef::parse("fraud/detector@2").unwrap(),
            alias: "production".into(),
        })
        .await
        .unwrap();
    assert!(!d.allowed);
    assert_eq!(c.get_alias(&model, "production", None).await.unwrap().version, "1");

    // The auditor bundle carries the VSA and the alias entries, and verifies offline.
    let bundle = c.audit_bundle(&model, "production").await.unwrap();
    assert_eq!(bundle.version.version, "1");
    let moved = bundle.log.entries.iter().filter(|e| e.body.contains("\"alias.moved\"")).count();
    assert_eq!(moved, 2, "staging and production moves of version 1");
    let vkey = registry_core::tlog::note::NoteVerifier::parse(&c.log_key().await.unwrap()).unwrap();
    let report = registry_core::audit_bundle::verify_offline(&bundle, &trusted, &vkey, &[SLSA_VSA_V1.into()]);
    assert!(report.ok(), "{:?}", report.findings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_promotions_and_policies_are_refused_with_clear_codes() {
    let s = TestServer::start().await;
    let c = client(&s);
    let model = m("fraud/detector");
    push_version(&c, "fraud/detector", "1", lineage(0.95, &[]), None).await;
    push_version(&c, "fraud/detector", "2", lineage(0.95, &[]), None).await;
    let err = |e: ClientError| refusal(e);

    // Unknown version, unknown model, unknown alias; alias name rules; an alias may not shadow a label.
    assert_eq!(err(c.promote(&model, "staging", &promote_req("9")).await.unwrap_err()).0, 404);
    assert_eq!(err(c.promote(&m("fraud/none"), "staging", &promote_req("1")).await.unwrap_err()).0, 404);
    assert_eq!(err(c.get_alias(&model, "nope", None).await.unwrap_err()).0, 404);
    for bad in ["Prod", "1st", "a.b"] {
        let (st, code, _) = err(c.promote(&model, bad, &promote_req("1")).await.unwrap_err());
        assert_eq!((st, code.as_str()), (400, "invalid_name"), "{bad}");
    }
    let (st, code, _) = err(c.promote(&model, "2", &promote_req("1")).await.unwrap_err());
    assert!(st == 400 || (st, code.as_str()) == (409, "name_conflict"), "{st} {code}");
    let (st, code, _) = err(c.get_alias(&model, "staging", Some("yesterday")).await.unwrap_err());
    assert_eq!((st, code.as_str()), (400, "bad_request"));

    // Compare-and-swap: a CD pipeline that saw an older target is told the alias moved.
    c.promote(&model, "staging", &promote_req("1")).await.unwrap();
    let cas =
        PromoteRequest { version: "2".into(), reason: String::new(), expected_current: Some("2".into()) };
    let (st, code, _) = err(c.promote(&model, "staging", &cas).await.unwrap_err());
    assert_eq!((st, code.as_str()), (409, "alias_moved"));
    let cas = PromoteRequest { expected_current: Some("1".into()), ..cas };
    assert_eq!(c.promote(&model, "staging", &cas).await.unwrap().alias.version, "2");

    // A new version may not take an alias's name.
    let e = TestPush::new(&model.to_string(), "staging").files(&[("w", b"x")]).run(&c).await.unwrap_err();
    assert_eq!(e.code(), Some("name_conflict"), "{e}");

    // Policies that do not compile, or are not the promotion package, are refused at `set`.
    let set = |rego: &str| SetPolicyRequest {
        namespace: NamePattern::parse("fraud/*").unwrap(),
        alias: "production".into(),
        rego: rego.into(),
    };
    let (st, code, _) = err(c.set_policy(&set("package registry.promote\nallow if {")).await.unwrap_err());
    assert_eq!((st, code.as_str()), (400, "invalid_policy"));
    let (st, code, _) = err(c.set_policy(&set("package other\nallow := true")).await.unwrap_err());
    assert_eq!((st, code.as_str()), (400, "invalid_policy"));
    let mut bad_alias = set("package registry.promote\nallow := true");
    bad_alias.alias = "*prod".into();
    assert_eq!(err(c.set_policy(&bad_alias).await.unwrap_err()).1, "invalid_name");
    assert!(c.list_policies().await.unwrap().policies.is_empty(), "nothing stored");

    // A policy that errors at evaluation, or runs out of time, denies (never allows).
    set_policy(
        &c,
        "fraud/*",
        "errors",
        "package registry.promote\nimport rego.v1\nallow if to_number(\"x\") > 1\n",
    )
    .await;
    let (st, _, reasons) = err(c.promote(&model, "errors", &promote_req("1")).await.unwrap_err());
    assert_eq!(st, 403);
    assert!(!reasons.is_empty(), "a reason is given");
    let slow = "package registry.promote\nimport rego.v1\n\
                allow if count([1 | some i in numbers.range(1, 4000); some j in numbers.range(1, 4000)]) > 0\n";
    set_policy(&c, "fraud/*", "slow", slow).await;
    let t = std::time::Instant::now();
    let (st, _, reasons) = err(c.promote(&model, "slow", &promote_req("1")).await.unwrap_err());
    assert_eq!(st, 403);
    assert!(reasons[0].contains("could not be evaluated"), "{reasons:?}");
    assert!(t.elapsed() < std::time::Duration::from_secs(10), "evaluation is bounded");

    // A policy without `allow` at all denies; one whose deny set is non-empty denies with its reasons.
    set_policy(&c, "fraud/*", "silent", "package registry.promote\n").await;
    let (st, _, reasons) = err(c.promote(&model, "silent", &promote_req("1")).await.unwrap_err());
    assert_eq!(st, 403);
    assert!(reasons[0].contains("allow is not true"), "{reasons:?}");

    // Rollback with no earlier target.
    c.promote(&model, "champion", &promote_req("1")).await.unwrap();
    let (st, code, _) = err(c.rollback(&model, "champion", "nothing before").await.unwrap_err());
    assert_eq!((st, code.as_str()), (409, "no_rollback_target"));
    assert_eq!(err(c.rollback(&model, "unknown", "").await.unwrap_err()).0, 404);
    // POST on an alias needs the action; the action takes only POST. Allow says what does work.
    let r = http(&s)
        .post(format!("{}/v1/models/fraud/detector/aliases/champion", s.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["allow"].to_str().unwrap()), (405, "GET, HEAD, PUT"));
    let r = http(&s)
        .put(format!("{}/v1/models/fraud/detector/aliases/champion:rollback", s.url))
        .json(&json!({"version": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["allow"].to_str().unwrap()), (405, "POST"));
    let r =
        http(&s).delete(format!("{}/v1/models/fraud/detector/aliases/champion", s.url)).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["allow"].to_str().unwrap()), (405, "GET, HEAD, PUT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_returns_to_the_last_known_good_target() {
    let s = TestServer::start().await;
    let c = client(&s);
    let model = m("fraud/detector");
    for v in ["1", "2", "3", "4"] {
        push_version(&c, "fraud/detector", v, lineage(0.95, &[]), None).await;
        c.promote(&model, "production", &promote_req(v)).await.unwrap();
    }
    // 3 turns out to be bad (quarantined behind the API's back here; the quarantine API is later).
    sqlx::query("UPDATE versions SET quarantined = 1 WHERE version = '3'")
        .execute(s.state.db.pool())
        .await
        .unwrap();
    let r = c.rollback(&model, "production", "4 misbehaves").await.unwrap();
    assert_eq!(r.alias.version, "2", "skips quarantined 3");
    assert!(r.vsa.is_some());
    // Rolling back again never returns to a version a rollback left (4), nor the quarantined one.
    let r = c.rollback(&model, "production", "2 misbehaves too").await.unwrap();
    assert_eq!(r.alias.version, "1");
    let (st, code, _) = refusal(c.rollback(&model, "production", "again").await.unwrap_err());
    assert_eq!((st, code.as_str()), (409, "no_rollback_target"));
    // Policy is re-checked: a rollback target must still pass.
    let h = c.alias_history(&model, "production", None).await.unwrap().events;
    assert_eq!(h[0].kind, "rollback");
    assert_eq!((h[0].previous.as_deref(), h[0].version.as_str()), (Some("2"), "1"));
    assert_eq!(
        h.iter().map(|e| e.version.as_str()).collect::<Vec<_>>(),
        ["1", "2", "4", "3", "2", "1"],
        "newest first"
    );
    // A stricter policy now: the rollback candidates are evaluated and refused.
    c.promote(&model, "canary", &promote_req("1")).await.unwrap();
    c.promote(&model, "canary", &promote_req("2")).await.unwrap();
    set_policy(&c, "fraud/*", "canary", &example("separation-of-duties.rego")).await;
    let (st, code, _) = refusal(c.rollback(&model, "canary", "").await.unwrap_err());
    assert_eq!((st, code.as_str()), (409, "no_rollback_target"), "admin pushed 1, so it may not promote it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_promotions_of_one_alias_serialize_and_are_each_recorded_once() {
    let s = TestServer::start().await;
    let c = client(&s);
    let model = m("fraud/detector");
    for v in ["1", "2", "3", "4", "5"] {
        push_version(&c, "fraud/detector", v, lineage(0.95, &[]), None).await;
    }
    set_policy(&c, "fraud/*", "production", &example("metrics.rego")).await;
    let log_before = s.state.db.log_size().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = c.clone();
        let model = model.clone();
        tasks.push(tokio::spawn(async move {
            let v = (i % 5 + 1).to_string();
            c.promote(
                &model,
                "production",
                &PromoteRequest { version: v, reason: format!("#{i}"), expected_current: None },
            )
            .await
            .map(|r| r.log_index)
        }));
    }
    let mut indexes = Vec::new();
    for t in tasks {
        indexes.push(t.await.unwrap().unwrap());
    }
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(indexes.len(), 50, "each move has its own log entry");
    let h = c.alias_history(&model, "production", Some(100)).await.unwrap().events;
    assert_eq!(h.len(), 50);
    // The chain is consistent: each move's `previous` is the target the one before it set.
    for w in h.windows(2) {
        assert_eq!(w[0].previous.as_deref(), Some(w[1].version.as_str()), "{w:?}");
    }
    assert_eq!(h.last().unwrap().previous, None);
    assert_eq!(c.get_alias(&model, "production", None).await.unwrap().version, h[0].version);
    let reasons: std::collections::BTreeSet<_> = h.iter().map(|e| e.reason.clone()).collect();
    assert_eq!(reasons.len(), 50, "each request recorded once");
    // The log grew by exactly one alias entry and one VSA attestation entry per move.
    let entries = log_kinds(&s).await;
    let new = &entries[log_before as usize..];
    assert_eq!(new.iter().filter(|e| e.kind == "alias.moved").count(), 50);
    assert_eq!(new.iter().filter(|e| e.kind == "attestation.added").count(), 50);
    assert_eq!(new.len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_example_policies_allow_and_deny_what_they_say() {
    let s = TestServer::start().await;
    let admin = client(&s);
    let training = SigningKey::from_seed(KeyKind::Ed25519, &[7; 32]).unwrap();
    admin
        .add_key(&AddKeyRequest {
            namespace: NamePattern::parse("fraud/*").unwrap(),
            public_key: training.public().to_pem(),
            predicate_types: vec![SLSA_PROVENANCE_V1.into(), OMS_V1.into()],
        })
        .await
        .unwrap();
    // The training job pushes (push scope); a release engineer promotes (promote scope).
    let trainer =
        client(&s).with_token(Some(s.token("trainer", &[Scope::Read, Scope::Push], "fraud/*").await));
    let releaser =
        client(&s).with_token(Some(s.token("releaser", &[Scope::Read, Scope::Promote], "fraud/*").await));
    let model = m("fraud/detector");
    let data: &[(&str, &[u8])] = &[("s3://data/nov.parquet", b"november")];
    push_version(&trainer, "fraud/detector", "signed", lineage(0.95, data), Some(&training)).await;
    push_version(&trainer, "fraud/detector", "unsigned", lineage(0.95, data), None).await;
    push_version(&trainer, "fraud/detector", "weak", lineage(0.7, data), Some(&training)).await;
    push_version(&trainer, "fraud/detector", "nodata", lineage(0.95, &[]), Some(&training)).await;
    let denied = |r: Result<registry_core::promote::PromoteResponse, ClientError>| match r {
        Ok(r) => panic!("allowed: {:?}", r.decision),
        Err(e) => {
            let (st, code, reasons) = refusal(e);
            assert_eq!((st, code.as_str()), (403, "policy_denied"));
            reasons.join("; ")
        }
    };

    // Provenance signed by a trusted training key.
    set_policy(&admin, "fraud/*", "prov", &example("provenance.rego")).await;
    releaser.promote(&model, "prov", &promote_req("signed")).await.unwrap();
    assert!(
        denied(releaser.promote(&model, "prov", &promote_req("unsigned")).await)
            .contains("no verified SLSA provenance")
    );

    // Datasets named in signed provenance, none on the deny list.
    set_policy(&admin, "fraud/*", "data", &example("datasets.rego")).await;
    releaser.promote(&model, "data", &promote_req("signed")).await.unwrap();
    assert!(
        denied(releaser.promote(&model, "data", &promote_req("unsigned")).await)
            .contains("not in signed provenance")
    );
    assert!(
        denied(releaser.promote(&model, "data", &promote_req("nodata")).await)
            .contains("records no datasets")
    );
    let poisoned = example("datasets.rego").replace(
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        &Digest::of(b"november").to_string(),
    );
    set_policy(&admin, "fraud/*", "data", &poisoned).await;
    assert!(
        denied(releaser.promote(&model, "data", &promote_req("signed")).await).contains("on the deny list")
    );

    // Metric threshold.
    set_policy(&admin, "fraud/*", "metric", &example("metrics.rego")).await;
    releaser.promote(&model, "metric", &promote_req("signed")).await.unwrap();
    assert!(
        denied(releaser.promote(&model, "metric", &promote_req("weak")).await)
            .contains("auc 0.7 is below 0.9")
    );

    // Not quarantined.
    set_policy(&admin, "fraud/*", "clean", &example("not-quarantined.rego")).await;
    releaser.promote(&model, "clean", &promote_req("signed")).await.unwrap();
    sqlx::query("UPDATE versions SET quarantined = 1 WHERE version = 'weak'")
        .execute(s.state.db.pool())
        .await
        .unwrap();
    assert!(denied(releaser.promote(&model, "clean", &promote_req("weak")).await).contains("quarantined"));

    // Separation of duties: the pusher may not promote what it pushed.
    set_policy(&admin, "fraud/*", "four-eyes", &example("separation-of-duties.rego")).await;
    let both = client(&s)
        .with_token(Some(s.token("both", &[Scope::Push, Scope::Promote, Scope::Read], "fraud/*").await));
    push_version(&both, "fraud/detector", "self", lineage(0.95, data), None).await;
    assert!(
        denied(both.promote(&model, "four-eyes", &promote_req("self")).await)
            .contains("may not also promote")
    );
    releaser.promote(&model, "four-eyes", &promote_req("self")).await.unwrap();

    // Production only from staging.
    set_policy(&admin, "fraud/*", "production", &example("production-from-staging.rego")).await;
    assert!(
        denied(releaser.promote(&model, "production", &promote_req("signed")).await)
            .contains("staging is unset")
    );
    releaser.promote(&model, "staging", &promote_req("unsigned")).await.unwrap();
    assert!(
        denied(releaser.promote(&model, "production", &promote_req("signed")).await)
            .contains("not in staging")
    );
    releaser.promote(&model, "staging", &promote_req("signed")).await.unwrap();
    releaser.promote(&model, "production", &promote_req("signed")).await.unwrap();

    // Every policy in force is listed with its digest; superseded revisions stay readable.
    let policies = admin.list_policies().await.unwrap().policies;
    let data_policy = policies.iter().find(|p| p.alias == "data").unwrap();
    assert_eq!(data_policy.revision, 2);
    assert_eq!(data_policy.digest, Digest::of(poisoned.as_bytes()));
    let first = admin.get_policy(data_policy.id - 1).await;
    assert!(first.is_ok());

    // The compliance report over what this test stored: five versions, three signed (provenance +
    // OMS), four recording datasets, three promoted (each with this registry's VSA), one quarantined.
    let r = admin.compliance().await.unwrap();
    assert_eq!(r.namespaces.len(), 1);
    let n = &r.namespaces[0];
    assert_eq!(
        (n.namespace.as_str(), n.versions, n.signed_provenance, n.with_datasets, n.oms_signature),
        ("fraud", 5, 3, 4, 3)
    );
    assert_eq!((n.promoted, n.promoted_with_vsa, n.quarantined, n.corrupted), (3, 3, 1, 0));
    assert_eq!((n.signed_provenance_pct, n.promoted_with_vsa_pct), (60.0, 100.0));
    // Revoking the training key drops signed coverage to zero: judged against the keys trusted now.
    let key_id = training.public().key_id();
    let r = http(&s).delete(format!("{}/v1/keys/{key_id}", s.url)).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let n = admin.compliance().await.unwrap().namespaces[0].clone();
    assert_eq!((n.signed_provenance, n.oms_signature), (0, 0));
    // A reader of another namespace sees nothing of fraud.
    let other = client(&s).with_token(Some(s.token("other", &[Scope::Read], "vision/*").await));
    assert!(other.compliance().await.unwrap().namespaces.is_empty());
}

/// A policy reads only predicates whose stored bytes still hash to their digest: bytes altered behind
/// the server's back (here one trailing space: the same JSON) stop the promotion instead of being read
/// as evidence. A promotion over the intact bytes, before and after, reads the same predicate whether
/// it was decoded afresh or held from an earlier decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_never_reads_an_attestation_whose_stored_bytes_changed() {
    let s = TestServer::start().await;
    let admin = client(&s);
    let training = SigningKey::from_seed(KeyKind::Ed25519, &[7; 32]).unwrap();
    admin.add_key(&trust_key("fraud/*", &training, &[SLSA_PROVENANCE_V1, OMS_V1])).await.unwrap();
    let data: &[(&str, &[u8])] = &[("s3://data/nov.parquet", b"november")];
    push_version(&admin, "fraud/detector", "1", lineage(0.95, data), Some(&training)).await;
    push_version(&admin, "fraud/detector", "2", lineage(0.95, data), Some(&training)).await;
    set_policy(&admin, "fraud/*", "data", &example("datasets.rego")).await;
    let model = m("fraud/detector");
    admin.promote(&model, "data", &promote_req("1")).await.unwrap();

    let sql = format!(
        "UPDATE attestations SET body = body || ' ' WHERE predicate_type = '{SLSA_PROVENANCE_V1}' AND version_id = \
         (SELECT id FROM versions WHERE version = '2')"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(s.state.db.pool()).await.unwrap();
    let (status, code) = api_error(admin.promote(&model, "data", &promote_req("2")).await.unwrap_err());
    assert_eq!((status, code.as_str()), (500, "internal"));
    assert_eq!(admin.get_alias(&model, "data", None).await.unwrap().version, "1", "the alias did not move");

    // Version 1's predicate was decoded for the first decision; the next one reads it from memory.
    admin.promote(&model, "data", &promote_req("1")).await.unwrap();
}
