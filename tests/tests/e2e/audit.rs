//! The access audit records who downloaded which blob, and a download whose record cannot be written
//! does not happen.
#![allow(clippy::unwrap_used)]

use registry_core::Digest;
use registry_core::auth::Scope;
use registry_e2e::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_audited_and_fail_without_their_record() {
    let s = TestServer::start().await;
    let c = client(&s);
    TestPush::new("fraud/x", "1").files(&[("weights.bin", b"audited weights")]).run(&c).await.unwrap();

    let reader = s.token("auditor-test", &[Scope::Read], "fraud/*").await;
    let digest = Digest::of(b"audited weights");
    let r = http_with(&reader).get(format!("{}/v1/blobs/{digest}", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"audited weights");

    let audit: Value = http(&s)
        .get(format!("{}/v1/audit?actor=token:auditor-test", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let e = &audit["entries"][0];
    assert_eq!(
        (e["actor"].as_str(), e["action"].as_str()),
        (Some("token:auditor-test"), Some("blob.download"))
    );
    assert_eq!(e["target"], digest.to_string());
    // Readers cannot see the audit.
    assert_eq!(http_with(&reader).get(format!("{}/v1/audit", s.url)).send().await.unwrap().status(), 403);

    // Break the audit table behind the server's back: the download must fail, not go unrecorded.
    sqlx::query("DROP TABLE access_audit").execute(s.state.db.pool()).await.unwrap();
    let r = http_with(&reader).get(format!("{}/v1/blobs/{digest}", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
}
