//! Bad input: every case gets a clear 4xx with a stable code, nothing is stored, the server keeps
//! serving.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use registry_core::Digest;
use registry_e2e::*;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

const MT: &str = "application/vnd.registry.manifest.v1+json";

async fn put_blob(s: &TestServer, digest: &str, body: Vec<u8>) -> reqwest::Response {
    http(s).put(format!("{}/v1/blobs/{digest}", s.url)).body(body).send().await.unwrap()
}

async fn put_version(s: &TestServer, path: &str, body: Value) -> reqwest::Response {
    http(s).put(format!("{}/v1/models/{path}", s.url)).json(&body).send().await.unwrap()
}

async fn get(s: &TestServer, path: &str) -> reqwest::Response {
    http(s).get(format!("{}{path}", s.url)).send().await.unwrap()
}

fn manifest(files: Value) -> Value {
    json!({ "manifest": { "mediaType": MT, "files": files } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_with_another_digest_is_refused_and_not_stored() {
    let s = TestServer::start().await;
    let claimed = Digest::of(b"claimed");
    let (status, code, _) = error_of(put_blob(&s, &claimed.to_string(), b"actual".to_vec()).await).await;
    assert_eq!((status, code.as_str()), (400, "digest_mismatch"));
    assert!(s.stored_blobs().await.is_empty());
    assert_eq!(s.state.db.blob_size(&claimed).await.unwrap(), None);
    // A truncated body of the right content (length differs from what the digest covers) too.
    let (status, code, _) =
        error_of(put_blob(&s, &Digest::of(b"full body").to_string(), b"full".to_vec()).await).await;
    assert_eq!((status, code.as_str()), (400, "digest_mismatch"));
    assert!(s.stored_blobs().await.is_empty());
    assert_healthy(&s.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_upload_leaves_no_object_and_no_row() {
    let s = TestServer::start().await;
    let data = noise(4_000_000, 5);
    let d = Digest::of(&data);
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /v1/blobs/{d} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        s.admin_token,
        data.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&data[..1_500_000]).await.unwrap();
    tcp.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(tcp);
    // The server notices the broken body and aborts; give it a moment.
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let staged = std::fs::read_dir(s.blob_dir.join("sha256")).map(|r| r.count()).unwrap_or(0);
        if staged == 0 {
            break;
        }
    }
    assert!(s.stored_blobs().await.is_empty());
    assert_eq!(
        std::fs::read_dir(s.blob_dir.join("sha256")).map(|r| r.count()).unwrap_or(0),
        0,
        "no staged file"
    );
    assert_eq!(s.state.db.blob_size(&d).await.unwrap(), None);
    assert_healthy(&s.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_over_the_size_limit_is_413_with_or_without_content_length() {
    let s = TestServer::start_with(TestOptions { max_blob_size: 1000, ..Default::default() }).await;
    let data = vec![1u8; 1001];
    let d = Digest::of(&data);
    let (status, code, _) = error_of(put_blob(&s, &d.to_string(), data.clone()).await).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    // Chunked: no Content-Length, so the limit is enforced while streaming.
    let chunks = futures::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(data))]);
    let resp = http(&s)
        .put(format!("{}/v1/blobs/{d}", s.url))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(resp).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    assert!(s.stored_blobs().await.is_empty());
    let ok = put_blob(&s, &Digest::of(&[1u8; 1000]).to_string(), vec![1u8; 1000]).await;
    assert_eq!(ok.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_naming_missing_blobs_lists_them() {
    let s = TestServer::start().await;
    let have = Digest::of(b"have");
    assert_eq!(put_blob(&s, &have.to_string(), b"have".to_vec()).await.status(), 201);
    let a = Digest::of(b"missing a");
    let b = Digest::of(b"missing b");
    let body = manifest(json!([
        {"path": "have", "size": 4, "digest": have},
        {"path": "a", "size": 9, "digest": a},
        {"path": "b", "size": 9, "digest": b},
    ]));
    let (status, code, body) = error_of(put_version(&s, "ns/m/versions/1", body).await).await;
    assert_eq!((status, code.as_str()), (400, "missing_blobs"));
    let mut missing: Vec<String> = body["details"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    missing.sort();
    let mut want = vec![a.to_string(), b.to_string()];
    want.sort();
    assert_eq!(missing, want);
    let r = get(&s, "/v1/models/ns/m").await;
    assert_eq!(r.status(), 404, "no model was created");

    // A size that differs from the stored blob is refused too.
    let body = manifest(json!([{"path": "have", "size": 5, "digest": have}]));
    let (status, code, _) = error_of(put_version(&s, "ns/m/versions/1", body).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_manifest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_or_duplicate_paths_are_invalid_manifests() {
    let s = TestServer::start().await;
    let d = Digest::of(b"x");
    assert_eq!(put_blob(&s, &d.to_string(), b"x".to_vec()).await.status(), 201);
    let cases = [
        json!([{"path": "../etc/passwd", "size": 1, "digest": d}]),
        json!([{"path": "/abs", "size": 1, "digest": d}]),
        json!([{"path": "a//b", "size": 1, "digest": d}]),
        json!([{"path": "a\\b", "size": 1, "digest": d}]),
        json!([{"path": "cafe\u{301}", "size": 1, "digest": d}]),
        json!([{"path": "dup", "size": 1, "digest": d}, {"path": "dup", "size": 1, "digest": d}]),
        json!([{"path": "", "size": 1, "digest": d}]),
        json!([]),
        json!([{"path": "ok", "size": 1, "digest": "sha256:xyz"}]),
    ];
    for files in cases {
        let (status, code, body) =
            error_of(put_version(&s, "ns/m/versions/1", manifest(files.clone())).await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_manifest"), "{files} -> {body}");
    }
    let wrong_type =
        json!({"manifest": {"mediaType": "text/plain", "files": [{"path": "ok", "size": 1, "digest": d}]}});
    let (_, code, _) = error_of(put_version(&s, "ns/m/versions/1", wrong_type).await).await;
    assert_eq!(code, "invalid_manifest");
    assert_eq!(get(&s, "/v1/models/ns/m").await.status(), 404);
    assert_healthy(&s.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_that_break_other_systems_are_refused_unless_the_server_allows_them() {
    let cases = [
        json!(["C:x"]),
        json!(["weights/CON"]),
        json!(["nul.txt"]),
        json!(["com1.bin"]),
        json!(["data/evil\u{202E}nib.exe"]),
        json!(["zero\u{200B}width"]),
        json!(["trailing."]),
        json!(["a?b"]),
        json!(["Model.bin", "model.bin"]),
        json!(["README", "readme/notes.txt"]),
    ];
    let d = Digest::of(b"x");
    let files = |paths: &Value| -> Value {
        json!(
            paths
                .as_array()
                .unwrap()
                .iter()
                .map(|p| json!({"path": p, "size": 1, "digest": d}))
                .collect::<Vec<_>>()
        )
    };
    let s = TestServer::start().await;
    assert_eq!(put_blob(&s, &d.to_string(), b"x".to_vec()).await.status(), 201);
    for (i, paths) in cases.iter().enumerate() {
        let r = put_version(&s, &format!("ns/m/versions/{i}"), manifest(files(paths))).await;
        let (status, code, body) = error_of(r).await;
        assert_eq!((status, code.as_str()), (400, "invalid_manifest"), "{paths} -> {body}");
        assert!(body["message"].as_str().unwrap().contains("allow_unportable_paths"), "{body}");
    }
    assert_eq!(get(&s, "/v1/models/ns/m").await.status(), 404, "nothing stored");
    // Everyday names that merely look alike are fine.
    let ok = json!(["console.txt", "nullable/x", "com10", "A/x", "A/y", "café"]);
    assert_eq!(put_version(&s, "ns/m/versions/ok", manifest(files(&ok))).await.status(), 201);

    // The documented opt-out.
    let s = TestServer::start_with(TestOptions { allow_unportable_paths: true, ..Default::default() }).await;
    assert_eq!(put_blob(&s, &d.to_string(), b"x".to_vec()).await.status(), 201);
    for (i, paths) in cases.iter().enumerate() {
        let r = put_version(&s, &format!("ns/m/versions/{i}"), manifest(files(paths))).await;
        assert_eq!(r.status(), 201, "{paths}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_versions_and_digests_are_refused() {
    let s = TestServer::start().await;
    let d = Digest::of(b"x");
    put_blob(&s, &d.to_string(), b"x".to_vec()).await;
    let body = manifest(json!([{"path": "f", "size": 1, "digest": d}]));
    for path in [
        "NS/m/versions/1",
        "ns/-m/versions/1",
        "ns/m/versions/-1",
        "ns/m/versions/a%20b",
        "ns/m/versions/1%2F2",
    ] {
        let (status, code, _) = error_of(put_version(&s, path, body.clone()).await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_name"), "{path}");
    }
    let (status, code, _) = error_of(get(&s, "/v1/blobs/sha256:XYZ").await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_digest"));
    let (status, code, _) = error_of(get(&s, "/v1/models/ns/m/versions/sha256:12").await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_digest"));
    let r = http(&s)
        .post(format!("{}/v1/blobs:check", s.url))
        .json(&json!({"digests": ["md5:abc"]}))
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(r).await;
    assert_eq!((status, code.as_str()), (400, "invalid_digest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_and_lineage_get_their_codes() {
    let s = TestServer::start().await;
    let c = http(&s);
    let url = format!("{}/v1/models/ns/m/versions/1", s.url);
    let r =
        c.put(&url).header("content-type", "application/json").body("{\"manifest\": ").send().await.unwrap();
    let (status, code, body) = error_of(r).await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"));
    assert!(body["message"].as_str().unwrap().contains("EOF"), "the parse error is quoted: {body}");
    let r = c.put(&url).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(error_of(r).await.1, "unsupported_media_type");
    let r = c
        .put(&url)
        .json(&json!({"manifest": {"mediaType": MT, "files": []}, "extra": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.1, "invalid_json");

    let d = Digest::of(b"x");
    put_blob(&s, &d.to_string(), b"x".to_vec()).await;
    let mut body = manifest(json!([{"path": "f", "size": 1, "digest": d}]));
    body["lineage"] = json!({"code": {"repo": "r", "commit": "abc"}});
    let (status, code, _) = error_of(put_version(&s, "ns/m/versions/1", body.clone()).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_lineage"));
    body["lineage"] = json!({"datasets": [{"uri": "s3://x"}]});
    let (_, code, body) = error_of(put_version(&s, "ns/m/versions/1", body).await).await;
    assert_eq!(code, "invalid_lineage", "{body}");

    // A body over the JSON limit is 413, not buffered without bound. The server may answer before it
    // has read the body and close the connection, so the body is written while the answer is read,
    // and a refused write is no failure.
    let big = vec![b' '; registry_core::api::MAX_JSON_BODY + 10];
    let r = raw_request(&s.url, json_head(&s, "/v1/models/ns/m/versions/1", Some(big.len())), big).await;
    let r = r.expect("an answer");
    assert_eq!((r.status, r.json()["code"].as_str()), (413, Some("payload_too_large")), "{r:?}");
    assert_healthy(&s.url).await;
}

/// `PUT path` with the admin token, a JSON content type, and `Content-Length: len` (chunked if none).
fn json_head(s: &TestServer, path: &str, len: Option<usize>) -> String {
    let framing = match len {
        Some(n) => format!("content-length: {n}"),
        None => "transfer-encoding: chunked".to_owned(),
    };
    format!(
        "PUT {path} HTTP/1.1\r\nhost: registry\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\n{framing}\r\nconnection: close\r\n\r\n",
        s.admin_token
    )
}

/// A version of `n` files (all the same one-byte blob), padded with trailing whitespace to `len` bytes.
fn padded_version_body(d: &Digest, n: usize, len: usize) -> Vec<u8> {
    let files: Vec<Value> = (0..n)
        .map(|i| json!({"path": format!("shards/part-{i:06}/weights-{i:06}.safetensors"), "size": 1, "digest": d}))
        .collect();
    let mut body = serde_json::to_vec(&manifest(json!(files))).unwrap();
    assert!(body.len() > 2 << 20 && body.len() <= len, "{} bytes", body.len());
    body.resize(len, b' ');
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_of_exactly_the_documented_limit_is_accepted_and_one_byte_more_is_413() {
    use registry_core::api::MAX_JSON_BODY;
    let s = TestServer::start().await;
    let d = Digest::of(b"x");
    assert_eq!(put_blob(&s, &d.to_string(), b"x".to_vec()).await.status(), 201);
    // 20,000 files: over axum's 2 MiB default before any padding, the case that could not publish.
    let at_limit = padded_version_body(&d, 20_000, MAX_JSON_BODY);
    let mut over = at_limit.clone();
    over.push(b' ');

    // One byte over, declared: refused from the header, before the body is read.
    let r =
        raw_request(&s.url, json_head(&s, "/v1/models/ns/big/versions/1", Some(over.len())), over.clone())
            .await
            .expect("an answer");
    assert_eq!((r.status, r.json()["code"].as_str()), (413, Some("payload_too_large")), "{r:?}");
    // One byte over, undeclared (one chunk, never terminated): refused once the limit is crossed.
    let mut chunked = format!("{:x}\r\n", over.len()).into_bytes();
    chunked.extend_from_slice(&over);
    let r = raw_request(&s.url, json_head(&s, "/v1/models/ns/big/versions/1", None), chunked)
        .await
        .expect("an answer");
    assert_eq!((r.status, r.json()["code"].as_str()), (413, Some("payload_too_large")), "{r:?}");
    assert_eq!(get(&s, "/v1/models/ns/big").await.status(), 404, "nothing was stored");

    // Exactly at the limit: published, every file listed.
    let r =
        raw_request(&s.url, json_head(&s, "/v1/models/ns/big/versions/1", Some(at_limit.len())), at_limit)
            .await
            .expect("an answer");
    assert_eq!(r.status, 201, "{:?}", String::from_utf8_lossy(&r.body));
    let m: Value = get(&s, "/v1/models/ns/big/versions/1/manifest").await.json().await.unwrap();
    assert_eq!(m["files"].as_array().map(Vec::len), Some(20_000));
    assert_healthy(&s.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_things_are_404_and_wrong_methods_405() {
    let s = TestServer::start().await;
    for path in
        ["/v1/models/ns/nope", "/v1/models/ns/nope/versions", "/v1/models/ns/nope/versions/1", "/v1/nothing"]
    {
        let (status, code, _) = error_of(get(&s, path).await).await;
        assert_eq!((status, code.as_str()), (404, "not_found"), "{path}");
    }
    let (status, code, _) = error_of(get(&s, &format!("/v1/blobs/{}", Digest::of(b"?"))).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let r = http(&s).delete(format!("{}/v1/health", s.url)).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 405);
    for q in ["limit=0", "limit=501", "limit=x", "cursor=zzz", "bogus=1"] {
        let (status, _, _) = error_of(get(&s, &format!("/v1/models?{q}")).await).await;
        assert_eq!(status, 400, "{q}");
    }
    // The prefix limit counts characters, as the schema's maxLength does (not UTF-8 bytes).
    let wide = "%F0%9D%91%BB".repeat(128); // 128 × U+1D47B, 512 bytes
    assert_eq!(get(&s, &format!("/v1/models?prefix={wide}")).await.status().as_u16(), 200);
    let (status, _, _) = error_of(get(&s, &format!("/v1/models?prefix={wide}a")).await).await;
    assert_eq!(status, 400, "129 characters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_cursor_the_schema_admits_is_accepted_and_others_are_400() {
    let s = TestServer::start().await;
    TestPush::new("ns/m", "1").run(&client(&s)).await.unwrap();
    // The schema admits 1 to 19 digits without a leading zero; past i64::MAX is past every row
    // (CI's schemathesis run sent 9890190573550690016 and got 400).
    for path in ["/v1/models/ns/m/versions", "/v1/audit"] {
        let r = get(&s, &format!("{path}?cursor=9890190573550690016")).await;
        assert_eq!(r.status(), 200, "{path}");
        if path.contains("versions") {
            let page: Value = r.json().await.unwrap();
            assert_eq!(
                page["versions"].as_array().map(Vec::len),
                Some(1),
                "past every row lists from the newest"
            );
        }
        for bad in ["0", "01", "-1", "1.5", "x", "", "12345678901234567890"] {
            let (status, code, _) = error_of(get(&s, &format!("{path}?cursor={bad}")).await).await;
            assert_eq!((status, code.as_str()), (400, "bad_request"), "{path} {bad:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_answers_only_the_missing_digests_once_each() {
    let s = TestServer::start().await;
    let have = Digest::of(b"have");
    put_blob(&s, &have.to_string(), b"have".to_vec()).await;
    let miss = Digest::of(b"miss");
    let r = http(&s)
        .post(format!("{}/v1/blobs:check", s.url))
        .json(&json!({"digests": [have, miss, miss]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["missing"], json!([miss]));
    let too_many: Vec<String> = (0..10_001u32).map(|i| Digest::of(&i.to_le_bytes()).to_string()).collect();
    let r = http(&s)
        .post(format!("{}/v1/blobs:check", s.url))
        .json(&json!({"digests": too_many}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_uploading_a_stored_blob_still_checks_the_body() {
    let s = TestServer::start().await;
    let d = Digest::of(b"stored");
    assert_eq!(put_blob(&s, &d.to_string(), b"stored".to_vec()).await.status(), 201);
    let again = put_blob(&s, &d.to_string(), b"stored".to_vec()).await;
    assert_eq!(again.status(), 200);
    for wrong in [Vec::new(), b"other!".to_vec(), b"stored and more".to_vec()] {
        let (status, code, _) = error_of(put_blob(&s, &d.to_string(), wrong).await).await;
        assert_eq!((status, code.as_str()), (400, "digest_mismatch"));
    }
    assert_eq!(s.stored_blobs().await.len(), 1);
}

/// Keyless trust administration: every bad trust root and identity rule is a 4xx with its code, and
/// nothing is installed or trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_trust_roots_and_identity_rules_are_refused_with_their_codes() {
    let s = TestServer::start().await;
    let h = http(&s);
    let root = |name: &str, ct: &str, body: Vec<u8>| {
        h.put(format!("{}/v1/trust-roots/{name}", s.url))
            .header("content-type", ct.to_owned())
            .body(body)
            .send()
    };
    let json_ct = "application/json";
    for (name, ct, body, want) in [
        ("private", "text/plain", b"{}".to_vec(), (415, "unsupported_media_type")),
        ("private", json_ct, b"{}".to_vec(), (400, "invalid_trust_root")),
        ("private", json_ct, b"not json".to_vec(), (400, "invalid_trust_root")),
        ("private", json_ct, vec![b' '; 1024 * 1024 + 1], (413, "payload_too_large")),
        ("Private", json_ct, b"{}".to_vec(), (400, "invalid_trust_root")),
    ] {
        let (status, code, _) = error_of(root(name, ct, body).await.unwrap()).await;
        assert_eq!((status, code.as_str()), want, "{name} {ct}");
    }
    let identity = |body: Value| h.post(format!("{}/v1/identities", s.url)).json(&body).send();
    let gh = "https://token.actions.githubusercontent.com";
    let many: serde_json::Map<String, Value> = (0..33).map(|i| (format!("k{i}"), json!("v"))).collect();
    for body in [
        json!({"namespace": "fraud/*", "issuer": gh}),
        json!({"namespace": "fraud/*", "issuer": gh, "subject": "a", "subject_regex": "a"}),
        json!({"namespace": "fraud/*", "issuer": gh, "subject_regex": "x)|(?:.*"}),
        json!({"namespace": "fraud/*", "issuer": gh, "subject": "a", "claims": {"repo": "x"}}),
        json!({"namespace": "fraud/*", "issuer": gh, "subject": "a", "claims": many}),
        json!({"namespace": "fraud/*", "issuer": gh, "subject": "a", "claims": {"build_trigger": ""}}),
        json!({"namespace": "fraud/*", "issuer": "has space", "subject": "a"}),
        json!({"namespace": "fraud/*", "issuer": gh, "subject": "a", "trust_root": "not-installed"}),
        json!({"namespace": "fraud/*", "issuer": gh, "subject": "x".repeat(4097)}),
    ] {
        let (status, code, _) = error_of(identity(body.clone()).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (400, "invalid_identity"), "{body}");
    }
    let (status, code, _) =
        error_of(identity(json!({"namespace": "Fraud/*", "issuer": gh, "subject": "a"})).await.unwrap())
            .await;
    assert_eq!(status, 400, "{code}");
    for id in ["identity-0", "identity-01", "identity-+1", "7"] {
        let r = h.delete(format!("{}/v1/identities/{id}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{id}");
    }
    let listed: Value = get(&s, "/v1/identities").await.json().await.unwrap();
    assert_eq!(listed["identities"], json!([]), "nothing was trusted");
    let roots: Value = get(&s, "/v1/trust-roots").await.json().await.unwrap();
    assert_eq!(roots["roots"], json!([]), "nothing was installed");
}
