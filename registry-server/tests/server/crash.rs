//! Crash consistency: SIGKILL the real server binary in the middle of many concurrent pushes, restart
//! it on the same data, and check that every acknowledged push is intact, nothing listed is broken, and
//! no partial blob sits under a digest key.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use registry_core::{Digest, Manifest};
use registry_server::testing::{TestDb, fresh_postgres_db, postgres_base_url};
use serde_json::{Value, json};

use crate::common;
use common::{ServerProcess, http, noise};

async fn start(data: &Path, db_url: &str) -> ServerProcess {
    ServerProcess::start(data, ["--database-url", db_url]).await
}

/// One push over raw HTTP: blobs, then the version. Ok(()) only if the server acknowledged it.
async fn push(c: &reqwest::Client, url: &str, model: &str, version: &str, seed: u64) -> Result<(), String> {
    let files: Vec<(String, Vec<u8>)> = (0..3u64)
        .map(|k| {
            (
                format!("part-{k}.bin"),
                noise(50_000 + ((seed * 7 + k * 13) % 40) as usize * 100_000, seed * 10 + k),
            )
        })
        .collect();
    let mut entries = Vec::new();
    for (path, data) in &files {
        let d = Digest::of(data);
        let r = c
            .put(format!("{url}/v1/blobs/{d}"))
            .body(data.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("blob {}", r.status()));
        }
        entries.push(json!({"path": path, "size": data.len(), "digest": d}));
    }
    let body = json!({"manifest": {"mediaType": registry_core::manifest::MEDIA_TYPE, "files": entries}});
    let r = c
        .put(format!("{url}/v1/models/{model}/versions/{version}"))
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() == 201 { Ok(()) } else { Err(format!("version {}", r.status())) }
}

fn staged_files(blob_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(blob_dir.join("sha256"))
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().contains('#')).collect())
        .unwrap_or_default()
}

/// Every object under a digest key hashes to that key.
fn assert_no_wrong_blob(blob_dir: &Path) {
    for e in std::fs::read_dir(blob_dir.join("sha256")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(Digest::of(&bytes).hex(), name, "object under sha256/{name} has other bytes");
    }
}

