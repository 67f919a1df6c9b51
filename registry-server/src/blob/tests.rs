//! Blob store conformance: the same stories on the in-memory and the local-directory stores.
use bytes::Bytes;
use futures::TryStreamExt;
use registry_core::Digest;

use super::{BlobError, BlobStore};

fn stores() -> Vec<(BlobStore, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    vec![
        (BlobStore::from_url("memory://").expect("memory"), None),
        (BlobStore::from_url(&dir.path().display().to_string()).expect("local"), Some(dir)),
    ]
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
    for (s, _guard) in stores() {
        // Larger than one multipart part, in uneven chunks.
        let data: Vec<u8> = (0..12_000_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::of(&data);
        let chunks: Vec<Vec<u8>> = data.chunks(777_777).map(<[u8]>::to_vec).collect();
        assert_eq!(s.put_stream(&d, body(chunks), u64::MAX).await.expect("put"), data.len() as u64);
        assert_eq!(s.size(&d).await.expect("size"), Some(data.len() as u64));
        assert_eq!(read_all(&s, &d, None).await, data);
        assert_eq!(read_all(&s, &d, Some(5..10)).await, &data[5..10]);
        assert_eq!(read_all(&s, &d, Some(11_999_990..12_000_000)).await, &data[11_999_990..]);
    }
}

#[tokio::test]
async fn a_body_with_another_digest_leaves_nothing_under_the_key() {
    for (s, guard) in stores() {
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
    }
}

#[tokio::test]
async fn an_oversized_or_broken_body_is_aborted() {
    for (s, _guard) in stores() {
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
    }
}

#[tokio::test]
async fn reading_a_missing_blob_is_not_found() {
    for (s, _guard) in stores() {
        assert!(matches!(s.get(&Digest::of(b"nope"), None).await, Err(BlobError::NotFound)));
    }
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
