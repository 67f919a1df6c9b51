//! Blob store conformance: the same stories on the in-memory and the local-directory stores (and S3 when
//! configured); a failure names the store it happened on.
use bytes::Bytes;
use futures::TryStreamExt;
use registry_core::Digest;

use super::{BlobError, BlobStore};

/// Memory, a local directory, and (when `REGISTRY_TEST_S3_URL` is set, as in CI) a fresh prefix of
/// an S3-compatible bucket, each with its name.
fn stores() -> Vec<(&'static str, BlobStore, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut v = vec![
        ("memory", BlobStore::from_url("memory://").expect("memory"), None),
        ("local", BlobStore::from_url(&dir.path().display().to_string()).expect("local"), Some(dir)),
    ];
    if let Some(base) = crate::testing::s3_base_url() {
        v.push(("s3", BlobStore::from_url(&crate::testing::fresh_s3_url(&base)).expect("s3"), None));
    }
    v
}

/// Runs `story` on each store in turn (with the local store's directory); a failure names the store.
async fn on_each_store<F, Fut>(story: F)
where
    F: Fn(BlobStore, Option<tempfile::TempDir>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for (name, s, guard) in stores() {
        let described = s.describe().to_owned();
        if let Err(e) = tokio::spawn(story(s, guard)).await {
            let why = match e.try_into_panic() {
                Ok(p) => p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|m| (*m).to_owned()))
                    .unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            panic!("blob store conformance failed on the {name} store ({described}): {why}");
        }
    }
}

#[tokio::test]
#[should_panic(expected = "failed on the local store (file://")]
async fn a_failure_names_the_store_it_happened_on() {
    on_each_store(|s, _guard| async move {
        assert!(!s.describe().starts_with("file://"), "only the local store fails here");
    })
    .await;
}

fn body(chunks: Vec<Vec<u8>>) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c))))
}

async fn read_all(s: &BlobStore, d: &Digest, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let r = s.get(d, range).await.expect("get");
    let parts: Vec<Bytes> = r.stream.try_collect().await.expect("read");
    parts.concat()
}