/// The version is complete: manifest hashes to its digest, every blob downloads and verifies.
async fn assert_version_intact(c: &reqwest::Client, url: &str, model: &str, version: &str) {
    let rec: Value = c
        .get(format!("{url}/v1/models/{model}/versions/{version}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let want =
        Digest::parse(rec["manifest_digest"].as_str().unwrap_or_else(|| panic!("{model}@{version}: {rec}")))
            .unwrap();
    let bytes = c
        .get(format!("{url}/v1/models/{model}/versions/{version}/manifest"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(Digest::of(&bytes), want, "{model}@{version} manifest");
    let m: Manifest = serde_json::from_slice(&bytes).unwrap();
    for f in m.files() {
        let r = c.get(format!("{url}/v1/blobs/{}", f.digest)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{model}@{version} {}", f.path);
        let data = r.bytes().await.unwrap();
        assert_eq!(Digest::of(&data), f.digest, "{model}@{version} {}", f.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_pushes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db_url = match TestDb::from_env() {
        TestDb::Postgres => fresh_postgres_db(&postgres_base_url().unwrap()).await,
        TestDb::Sqlite => format!("sqlite:{}", data.join("registry.db").display()),
    };
    let mut server = start(&data, &db_url).await;
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    // Promotions acknowledged: (model, version, log index of the move).
    let promoted: Arc<Mutex<Vec<(String, String, u64)>>> = Arc::default();
    let c = http();
    let mut workers = Vec::new();
    for w in 0..12u64 {
        let (c, url, acked, promoted) = (c.clone(), server.url.clone(), acked.clone(), promoted.clone());
        workers.push(tokio::spawn(async move {
            for i in 0..1000u64 {
                let (model, version) = (format!("crash/m{w}"), format!("1.{i}"));
                match push(&c, &url, &model, &version, w * 1000 + i).await {
                    Ok(()) => acked.lock().unwrap().push((model.clone(), version.clone())),
                    Err(_) => return, // the server died under us
                }
                // Every other push is also promoted (a signed decision, two log entries, one transaction).
                if i % 2 == 0 {
                    let r = c
                        .put(format!("{url}/v1/models/{model}/aliases/production"))
                        .json(&serde_json::json!({"version": version, "reason": "crash test"}))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            let Ok(body) = r.json::<Value>().await else { return };
                            let idx = body["log_index"].as_u64().unwrap();
                            promoted.lock().unwrap().push((model, version, idx));
                        }
                        _ => return,
                    }
                }
            }
        }));
    }
    // Kill once a good number of pushes went through, so some are surely in flight.
    for _ in 0..400 {
        if acked.lock().unwrap().len() >= 25 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    server.kill(); // SIGKILL
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 25, "only {} pushes before the kill", acked.len());
    let blob_dir = data.join("blobs");
    eprintln!(
        "killed after {} acknowledged pushes; {} staged uploads left",
        acked.len(),
        staged_files(&blob_dir).len()
    );
    assert_no_wrong_blob_except_staged(&blob_dir);

    // Restart on the same data: staged leftovers are cleaned, everything acknowledged is intact.
    let mut server = start(&data, &db_url).await;
    assert!(staged_files(&blob_dir).is_empty(), "staged uploads were cleaned at start");
    assert_no_wrong_blob(&blob_dir);
    for (model, version) in &acked {
        assert_version_intact(&c, &server.url, model, version).await;
    }
    // Nothing listed is broken (including versions committed but not yet acknowledged at the kill).
    let models: Value = c
        .get(format!("{}/v1/models?namespace=crash&limit=500", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut listed = 0;
    for m in models["models"].as_array().unwrap() {
        let name = format!("crash/{}", m["name"].as_str().unwrap());
        let vs: Value = c
            .get(format!("{}/v1/models/{name}/versions?limit=500", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for v in vs["versions"].as_array().unwrap() {
            assert_version_intact(&c, &server.url, &name, v["version"].as_str().unwrap()).await;
            listed += 1;
        }
    }
    assert!(listed >= acked.len());
    // Every acknowledged promotion is in its alias history (once) and in the log as that move; each
    // alias points where its newest recorded move says.
    let promoted = promoted.lock().unwrap().clone();
    assert!(!promoted.is_empty(), "no promotion went through before the kill");
    for w in 0..12u64 {
        let model = format!("crash/m{w}");
        let mine: Vec<_> = promoted.iter().filter(|(m, _, _)| *m == model).collect();
        if mine.is_empty() {
            continue;
        }
        let h: Value = c
            .get(format!("{}/v1/models/{model}/aliases/production/history?limit=500", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let events = h["events"].as_array().unwrap();
        for (_, version, idx) in &mine {
            let n = events
                .iter()
                .filter(|e| e["version"] == version.as_str() && e["log_index"].as_u64() == Some(*idx))
                .count();
            assert_eq!(n, 1, "{model}@{version} promotion recorded once");
        }
        let current: Value = c
            .get(format!("{}/v1/models/{model}/aliases/production", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(current["version"], events[0]["version"], "{model}: alias matches its newest move");
    }
    let size = {
        let note =
            c.get(format!("{}/v1/log/checkpoint", server.url)).send().await.unwrap().text().await.unwrap();
        note.lines().nth(1).unwrap().parse::<u64>().unwrap()
    };
    for (model, version, idx) in &promoted {
        assert!(*idx < size);
        let e: Value = c
            .get(format!("{}/v1/log/entries?start={idx}&end={}", server.url, idx + 1))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let body = e["entries"][0]["body"].as_str().unwrap();
        assert!(body.contains("\"alias.moved\"") && body.contains(&format!("{model}@{version}")), "{body}");
    }
    // And it keeps serving writes.
    push(&c, &server.url, "crash/after", "1", 424242).await.unwrap();
    server.kill();
}

/// Right after the kill, before restart: objects under digest keys are right; staged `#N` files may exist.
fn assert_no_wrong_blob_except_staged(blob_dir: &Path) {
    for e in std::fs::read_dir(blob_dir.join("sha256")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.contains('#') {
            continue;
        }
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(Digest::of(&bytes).hex(), name, "object under sha256/{name} has other bytes");
    }
}
