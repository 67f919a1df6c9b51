//! Garbage collection: what it removes, what it keeps, and the race with pushes in flight.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use registry_client::{Client, ClientError, NoProgress};
use registry_core::api::{Metadata, PutVersionRequest};
use registry_core::{Digest, FileEntry, Lineage, Manifest, ModelName};
use registry_e2e::*;
use registry_server::service::gc;
use registry_server::testing::faults::{Action, Faults, Gate, Op, Rule};

async fn push(c: &Client, dir: &std::path::Path, model: &str, version: &str) -> Result<(), ClientError> {
    TestPush::new(model, version).dir(dir).run(c).await.map(|_| ())
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

/// Pushes and GC passes (grace 5 ms: anything unreferenced and untouched that long is fair game) at
/// the same time. Some pushes lose their blob to GC and are refused; rerun, they succeed. At the end
/// every version's blobs are stored and verify, and nothing a version references was removed.
/// (With grace 0 a loaded machine can starve a push for good: every pass may take a blob the push
/// touched a millisecond before. A push slower than the grace is refused and rerun, touching again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_racing_pushes_never_removes_a_referenced_blob() {
    let s = TestServer::start().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = tokio::spawn({
        let (state, stop) = (s.state.clone(), stop.clone());
        async move {
            let mut removed = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                removed += gc::pass(&state, Duration::from_millis(5), gc::ORPHAN_MIN_AGE)
                    .await
                    .unwrap()
                    .blobs_removed;
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
                            refused += 1;
                            assert!(refused < 500, "gc/m{w}@{i}: refused {refused} times; GC starves pushes");
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

/// A server whose blob store takes injected faults.
async fn faulty_server() -> (TestServer, Arc<Faults>) {
    let faults = Faults::new();
    let s = TestServer::start_with(TestOptions { faults: Some(faults.clone()), ..Default::default() }).await;
    (s, faults)
}

/// Uploads `n` blobs no version references; returns them.
async fn loose_blobs(c: &Client, n: usize, seed: u64) -> Vec<(Digest, Vec<u8>)> {
    let mut out = vec![];
    for i in 0..n {
        let bytes = noise(1000 + i, seed + i as u64);
        let d = Digest::of(&bytes);
        c.put_blob(&d, bytes.len() as u64, bytes.clone().into()).await.unwrap();
        out.push((d, bytes));
    }
    out
}

/// What the registry answers "present" it can serve: every digest `blobs:check` does not list as
/// missing downloads with its bytes.
async fn assert_present_means_stored(c: &Client, blobs: &[(Digest, Vec<u8>)]) {
    let digests: Vec<Digest> = blobs.iter().map(|(d, _)| *d).collect();
    let missing = c.missing_blobs(&digests).await.unwrap();
    for (d, bytes) in blobs {
        if missing.contains(d) {
            continue;
        }
        let r = c.get_blob(d, 0).await.unwrap_or_else(|e| panic!("{d} is answered present but: {e}"));
        assert_eq!(r.bytes().await.unwrap().as_ref(), bytes.as_slice(), "{d}");
    }
}

/// Pushes a version of exactly these blobs and pulls it back.
async fn push_and_pull(c: &Client, blobs: &[(Digest, Vec<u8>)], model: &str) {
    let files: Vec<(String, Vec<u8>)> =
        blobs.iter().enumerate().map(|(i, (_, b))| (format!("f{i}.bin"), b.clone())).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let dir = model_dir(&refs);
    push(c, dir.path(), model, "1").await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let m = ModelName::parse(model).unwrap();
    registry_client::pull::pull(c, &m, "1", &out.path().join("m"), false, Arc::new(NoProgress), 2)
        .await
        .unwrap_or_else(|e| panic!("an acknowledged push does not pull: {e}"));
}

/// Issue 23, defect 1: a pass that fails on its third delete (EIO) must not leave rows whose objects
/// are gone — else the next push of those bytes is acknowledged with nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gc_pass_failing_partway_leaves_no_row_without_its_object() {
    let (s, faults) = faulty_server().await;
    let c = client(&s);
    let blobs = loose_blobs(&c, 5, 100).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    faults.add(Rule::nth(Op::Delete, 3, Action::Io(std::io::ErrorKind::Other)));
    let r = gc::pass(&s.state, Duration::ZERO, gc::ORPHAN_MIN_AGE).await;
    eprintln!("gc with EIO on the third delete: {r:?}");
    assert_eq!(faults.injected(), 1);
    assert_present_means_stored(&c, &blobs).await;
    push_and_pull(&c, &blobs, "gc/eio").await;
}

/// Issue 23, defect 1: one object that cannot be deleted (an immutable file) neither stops every
/// later pass nor leaves rows without objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_undeletable_object_does_not_stop_gc() {
    let (s, faults) = faulty_server().await;
    let c = client(&s);
    let first = loose_blobs(&c, 3, 200).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let stuck = first[0].0;
    faults
        .add(Rule::always(Op::Delete, Action::Io(std::io::ErrorKind::PermissionDenied)).on_key(stuck.hex()));
    let r = gc::pass(&s.state, Duration::ZERO, gc::ORPHAN_MIN_AGE).await;
    eprintln!("gc with an undeletable object: {r:?}");
    assert_present_means_stored(&c, &first).await;
    // Later garbage is still collected.
    let later = loose_blobs(&c, 1, 300).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let _ = gc::pass(&s.state, Duration::ZERO, gc::ORPHAN_MIN_AGE).await;
    assert_eq!(c.missing_blobs(&[later[0].0]).await.unwrap(), vec![later[0].0], "later garbage is collected");
    assert!(!s.stored_blobs().await.iter().any(|k| k.ends_with(&later[0].0.hex())));
    assert_present_means_stored(&c, &first).await;
    push_and_pull(&c, &first, "gc/stuck").await;
}

/// Issue 23, defect 2: an upload of an object GC's orphan sweep is deleting right now (left without a
/// row by an earlier crash) is never acknowledged with its object then deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_racing_the_orphan_sweep_keeps_its_object() {
    let (s, faults) = faulty_server().await;
    let c = client(&s);
    let bytes = noise(3000, 7);
    let d = Digest::of(&bytes);
    s.tamper_blob(&d, &bytes).await; // an object without a row
    let gate = Gate::new();
    faults.add(Rule::always(Op::Delete, Action::Pause(gate.clone())).on_key(d.hex()));
    let state = s.state.clone();
    let collector = tokio::spawn(async move { gc::pass(&state, Duration::ZERO, Duration::ZERO).await });
    gate.reached().await; // GC decided the object is an orphan and is deleting it
    let up = c.put_blob(&d, bytes.len() as u64, bytes.clone().into()).await;
    faults.clear();
    gate.open();
    eprintln!("gc: {:?}; upload during its delete: {up:?}", collector.await.unwrap());
    if let Err(e) = up {
        assert_eq!(e.code(), Some("unavailable"), "{e}");
        c.put_blob(&d, bytes.len() as u64, bytes.clone().into()).await.unwrap();
    }
    // Acknowledged, so stored and served.
    let got = c.get_blob(&d, 0).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());
    push_and_pull(&c, &[(d, bytes)], "gc/orphan").await;
}

