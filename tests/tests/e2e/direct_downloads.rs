//! Direct downloads: blob GETs answered with a redirect to a short-lived presigned URL of the S3
//! store, so the bytes do not flow through the server; the client follows it and verifies every byte.
//! Needs the S3 test bucket (`REGISTRY_TEST_S3_URL`; CI sets it and `REGISTRY_REQUIRE_S3=1`).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use registry_client::NoProgress;
use registry_core::{Digest, ModelName};
use registry_e2e::*;
use registry_server::testing::{fresh_s3_url, s3_base_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_redirect_to_the_store_and_still_verify() {
    let Some(base) = s3_base_url() else {
        eprintln!("REGISTRY_TEST_S3_URL not set: direct downloads need an S3 store; not run here");
        return;
    };
    let s = TestServer::start_with(TestOptions {
        blobs_url: Some(fresh_s3_url(&base)),
        direct_downloads: true,
        ..Default::default()
    })
    .await;
    let c = client(&s);
    let weights = noise(3 << 20, 5);
    let files: &[(&str, &[u8])] = &[("weights.bin", &weights), ("config.json", b"{}")];
    TestPush::new("fraud/detector", "1").files(files).run(&c).await.unwrap();
    let model = ModelName::parse("fraud/detector").unwrap();

    // The raw answer: a redirect to a presigned URL on the store, without our credential in it.
    let d = Digest::of(&weights);
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(
            [(reqwest::header::AUTHORIZATION, format!("Bearer {}", s.admin_token).parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap();
    let r = no_follow.get(format!("{}/v1/blobs/{d}", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 307);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("X-Amz-Signature=") && location.contains("X-Amz-Expires=300"), "{location}");
    assert!(!location.contains(&s.admin_token));
    // Anyone holding the URL gets the bytes until it expires — no registry credential needed.
    let got = reqwest::get(&location).await.unwrap().bytes().await.unwrap();
    assert!(got.as_ref() == weights.as_slice());
    // Unknown blobs and invisible ones are still 404 from the registry, not a redirect.
    let r = no_follow.get(format!("{}/v1/blobs/{}", s.url, Digest::of(b"nope"))).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // The client follows the redirect (a Range travels with it) and verifies what it got.
    let partial = c.get_blob(&d, 1000).await.unwrap();
    assert_eq!(partial.status(), 206);
    assert!(partial.bytes().await.unwrap().as_ref() == &weights[1000..]);
    let out = tempfile::tempdir().unwrap();
    registry_client::pull::pull(&c, &model, "1", &out.path().join("m"), false, Arc::new(NoProgress), 2)
        .await
        .unwrap();
    assert!(std::fs::read(out.path().join("m/weights.bin")).unwrap() == weights);
    // Tampered bytes in the store are caught by the client, redirect or not.
    s.tamper_blob(&d, &noise(3 << 20, 6)).await;
    let err =
        registry_client::pull::pull(&c, &model, "1", &out.path().join("m2"), false, Arc::new(NoProgress), 2)
            .await
            .unwrap_err();
    assert!(matches!(err, registry_client::ClientError::Verify(_)), "{err}");

    // Each download is still in the access audit.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_audit WHERE action = 'blob.download'")
        .fetch_one(s.state.db.pool())
        .await
        .unwrap();
    assert!(n >= 4, "{n} audited downloads");
}
