//! Garbage collection: what it removes, what it keeps, and the race with pushes in flight.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use registry_client::push::{PushOptions, PushSpec};
use registry_client::{Client, ClientError, NoProgress};
use registry_core::api::{Metadata, PutVersionRequest};
use registry_core::{Digest, FileEntry, Lineage, Manifest, ModelName, VersionLabel};
use registry_e2e::*;
use registry_server::service::gc;

async fn push(c: &Client, dir: &std::path::Path, model: &str, version: &str) -> Result<(), ClientError> {
    let (model, version) = (ModelName::parse(model).unwrap(), VersionLabel::parse(version).unwrap());
    let spec = PushSpec {
        dir,
        model: &model,
        version: &version,
        lineage: Lineage::default(),
        metadata: Metadata::default(),
        sign: None,
        attestations: vec![],
    };
    registry_client::push::push(c, spec, Arc::new(NoProgress), &PushOptions::default()).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_only_unreferenced_untouched_blobs_expired_uploads_and_orphans() {
    let s = TestServer::start().await;
    let c = client(&s);
    let dir = model_dir(&[("weights.bin", b"kept weights"), ("config.json", b"{}")]);
    push(&c, dir.path(), "fraud/detector", "1").await.unwrap();
    // An uploaded blob no version references, an abandoned upload session, and an object with no row.
    let loose = b"uploaded, never referenced".to_vec();
    let ld = Digest::of(&loose);
    c.put_blob(&ld, loose.len() as u64, loose.clone().into()).await.unwrap();
    let h = http(&s);
    let r = h
        .post(format!("{}/v1/uploads", s.url))
        .json(&serde_json::json!({"digest": Digest::of(b"abandoned"), "size": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let orphan = Digest::of(b"orphan");
    s.tamper_blob(&orphan, b"orphan").await;

    // Within the grace period nothing goes.
    let r = gc::pass(&s.state, Duration::from_secs(3600), Duration::from_secs(3600)).await.unwrap();
    assert_eq!((r.blobs_removed, r.uploads_expired, r.orphans_removed), (0, 0, 0));

    // Past it (and with the session expired), exactly the three go.
    sqlx::query("UPDATE upload_sessions SET expires_at = 0").execute(s.state.db.pool()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    // (A test may treat a fresh object as an orphan; a live registry waits ORPHAN_MIN_AGE.)
    let r = gc::pass(&s.state, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!((r.blobs_removed, r.bytes_reclaimed), (1, loose.len() as u64), "{r:?}");
    assert_eq!((r.uploads_expired, r.orphans_removed, r.orphan_bytes), (1, 1, 6), "{r:?}");
    assert_eq!(c.missing_blobs(&[ld, orphan]).await.unwrap(), vec![ld, orphan]);
    assert_eq!(s.stored_blobs().await.len(), 2, "the version's two blobs stay");
    let out = tempfile::tempdir().unwrap();
    let m = ModelName::parse("fraud/detector").unwrap();
    registry_client::pull::pull(&c, &m, "1", &out.path().join("m"), false, Arc::new(NoProgress), 2)
        .await
        .unwrap();
    let again = gc::pass(&s.state, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!(again.blobs_removed + again.orphans_removed + again.uploads_expired, 0);
}

/// A blob uploaded and then collected before the version naming it is published: the publish is
/// refused (nothing half-made) and the push succeeds when rerun.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_never_references_a_collected_blob() {
    let s = TestServer::start().await;
    let c = client(&s);
    let bytes = b"weights that GC takes".to_vec();
    let d = Digest::of(&bytes);
    c.put_blob(&d, bytes.len() as u64, bytes.clone().into()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(gc::pass(&s.state, Duration::ZERO, gc::ORPHAN_MIN_AGE).await.unwrap().blobs_removed, 1);
    let manifest =
        Manifest::new(vec![FileEntry { path: "w.bin".into(), size: bytes.len() as u64, digest: d }]).unwrap();
    let req = PutVersionRequest {
        manifest,
        lineage: Lineage::default(),
        metadata: Metadata::default(),
        attestations: vec![],
    };
    let err = c.put_version(&ModelName::parse("a/b").unwrap(), "1", &req).await.unwrap_err();
    assert_eq!(err.code(), Some("missing_blobs"));
    assert!(c.get_version(&ModelName::parse("a/b").unwrap(), "1").await.is_err(), "no version was made");
}

/// Pushes and GC passes (grace 0: everything unreferenced is fair game) at the same time. Some pushes
/// lose their blob to GC and are refused; rerun, they succeed. At the end every version's blobs are
/// stored and verify, and nothing a version references was removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_racing_pushes_never_removes_a_referenced_blob() {
    let s = TestServer::start().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = tokio::spawn({
        let (state, stop) = (s.state.clone(), stop.clone());
        async move {
            let mut removed = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                removed += gc::pass(&state, Duration::ZERO, gc::ORPHAN_MIN_AGE).await.unwrap().blobs_removed;
            }
            removed
        }
    });
    let mut tasks = vec![];
    for w in 0..4 {
        let c = client(&s);
        tasks.push(tokio::spawn(async move {
            let mut refused = 0;
            for i in 0..12 {
                let dir =
                    model_dir(&[("w.bin", &noise(2000, w * 1000 + i)), ("shared.json", b"{\"shared\":1}")]);
                loop {
                    match push(&c, dir.path(), &format!("gc/m{w}"), &i.to_string()).await {
                        Ok(()) => break,
                        Err(e) if matches!(e.code(), Some("missing_blobs") | Some("unavailable")) => {
                            refused += 1
                        }
                        Err(e) => panic!("push failed: {e}"),
                    }
                }
            }
            refused
        }));
    }
    let mut refused = 0;
    for t in tasks {
        refused += t.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let removed = collector.await.unwrap();
    eprintln!(
        "gc removed {removed} blob(s) during the pushes; {refused} push attempt(s) were refused and rerun"
    );
    let c = client(&s);
    for w in 0..4 {
        for i in 0..12 {
            let out = tempfile::tempdir().unwrap();
            let m = ModelName::parse(&format!("gc/m{w}")).unwrap();
            registry_client::pull::pull(
                &c,
                &m,
                &i.to_string(),
                &out.path().join("m"),
                false,
                Arc::new(NoProgress),
                2,
            )
            .await
            .unwrap_or_else(|e| panic!("gc/m{w}@{i}: {e}"));
        }
    }
}
