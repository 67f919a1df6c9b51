//! Push, pull and verify through a real server with the real client library.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use registry_client::Client;
use registry_client::pull::pull;
use registry_client::push::{PushOptions, PushReport};
use registry_client::verify::verify_dir;
use registry_client::{ClientError, NoProgress};
use registry_core::api::Metadata;
use registry_core::lineage::{Code, Dataset, Run, Scalar};
use registry_core::{Digest, Lineage, ModelName, ModelRef, VersionLabel};
use registry_e2e::*;

fn m(s: &str) -> ModelName {
    ModelName::parse(s).unwrap()
}

fn v(s: &str) -> VersionLabel {
    VersionLabel::parse(s).unwrap()
}

/// The library's push with positional arguments, to keep the stories short.
#[allow(clippy::too_many_arguments)]
async fn push(
    c: &Client,
    dir: &std::path::Path,
    model: &ModelName,
    version: &VersionLabel,
    lineage: Lineage,
    metadata: Metadata,
    _: Arc<NoProgress>,
    o: &PushOptions,
) -> Result<PushReport, ClientError> {
    TestPush::new(&model.to_string(), version.as_str())
        .dir(dir)
        .lineage(lineage)
        .metadata(metadata)
        .options(o.clone())
        .run(c)
        .await
}

fn np() -> Arc<NoProgress> {
    Arc::new(NoProgress)
}

