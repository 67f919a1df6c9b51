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
        push_one(&c, &model, v, &[("w.bin", w.as_bytes()), ("config.json", b"{}")]).await;
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
    let clean = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert_eq!(clean.blobs, 3); // config.json is shared
    assert!(clean.attestations >= 1 && clean.log_entries >= 4);

    // Tamper: version 2's weights on disk (same length), so only version 2 is touched.
    let d = registry_core::Digest::of(b"weights two");
    s.tamper_blob(&d, b"weights tw0").await;
    let r = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
    assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
    assert_eq!(r.findings[0].0, "blob");
    assert_eq!(r.corrupted_versions, ["fraud/detector@2"]);
    assert!(c.get_version(&model, "2").await.unwrap().corrupted);
    assert!(!c.get_version(&model, "1").await.unwrap().corrupted);
    // Found again next pass (still wrong), but the version is marked once.
    let again = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
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
    let r = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
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
    let r = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
    assert!(r.findings.iter().any(|f| f.2.contains("missing")), "{:?}", r.findings);
}

async fn push_one(c: &registry_client::Client, model: &ModelName, v: &str, files: &[(&str, &[u8])]) {
    TestPush::new(&model.to_string(), v).files(files).run(c).await.unwrap();
}

/// How many log entries of this type the log holds.
async fn log_entries_of(s: &TestServer, kind: &str) -> usize {
    let bodies: Vec<String> =
        sqlx::query_scalar("SELECT body FROM log_entries").fetch_all(s.state.db.pool()).await.unwrap();
    bodies.iter().filter(|b| b.contains(&format!("\"type\":\"{kind}\""))).count()
}

/// Issue 23, defect 4: an unreachable store is an error of the pass, not evidence against the
/// versions; a flag that a later clean re-check contradicts is cleared, with a log entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_flags_nothing_and_a_clean_recheck_clears_a_flag() {
    use registry_server::testing::faults::{Action, Faults, Op, Rule};
    let faults = Faults::new();
    let s = TestServer::start_with(TestOptions { faults: Some(faults.clone()), ..Default::default() }).await;
    let c = client(&s);
    let model = ModelName::parse("fraud/detector").unwrap();
    push_one(&c, &model, "1", &[("w.bin", b"weights one"), ("config.json", b"{}")]).await;

    // The store times out on every read (S3 throttling, a network partition).
    faults.add(Rule::always(Op::Get, Action::Io(std::io::ErrorKind::TimedOut)));
    let r = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await;
    eprintln!("scrub against an unreachable store: {r:?}");
    if let Ok(r) = &r {
        assert!(r.findings.is_empty(), "a timeout is not a finding: {:?}", r.findings);
    }
    assert!(!c.get_version(&model, "1").await.unwrap().corrupted, "nothing was found wrong");
    faults.clear();

    // A real finding flags the version; once the bytes are right again, a clean pass clears the flag.
    let d = registry_core::Digest::of(b"weights one");
    s.tamper_blob(&d, b"weights 0ne").await;
    let r = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
    assert_eq!(r.corrupted_versions, ["fraud/detector@1"]);
    assert!(c.get_version(&model, "1").await.unwrap().corrupted);
    // The damaged blob no longer counts as present: the next push of the same files uploads it
    // again, which heals the version.
    assert_eq!(c.missing_blobs(&[d]).await.unwrap(), vec![d]);
    push_one(&c, &model, "1", &[("w.bin", b"weights one"), ("config.json", b"{}")]).await;
    assert!(c.missing_blobs(&[d]).await.unwrap().is_empty());
    let r = scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
    assert_eq!(r.cleared_versions, ["fraud/detector@1"]);
    assert!(!c.get_version(&model, "1").await.unwrap().corrupted, "a clean re-check clears the flag");
    assert_eq!(log_entries_of(&s, "version.corrupted").await, 1);
    assert_eq!(log_entries_of(&s, "version.cleared").await, 1, "clearing is logged, never silent");
    // And it stays cleared.
    scrub::pass(&s.state, scrub::Rates::UNLIMITED, &s.state.scrub).await.unwrap();
    assert_eq!(log_entries_of(&s, "version.cleared").await, 1);
}

/// Issue 23 (sweep): a blob garbage collection removes while the scrubber reads it is no finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_collected_while_the_scrubber_reads_it_is_no_finding() {
    use registry_server::service::gc;
    use registry_server::testing::faults::{Action, Faults, Gate, Op, Rule};
    let faults = Faults::new();
    let s = TestServer::start_with(TestOptions { faults: Some(faults.clone()), ..Default::default() }).await;
    let c = client(&s);
    let loose = b"uploaded, never referenced".to_vec();
    let d = registry_core::Digest::of(&loose);
    c.put_blob(&d, loose.len() as u64, loose.clone().into()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let gate = Gate::new();
    faults.add(Rule::always(Op::Get, Action::Pause(gate.clone())).on_key(d.hex()));
    let state = s.state.clone();
    let scrubber =
        tokio::spawn(async move { scrub::pass(&state, scrub::Rates::UNLIMITED, &state.scrub).await });
    gate.reached().await; // the scrubber listed the row and is about to read the object
    let r = gc::pass(&s.state, std::time::Duration::ZERO, gc::ORPHAN_MIN_AGE).await.unwrap();
    assert_eq!(r.blobs_removed, 1);
    gate.open();
    let r = scrubber.await.unwrap().unwrap();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

/// The scrub rates bound everything a pass reads, not only blob bytes: attestation, log entry and
/// alias-move rows count against the row rate. Before, only blob bytes were paced, and a pass over 10M
/// log entries ran flat out, doubling every foreground request's latency while it ran
/// (docs/benchmarks.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_reads_attestation_and_log_rows_within_its_row_rate() {
    let s = TestServer::start().await;
    let c = client(&s);
    let model = ModelName::parse("fraud/detector").unwrap();
    for v in ["1", "2", "3"] {
        push_one(&c, &model, v, &[("w.bin", v.as_bytes())]).await;
    }
    let rates = scrub::Rates { bytes: u64::MAX, rows: 2 };
    let started = std::time::Instant::now();
    let r = scrub::pass(&s.state, rates, &s.state.scrub).await.unwrap();
    let took = started.elapsed();
    let rows = r.attestations + r.log_entries;
    assert!(r.findings.is_empty() && rows >= 4, "{r:?}");
    // A lower bound only: the pace sleeps until the pass is back within its rate.
    let floor = std::time::Duration::from_secs_f64(rows as f64 / rates.rows as f64);
    assert!(took >= floor, "{rows} rows read in {took:?}, under the {floor:?} the row rate allows");
}
