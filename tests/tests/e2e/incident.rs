//! Incident response end to end: the blast radius of a poisoned dataset, a commit, a signer key or a
//! version reaches every descendant through parent versions with its path; a quarantine marks them (in
//! the log), policies and bundles see it, aliases roll back to their last unaffected target, and lifting
//! is explicit and releases only what no other quarantine still covers.
#![allow(clippy::unwrap_used)]

use registry_client::Client;
use registry_client::incident::SeedArg;
use registry_core::attest::keys::{KeyKind, SigningKey};
use registry_core::attest::predicates::{OMS_V1, SLSA_PROVENANCE_V1};
use registry_core::auth::{NamePattern, Scope};
use registry_core::incident::QuarantineRequest;
use registry_core::lineage::{Code, Dataset};
use registry_core::promote::{PromoteRequest, SetPolicyRequest};
use registry_core::{Digest, Lineage, ModelName, ModelRef};
use registry_e2e::*;

fn m(s: &str) -> ModelName {
    ModelName::parse(s).unwrap()
}

fn lineage(datasets: &[&[u8]], parents: &[&str], commit: Option<&str>) -> Lineage {
    let mut l = Lineage::default();
    for d in datasets {
        l.datasets.push(Dataset { uri: "s3://data/x".into(), digest: Digest::of(d), role: "train".into() });
    }
    l.parents = parents.iter().map(|p| ModelRef::parse(p).unwrap()).collect();
    l.code =
        commit.map(|c| Code { repo: "https://github.com/acme/fraud".into(), commit: c.into(), path: None });
    l
}

async fn push_v(c: &Client, model: &str, version: &str, l: Lineage, sign: Option<&SigningKey>) {
    let content = format!("{model}@{version}");
    TestPush::new(model, version)
        .files(&[("w.bin", content.as_bytes())])
        .lineage(l)
        .signed(sign)
        .run(c)
        .await
        .unwrap();
}

