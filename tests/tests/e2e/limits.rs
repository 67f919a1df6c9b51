//! Bounds on what unauthenticated input can make the server keep or spend: metric label values,
//! log lines, connections and the time a client may take to send its headers.
#![allow(clippy::unwrap_used)]

use registry_e2e::*;

/// `GET /metrics` as text.
async fn metrics(s: &TestServer) -> String {
    reqwest::get(format!("{}/metrics", s.url)).await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_or_invented_methods_do_not_grow_the_metrics() {
    let s = TestServer::start().await;
    let before = metrics(&s).await.len();
    // 100 different 20 KB methods (HTTP allows any token as a method), no credential needed.
    for i in 0..100 {
        let method = format!("X{i:03}{}", "A".repeat(20_000));
        let head = format!("{method} /v1/health HTTP/1.1\r\nhost: registry\r\nconnection: close\r\n\r\n");
        let r = raw_request(&s.url, head, vec![]).await;
        assert!(r.is_none_or(|r| r.status >= 400), "an invented method is not served");
    }
    let text = metrics(&s).await;
    assert!(
        text.len() < before + 4096,
        "/metrics grew from {before} to {} bytes after 100 invented methods",
        text.len()
    );
    let methods: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("registry_http_requests_total{"))
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    assert!(methods.contains("OTHER"), "invented methods are counted as OTHER: {methods:?}");
    assert!(
        methods
            .iter()
            .all(|m| ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "OTHER"].contains(m)),
        "{methods:?}"
    );
    let other: u64 = text
        .lines()
        .filter(|l| l.contains("method=\"OTHER\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(other, 100, "every invented-method request is still counted");
    assert_healthy(&s.url).await;
}

/// Reads until the server closes the connection (or 10 s pass): the bytes and how long it took.
async fn read_until_closed(tcp: &mut tokio::net::TcpStream) -> (Vec<u8>, std::time::Duration) {
    use tokio::io::AsyncReadExt;
    let start = std::time::Instant::now();
    let mut got = Vec::new();
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read_to_end(&mut got)).await;
    assert!(r.is_ok(), "the server kept a slow connection open for 10 s (got {got:?})");
    (got, start.elapsed())
}

async fn connect(s: &TestServer) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(s.url.trim_start_matches("http://")).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_do_not_send_their_headers_in_time_are_closed() {
    use tokio::io::AsyncWriteExt;
    let timeout = std::time::Duration::from_secs(1);
    let s = TestServer::start_with(TestOptions { header_read_timeout: timeout, ..Default::default() }).await;

    let opened = std::time::Instant::now();
    // Nothing at all.
    let mut silent = connect(&s).await;
    // A request line and a header, never the empty line that ends the headers.
    let mut partial = connect(&s).await;
    partial.write_all(b"GET /v1/health HTTP/1.1\r\nhost: registry\r\n").await.unwrap();
    // One byte of an HTTP/2 preface (the server cannot even tell the protocol yet).
    let mut preface = connect(&s).await;
    preface.write_all(b"P").await.unwrap();
    for tcp in [&mut silent, &mut partial, &mut preface] {
        let (got, _) = read_until_closed(tcp).await;
        let took = opened.elapsed();
        assert!(took >= timeout - std::time::Duration::from_millis(100), "closed after {took:?}");
        assert!(!String::from_utf8_lossy(&got).contains(" 200 "), "{got:?}");
    }

    // A keep-alive connection that goes quiet after an answered request is closed the same way.
    let mut idle = connect(&s).await;
    idle.write_all(b"GET /v1/health HTTP/1.1\r\nhost: registry\r\n\r\n").await.unwrap();
    let (got, _) = read_until_closed(&mut idle).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"), "{got:?}");

    // Headers in time, then a body slower than the header timeout: not cut off.
    let mut slow_body = connect(&s).await;
    let body = br#"{"digests": []}"#;
    let head = format!(
        "POST /v1/blobs:check HTTP/1.1\r\nhost: registry\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        s.admin_token,
        body.len()
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    slow_body.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(timeout * 2).await; // the client is slow; the server must wait for it
    slow_body.write_all(&body[5..]).await.unwrap();
    let (got, _) = read_until_closed(&mut slow_body).await;
    let r = parse_raw_response(&got).expect("an answer");
    assert_eq!(r.status, 200, "{r:?}");
    assert_healthy(&s.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_wait_for_a_free_slot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(TestOptions { max_connections: 3, ..Default::default() }).await;
    // Two idle connections, then a third that asks for the gauges: all three are being served.
    let first = connect(&s).await;
    let _second = connect(&s).await;
    let head = "GET /metrics HTTP/1.1\r\nhost: registry\r\nconnection: close\r\n\r\n".to_owned();
    let m = raw_request(&s.url, head, vec![]).await.expect("an answer");
    let text = String::from_utf8_lossy(&m.body).into_owned();
    assert!(text.contains("registry_http_connections_open 3\n"), "{text}");
    assert!(text.contains("registry_http_connections_max 3\n"), "{text}");

    // Fill the freed third slot with an idle connection (once the /metrics one is gone, it is taken).
    let _third = connect(&s).await;
    // A fourth client is not served while three connections are...
    let mut fourth = connect(&s).await;
    fourth
        .write_all(b"GET /v1/health HTTP/1.1\r\nhost: registry\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let waited =
        tokio::time::timeout(std::time::Duration::from_millis(1500), fourth.read_to_end(&mut got)).await;
    assert!(waited.is_err(), "a fourth connection was served beside three: {got:?}");
    // ...and is served as soon as one of them goes.
    drop(first);
    let (got, _) = read_until_closed(&mut fourth).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"), "{got:?}");
}
