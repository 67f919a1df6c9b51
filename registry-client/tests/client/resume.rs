//! Resumable pushes: the real `registry` binary, killed mid-push, then rerun; only the parts the server
//! had not confirmed are sent again. The first run goes through a throttling proxy so there is a
//! "mid-push" to kill it in.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use registry_server::testing::{TestOptions, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PART: u64 = 5 * 1024 * 1024;

/// Forwards connections to `target`, client-to-server bytes at about `rate` bytes per second.
async fn throttling_proxy(target: String, rate: u64) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else { return };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let start = tokio::time::Instant::now();
                    let mut sent = 0u64;
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        sent += n as u64;
                        let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                        tokio::time::sleep_until(start + due).await;
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::join!(up, down);
            });
        }
    });
    url
}

/// Part requests the server confirmed, from its own metrics.
async fn parts_confirmed_by_requests(url: &str) -> u64 {
    let text = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("registry_http_requests_total{method=\"PUT\",route=\"/v1/uploads/{id}/parts/{part}\",status=\"200\"}")
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum()
}

async fn confirmed_parts(s: &TestServer) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM upload_parts WHERE store_part_id IS NOT NULL")
        .fetch_one(s.state.db.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_push_resumes_and_sends_only_the_missing_parts() {
    let s = TestServer::start_with(TestOptions { upload_part_size: PART, ..Default::default() }).await;
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    // 20 parts of 5 MiB; the file is large enough for a resumable upload.
    let data: Vec<u8> = (0..20 * PART).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(model.join("weights.bin"), &data).unwrap();
    std::fs::write(model.join("config.json"), b"{}").unwrap();
    let total_parts = 20;

    let slow = throttling_proxy(s.url.trim_start_matches("http://").to_owned(), 25 * 1024 * 1024).await;
    let push = |url: &str| {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("registry"));
        c.env("REGISTRY_URL", url)
            .env("REGISTRY_TOKEN", &s.admin_token)
            .env("REGISTRY_CONFIG_DIR", common::config_dir_for(&s.admin_token))
            .env("REGISTRY_RESUMABLE_MIN", "64MiB")
            .arg("push")
            .arg(&model)
            .args(["--model", "fraud/big", "--version", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let mut child = push(&slow).spawn().unwrap();
    // Kill it once a few parts are confirmed (and well before all are).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while confirmed_parts(&s).await < 4 {
        assert!(tokio::time::Instant::now() < deadline, "the first push never got going");
        assert!(child.try_wait().unwrap().is_none(), "the first push ended before it was killed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // let the cut requests end on the server
    let confirmed = confirmed_parts(&s).await;
    assert!((4..total_parts).contains(&confirmed), "killed mid-push: {confirmed} of {total_parts} parts");
    let before = parts_confirmed_by_requests(&s.url).await;

    // Rerun, straight to the server: it resumes.
    let out = tokio::task::spawn_blocking({
        let mut c = push(&s.url);
        move || c.stderr(std::process::Stdio::piped()).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent = parts_confirmed_by_requests(&s.url).await - before;
    assert_eq!(sent, (total_parts - confirmed) as u64, "only the parts not confirmed were sent again");
    assert_eq!(confirmed_parts(&s).await, 0, "the session is gone once complete");

    // What was stored is exactly the file.
    let d = registry_core::Digest::of(&data);
    let c = registry_client::Client::new(&s.url).unwrap().with_token(Some(s.admin_token.clone()));
    let bytes = c.get_blob(&d, 0).await.unwrap().bytes().await.unwrap();
    assert!(bytes.as_ref() == data.as_slice(), "stored bytes equal the file");
}

/// Issue 23, defect 7, through the CLI: a push whose part hits a full store stops at once with a clear
/// message (no retries: the server discarded the session, freeing its parts), and
/// `registry push --abort-uploads` discards what an interrupted push left staged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_store_stops_the_push_clearly_and_abort_uploads_frees_staged_parts() {
    let blobs = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(TestOptions {
        upload_part_size: PART,
        blobs_url: Some(blobs.path().display().to_string()),
        ..Default::default()
    })
    .await;
    let c = registry_client::Client::new(&s.url).unwrap().with_token(Some(s.admin_token.clone()));
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    let data: Vec<u8> = (0..PART + 777).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    std::fs::write(model.join("weights.bin"), &data).unwrap();
    let d = registry_core::Digest::of(&data);
    // Runs `registry push MODEL --model fraud/full --version 1 ARGS...` off the async runtime.
    let registry = |args: &'static [&'static str]| {
        let (url, token, model) = (s.url.clone(), s.admin_token.clone(), model.clone());
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("registry"))
                .env("REGISTRY_URL", &url)
                .env("REGISTRY_TOKEN", &token)
                .env("REGISTRY_CONFIG_DIR", common::config_dir_for(&token))
                .env("REGISTRY_RESUMABLE_MIN", "1MiB")
                .arg("push")
                .arg(&model)
                .args(["--model", "fraud/full", "--version", "1"])
                .args(args)
                .output()
                .unwrap();
            (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
        })
    };

    // The push resumes the caller's session for this file, whose staging file now sits on a full disk.
    let sess = c.create_upload(&d, data.len() as u64).await.unwrap();
    let staging = blobs.path().join("uploads").join(&sess.id);
    std::fs::remove_file(&staging).unwrap();
    std::os::unix::fs::symlink("/dev/full", &staging).unwrap();
    let (ok, err) = registry(&[]).await.unwrap();
    assert!(!ok, "{err}");
    assert!(err.contains("storage is full"), "{err}");
    assert!(c.list_uploads().await.unwrap().uploads.is_empty(), "the session was discarded");
    assert!(staging.symlink_metadata().is_err());

    // An interrupted push left a session with a confirmed part: --abort-uploads frees it.
    let sess = c.create_upload(&d, data.len() as u64).await.unwrap();
    c.put_upload_part(&sess.id, 0, PART, data[..PART as usize].to_vec().into()).await.unwrap();
    let (ok, err) = registry(&["--abort-uploads"]).await.unwrap();
    assert!(ok, "{err}");
    assert!(err.contains("discarded 1 unfinished upload(s)"), "{err}");
    assert!(err.contains(&format!("{PART} bytes staged")), "{err}");
    assert!(c.list_uploads().await.unwrap().uploads.is_empty());
    assert_eq!(std::fs::read_dir(blobs.path().join("uploads")).unwrap().count(), 0, "staged parts freed");
    let m = registry_core::ModelName::parse("fraud/full").unwrap();
    assert!(c.get_version(&m, "1").await.is_err(), "--abort-uploads pushes nothing");
}
