//! Replicas: two `registry-server` processes on one database and one blob store (S3 when the test
//! bucket is configured, as in CI; else a shared directory), many concurrent pushes and promotions
//! split across them — including pushes to the same model and label through both. Then the log
//! verifies end to end, each change appears in it exactly once, and no version is half-made.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use registry_core::Digest;
use registry_core::tlog::note::{Checkpoint, NoteVerifier};
use registry_core::tlog::{entry::LogEntry, leaf_hash, root_of};
use registry_server::testing::{TestDb, fresh_postgres_db, fresh_s3_url, postgres_base_url, s3_base_url};
use serde_json::{Value, json};

use crate::common;
use common::{ServerProcess, http, noise};

/// A replica with its own data directory but the shared database, blobs and keys.
async fn replica(data: &Path, shared: &Path, db_url: &str, blobs_url: &str) -> ServerProcess {
    let mut args: Vec<std::ffi::OsString> =
        ["--database-url", db_url, "--blobs-url", blobs_url, "--scrub-interval", "0"].map(Into::into).into();
    args.push("--log-key-file".into());
    args.push(shared.join("log-signing.key").into());
    args.push("--attestation-key-file".into());
    args.push(shared.join("attestation-signing.key").into());
    args.push("--webhook-key-file".into());
    args.push(shared.join("webhook.key").into());
    ServerProcess::start(data, args).await
}