fn names(r: &registry_core::incident::AffectedResponse) -> Vec<String> {
    r.versions.iter().map(|v| format!("{}@{}", v.model, v.version)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blast_radius_quarantine_rollback_and_lift() {
    let s = TestServer::start().await;
    let c = client(&s);
    let key = SigningKey::from_seed(KeyKind::Ed25519, &[9; 32]).unwrap();
    c.add_key(&trust_key("fraud/*", &key, &[SLSA_PROVENANCE_V1, OMS_V1])).await.unwrap();
    let commit = "c".repeat(40);
    // base@0 (clean) -> base@1 (poisoned data, signed) -> ft@1 (fine-tuned) -> small@1 (distilled);
    // other@1 is unrelated (other data, a known commit); vision/cls@1 descends from base@1 in another namespace.
    push_v(&c, "fraud/base", "0", lineage(&[b"clean"], &[], None), None).await;
    push_v(&c, "fraud/base", "1", lineage(&[b"poison", b"clean"], &[], None), Some(&key)).await;
    push_v(&c, "fraud/ft", "1", lineage(&[b"labels"], &["fraud/base@1"], None), None).await;
    push_v(&c, "fraud/small", "1", lineage(&[], &["fraud/ft@1"], None), None).await;
    push_v(&c, "fraud/other", "1", lineage(&[b"other"], &[], Some(&commit)), None).await;
    push_v(&c, "vision/cls", "1", lineage(&[], &["fraud/base@1"], None), None).await;
    let poison = Digest::of(b"poison");

    // Blast radius, breadth first, with paths.
    let r = c.affected(&SeedArg::Dataset(poison.to_string())).await.unwrap();
    assert_eq!(names(&r), ["fraud/base@1", "fraud/ft@1", "vision/cls@1", "fraud/small@1"]);
    assert_eq!(
        r.versions[3].path,
        [format!("dataset {poison}"), "fraud/base@1".into(), "fraud/ft@1".into(), "fraud/small@1".into()]
    );
    let by_commit = c.affected(&SeedArg::Commit(commit.clone())).await.unwrap();
    assert_eq!(names(&by_commit), ["fraud/other@1"]);
    let by_key = c.affected(&SeedArg::Key(key.public().key_id().to_string())).await.unwrap();
    assert_eq!(names(&by_key), ["fraud/base@1", "fraud/ft@1", "vision/cls@1", "fraud/small@1"]);
    let by_version = c.affected(&SeedArg::Version("fraud/ft@1".into())).await.unwrap();
    assert_eq!(names(&by_version), ["fraud/ft@1", "fraud/small@1"]);
    assert!(
        c.affected(&SeedArg::Dataset(Digest::of(b"unused").to_string())).await.unwrap().versions.is_empty()
    );
    // Bad seeds.
    for q in ["", "?commit=abc", "?dataset=sha256:00&key=sha256:00", "?dataset=nope"] {
        let r = http(&s).get(format!("{}/v1/lineage/affected{q}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{q}");
    }
    // A credential for fraud/* sees fraud versions only; the path through vision is masked.
    let fraud_reader = client(&s).with_token(Some(s.token("fraud-reader", &[Scope::Read], "fraud/*").await));
    let seen = fraud_reader.affected(&SeedArg::Dataset(poison.to_string())).await.unwrap();
    assert_eq!(names(&seen), ["fraud/base@1", "fraud/ft@1", "fraud/small@1"]);
    let vision_reader =
        client(&s).with_token(Some(s.token("vision-reader", &[Scope::Read], "vision/*").await));
    let seen = vision_reader.affected(&SeedArg::Dataset(poison.to_string())).await.unwrap();
    assert_eq!(names(&seen), ["vision/cls@1"]);
    assert!(seen.versions[0].path[1].contains("outside"), "{:?}", seen.versions[0].path);

    // Aliases in production before the incident.
    let base = m("fraud/base");
    let promote =
        |v: &str| PromoteRequest { version: v.into(), reason: String::new(), expected_current: None };
    c.promote(&base, "production", &promote("0")).await.unwrap();
    c.promote(&base, "production", &promote("1")).await.unwrap();
    c.promote(&m("fraud/ft"), "production", &promote("1")).await.unwrap();

    // Quarantine the dataset's radius and roll back.
    let q = c
        .quarantine(&QuarantineRequest {
            dataset: Some(poison),
            reason: "poisoned nightly data".into(),
            rollback: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(q.versions.len(), 4);
    assert!(q.versions.iter().all(|v| v.quarantined));
    let mut moves: Vec<(String, Option<String>)> =
        q.rollbacks.iter().map(|r| (r.model.clone(), r.to.clone())).collect();
    moves.sort();
    assert_eq!(
        moves,
        [("fraud/base".into(), Some("0".into())), ("fraud/ft".into(), None)],
        "{:?}",
        q.rollbacks
    );
    assert_eq!(c.get_version(&base, "production").await.unwrap().version, "0");
    assert!(c.get_version(&base, "1").await.unwrap().quarantined);
    assert!(!c.get_version(&base, "0").await.unwrap().quarantined);
    assert!(!c.get_version(&m("fraud/other"), "1").await.unwrap().quarantined);

    // Policies see it; the log and the auditor bundle record it.
    c.set_policy(&SetPolicyRequest {
        namespace: NamePattern::parse("fraud/*").unwrap(),
        alias: "production".into(),
        rego: std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/policies/not-quarantined.rego"
        ))
        .unwrap(),
    })
    .await
    .unwrap();
    let (st, code) = api_error(c.promote(&base, "production", &promote("1")).await.unwrap_err());
    assert_eq!((st, code.as_str()), (403, "policy_denied"));
    let bundle = c.audit_bundle(&base, "1").await.unwrap();
    assert!(bundle.log.entries.iter().any(|e| e.body.contains("\"version.quarantined\"")));
    let vkey = registry_core::tlog::note::NoteVerifier::parse(&c.log_key().await.unwrap()).unwrap();
    assert!(registry_core::audit_bundle::verify_offline(&bundle, &[], &vkey, &[]).ok());

    // A second quarantine (the signer key) overlaps; lifting the first releases nothing it still covers.
    let q2 = c
        .quarantine(&QuarantineRequest {
            key: Some(key.public().key_id()),
            reason: "key leaked".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let lifted = c.lift_quarantine(q.id, "data was fine after all").await.unwrap();
    assert!(lifted.lifted_at.is_some());
    assert!(c.get_version(&base, "1").await.unwrap().quarantined, "still covered by the key quarantine");
    c.lift_quarantine(q2.id, "key rotated, artefacts re-verified").await.unwrap();
    assert!(!c.get_version(&base, "1").await.unwrap().quarantined);
    assert!(!c.get_version(&m("fraud/small"), "1").await.unwrap().quarantined);
    let (st, code) = api_error(c.lift_quarantine(q2.id, "again").await.unwrap_err());
    assert_eq!((st, code.as_str()), (409, "already_lifted"));
    assert_eq!(api_error(c.lift_quarantine(999, "x").await.unwrap_err()).0, 404);
    assert_eq!(c.quarantines().await.unwrap().quarantines.len(), 2);

    // Bad quarantines: no reason, nothing reached, no seed; only admins may quarantine.
    let none =
        QuarantineRequest { dataset: Some(Digest::of(b"unused")), reason: "x".into(), ..Default::default() };
    assert_eq!(api_error(c.quarantine(&none).await.unwrap_err()).0, 404);
    let no_reason = QuarantineRequest { dataset: Some(poison), reason: " ".into(), ..Default::default() };
    assert_eq!(api_error(c.quarantine(&no_reason).await.unwrap_err()).0, 400);
    let no_seed = QuarantineRequest { reason: "x".into(), ..Default::default() };
    assert_eq!(api_error(c.quarantine(&no_seed).await.unwrap_err()).0, 400);
    let (st, _) = api_error(
        fraud_reader
            .quarantine(&QuarantineRequest {
                dataset: Some(poison),
                reason: "x".into(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(st, 403);

    // Every quarantine and release is in the log.
    let size = s.state.db.log_size().await.unwrap();
    let entries: serde_json::Value = http(&s)
        .get(format!("{}/v1/log/entries?start=0&end={size}", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let count = |kind: &str| {
        entries["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["body"].as_str().unwrap().contains(&format!("\"{kind}\"")))
            .count()
    };
    assert_eq!(count("quarantine.set"), 2);
    assert_eq!(count("version.quarantined"), 8);
    assert_eq!(count("quarantine.lifted"), 2);
    assert_eq!(count("version.released"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantines_show_each_credential_only_its_own_versions_seeds_and_reasons() {
    use registry_core::incident::QuarantineInfo;
    let s = TestServer::start().await;
    let c = client(&s);
    push_v(&c, "a/secret", "1", lineage(&[b"secret-data"], &[], None), None).await;
    push_v(&c, "a/other", "1", lineage(&[b"a-only"], &[], None), None).await;
    push_v(&c, "b/ft", "1", lineage(&[], &["a/secret@1"], None), None).await;
    push_v(&c, "a/x", "1", lineage(&[b"shared"], &[], None), None).await;
    push_v(&c, "b/own", "1", lineage(&[b"shared"], &[], None), None).await;
    let quarantine = |req: QuarantineRequest| {
        let c = c.clone();
        async move { c.quarantine(&req).await.unwrap() }
    };
    let reason = |r: &str| r.to_owned();
    // Only a's versions: b must not learn it exists, its seed or its reason.
    let q1 = quarantine(QuarantineRequest {
        dataset: Some(Digest::of(b"a-only")),
        reason: reason("a-only data leaked customer records"),
        ..Default::default()
    })
    .await;
    // Reaches b/ft only through a/secret, which b cannot read: b sees its version, not the seed or why.
    let q2 = quarantine(QuarantineRequest {
        version: Some("a/secret@1".into()),
        reason: reason("a/secret was trained on stolen weights"),
        ..Default::default()
    })
    .await;
    // Reaches b/own directly: b sees the seed (its own lineage names it) and the reason.
    let q3 = quarantine(QuarantineRequest {
        dataset: Some(Digest::of(b"shared")),
        reason: reason("shared dataset mislabelled"),
        ..Default::default()
    })
    .await;

    let b = client(&s).with_token(Some(s.token("b-reader", &[Scope::Read], "b/*").await));
    let list = b.quarantines().await.unwrap().quarantines;
    assert_eq!(list.iter().map(|q| q.id).collect::<Vec<_>>(), [q3.id, q2.id], "{list:?}");
    let text = serde_json::to_string(&list).unwrap();
    for secret in ["a-only", "stolen", "a/secret", "a/x", &Digest::of(b"a-only").to_string()] {
        assert!(!text.contains(secret), "{secret:?} leaked to b: {text}");
    }
    let (seen2, seen3): (&QuarantineInfo, &QuarantineInfo) = (&list[1], &list[0]);
    assert_eq!(seen2.versions.len(), 1);
    assert_eq!(seen2.versions[0].model, "b/ft");
    assert!(seen2.seed.contains("outside") && seen2.reason.contains("withheld"), "{seen2:?}");
    assert!(seen2.versions[0].path[..2].iter().all(|p| p.contains("outside")), "{seen2:?}");
    assert_eq!(seen3.seed, format!("dataset {}", Digest::of(b"shared")));
    assert_eq!(seen3.reason, "shared dataset mislabelled");
    assert_eq!(seen3.versions.iter().map(|v| v.model.as_str()).collect::<Vec<_>>(), ["b/own"]);

    // One by one: a quarantine of a's versions only is 404, exactly like one that does not exist.
    let b_http = http_with(&s.token("b-reader-2", &[Scope::Read], "b/*").await);
    let r = b_http.get(format!("{}/v1/quarantines/{}", s.url, q1.id)).send().await.unwrap();
    let (st, _, body) = error_of(r).await;
    let r = b_http.get(format!("{}/v1/quarantines/999", s.url)).send().await.unwrap();
    let (st_none, _, body_none) = error_of(r).await;
    assert_eq!((st, st_none), (404, 404));
    assert_eq!(
        body["message"].as_str().unwrap().replace(&q1.id.to_string(), "N"),
        body_none["message"].as_str().unwrap().replace("999", "N")
    );
    let r = b_http.get(format!("{}/v1/quarantines/{}", s.url, q2.id)).send().await.unwrap();
    let one: QuarantineInfo = r.json().await.unwrap();
    assert!(one.reason.contains("withheld") && one.versions.len() == 1, "{one:?}");

    // An admin (any namespace) sees everything as it was written.
    let all = c.quarantines().await.unwrap().quarantines;
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].reason, "a-only data leaked customer records");
    assert_eq!(all[1].seed, "a/secret@1");
}
