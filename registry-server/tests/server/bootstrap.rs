//! First start on a fresh data directory: an admin token is generated, written 0600, never printed
//! whole to the log stream, works, and a restart neither replaces it nor makes another.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

async fn run_until_healthy(data: &std::path::Path) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_registry-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data)
        .env_remove("REGISTRY_BOOTSTRAP_TOKEN")
        .env("REGISTRY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{url}/v1/health")).await.is_ok_and(|r| r.status() == 200) {
            return (child, url);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start");
}

fn stop(mut child: std::process::Child) -> String {
    // SIGTERM would be graceful; stderr is what matters here, so kill and read it.
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_data_dir_gets_one_private_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (child, url) = run_until_healthy(&data).await;
    let file = data.join("bootstrap-admin.token");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(token.starts_with("reg_"));
    let c = reqwest::Client::new();
    let who: serde_json::Value =
        c.get(format!("{url}/v1/whoami")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(who["actor"], "token:bootstrap-admin");
    assert_eq!(who["scopes"], serde_json::json!(["admin"]));
    assert_eq!(
        c.get(format!("{url}/v1/models")).send().await.unwrap().status(),
        401,
        "no anonymous access by default"
    );
    let stderr = stop(child);
    assert!(stderr.contains("bootstrap-admin.token"), "the operator is told where it is: {stderr}");
    assert!(!stderr.contains(&token[token.len() - 20..]), "the token itself is not printed");

    let (child, url) = run_until_healthy(&data).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token, "a restart keeps the token");
    let list: serde_json::Value =
        c.get(format!("{url}/v1/tokens")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1, "and makes no other");
    let stderr = stop(child);
    assert!(!stderr.contains("bootstrap admin token was created"), "{stderr}");
}

#[test]
fn settings_a_store_cannot_honour_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_registry-server"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env("REGISTRY_LISTEN", "127.0.0.1:0")
            .output()
            .unwrap()
    };
    let out = run(&["--direct-downloads"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("direct_downloads needs a store that can presign"), "{err}");
    let out = run(&["--upload-part-size", "1MiB"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside 5MiB..5GiB"));
    let out = run(&["--blobs-url", "ftp://somewhere/x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported blobs url"));
    // `gc` on a fresh registry: nothing to reclaim, said as JSON for scripts.
    let out = run(&["gc", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["blobs_removed"].as_u64(), r["bytes_reclaimed"].as_u64()), (Some(0), Some(0)));
}

/// Issue 23, defect 8: a first start that could not write the token file (a crash, a full disk, a
/// bad directory) must not leave a token nobody holds: the next start makes a usable one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_that_could_not_write_the_token_leaves_the_next_start_one() {
    use registry_server::service::tokens;
    let dir = tempfile::tempdir().unwrap();
    let db = registry_server::db::Db::open(&format!("sqlite:{}", dir.path().join("r.db").display()), true)
        .await
        .unwrap();
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, b"a file where the data directory should be").unwrap();
    assert!(tokens::bootstrap(&db, &blocked.join("data"), None).await.is_err());
    // The operator fixes the directory and starts again.
    let data = dir.path().join("data");
    let path = tokens::bootstrap(&db, &data, None)
        .await
        .unwrap()
        .expect("the next start creates the admin token and writes it");
    let token = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT secret_hash FROM tokens").fetch_all(db.pool()).await.unwrap();
    assert_eq!(hashes, [registry_server::auth::token::hash(&token)], "exactly the written token is valid");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Issue 23, defect 8: a first start killed after the token's row was committed but before its file
/// was put in place finishes the job on the next start (the token was written, 0600, before the row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_killed_after_the_row_puts_the_file_in_place_next_time() {
    use registry_server::service::tokens;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = registry_server::db::Db::open(&format!("sqlite:{}", dir.path().join("r.db").display()), true)
        .await
        .unwrap();
    // What the killed start left: the pending file and the committed row, no token file.
    let first = tokens::bootstrap(&db, &data, None).await.unwrap().unwrap();
    let token = std::fs::read_to_string(&first).unwrap();
    let id = registry_server::auth::token::id_of(token.trim()).unwrap().to_owned();
    let pending = data.join(format!("{}.{id}.pending", tokens::BOOTSTRAP_FILE));
    std::fs::rename(&first, &pending).unwrap();
    // A stale pending file of a start killed before its row (no row): discarded.
    let stale = data.join(format!("{}.reg_000000000000.pending", tokens::BOOTSTRAP_FILE));
    std::fs::write(&stale, "reg_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n").unwrap();
    let path = tokens::bootstrap(&db, &data, None).await.unwrap().expect("the file is put in place");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token);
    assert!(!pending.exists() && !stale.exists());
    assert_eq!(db.tokens_count().await.unwrap(), 1, "no second token");
    assert_eq!(tokens::bootstrap(&db, &data, None).await.unwrap(), None, "and then nothing more");
}

/// The server turns transparent huge pages off for itself (docs/decisions.md §27): with THP on, its
/// allocator's partly used 2 MiB pages stayed resident whole and a 2,000-file pull tripled its RSS.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_without_transparent_huge_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _url) = run_until_healthy(dir.path()).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let thp = status.lines().find(|l| l.starts_with("THP_enabled:")).map(|l| l.split_whitespace().nth(1));
    let log = stop(child);
    assert_eq!(thp, Some(Some("0")), "THP still on for the server; its log:\n{log}");
}
