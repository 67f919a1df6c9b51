//! The server's signing keys are pinned in the database: a server (a replica) started with another
//! log, attestation or webhook sealing key refuses to start with a clear message, and a deliberate rotation goes
//! through `registry-server server-keys --accept`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A server on `db` with its keys in `keys_dir`, data in `data`.
fn command(data: &Path, db: &str, keys_dir: &Path, port: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_registry-server"));
    c.args(["--listen", &format!("127.0.0.1:{port}"), "--database-url", db, "--scrub-interval", "0"])
        .arg("--data-dir")
        .arg(data)
        .arg("--log-key-file")
        .arg(keys_dir.join("log.key"))
        .arg("--attestation-key-file")
        .arg(keys_dir.join("attestation.key"))
        .arg("--webhook-key-file")
        .arg(keys_dir.join("webhook.key"))
        .env_remove("REGISTRY_BOOTSTRAP_TOKEN");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a server and waits for it to be healthy, or for it to exit (then its output).
async fn start(mut c: Command, port: u16) -> Result<Child, Output> {
    let mut child = c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if std::time::Instant::now() > deadline {
            stop(child);
            panic!("the server neither started nor exited within 60 s");
        }
        if let Some(_status) = child.try_wait().unwrap() {
            return Err(child.wait_with_output().unwrap());
        }
        let health = reqwest::get(format!("http://127.0.0.1:{port}/v1/health")).await;
        if health.is_ok_and(|r| r.status() == 200) {
            return Ok(child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stop(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_other_signing_keys_than_recorded_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (data, shared, stray) =
        (dir.path().join("data"), dir.path().join("shared"), dir.path().join("stray"));
    let db = format!("sqlite:{}?mode=rwc", dir.path().join("registry.db").display());
    std::fs::create_dir_all(&data).unwrap();

    // The first start records the keys; a restart with the same key files is fine.
    let port = free_port();
    stop(start(command(&data, &db, &shared, port), port).await.expect("first start"));
    let port = free_port();
    stop(start(command(&data, &db, &shared, port), port).await.expect("restart with the same keys"));

    // A replica on the same database without the shared key files: refused, and says why.
    let port = free_port();
    let out = start(command(&data, &db, &stray, port), port).await.expect_err("must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(!out.status.success());
    assert!(stderr.contains("transparency log signing key") && stderr.contains("recorded"), "{stderr}");
    assert!(stderr.contains("docs/operations.md"), "{stderr}");

    // Only the attestation key differs: refused too.
    std::fs::copy(shared.join("log.key"), stray.join("log.key")).unwrap();
    let port = free_port();
    let out = start(command(&data, &db, &stray, port), port).await.expect_err("must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("promotion decision signing key"), "{stderr}");

    // Only the webhook sealing key differs: refused too (the secrets other replicas sealed would
    // not open on this one).
    std::fs::copy(shared.join("attestation.key"), stray.join("attestation.key")).unwrap();
    let port = free_port();
    let out = start(command(&data, &db, &stray, port), port).await.expect_err("must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("webhook sealing key"), "{stderr}");
    std::fs::remove_file(stray.join("attestation.key")).unwrap();

    // A deliberate rotation: accept the new keys, then the new keys start and the old ones do not.
    let accept = command(&data, &db, &stray, 0).args(["server-keys", "--accept", "--json"]).output().unwrap();
    assert!(accept.status.success(), "{}", String::from_utf8_lossy(&accept.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&accept.stdout).unwrap();
    assert!(rows.as_array().unwrap().iter().all(|r| r["matches"] == true), "{rows}");
    let port = free_port();
    stop(start(command(&data, &db, &stray, port), port).await.expect("the rotated keys start"));
    let port = free_port();
    start(command(&data, &db, &shared, port), port).await.expect_err("the old keys no longer do");
}
