//! Helpers shared by the end-to-end tests: model directories on disk and raw HTTP calls.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::path::Path;

pub use registry_server::testing::{TestOptions, TestServer};

/// Writes `files` (path, contents) under a fresh temp dir.
pub fn model_dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_files(d.path(), files);
    d
}

/// Writes `files` under `root`, creating directories.
pub fn write_files(root: &Path, files: &[(&str, &[u8])]) {
    for (p, c) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
}

/// `n` pseudo-random bytes from `seed` (xorshift; reproducible, incompressible enough).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An error answer: status plus the decoded `{code, message}`; panics if the body is not one.
pub async fn error_of(resp: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(ct.starts_with("application/json"), "error content type {ct}");
    let code = body["code"].as_str().unwrap_or_else(|| panic!("no code in {body}")).to_owned();
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "no message in {body}");
    (status, code, body)
}

/// The registry's health endpoint answers 200 (the server kept serving).
pub async fn assert_healthy(url: &str) {
    let r = reqwest::get(format!("{url}/v1/health")).await.unwrap();
    assert_eq!(r.status(), 200);
}

/// A client of `server` with its admin token.
pub fn client(server: &TestServer) -> registry_client::Client {
    registry_client::Client::new(&server.url).unwrap().with_token(Some(server.admin_token.clone()))
}

/// A raw HTTP client sending `token` as the bearer credential.
pub fn http_with(token: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    v.set_sensitive(true);
    h.insert(reqwest::header::AUTHORIZATION, v);
    reqwest::Client::builder().default_headers(h).build().unwrap()
}

/// A raw HTTP client of `server` with its admin token.
pub fn http(server: &TestServer) -> reqwest::Client {
    http_with(&server.admin_token)
}