#[tokio::test]
async fn a_verified_upload_is_stored_and_readable_in_ranges() {
    on_each_store(|s, _guard| async move {
        // Four 5 MiB parts and a short one (23 of 1 MiB on a local directory), in uneven chunks that
        // straddle the parts' ends; the local store reuses its part buffers along the way.
        let data: Vec<u8> = (0..23_000_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::of(&data);
        let chunks: Vec<Vec<u8>> = data.chunks(777_777).map(<[u8]>::to_vec).collect();
        assert_eq!(s.put_stream(&d, body(chunks), u64::MAX).await.expect("put"), data.len() as u64);
        assert_eq!(s.size(&d).await.expect("size"), Some(data.len() as u64));
        assert_eq!(read_all(&s, &d, None).await, data);
        assert_eq!(read_all(&s, &d, Some(5..10)).await, &data[5..10]);
        assert_eq!(read_all(&s, &d, Some(22_999_990..23_000_000)).await, &data[22_999_990..]);
    })
    .await;
}

#[tokio::test]
async fn a_body_with_another_digest_leaves_nothing_under_the_key() {
    on_each_store(|s, guard| async move {
        let claimed = Digest::of(b"what the client claimed");
        let err = s
            .put_stream(&claimed, body(vec![b"something else".to_vec()]), u64::MAX)
            .await
            .expect_err("mismatch");
        assert!(matches!(err, BlobError::Mismatch { size: 14, .. }), "{err}");
        assert_eq!(s.size(&claimed).await.expect("size"), None);
        if let Some(dir) = guard {
            let left: Vec<_> = std::fs::read_dir(dir.path().join("sha256"))
                .map(|r| r.flatten().collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "no staged file left behind: {left:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn an_oversized_or_broken_body_is_aborted() {
    on_each_store(|s, _guard| async move {
        let data = vec![7u8; 1000];
        let d = Digest::of(&data);
        let err = s.put_stream(&d, body(vec![data.clone()]), 999).await.expect_err("too large");
        assert!(matches!(err, BlobError::TooLarge { limit: 999 }));
        assert_eq!(s.size(&d).await.expect("size"), None);

        let broken =
            futures::stream::iter(vec![Ok(Bytes::from(vec![7u8; 500])), Err(std::io::Error::other("reset"))]);
        let err = s.put_stream(&d, broken, u64::MAX).await.expect_err("broken");
        assert!(matches!(err, BlobError::Body(_)));
        assert_eq!(s.size(&d).await.expect("size"), None);
    })
    .await;
}

#[tokio::test]
async fn reading_a_missing_blob_is_not_found() {
    on_each_store(|s, _guard| async move {
        assert!(matches!(s.get(&Digest::of(b"nope"), None).await, Err(BlobError::NotFound)));
    })
    .await;
}

#[tokio::test]
async fn staged_uploads_left_by_a_crash_are_cleaned_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = BlobStore::from_url(&dir.path().display().to_string()).expect("local");
    let d = Digest::of(b"keep");
    s.put_stream(&d, body(vec![b"keep".to_vec()]), u64::MAX).await.expect("put");
    std::fs::write(dir.path().join("sha256").join(format!("{}#1", Digest::of(b"x").hex())), b"partial")
        .expect("write");
    assert_eq!(s.cleanup_staged().await.expect("cleanup"), 1);
    assert_eq!(s.size(&d).await.expect("size"), Some(4));
    let names: Vec<String> = std::fs::read_dir(dir.path().join("sha256"))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [d.hex()]);
}

#[tokio::test]
async fn session_parts_written_in_any_order_complete_into_the_blob() {
    on_each_store(|s, guard| async move {
        let part = 5 * 1024 * 1024;
        let data: Vec<u8> = (0..(2 * part + 1234)).map(|i| (i % 253) as u8).collect();
        let d = Digest::of(&data);
        let session = uuid::Uuid::new_v4().to_string();
        let id = s.session_begin(&d, &session).await.expect("begin");
        let mut ids = vec![String::new(); 3];
        for idx in [2usize, 0, 1] {
            let range = idx * part..((idx + 1) * part).min(data.len());
            let bytes = Bytes::copy_from_slice(&data[range.clone()]);
            ids[idx] = s
                .session_put_part(&d, &session, &id, idx, range.start as u64, vec![bytes])
                .await
                .expect("part");
        }
        assert_eq!(s.size(&d).await.expect("size"), None, "{s:?}: nothing visible before completion");
        s.session_complete(&d, data.len() as u64, &session, &id, ids.clone()).await.expect("complete");
        assert_eq!(read_all(&s, &d, None).await, data, "{s:?}");
        // Completing again (the first caller died before recording the blob) is success: the object
        // is in place, whole.
        s.session_complete(&d, data.len() as u64, &session, &id, ids.clone()).await.expect("complete again");
        // But only if it is whole (an S3 store may accept the same completion twice, so not there).
        if !s.describe().starts_with("s3://") {
            crate::testing::tamper_blob(&s, &d, b"short").await;
            assert!(s.session_complete(&d, data.len() as u64, &session, &id, ids).await.is_err(), "{s:?}");
        }
        if let Some(dir) = guard {
            assert_eq!(std::fs::read_dir(dir.path().join("uploads")).expect("dir").count(), 0);
        }
    })
    .await;
}

#[tokio::test]
async fn an_aborted_session_leaves_nothing() {
    on_each_store(|s, guard| async move {
        let d = Digest::of(b"never completed");
        let session = uuid::Uuid::new_v4().to_string();
        let id = s.session_begin(&d, &session).await.expect("begin");
        s.session_put_part(&d, &session, &id, 0, 0, vec![Bytes::from_static(b"never")]).await.expect("part");
        s.session_abort(&d, &session, &id).await.expect("abort");
        s.session_abort(&d, &session, &id).await.expect("abort twice is fine");
        assert_eq!(s.size(&d).await.expect("size"), None);
        if let Some(dir) = guard {
            assert_eq!(std::fs::read_dir(dir.path().join("uploads")).expect("dir").count(), 0);
        }
    })
    .await;
}

#[tokio::test]
async fn listing_and_deleting_blobs() {
    on_each_store(|s, _guard| async move {
        let d = Digest::of(b"listed");
        s.put_stream(&d, body(vec![b"listed".to_vec()]), u64::MAX).await.expect("put");
        let listed = s.list().await.expect("list");
        assert_eq!(listed.iter().map(|(d, n, _)| (*d, *n)).collect::<Vec<_>>(), vec![(d, 6)], "{s:?}");
        s.delete(&d).await.expect("delete");
        s.delete(&d).await.expect("deleting a missing blob is fine");
        assert!(s.list().await.expect("list").is_empty());
    })
    .await;
}

#[tokio::test]
async fn session_ids_cannot_name_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = BlobStore::from_url(&dir.path().display().to_string()).expect("local");
    let d = Digest::of(b"x");
    for bad in ["../../etc/passwd", "", "a/b", "sess ion"] {
        assert!(matches!(s.session_begin(&d, bad).await, Err(BlobError::Unsupported(_))), "{bad:?}");
    }
}

#[tokio::test]
async fn presigning_needs_a_remote_store() {
    let s = BlobStore::from_url("memory://").expect("memory");
    assert!(!s.can_presign());
    assert!(s.presign_get(&Digest::of(b"x"), std::time::Duration::from_secs(60)).await.is_err());
    if let Some(base) = crate::testing::s3_base_url() {
        let s = BlobStore::from_url(&crate::testing::fresh_s3_url(&base)).expect("s3");
        let d = Digest::of(b"presigned");
        s.put_stream(&d, body(vec![b"presigned".to_vec()]), u64::MAX).await.expect("put");
        let url = s.presign_get(&d, std::time::Duration::from_secs(60)).await.expect("presign");
        let got = reqwest::get(url).await.expect("GET").bytes().await.expect("body");
        assert_eq!(&got[..], b"presigned", "the presigned URL serves the blob without credentials");
    }
}

#[test]
fn bad_store_urls_and_options_are_refused() {
    for url in ["s3://", "ftp://x/y", "file://relative"] {
        assert!(BlobStore::from_url(url).is_err(), "{url}");
    }
    let opts = vec![("no_such_option".to_owned(), "1".to_owned())];
    assert!(matches!(BlobStore::from_url_with("s3://b/p", &opts), Err(BlobError::Url(_))));
}

#[tokio::test]
async fn a_store_that_stops_answering_fails_each_call_within_the_timeout() {
    use crate::testing::faults::{Action, Faults, FaultyStore, Op, Rule};
    let faults = Faults::new();
    let f = faults.clone();
    let s = BlobStore::from_url("memory://")
        .expect("memory")
        .map_store(move |inner| std::sync::Arc::new(FaultyStore::new(inner, f)))
        .with_timeout(std::time::Duration::from_millis(200));
    let d = Digest::of(b"x");
    s.put_stream(&d, futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]), 10)
        .await
        .expect("put");
    for op in [Op::Delete, Op::Head, Op::Get, Op::List, Op::Put] {
        faults.add(Rule::always(op, Action::Hang));
    }
    let started = std::time::Instant::now();
    let timed_out = |e: BlobError| matches!(e, BlobError::Timeout { .. });
    assert!(timed_out(s.delete(&d).await.expect_err("delete")));
    assert!(timed_out(s.size(&d).await.expect_err("head")));
    assert!(s.get(&d, None).await.err().is_some_and(timed_out));
    assert!(timed_out(s.list().await.expect_err("list")));
    let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]);
    assert!(timed_out(s.put_stream(&d, body, 10).await.expect_err("put")));
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    let e = s.delete(&d).await.expect_err("delete");
    assert!(e.to_string().contains("did not answer delete within"), "{e}");
}

