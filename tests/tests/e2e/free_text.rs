//! Free text a caller writes is stored in rows and log entries forever: every such field has a bound
//! (4 KiB, 400 `text_too_long` beyond), and so does what a policy writes into a decision.
#![allow(clippy::unwrap_used)]

use registry_client::Client;
use registry_core::api::MAX_TEXT_LEN;
use registry_core::auth::NamePattern;
use registry_core::incident::QuarantineRequest;
use registry_core::promote::{PromoteRequest, SetPolicyRequest};
use registry_core::{Digest, ModelName};
use registry_e2e::*;

async fn push_v(c: &Client, model: &ModelName, version: &str, data: &[u8]) {
    TestPush::new(&model.to_string(), version)
        .files(&[("w.bin", version.as_bytes())])
        .dataset("s3://d", data)
        .run(c)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasons_over_4_kib_are_refused_everywhere_and_nothing_is_recorded() {
    let s = TestServer::start().await;
    let c = client(&s);
    let model = ModelName::parse("fraud/m").unwrap();
    push_v(&c, &model, "1", b"d1").await;
    push_v(&c, &model, "2", b"d2").await;
    let (fits, over) = ("r".repeat(MAX_TEXT_LEN), "r".repeat(MAX_TEXT_LEN + 1));
    let promote = |v: &str, reason: &str| PromoteRequest {
        version: v.into(),
        reason: reason.into(),
        expected_current: None,
    };

    assert_eq!(
        api_error(c.promote(&model, "prod", &promote("1", &over)).await.unwrap_err()),
        (400, "text_too_long".into())
    );
    c.promote(&model, "prod", &promote("1", &fits)).await.unwrap();
    c.promote(&model, "prod", &promote("2", "second")).await.unwrap();
    assert_eq!(
        api_error(c.rollback(&model, "prod", &over).await.unwrap_err()),
        (400, "text_too_long".into())
    );
    let h = c.alias_history(&model, "prod", None).await.unwrap();
    assert_eq!(h.events.len(), 2, "refused calls left no decision: {h:?}");

    let q = |reason: &str| QuarantineRequest {
        dataset: Some(Digest::of(b"d2")),
        reason: reason.into(),
        ..Default::default()
    };
    assert_eq!(api_error(c.quarantine(&q(&over)).await.unwrap_err()), (400, "text_too_long".into()));
    assert!(c.quarantines().await.unwrap().quarantines.is_empty());
    let qi = c.quarantine(&q(&fits)).await.unwrap();
    assert_eq!(api_error(c.lift_quarantine(qi.id, &over).await.unwrap_err()), (400, "text_too_long".into()));
    assert!(c.lift_quarantine(qi.id, "fine").await.unwrap().lifted_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_policy_writes_into_a_decision_is_bounded() {
    let s = TestServer::start().await;
    let c = client(&s);
    let model = ModelName::parse("fraud/m").unwrap();
    push_v(&c, &model, "1", b"d1").await;
    // 150 reasons of 5 KB each: built from input, the policy author did not bound them.
    let rego = r#"package registry.promote
import rego.v1
big := concat("", [input.version.version | some _ in numbers.range(1, 5000)])
deny contains msg if {
    some i in numbers.range(1, 150)
    msg := sprintf("%d %s", [i, big])
}
"#;
    c.set_policy(&SetPolicyRequest {
        namespace: NamePattern::parse("fraud/*").unwrap(),
        alias: "prod".into(),
        rego: rego.into(),
    })
    .await
    .unwrap();
    let req = PromoteRequest { version: "1".into(), reason: "try".into(), expected_current: None };
    let (status, _) = api_error(c.promote(&model, "prod", &req).await.unwrap_err());
    assert_eq!(status, 403);
    let h = c.alias_history(&model, "prod", None).await.unwrap();
    let reasons = &h.events[0].reasons;
    assert!(reasons.len() <= 101, "{} reasons recorded", reasons.len());
    assert!(reasons.last().unwrap().contains("more reason"), "{:?}", reasons.last());
    assert!(reasons.iter().all(|r| r.len() <= MAX_TEXT_LEN), "a reason over 4 KiB was recorded");
}
