//! One-off admin commands (`registry-server gc`, `scrub`) run beside a live server on the same data:
//! they must leave the server's work in flight alone.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn run(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_registry-server"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("REGISTRY_BOOTSTRAP_TOKEN")
        .env("REGISTRY_LOG", "warn")
        .output()
        .unwrap()
}

/// Issue 23, defect 6: a staged upload (`<hex>#N`, the live server is writing it) survives `gc` and
/// `scrub`; only the serving process clears staging, at its own start.
#[test]
fn gc_and_scrub_leave_uploads_in_flight_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let blobs = data.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let staged = blobs.join(format!("{}#3", registry_core::Digest::of(b"in flight").hex()));
    std::fs::write(&staged, b"in fli").unwrap();
    for args in [&["gc", "--grace", "0"][..], &["scrub"][..]] {
        let out = run(&data, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(staged.exists(), "`registry-server {}` deleted a live upload", args.join(" "));
    }
}

/// Issue 23, defect 5: `registry-server gc` names the real cause of a failure (here an object the
/// store cannot delete: a directory where the blob file should be), not "500 internal", and exits
/// non-zero; the blob's row is gone, so nothing answers "present" for bytes that may be missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_names_the_cause_of_a_failed_delete() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = registry_core::Digest::of(b"undeletable");
    let db_url = format!("sqlite:{}", data.join("registry.db").display());
    let db = registry_server::db::Db::open(&db_url, true).await.unwrap();
    assert!(db.blob_insert(&d, 11, None).await.unwrap());
    let stuck = data.join("blobs").join("sha256").join(d.hex());
    std::fs::create_dir_all(&stuck).unwrap();
    std::fs::write(stuck.join("x"), b"in the way").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await; // older than the zero grace
    let out = run(&data, &["gc", "--grace", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("deleting sha256/{}", d.hex())), "{err}");
    assert!(err.contains("1 delete(s) failed"), "{err}");
    assert!(!err.contains("internal error"), "{err}");
    assert_eq!(db.blob_size(&d).await.unwrap(), None, "the row went first");
    db.close().await;
}