#[tokio::test]
async fn an_upload_without_a_stated_digest_is_stored_under_the_digest_it_hashes_to() {
    on_each_store(|s, guard| async move {
        let bytes: Vec<Vec<u8>> = vec![vec![7u8; 300_000], vec![9u8; 5]];
        let whole: Vec<u8> = bytes.concat();
        let (d, size) = s.put_unnamed(body(bytes.clone()), 1 << 20).await.expect("put");
        assert_eq!((d, size), (Digest::of(&whole), whole.len() as u64));
        assert_eq!(read_all(&s, &d, None).await, whole);
        // The same bytes again land on the same key; an oversized body stores nothing.
        assert_eq!(s.put_unnamed(body(bytes), 1 << 20).await.expect("again").0, d);
        assert!(matches!(
            s.put_unnamed(body(vec![vec![1u8; 2000]]), 1000).await,
            Err(BlobError::TooLarge { .. })
        ));
        assert_eq!(s.list().await.expect("list").len(), 1, "nothing but the blob under sha256/");
        if let Some(dir) = guard {
            let staged = std::fs::read_dir(dir.path().join(super::STAGING)).map(|e| e.count()).unwrap_or(0);
            assert_eq!(staged, 0, "no staging file is left behind");
        }
    })
    .await;
}
