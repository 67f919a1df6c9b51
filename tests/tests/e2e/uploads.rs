//! Resumable upload sessions through the HTTP API: parts in and out of order, resends, wrong bytes,
//! other callers, completion, abort. (The kill-and-rerun story is in registry-client/tests/client/resume.rs.)
#![allow(clippy::unwrap_used)]

use registry_core::Digest;
use registry_core::api::UploadSession;
use registry_core::auth::Scope;
use registry_e2e::*;
use serde_json::json;

const PART: usize = 5 * 1024 * 1024;

async fn server() -> TestServer {
    TestServer::start_with(TestOptions { upload_part_size: PART as u64, ..Default::default() }).await
}

async fn put_part(h: &reqwest::Client, url: &str, id: &str, n: usize, bytes: Vec<u8>) -> reqwest::Response {
    h.put(format!("{url}/v1/uploads/{id}/parts/{n}"))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parts_are_hashed_in_order_and_the_blob_appears_only_when_complete() {
    let s = server().await;
    let h = http(&s);
    let data = noise(2 * PART + 777, 7);
    let d = Digest::of(&data);
    let r = h
        .post(format!("{}/v1/uploads", s.url))
        .json(&json!({"digest": d, "size": data.len()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let sess: UploadSession = r.json().await.unwrap();
    assert_eq!((sess.parts, sess.part_size, sess.confirmed.len()), (3, PART as u64, 0));

    // Part 1 arrives first and waits for part 0 (the server reaches its waiting point).
    let (waits, release) = s.state.pauses.arm("upload.part.waits");
    let early = tokio::spawn({
        let (h, url, id, bytes) = (h.clone(), s.url.clone(), sess.id.clone(), data[PART..2 * PART].to_vec());
        async move { put_part(&h, &url, &id, 1, bytes).await.status() }
    });
    waits.await.unwrap();
    assert!(!early.is_finished(), "part 1 waits for part 0");
    release.send(()).unwrap();
    assert_eq!(put_part(&h, &s.url, &sess.id, 0, data[..PART].to_vec()).await.status(), 200);
    assert_eq!(early.await.unwrap(), 200);

    // Completing early names what is missing.
    let r = h.post(format!("{}/v1/uploads/{}/complete", s.url, sess.id)).send().await.unwrap();
    let (status, code, body) = error_of(r).await;
    assert_eq!((status, code.as_str()), (409, "upload_incomplete"));
    assert_eq!(body["details"]["missing"], json!([2]));
    assert!(s.stored_blobs().await.is_empty(), "nothing visible before completion");

    // A resend of a confirmed part with the same bytes is fine; with other bytes it is refused.
    assert_eq!(put_part(&h, &s.url, &sess.id, 0, data[..PART].to_vec()).await.status(), 200);
    let (status, code, _) = error_of(put_part(&h, &s.url, &sess.id, 0, vec![0u8; PART]).await).await;
    assert_eq!((status, code.as_str()), (409, "part_conflict"));
    // Wrong length, out of range.
    let (status, code, _) = error_of(put_part(&h, &s.url, &sess.id, 2, vec![1u8; 10]).await).await;
    assert_eq!((status, code.as_str()), (400, "digest_mismatch"));
    let (status, _, _) = error_of(put_part(&h, &s.url, &sess.id, 3, vec![1u8; 10]).await).await;
    assert_eq!(status, 400);

    // Opening the same upload again resumes it.
    let r = h
        .post(format!("{}/v1/uploads", s.url))
        .json(&json!({"digest": d, "size": data.len()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let again: UploadSession = r.json().await.unwrap();
    assert_eq!((again.id.as_str(), again.confirmed.clone()), (sess.id.as_str(), vec![0, 1]));

    // Another caller sees no such session.
    let other = http_with(&s.token("other", &[Scope::Push], "*").await);
    let (status, _, _) =
        error_of(put_part(&other, &s.url, &sess.id, 2, data[2 * PART..].to_vec()).await).await;
    assert_eq!(status, 404);

    assert_eq!(put_part(&h, &s.url, &sess.id, 2, data[2 * PART..].to_vec()).await.status(), 200);
    let r = h.post(format!("{}/v1/uploads/{}/complete", s.url, sess.id)).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let got = h.get(format!("{}/v1/blobs/{d}", s.url)).send().await.unwrap().bytes().await.unwrap();
    assert!(got.as_ref() == data.as_slice());
    let (status, code, _) =
        error_of(h.get(format!("{}/v1/uploads/{}", s.url, sess.id)).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "not_found"), "a completed session is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_that_do_not_hash_to_the_digest_store_nothing() {
    let s = server().await;
    let h = http(&s);
    let claimed = Digest::of(b"what the client claimed");
    let r = h
        .post(format!("{}/v1/uploads", s.url))
        .json(&json!({"digest": claimed, "size": PART + 1}))
        .send()
        .await
        .unwrap();
    let sess: UploadSession = r.json().await.unwrap();
    assert_eq!(put_part(&h, &s.url, &sess.id, 0, vec![3u8; PART]).await.status(), 200);
    assert_eq!(put_part(&h, &s.url, &sess.id, 1, vec![4u8]).await.status(), 200);
    let r = h.post(format!("{}/v1/uploads/{}/complete", s.url, sess.id)).send().await.unwrap();
    let (status, code, _) = error_of(r).await;
    assert_eq!((status, code.as_str()), (400, "digest_mismatch"));
    assert!(s.stored_blobs().await.is_empty());
    let missing = registry_e2e::client(&s).missing_blobs(&[claimed]).await.unwrap();
    assert_eq!(missing, vec![claimed]);

    // Abort: the session and its parts are gone.
    let d = Digest::of(b"x");
    let r =
        h.post(format!("{}/v1/uploads", s.url)).json(&json!({"digest": d, "size": 1})).send().await.unwrap();
    let sess: UploadSession = r.json().await.unwrap();
    assert_eq!(h.delete(format!("{}/v1/uploads/{}", s.url, sess.id)).send().await.unwrap().status(), 204);
    assert_eq!(h.get(format!("{}/v1/uploads/{}", s.url, sess.id)).send().await.unwrap().status(), 404);

    // Bad input: empty, over the limit, malformed.
    let r =
        h.post(format!("{}/v1/uploads", s.url)).json(&json!({"digest": d, "size": 0})).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 400);
    let r = h
        .post(format!("{}/v1/uploads", s.url))
        .json(&json!({"digest": "sha256:nope", "size": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.1, "invalid_digest");
    let open = |size: serde_json::Value| {
        h.post(format!("{}/v1/uploads", s.url)).json(&json!({"digest": d, "size": size})).send()
    };
    assert_eq!(error_of(open(json!(i64::MAX)).await.unwrap()).await.0, 413, "over the server's limit");
    assert_eq!(error_of(open(json!(u64::MAX)).await.unwrap()).await.0, 400, "beyond any blob");
    assert_eq!(error_of(open(json!(1.5)).await.unwrap()).await.1, "invalid_json");
    assert_eq!(open(json!(3.0)).await.unwrap().status(), 201, "3.0 is a whole number");
    let r = h.put(format!("{}/v1/uploads/..%2F..%2Fetc/parts/0", s.url)).body("x").send().await.unwrap();
    assert_eq!(error_of(r).await.0, 404, "an id that is no session's is unknown, never a path");
    // Read-only credentials cannot upload.
    let reader = http_with(&s.token("reader", &[Scope::Read], "*").await);
    let r = reader
        .post(format!("{}/v1/uploads", s.url))
        .json(&json!({"digest": d, "size": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 403);
}

/// Opens a session for `data` and sends every part; returns the session.
async fn upload_parts(h: &reqwest::Client, url: &str, data: &[u8]) -> UploadSession {
    let d = Digest::of(data);
    let r = h
        .post(format!("{url}/v1/uploads"))
        .json(&json!({"digest": d, "size": data.len()}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let sess: UploadSession = r.json().await.unwrap();
    for (n, part) in data.chunks(PART).enumerate() {
        assert_eq!(put_part(h, url, &sess.id, n, part.to_vec()).await.status(), 200);
    }
    sess
}

/// Makes every insert into `blobs` fail (a database that fails between the object and its row).
async fn fail_blob_inserts(s: &TestServer, on: bool) {
    use registry_server::db::Backend;
    let pool = s.state.db.pool();
    let sql: &[&str] = match (s.state.db.backend(), on) {
        (Backend::Sqlite, true) => &["CREATE TRIGGER fail_blob_insert BEFORE INSERT ON blobs \
                                      BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
        (Backend::Sqlite, false) => &["DROP TRIGGER fail_blob_insert"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION fail_blob_insert() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER fail_blob_insert BEFORE INSERT ON blobs FOR EACH ROW EXECUTE FUNCTION fail_blob_insert()",
        ],
        (Backend::Postgres, false) => &["DROP TRIGGER fail_blob_insert ON blobs"],
    };
    for q in sql {
        sqlx::query(sqlx::AssertSqlSafe(*q)).execute(pool).await.unwrap();
    }
}

/// Issue 23, defect 3: completing is idempotent. The object is in place but its row failed (or the
/// server died in between): completing again succeeds instead of answering 500 until expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_again_after_the_record_failed_succeeds() {
    let s = server().await;
    let h = http(&s);
    let data = noise(PART + 4321, 23);
    let d = Digest::of(&data);
    let sess = upload_parts(&h, &s.url, &data).await;
    fail_blob_inserts(&s, true).await;
    let r = h.post(format!("{}/v1/uploads/{}/complete", s.url, sess.id)).send().await.unwrap();
    assert_eq!(r.status(), 500, "the row could not be written");
    fail_blob_inserts(&s, false).await;
    // The client reruns: the session resumes with every part confirmed, and completes.
    let r = h
        .post(format!("{}/v1/uploads", s.url))
        .json(&json!({"digest": d, "size": data.len()}))
        .send()
        .await
        .unwrap();
    let again: UploadSession = r.json().await.unwrap();
    assert_eq!((again.id.as_str(), again.confirmed.len()), (sess.id.as_str(), 2));
    let r = h.post(format!("{}/v1/uploads/{}/complete", s.url, sess.id)).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let got = h.get(format!("{}/v1/blobs/{d}", s.url)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(Digest::of(&got), d);
    assert!(registry_e2e::client(&s).missing_blobs(&[d]).await.unwrap().is_empty());
}

/// Issue 23, defect 7: a part that hits a full disk ends its session at once (its staged bytes are
/// freed; the parts can be sent again in a new session) rather than holding the space for a day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_discards_the_session_and_says_so() {
    let blobs = tempfile::tempdir().unwrap(); // a local directory: its staging files are ours to break
    let s = TestServer::start_with(TestOptions {
        upload_part_size: PART as u64,
        blobs_url: Some(blobs.path().display().to_string()),
        ..Default::default()
    })
    .await;
    let h = http(&s);
    let data = noise(PART + 100, 29);
    let d = Digest::of(&data);
    let r = h
        .post(format!("{}/v1/uploads", s.url))
        .json(&json!({"digest": d, "size": data.len()}))
        .send()
        .await
        .unwrap();
    let sess: UploadSession = r.json().await.unwrap();
    let staging = blobs.path().join("uploads").join(&sess.id);
    assert!(staging.exists());
    // Every write into the staging file now fails with ENOSPC.
    std::fs::remove_file(&staging).unwrap();
    std::os::unix::fs::symlink("/dev/full", &staging).unwrap();
    let r = put_part(&h, &s.url, &sess.id, 0, data[..PART].to_vec()).await;
    let (status, code, body) = error_of(r).await;
    assert_eq!((status, code.as_str()), (507, "storage_full"), "{body}");
    assert!(staging.symlink_metadata().is_err(), "the session's staging file is gone");
    assert_eq!(h.get(format!("{}/v1/uploads/{}", s.url, sess.id)).send().await.unwrap().status(), 404);
    // Space freed: the same blob goes up in a new session.
    let again = upload_parts(&h, &s.url, &data).await;
    assert_ne!(again.id, sess.id);
    let r = h.post(format!("{}/v1/uploads/{}/complete", s.url, again.id)).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

/// A completion racing the last part: the part lands after the completion loaded the session but
/// before it read the parts. The upload completes (it was once judged corrupt by a hash state read
/// too early, and discarded).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_complete_racing_the_last_part_sees_it_hashed() {
    let s = server().await;
    let h = http(&s);
    let data = noise(PART + 999, 21);
    let d = Digest::of(&data);
    let r = h
        .post(format!("{}/v1/uploads", s.url))
        .json(&json!({"digest": d, "size": data.len()}))
        .send()
        .await
        .unwrap();
    let sess: UploadSession = r.json().await.unwrap();
    assert_eq!(put_part(&h, &s.url, &sess.id, 0, data[..PART].to_vec()).await.status(), 200);
    let (loaded, release) = s.state.pauses.arm("upload.complete.loaded");
    let complete = tokio::spawn({
        let (h, url) = (h.clone(), format!("{}/v1/uploads/{}/complete", s.url, sess.id));
        async move {
            let r = h.post(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    });
    loaded.await.unwrap();
    assert_eq!(put_part(&h, &s.url, &sess.id, 1, data[PART..].to_vec()).await.status(), 200);
    release.send(()).unwrap();
    let (status, body) = complete.await.unwrap();
    assert!(status == 200 || status == 201, "{status} {body}");
    assert_eq!(s.stored_blobs().await.len(), 1, "the blob is stored");
}

/// A server whose parts are held in memory (memory://) with a budget of one part, waiting `wait` for room.
async fn budget_of_one_part(wait: std::time::Duration) -> TestServer {
    TestServer::start_with(TestOptions {
        blobs_url: Some("memory://".into()),
        upload_part_size: PART as u64,
        upload_memory_budget: PART as u64,
        upload_budget_wait: wait,
        ..Default::default()
    })
    .await
}

/// Opens an upload session for `data`.
async fn open_session(h: &reqwest::Client, url: &str, data: &[u8]) -> UploadSession {
    let r = h
        .post(format!("{url}/v1/uploads"))
        .json(&json!({ "digest": Digest::of(data), "size": data.len() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    r.json::<UploadSession>().await.unwrap()
}

/// A metric's value from `/metrics` (a line `NAME VALUE`), or the sum of `NAME{...} VALUE` lines whose
/// labels contain `labels`.
async fn metric(url: &str, name: &str, labels: &str) -> u64 {
    let m = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    m.lines()
        .filter(|l| {
            l.starts_with(&format!("{name} ")) || (l.starts_with(&format!("{name}{{")) && l.contains(labels))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits (at most 30 s, polling) until `metric(name, labels)` reaches `at_least`.
async fn metric_reaches(url: &str, name: &str, labels: &str, at_least: u64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while metric(url, name, labels).await < at_least {
        assert!(tokio::time::Instant::now() < deadline, "{name}{{{labels}}} never reached {at_least}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Part 0 of a fresh session for `data` (at least a part long) whose sender stalls after 1 MiB, so it
/// holds a whole part of the budget until the returned sender is dropped; returns once it holds it.
async fn stalled_part(
    h: &reqwest::Client,
    url: &str,
    data: &[u8],
) -> (
    tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    let id = open_session(h, url, data).await.id;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    tx.send(Ok(bytes::Bytes::from(data[..1 << 20].to_vec()))).await.unwrap();
    let stalled = {
        let (h, url) = (h.clone(), url.to_string());
        tokio::spawn(async move {
            h.put(format!("{url}/v1/uploads/{id}/parts/0"))
                .header("content-type", "application/octet-stream")
                .header("content-length", PART)
                .body(reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|c| (c, rx))
                })))
                .send()
                .await
        })
    };
    metric_reaches(url, "registry_upload_memory_held_bytes", "", PART as u64).await;
    (tx, stalled)
}

/// A server on a remote store (memory://) holds parts whole, within its memory budget: a part
/// beyond it waits a bounded time, then gets 429 with `Retry-After` (never unbounded memory), and
/// goes through once the room is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_part_beyond_the_memory_budget_waits_then_gets_429_with_retry_after() {
    let s = budget_of_one_part(std::time::Duration::from_millis(300)).await;
    let h = http(&s);
    let (a, b) = (noise(2 * PART, 1), noise(2 * PART, 2));
    let sb = open_session(&h, &s.url, &b).await;
    let (tx, stalled) = stalled_part(&h, &s.url, &a).await;
    // Another session's part: no room, so 429 after the wait, with when to come back.
    let r = put_part(&h, &s.url, &sb.id, 0, b[..PART].to_vec()).await;
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "upload_busy");
    assert_eq!(body["details"]["retry_after"], 1);
    assert!(
        metric(&s.url, "registry_upload_memory_held_bytes", "").await
            <= metric(&s.url, "registry_upload_memory_budget_bytes", "").await
    );
    // The stalled sender gives up: its room is back, and the refused part goes through.
    drop(tx);
    let _ = stalled.await.unwrap();
    let r = put_part(&h, &s.url, &sb.id, 0, b[..PART].to_vec()).await;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    assert_eq!(metric(&s.url, "registry_upload_memory_held_bytes", "").await, 0);
}

/// The client honours the 429: a push that meets a budget held whole by another upload is refused
/// (the stall makes that certain, not a race between its own parts), waits out `Retry-After`, and
/// pushes its files whole once the room is back (and they pull back byte for byte).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_waits_out_429s_from_a_full_memory_budget() {
    let s = budget_of_one_part(std::time::Duration::from_millis(50)).await;
    let h = http(&s);
    let (tx, stalled) = stalled_part(&h, &s.url, &noise(PART, 9)).await;
    let c = client(&s);
    let (x, y) = (noise(4 * PART + 5, 3), noise(3 * PART, 4));
    let push = {
        let (c, x, y) = (c.clone(), x.clone(), y.clone());
        let options = registry_client::push::PushOptions { resumable_min: PART as u64, ..Default::default() };
        tokio::spawn(async move {
            TestPush::new("big/model", "1")
                .files(&[("x.bin", &x), ("y.bin", &y)])
                .options(options)
                .run(&c)
                .await
        })
    };
    metric_reaches(&s.url, "registry_http_requests_total", "status=\"429\"", 1).await;
    drop(tx);
    let _ = stalled.await.unwrap();
    push.await.unwrap().unwrap();
    let out = tempfile::tempdir().unwrap();
    let model = registry_core::ModelName::parse("big/model").unwrap();
    let progress = std::sync::Arc::new(registry_client::NoProgress);
    registry_client::pull::pull(&c, &model, "1", &out.path().join("m"), false, progress, 2).await.unwrap();
    let out = out.path().join("m");
    assert_eq!(std::fs::read(out.join("x.bin")).unwrap(), x);
    assert_eq!(std::fs::read(out.join("y.bin")).unwrap(), y);
}
