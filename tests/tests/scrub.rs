//! The scrubber finds what changed behind the registry's back: a blob rewritten on disk, attestation
//! bytes edited in the database, a log entry rewritten; it marks the versions touched (with log entries)
//! and leaves the rest alone.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;

use registry_core::ModelName;
use registry_e2e::*;
use registry_server::service::scrub;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_found_and_marks_exactly_the_versions_it_touches() {
    let s = TestServer::start().await;
    let c = client(&s);
    let model = ModelName::parse("fraud/detector").unwrap();
    for (v, w) in [("1", "weights one"), ("2", "weights two")] {
        let dir = model_dir(&[("w.bin", w.as_bytes()), ("config.json", b"{}")]);
        let spec = registry_client::push::PushSpec {
            dir: dir.path(),
            model: &model,
            version: &registry_core::VersionLabel::parse(v).unwrap(),
            lineage: Default::default(),
            metadata: Default::default(),
            sign: None,
            attestations: vec![],
        };
        registry_client::push::push(
            &c,
            spec,
            std::sync::Arc::new(registry_client::NoProgress),
            &Default::default(),
        )
        .await
        .unwrap();
    }
    c.promote(
        &model,
        "production",
        &registry_core::promote::PromoteRequest {
            version: "1".into(),
            reason: String::new(),
            expected_current: None,
        },
    )
    .await
    .unwrap();

    // A clean store: nothing found, everything counted.
    let clean = scrub::pass(&s.state, u64::MAX, &s.state.scrub).await.unwrap();
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert_eq!(clean.blobs, 3); // config.json is shared
    assert!(clean.attestations >= 1 && clean.log_entries >= 4);

    // Tamper: version 2's weights on disk (same length), so only version 2 is touched.
    let d = registry_core::Digest::of(b"weights two");
    s.tamper_blob(&d, b"weights tw0").await;
    let r = scrub::pass(&s.state, u64::MAX, &s.state.scrub).await.unwrap();
    assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
    assert_eq!(r.findings[0].0, "blob");
    assert_eq!(r.corrupted_versions, ["fraud/detector@2"]);
    assert!(c.get_version(&model, "2").await.unwrap().corrupted);
    assert!(!c.get_version(&model, "1").await.unwrap().corrupted);
    // Found again next pass (still wrong), but the version is marked once.
    let again = scrub::pass(&s.state, u64::MAX, &s.state.scrub).await.unwrap();
    assert_eq!((again.findings.len(), again.corrupted_versions.len()), (1, 0));

    // Tamper: the VSA's bytes in the database, and one log entry's body.
    sqlx::query("UPDATE attestations SET body = body || ' ' WHERE version_id = (SELECT id FROM versions WHERE version = '1')")
        .execute(s.state.db.pool())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE log_entries SET body = REPLACE(body, 'fraud/detector@1', 'fraud/detector@1 ') WHERE idx = 1",
    )
    .execute(s.state.db.pool())
    .await
    .unwrap();
    let r = scrub::pass(&s.state, u64::MAX, &s.state.scrub).await.unwrap();
    let kinds: Vec<&str> = r.findings.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(kinds, ["blob", "attestation", "log_entry"], "{:?}", r.findings);
    assert_eq!(r.corrupted_versions, ["fraud/detector@1"]);
    assert!(c.get_version(&model, "1").await.unwrap().corrupted);
    assert_eq!(s.state.scrub.findings.load(Ordering::Relaxed), 5);
    assert_eq!(s.state.scrub.passes.load(Ordering::Relaxed), 4);

    // Each marking is a log entry.
    let size = s.state.db.log_size().await.unwrap();
    let entries: serde_json::Value = http(&s)
        .get(format!("{}/v1/log/entries?start=0&end={size}", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let marked = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["body"].as_str().unwrap().contains("\"version.corrupted\""))
        .count();
    assert_eq!(marked, 2);

    // /metrics (public, like /v1/health): per route template, never per model; gauges and scrub counters.
    let text = reqwest::get(format!("{}/metrics", s.url)).await.unwrap().text().await.unwrap();
    for want in [
        "registry_http_requests_total{method=\"GET\",route=\"/v1/models/{namespace}/{name}/versions/{version}\",status=\"200\"}",
        "registry_http_request_duration_seconds_bucket{route=\"/v1/blobs/{digest}\",le=\"+Inf\"}",
        "registry_versions 2\n",
        "registry_versions_corrupted 2\n",
        "registry_versions_quarantined 0\n",
        "registry_scrub_findings_total 5\n",
        "registry_scrub_passes_total 4\n",
    ] {
        assert!(text.contains(want), "{want} missing from\n{text}");
    }
    assert!(!text.contains("fraud/detector"), "model names never appear in metrics");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }

    // A blob deleted from storage is a finding too.
    s.state.blobs.delete(&d).await.unwrap();
    let r = scrub::pass(&s.state, u64::MAX, &s.state.scrub).await.unwrap();
    assert!(r.findings.iter().any(|f| f.2.contains("missing")), "{:?}", r.findings);
}