fn four_files(seed: u64) -> Vec<(String, Vec<u8>)> {
    vec![
        ("config.json".into(), br#"{"layers": 2}"#.to_vec()),
        ("weights/model.safetensors".into(), noise(3_000_000, seed)),
        ("tokenizer/vocab.txt".into(), b"a\nb\nc\n".to_vec()),
        ("README.md".into(), b"# model\n".to_vec()),
    ]
}

fn dir_of(files: &[(String, Vec<u8>)]) -> tempfile::TempDir {
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
    model_dir(&refs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_round_trips_every_byte_and_the_lineage() {
    let server = TestServer::start().await;
    let c = client(&server);
    let files = four_files(1);
    let dir = dir_of(&files);
    let lineage = Lineage {
        datasets: vec![Dataset {
            uri: "s3://data/train.parquet".into(),
            digest: Digest::of(b"train"),
            role: "train".into(),
        }],
        code: Some(Code { repo: "https://github.com/acme/fraud".into(), commit: "a".repeat(40), path: None }),
        parents: vec![],
        params: [("lr".to_owned(), Scalar::parse_loose("0.001"))].into(),
        metrics: [("auc".to_owned(), Scalar::parse_loose("0.93"))].into(),
        run: Some(Run { id: "run-7".into(), uri: None, builder: Some("https://ci.acme/builder".into()) }),
    };
    let meta = Metadata {
        description: Some("fraud model".into()),
        labels: [("team".to_owned(), "risk".to_owned())].into(),
    };
    let r = push(
        &c,
        dir.path(),
        &m("fraud/detector"),
        &v("1.0.0"),
        lineage.clone(),
        meta.clone(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    assert!(r.created);
    assert_eq!((r.files, r.blobs_uploaded), (4, 4));

    let rec = c.get_version(&m("fraud/detector"), "1.0.0").await.unwrap();
    assert_eq!(rec.lineage, lineage);
    assert_eq!(rec.metadata, meta);
    assert_eq!(rec.file_count, 4);
    assert_eq!(rec.created_by, "token:bootstrap-admin");
    assert_eq!(rec.manifest_digest, r.version.manifest_digest);

    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("model");
    let p = pull(&c, &m("fraud/detector"), "1.0.0", &target, false, np(), 4).await.unwrap();
    assert_eq!(p.files, 4);
    for (path, content) in &files {
        assert_eq!(&std::fs::read(target.join(path)).unwrap(), content, "{path}");
    }
    let manifest = c.get_manifest(&rec).await.unwrap();
    let report = verify_dir(&target, &manifest, np(), 2).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.ok, 4);

    // Pull by manifest digest resolves to the same version.
    let target2 = out.path().join("by-digest");
    let p2 = pull(&c, &m("fraud/detector"), &rec.manifest_digest.to_string(), &target2, false, np(), 2)
        .await
        .unwrap();
    assert_eq!(p2.version.version, "1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_push_sharing_three_of_four_files_uploads_only_the_new_blob() {
    let server = TestServer::start().await;
    let c = client(&server);
    let mut files = four_files(2);
    push(
        &c,
        dir_of(&files).path(),
        &m("nlp/bert"),
        &v("1"),
        Lineage::default(),
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    let before = server.stored_blobs().await;
    assert_eq!(before.len(), 4);

    files[1].1 = noise(3_000_000, 99); // new weights, the other three files unchanged
    let r = push(
        &c,
        dir_of(&files).path(),
        &m("nlp/bert"),
        &v("2"),
        Lineage::default(),
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.blobs_uploaded, 1);
    assert_eq!(r.bytes_uploaded, 3_000_000);
    let after = server.stored_blobs().await;
    assert_eq!(after.len(), 5, "the server stored exactly one new object");
    let new: Vec<&String> = after.iter().filter(|k| !before.contains(k)).collect();
    assert_eq!(new, [&format!("sha256/{}", Digest::of(&files[1].1).hex())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_push_is_idempotent_and_another_manifest_conflicts() {
    let server = TestServer::start().await;
    let c = client(&server);
    let files = four_files(3);
    let dir = dir_of(&files);
    let first = push(
        &c,
        dir.path(),
        &m("a/b"),
        &v("1"),
        Lineage::default(),
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    let again = push(
        &c,
        dir.path(),
        &m("a/b"),
        &v("1"),
        Lineage::default(),
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    assert!(first.created && !again.created);
    assert_eq!(
        (again.blobs_uploaded, again.version.created_at.clone()),
        (0, first.version.created_at.clone())
    );

    let other = model_dir(&[("config.json", b"different")]);
    let err = push(
        &c,
        other.path(),
        &m("a/b"),
        &v("1"),
        Lineage::default(),
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(&err, ClientError::Api { status: 409, code, .. } if code == "version_exists"), "{err}");
    // Same files, other lineage: also a conflict, not a silent rewrite.
    let l =
        Lineage { metrics: [("auc".to_owned(), Scalar::parse_loose("0.5"))].into(), ..Default::default() };
    let err = push(&c, dir.path(), &m("a/b"), &v("1"), l, Metadata::default(), np(), &PushOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("version_exists"));
    let rec = c.get_version(&m("a/b"), "1").await.unwrap();
    assert_eq!(rec.manifest_digest, first.version.manifest_digest, "the original is untouched");
    assert_eq!(rec.lineage, Lineage::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parents_must_exist_and_are_recorded() {
    let server = TestServer::start().await;
    let c = client(&server);
    let dir = model_dir(&[("w", b"base")]);
    let child = Lineage { parents: vec![ModelRef::parse("base/llm@1").unwrap()], ..Default::default() };
    let err = push(
        &c,
        dir.path(),
        &m("ft/llm"),
        &v("1"),
        child.clone(),
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some("unknown_parent"));
    assert!(
        matches!(c.get_model(&m("ft/llm")).await, Err(ClientError::Api { status: 404, .. })),
        "nothing half-created"
    );
    push(
        &c,
        dir.path(),
        &m("base/llm"),
        &v("1"),
        Lineage::default(),
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    let r = push(
        &c,
        dir.path(),
        &m("ft/llm"),
        &v("1"),
        child,
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.version.lineage.parents[0].to_string(), "base/llm@1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_list_pages_newest_first() {
    let server = TestServer::start().await;
    let c = client(&server);
    for i in 0..5 {
        let d = model_dir(&[("f", format!("{i}").as_bytes())]);
        push(
            &c,
            d.path(),
            &m("p/q"),
            &v(&format!("0.{i}")),
            Lineage::default(),
            Metadata::default(),
            np(),
            &PushOptions::default(),
        )
        .await
        .unwrap();
    }
    let p1 = c.list_versions(&m("p/q"), None, Some(2)).await.unwrap();
    let labels: Vec<&str> = p1.versions.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(labels, ["0.4", "0.3"]);
    let p2 = c.list_versions(&m("p/q"), p1.next_cursor.as_deref(), Some(2)).await.unwrap();
    let p3 = c.list_versions(&m("p/q"), p2.next_cursor.as_deref(), Some(2)).await.unwrap();
    assert_eq!(p3.versions.len(), 1);
    assert_eq!(p3.versions[0].version, "0.0");
    assert!(p3.next_cursor.is_none());
    let models = c.list_models(Some("p"), None, None, None).await.unwrap();
    assert_eq!(models.models.len(), 1);
    assert_eq!(
        (models.models[0].version_count, models.models[0].latest_version.as_deref()),
        (5, Some("0.4"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_refuses_a_non_empty_directory_unless_forced() {
    let server = TestServer::start().await;
    let c = client(&server);
    let d = model_dir(&[("f", b"1")]);
    push(
        &c,
        d.path(),
        &m("x/y"),
        &v("1"),
        Lineage::default(),
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("old"), b"old").unwrap();
    let err = pull(&c, &m("x/y"), "1", out.path(), false, np(), 1).await.unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert!(out.path().join("old").exists());
    pull(&c, &m("x/y"), "1", out.path(), true, np(), 1).await.unwrap();
    assert!(!out.path().join("old").exists());
    assert_eq!(std::fs::read(out.path().join("f")).unwrap(), b"1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_of_a_tampered_blob_fails_naming_the_file_and_leaves_nothing() {
    let server = TestServer::start().await;
    let c = client(&server);
    let d = model_dir(&[("good.bin", b"good bytes"), ("weights.bin", b"original weights")]);
    push(
        &c,
        d.path(),
        &m("t/x"),
        &v("1"),
        Lineage::default(),
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    // Swap the bytes behind the server's back (same length).
    server.tamper_blob(&Digest::of(b"original weights"), b"poisoned weights").await;

    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("model");
    let err = pull(&c, &m("t/x"), "1", &target, false, np(), 2).await.unwrap_err();
    assert!(matches!(&err, ClientError::Verify(msg) if msg.contains("weights.bin")), "{err}");
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0, "no temporary directory left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sharing_one_blob_are_uploaded_once_and_all_pulled() {
    let server = TestServer::start().await;
    let c = client(&server);
    let d = model_dir(&[("a/shard", b"same"), ("b/shard", b"same"), ("c", b"other")]);
    let r = push(
        &c,
        d.path(),
        &m("d/u"),
        &v("1"),
        Lineage::default(),
        Metadata::default(),
        np(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!((r.files, r.blobs_uploaded), (3, 2));
    let out = tempfile::tempdir().unwrap();
    let t = out.path().join("m");
    pull(&c, &m("d/u"), "1", &t, false, np(), 2).await.unwrap();
    assert_eq!(std::fs::read(t.join("b/shard")).unwrap(), b"same");
}
