//! Server behaviour: ranges, the OpenAPI document, graceful shutdown.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use registry_core::Digest;
use registry_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_gets_honour_single_ranges() {
    let s = TestServer::start().await;
    let data = noise(100_000, 9);
    let d = Digest::of(&data);
    let c = http(&s);
    assert_eq!(
        c.put(format!("{}/v1/blobs/{d}", s.url)).body(data.clone()).send().await.unwrap().status(),
        201
    );
    let head = c.head(format!("{}/v1/blobs/{d}", s.url)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "100000");

    let r = c.get(format!("{}/v1/blobs/{d}", s.url)).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[10..20]);
    let r = c.get(format!("{}/v1/blobs/{d}", s.url)).header("range", "bytes=99990-").send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[99_990..]);
    let r = c.get(format!("{}/v1/blobs/{d}", s.url)).header("range", "bytes=100000-").send().await.unwrap();
    let (status, code, _) = error_of(r).await;
    assert_eq!((status, code.as_str()), (416, "range_not_satisfiable"));
    let r = c.get(format!("{}/v1/blobs/{d}", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), data.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route() {
    let s = TestServer::start().await;
    let doc: serde_json::Value =
        reqwest::get(format!("{}/v1/openapi.json", s.url)).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (p, methods) in [
        ("/v1/health", vec!["get"]),
        ("/v1/blobs/{digest}", vec!["get", "head", "put"]),
        ("/v1/blobs:check", vec!["post"]),
        ("/v1/models", vec!["get"]),
        ("/v1/models/{namespace}/{name}", vec!["get"]),
        ("/v1/models/{namespace}/{name}/versions", vec!["get"]),
        ("/v1/models/{namespace}/{name}/versions/{version}", vec!["get", "put"]),
        ("/v1/models/{namespace}/{name}/versions/{version}/manifest", vec!["get"]),
    ] {
        for m in methods {
            assert!(paths[p][m].is_object(), "{m} {p} is documented");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_upload_finish() {
    let mut s = TestServer::start().await;
    let data = noise(2_000_000, 11);
    let d = Digest::of(&data);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(2);
    let url = format!("{}/v1/blobs/{d}", s.url);
    let len = data.len();
    let token = s.admin_token.clone();
    let upload = tokio::spawn(async move {
        let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|x| (x, rx))
        }));
        http_with(&token).put(url).header("content-length", len).body(body).send().await.unwrap().status()
    });
    // Held inside the server once the upload is in flight: shutdown begins while it is.
    let (reached, release) = s.state.pauses.arm("blob.upload");
    tx.send(Ok(bytes::Bytes::copy_from_slice(&data[..1_000_000]))).await.unwrap();
    reached.await.unwrap();
    let server = s.begin_shutdown().unwrap();
    tokio::task::yield_now().await;
    assert!(!server.is_finished(), "the server waits for the upload");
    release.send(()).unwrap();
    tx.send(Ok(bytes::Bytes::copy_from_slice(&data[1_000_000..]))).await.unwrap();
    drop(tx);
    assert_eq!(upload.await.unwrap(), 201);
    tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
    assert_eq!(s.state.db.blob_size(&d).await.unwrap(), Some(2_000_000));
}
