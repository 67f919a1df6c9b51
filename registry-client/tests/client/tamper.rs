//! Tampering behind the server's back, each detected by the client tools: a version's manifest digest
//! changed in the database, a log row deleted, a log entry rewritten, an attestation's bytes replaced,
//! a blob's bytes swapped, and a forked log served to a client that pinned the original.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common;

use common::{Cli, blocking, sql};
use predicates::prelude::*;
use registry_server::testing::{TestDb, TestOptions, TestServer};

/// A server with one signed version pushed and the log verified once (pinned).
async fn setup(work: &Path) -> (TestServer, Cli) {
    setup_with(work, TestOptions::default()).await
}

async fn setup_with(work: &Path, opts: TestOptions) -> (TestServer, Cli) {
    let s = TestServer::start_with(opts).await;
    let cli = Cli { url: s.url.clone(), token: s.admin_token.clone(), cfg: work.join("cfg") };
    let model = work.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("weights.bin"), b"original weights").unwrap();
    std::fs::write(model.join("config.json"), b"{}").unwrap();
    let (c, w) = (cli.clone(), work.to_path_buf());
    blocking(move || {
        c.cmd().args(["keygen", "--out"]).arg(w.join("k")).assert().success();
        c.cmd()
            .args(["keys", "add", "--namespace", "*", "--public-key"])
            .arg(w.join("k.pub"))
            .assert()
            .success();
        c.cmd()
            .arg("push")
            .arg(w.join("model"))
            .args(["--model", "fraud/detector", "--version", "1", "--sign-key"])
            .arg(w.join("k.key"))
            .assert()
            .success();
        c.cmd()
            .args(["log", "verify"])
            .assert()
            .success()
            .stdout(predicate::str::contains("entries replayed"));
    })
    .await;
    (s, cli)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_digest_changed_in_the_database_is_detected() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli) = setup(work.path()).await;
    sql(&s, &format!("UPDATE versions SET manifest_digest = '{}'", "0".repeat(64))).await;
    blocking(move || {
        cli.cmd()
            .args(["log", "verify"])
            .assert()
            .code(3)
            .stdout(predicate::str::contains("fraud/detector@1"));
        // The server itself refuses to serve a manifest that no longer hashes to its digest (500).
        cli.cmd().args(["verify", "fraud/detector@1"]).assert().failure();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_log_row_is_detected() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli) = setup(work.path()).await;
    sql(&s, "DELETE FROM log_entries WHERE idx = 2").await;
    blocking(move || {
        cli.cmd().args(["log", "verify"]).assert().code(3).stdout(predicate::str::contains("missing"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_log_entry_is_detected() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli) = setup(work.path()).await;
    sql(&s, "UPDATE log_entries SET body = replace(body, 'token:bootstrap-admin', 'token:someone-else') WHERE idx = 2").await;
    blocking(move || {
        cli.cmd()
            .args(["log", "verify"])
            .assert()
            .code(3)
            .stdout(predicate::str::contains("do not hash to the signed root"));
        cli.cmd()
            .args(["verify", "fraud/detector@1"])
            .assert()
            .code(3)
            .stdout(predicate::str::contains("included"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_attestation_bytes_are_detected() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli) = setup(work.path()).await;
    sql(&s, "UPDATE attestations SET body = replace(body, '\"payloadType\"', ' \"payloadType\"')").await;
    blocking(move || {
        // The server refuses to serve bytes that no longer hash to their digest (500), so every reader fails.
        cli.cmd().args(["log", "verify"]).assert().code(3);
        cli.cmd().args(["verify", "fraud/detector@1"]).assert().failure();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_blob_bytes_are_detected() {
    let work = tempfile::tempdir().unwrap();
    let (s, cli) = setup(work.path()).await;
    s.tamper_blob(&registry_core::Digest::of(b"original weights"), b"poisoned weights").await;
    let out = work.path().join("out");
    blocking(move || {
        cli.cmd()
            .args(["pull", "fraud/detector@1", "-o"])
            .arg(&out)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("weights.bin"));
        assert!(!out.exists());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_log_is_refused_by_a_client_that_pinned_the_original() {
    let work = tempfile::tempdir().unwrap();
    // Forking copies a SQLite file; what the client sees does not depend on the backend.
    let (a, cli) = setup_with(work.path(), TestOptions { db: TestDb::Sqlite, ..Default::default() }).await;
    let b = a.fork().await; // same key, same history so far
    let w = work.path().to_path_buf();
    let (a_url, b_url, token, cfg) = (a.url.clone(), b.url.clone(), cli.token.clone(), cli.cfg.clone());
    blocking(move || {
        let on = |url: &str| Cli { url: url.to_owned(), token: token.clone(), cfg: cfg.clone() };
        std::fs::write(w.join("model/weights.bin"), b"history A").unwrap();
        on(&a_url)
            .cmd()
            .arg("push")
            .arg(w.join("model"))
            .args(["--model", "fraud/detector", "--version", "2"])
            .assert()
            .success();
        std::fs::write(w.join("model/weights.bin"), b"history B").unwrap();
        // The fork's own client is fine on its own...
        let fork_only = Cli { url: b_url.clone(), token: token.clone(), cfg: w.join("cfg-b") };
        fork_only
            .cmd()
            .arg("push")
            .arg(w.join("model"))
            .args(["--model", "fraud/detector", "--version", "2"])
            .assert()
            .success();
        fork_only
            .cmd()
            .arg("push")
            .arg(w.join("model"))
            .args(["--model", "fraud/detector", "--version", "3"])
            .assert()
            .success();
        // ...but the client that pinned A now sees B at A's address.
        let pins = cfg.join("logs.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&pins).unwrap()).unwrap();
        let pin = v["logs"][&a_url].clone();
        v["logs"][&b_url] = pin;
        std::fs::write(&pins, serde_json::to_vec(&v).unwrap()).unwrap();
        on(&b_url)
            .cmd()
            .args(["log", "checkpoint"])
            .assert()
            .code(3)
            .stderr(predicate::str::contains("LOG FORK"));
        on(&b_url).cmd().args(["pull", "fraud/detector@1", "-o"]).arg(w.join("never")).assert().code(3);
        assert!(!w.join("never").exists());
        on(&a_url).cmd().args(["log", "checkpoint"]).assert().success();
    })
    .await;
    drop(b);
}
