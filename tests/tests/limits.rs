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