/// Issue 23, defect 5: GC waiting on the object store holds no lock a push needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_waiting_on_the_store_does_not_hold_up_pushes() {
    let (s, faults) = faulty_server().await;
    let c = client(&s);
    let dir = model_dir(&[("weights.bin", b"weights"), ("config.json", b"{}")]);
    push(&c, dir.path(), "gc/paused", "1").await.unwrap();
    loose_blobs(&c, 1, 400).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let gate = Gate::new();
    faults.add(Rule::always(Op::Delete, Action::Pause(gate.clone())));
    let state = s.state.clone();
    let collector = tokio::spawn(async move { gc::pass(&state, Duration::ZERO, gc::ORPHAN_MIN_AGE).await });
    gate.reached().await;
    // A push of stored bytes needs the database only.
    let started = std::time::Instant::now();
    let pushed = tokio::time::timeout(Duration::from_secs(10), push(&c, dir.path(), "gc/paused", "2")).await;
    let took = started.elapsed();
    gate.open();
    collector.await.unwrap().unwrap();
    eprintln!("push while GC waited on the store took {took:?}");
    pushed.expect("the push waited for GC's store call").unwrap();
}

/// Issue 23, defect 7: GC discards upload sessions idle beyond the idle bound (their staged parts
/// free their space) long before their expiry; a session in use stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_discards_upload_sessions_idle_beyond_the_bound() {
    let s = TestServer::start().await;
    let h = http(&s);
    let open = |what: &'static [u8]| {
        h.post(format!("{}/v1/uploads", s.url))
            .json(&serde_json::json!({"digest": Digest::of(what), "size": what.len()}))
            .send()
    };
    let idle: serde_json::Value = open(b"idle upload").await.unwrap().json().await.unwrap();
    let busy: serde_json::Value = open(b"busy upload").await.unwrap().json().await.unwrap();
    let two_hours_ago = registry_server::db::now_ms() - 2 * 3600 * 1000;
    sqlx::query("UPDATE upload_sessions SET touched_at = $1 WHERE id = $2")
        .bind(two_hours_ago)
        .bind(idle["id"].as_str().unwrap())
        .execute(s.state.db.pool())
        .await
        .unwrap();
    let opts = gc::GcOptions {
        upload_idle: Duration::from_secs(3600),
        ..gc::GcOptions::new(gc::LEASE, gc::ORPHAN_MIN_AGE)
    };
    let r = gc::pass_with(&s.state, &opts).await.unwrap();
    assert_eq!(r.uploads_expired, 1, "{r:?}");
    let status =
        |id: &serde_json::Value| h.get(format!("{}/v1/uploads/{}", s.url, id.as_str().unwrap())).send();
    assert_eq!(status(&idle["id"]).await.unwrap().status(), 404);
    assert_eq!(status(&busy["id"]).await.unwrap().status(), 200);
}

