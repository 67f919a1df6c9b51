//! The scrubber replays the log's alias moves: an alias row moved in the database without a logged
//! decision is a finding (issue 14, defect 5), and no version is marked corrupted for it.
#![allow(clippy::unwrap_used)]

use registry_core::ModelName;
use registry_core::promote::PromoteRequest;
use registry_e2e::*;
use registry_server::service::scrub;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_moved_behind_the_log_is_a_scrub_finding() {
    let s = TestServer::start().await;
    let c = client(&s);
    let model = ModelName::parse("fraud/detector").unwrap();
    for v in ["1", "2"] {
        TestPush::new(&model.to_string(), v).files(&[("w.bin", v.as_bytes())]).run(&c).await.unwrap();
    }
    for (alias, v) in [("production", "1"), ("production", "2"), ("staging", "1")] {
        let req = PromoteRequest { version: v.into(), reason: String::new(), expected_current: None };
        c.promote(&model, alias, &req).await.unwrap();
    }
    let clean = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);

    // production back to 1 by a database edit: no decision, no log entry.
    sqlx::query(
        "UPDATE aliases SET version_id = (SELECT id FROM versions WHERE version = '1') WHERE name = 'production'",
    )
    .execute(s.state.db.pool())
    .await
    .unwrap();
    let r = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
    assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
    let (kind, target, detail) = &r.findings[0];
    assert_eq!((kind.as_str(), target.as_str()), ("alias", "alias fraud/detector@production"));
    assert!(detail.contains("points at 1") && detail.contains("names 2"), "{detail}");
    assert!(r.corrupted_versions.is_empty(), "the versions themselves are intact");

    // An alias the log never moved, and a logged alias that vanished.
    sqlx::query("UPDATE aliases SET name = 'canary' WHERE name = 'staging'")
        .execute(s.state.db.pool())
        .await
        .unwrap();
    let r = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
    let details: Vec<&str> = r.findings.iter().map(|f| f.2.as_str()).collect();
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(
        details.iter().any(|d| d.contains("canary points at 1, but the log never moved it")),
        "{details:?}"
    );
    assert!(details.iter().any(|d| d.contains("staging is gone")), "{details:?}");
}