/// Blobs then the version, over raw HTTP; the status of the version PUT.
async fn push(c: &reqwest::Client, url: &str, model: &str, version: &str, seed: u64) -> u16 {
    let data = noise(20_000 + (seed % 7) as usize * 1000, seed);
    let d = Digest::of(&data);
    let r = c.put(format!("{url}/v1/blobs/{d}")).body(data.clone()).send().await.unwrap();
    assert!(r.status().is_success(), "blob upload: {}", r.status());
    let body = json!({"manifest": {"mediaType": registry_core::manifest::MEDIA_TYPE,
        "files": [{"path": "w.bin", "size": data.len(), "digest": d}]}});
    let r = c.put(format!("{url}/v1/models/{model}/versions/{version}")).json(&body).send().await.unwrap();
    r.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_database_and_one_store_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let db_url = match TestDb::from_env() {
        TestDb::Postgres => fresh_postgres_db(&postgres_base_url().unwrap()).await,
        TestDb::Sqlite => format!("sqlite:{}", shared.join("registry.db").display()),
    };
    let blobs_url = match s3_base_url() {
        Some(base) => fresh_s3_url(&base),
        None => shared.join("blobs").display().to_string(),
    };
    // The first replica creates the schema and the admin token; the second joins it.
    let a = replica(&dir.path().join("a"), &shared, &db_url, &blobs_url).await;
    let b = replica(&dir.path().join("b"), &shared, &db_url, &blobs_url).await;
    let urls = [a.url.clone(), b.url.clone()];
    let c = http();

    let pushed: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let promoted: Arc<Mutex<Vec<(String, String, u64)>>> = Arc::default();
    let shared_created: Arc<Mutex<u32>> = Arc::default();
    let mut workers = vec![];
    for w in 0..8u64 {
        let (c, urls, pushed, promoted, shared_created) =
            (c.clone(), urls.clone(), pushed.clone(), promoted.clone(), shared_created.clone());
        workers.push(tokio::spawn(async move {
            // Workers w and w+4 write the same model, through different replicas.
            let model = format!("rep/m{}", w % 4);
            let (mine, other) = (&urls[(w % 2) as usize], &urls[1 - (w % 2) as usize]);
            // Both push the same label with the same bytes: one creates it, the other is told it exists.
            match push(&c, mine, &model, "shared", 777 + w % 4).await {
                201 => *shared_created.lock().unwrap() += 1,
                200 => {}
                s => panic!("shared push: {s}"),
            }
            for i in 0..12u64 {
                let version = format!("{w}.{i}");
                assert_eq!(push(&c, mine, &model, &version, w * 100 + i).await, 201);
                pushed.lock().unwrap().push((model.clone(), version.clone()));
                // Promote through the other replica, racing the twin worker on the same alias.
                let r = c
                    .put(format!("{other}/v1/models/{model}/aliases/production"))
                    .json(&json!({"version": version, "reason": "replica test"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
                let idx = r.json::<Value>().await.unwrap()["log_index"].as_u64().unwrap();
                promoted.lock().unwrap().push((model.clone(), version, idx));
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(*shared_created.lock().unwrap(), 4, "each shared label was created exactly once");

    // The log: a signed checkpoint from each replica, the same tree, and it matches every entry.
    let vkey = c.get(format!("{}/v1/log/key", a.url)).send().await.unwrap().text().await.unwrap();
    let verifier = NoteVerifier::parse(vkey.trim()).unwrap();
    let note = c.get(format!("{}/v1/log/checkpoint", b.url)).send().await.unwrap().text().await.unwrap();
    let cp = Checkpoint::open(&note, &verifier).unwrap();
    let mut entries: Vec<LogEntry> = vec![];
    let mut leaves = vec![];
    while (leaves.len() as u64) < cp.size {
        let start = leaves.len() as u64;
        let page: Value = c
            .get(format!("{}/v1/log/entries?start={start}&end={}", a.url, cp.size))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for e in page["entries"].as_array().unwrap() {
            assert_eq!(e["index"].as_u64().unwrap(), leaves.len() as u64, "entries are contiguous");
            let body = e["body"].as_str().unwrap();
            leaves.push(leaf_hash(body.as_bytes()));
            entries.push(LogEntry::parse(body.as_bytes()).unwrap());
        }
    }
    assert_eq!(root_of(&leaves), cp.root, "the log's entries give the signed root");
    let note_a = c.get(format!("{}/v1/log/checkpoint", a.url)).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        Checkpoint::open(&note_a, &verifier).unwrap().root,
        cp.root,
        "both replicas sign the same tree"
    );

    // Each change exactly once.
    let mut created: HashMap<String, usize> = HashMap::new();
    for e in entries.iter().filter(|e| e.kind == "version.created") {
        *created.entry(e.subject.clone()).or_default() += 1;
    }
    let pushed = pushed.lock().unwrap().clone();
    assert_eq!(created.len(), pushed.len() + 4, "one entry per version (and per shared label)");
    assert!(created.values().all(|n| *n == 1), "no version logged twice");
    for (m, v) in &pushed {
        assert_eq!(created.get(&format!("{m}@{v}")), Some(&1), "{m}@{v}");
    }
    let models: usize = entries.iter().filter(|e| e.kind == "model.created").count();
    assert_eq!(models, 4, "each model created once, though both replicas raced to create it");
    let promoted = promoted.lock().unwrap().clone();
    let moves: Vec<&LogEntry> = entries.iter().filter(|e| e.kind == "alias.moved").collect();
    assert_eq!(moves.len(), promoted.len(), "one alias.moved entry per acknowledged promotion");
    for (m, v, idx) in &promoted {
        let e = &entries[*idx as usize];
        assert_eq!(
            (e.kind.as_str(), e.subject.contains(&format!("{m}@{v}"))),
            ("alias.moved", true),
            "{e:?}"
        );
    }

    // No version is half-made: every listed version has its manifest's blob, through either replica.
    for k in 0..4 {
        let list: Value = c
            .get(format!("{}/v1/models/rep/m{k}/versions?limit=500", b.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let versions = list["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 2 * 12 + 1, "rep/m{k}");
        for v in versions {
            let label = v["version"].as_str().unwrap();
            let url = &urls[label.len() % 2];
            let manifest: Value = c
                .get(format!("{url}/v1/models/rep/m{k}/versions/{label}/manifest"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for f in manifest["files"].as_array().unwrap() {
                let d = f["digest"].as_str().unwrap();
                let r = c.get(format!("{url}/v1/blobs/{d}")).send().await.unwrap();
                assert_eq!(r.status(), 200);
                assert_eq!(Digest::of(&r.bytes().await.unwrap()).to_string(), d);
            }
        }
    }
}