/// Issue 23 (sweep): a staging file no session names (a crash between the file and the session's row)
/// is removed once old enough; a live session's file stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_staging_files_no_session_names() {
    let blobs = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(TestOptions {
        blobs_url: Some(blobs.path().display().to_string()),
        ..Default::default()
    })
    .await;
    let r = http(&s)
        .post(format!("{}/v1/uploads", s.url))
        .json(&serde_json::json!({"digest": Digest::of(b"live"), "size": 4}))
        .send()
        .await
        .unwrap();
    let live: serde_json::Value = r.json().await.unwrap();
    let staging = blobs.path().join("uploads");
    let stray = staging.join(uuid_like(7));
    std::fs::write(&stray, vec![0u8; 1000]).unwrap();
    let foreign = staging.join("notes.txt"); // not a session's name: not ours to remove
    std::fs::write(&foreign, b"operator's file").unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = gc::pass(&s.state, gc::ORPHAN_MIN_AGE, Duration::ZERO).await.unwrap();
    assert_eq!((r.orphans_removed, r.orphan_bytes), (1, 1000), "{r:?}");
    assert!(!stray.exists() && foreign.exists());
    assert_eq!(r.failures, 0, "{r:?}");
    assert!(staging.join(live["id"].as_str().unwrap()).exists(), "a live session keeps its file");
}

fn uuid_like(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// Pulls `model@version` into a temp dir.
async fn pull(c: &Client, model: &str, version: &str) -> Result<(), ClientError> {
    let out = tempfile::tempdir().unwrap();
    let m = ModelName::parse(model).unwrap();
    registry_client::pull::pull(c, &m, version, &out.path().join("m"), false, Arc::new(NoProgress), 2)
        .await
        .map(|_| ())
}

/// Issue 23, defect 1 (healing): blobs deleted or truncated behind the server's back. Once GC's listing
/// (or a failed read) finds them, they no longer count as present, and the next push of the same
/// files uploads them again, which heals the version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_lost_behind_the_servers_back_heal_on_the_next_push() {
    let s = TestServer::start().await;
    let c = client(&s);
    let (a, b) = (noise(3000, 11), noise(4000, 12));
    let (da, db) = (Digest::of(&a), Digest::of(&b));
    let dir = model_dir(&[("a.bin", &a), ("b.bin", &b), ("config.json", b"{}")]);
    push(&c, dir.path(), "heal/m", "1").await.unwrap();
    s.state.blobs.delete(&da).await.unwrap();
    s.tamper_blob(&db, &b[..100]).await;
    let r = gc::pass(&s.state, gc::LEASE, gc::ORPHAN_MIN_AGE).await.unwrap();
    assert_eq!((r.lost_found, r.blobs_removed), (2, 0), "{r:?}");
    assert!(pull(&c, "heal/m", "1").await.is_err());
    assert_eq!(c.missing_blobs(&[da, db]).await.unwrap(), vec![da, db]);
    push(&c, dir.path(), "heal/m", "1").await.unwrap(); // the same version again: 200, blobs re-sent
    pull(&c, "heal/m", "1").await.unwrap();
    assert!(c.missing_blobs(&[da, db]).await.unwrap().is_empty());

    // A failed read finds a missing object too.
    s.state.blobs.delete(&da).await.unwrap();
    assert!(c.get_blob(&da, 0).await.is_err());
    assert_eq!(c.missing_blobs(&[da]).await.unwrap(), vec![da]);
    push(&c, dir.path(), "heal/m", "1").await.unwrap();
    pull(&c, "heal/m", "1").await.unwrap();
}

/// Issue 23, defect 1 (healing): the server restarted on another (empty) blob store, e.g. a changed
/// `--blobs-url`. GC marks every row lost; pushes upload again and heal; nothing is answered present
/// that is not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_blobs_url_heals_through_pushes() {
    let mut s = TestServer::start().await;
    let c = client(&s);
    let dir = model_dir(&[("w.bin", &noise(5000, 13)), ("config.json", b"{}")]);
    push(&c, dir.path(), "moved/m", "1").await.unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    s.blobs_url = match registry_server::testing::blobs_on_s3() {
        true => registry_server::testing::fresh_s3_url(&registry_server::testing::s3_base_url().unwrap()),
        false => elsewhere.path().display().to_string(),
    };
    let s = s.restart().await;
    let c = client(&s);
    let r = gc::pass(&s.state, gc::LEASE, gc::ORPHAN_MIN_AGE).await.unwrap();
    assert_eq!(r.lost_found, 2, "{r:?}");
    push(&c, dir.path(), "moved/m", "1").await.unwrap();
    pull(&c, "moved/m", "1").await.unwrap();
}
