//! Conformance of the MLflow stores (runs, metrics, artifacts, tags) and of migration 0013, which
//! numbers the versions that already exist.
use super::super::mlflow::{ArtifactInsert, ArtifactRow, MetricRow, RunRow};
use super::*;

conformance!(
    run_params_are_write_once_and_metrics_current_by_step_then_time,
    artifact_files_are_write_once_and_listed_by_prefix,
    new_versions_take_the_next_sequence_number,
);

fn run(id: &str) -> RunRow {
    RunRow {
        id: id.into(),
        experiment_id: 0,
        name: "r".into(),
        status: "RUNNING".into(),
        start_time: 1,
        end_time: None,
        created_by: "token:ci".into(),
        created_at: 1,
    }
}

fn point(key: &str, value: f64, timestamp: i64, step: i64) -> MetricRow {
    MetricRow { key: key.into(), value, timestamp, step }
}

async fn run_params_are_write_once_and_metrics_current_by_step_then_time(db: &Db) {
    db.mlflow_run_insert(&run("r1"), &[]).await.expect("run");
    let kv = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    db.mlflow_params_log("r1", &[kv("a", "1"), kv("b", "2")]).await.expect("params");
    db.mlflow_params_log("r1", &[kv("a", "1")]).await.expect("the same value again");
    assert!(matches!(
        db.mlflow_params_log("r1", &[kv("c", "3"), kv("a", "9")]).await,
        Err(DbError::Conflict)
    ));
    assert_eq!(
        db.mlflow_params("r1").await.expect("params"),
        vec![kv("a", "1"), kv("b", "2")],
        "nothing of it"
    );
    // Written out of order, one point twice: the current value is the highest step's, then the
    // latest timestamp's; history keeps each distinct point once.
    let points = [
        point("loss", 0.5, 10, 1),
        point("loss", 0.2, 5, 2),
        point("loss", 0.9, 20, 0),
        point("loss", 0.3, 6, 2),
    ];
    db.mlflow_metrics_log("r1", &points).await.expect("metrics");
    db.mlflow_metrics_log("r1", &points[..1]).await.expect("again");
    db.mlflow_metrics_log("r1", &[point("auc", 0.8, 1, 0)]).await.expect("metrics");
    let latest = db.mlflow_metrics_latest("r1").await.expect("latest");
    assert_eq!(latest, vec![point("auc", 0.8, 1, 0), point("loss", 0.3, 6, 2)]);
    let history = db.mlflow_metric_history("r1", "loss", 0, 100).await.expect("history");
    assert_eq!(history.len(), 4);
    assert_eq!(db.mlflow_metric_history("r1", "loss", 3, 100).await.expect("page").len(), 1);
    db.mlflow_tags_set("run", "r1", &[kv("t", "1")]).await.expect("tag");
    db.mlflow_tags_set("run", "r1", &[kv("t", "2")]).await.expect("tag replaced");
    assert_eq!(db.mlflow_tags("run", "r1").await.expect("tags"), vec![kv("t", "2")]);
}

async fn artifact_files_are_write_once_and_listed_by_prefix(db: &Db) {
    let f = |path: &str, body: &[u8]| ArtifactRow {
        path: path.into(),
        digest: Digest::of(body).hex(),
        size: body.len() as i64,
    };
    let root = "0/models/m-1/artifacts";
    // A file is recorded only while its blob is.
    let gone =
        db.mlflow_artifact_insert(root, &f("MLmodel", b"m"), None, "token:ci", 1).await.expect("insert");
    assert_eq!(gone, ArtifactInsert::BlobGone, "no blob row: the file would name nothing");
    for b in [&b"m"[..], b"aa", b"ccc", b"s", b"other", b"x"] {
        db.blob_insert(&Digest::of(b), b.len() as u64, None).await.expect("blob");
    }
    for (p, b) in
        [("MLmodel", &b"m"[..]), ("sub/a.bin", b"aa"), ("sub/b/c.bin", b"ccc"), ("subway.txt", b"s")]
    {
        let done = db.mlflow_artifact_insert(root, &f(p, b), None, "token:ci", 1).await.expect("insert");
        assert_eq!(done, ArtifactInsert::Inserted);
    }
    let again =
        db.mlflow_artifact_insert(root, &f("MLmodel", b"other"), None, "token:ci", 2).await.expect("again");
    assert_eq!(again, ArtifactInsert::Exists);
    assert_eq!(
        db.mlflow_artifact(root, "MLmodel").await.expect("get"),
        Some(f("MLmodel", b"m")),
        "the first stays"
    );
    let under = db.mlflow_artifacts(root, "sub/", 100).await.expect("list");
    let paths: Vec<&str> = under.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["sub/a.bin", "sub/b/c.bin"], "`sub/` is not `subway.txt`");
    assert_eq!(db.mlflow_artifacts(root, "", 100).await.expect("all").len(), 4);
    assert!(db.mlflow_artifacts("0/models/m-2/artifacts", "", 100).await.expect("other root").is_empty());
    // A logged model's files are recorded only while it is pending.
    let model = super::super::mlflow::LoggedModelRow {
        id: "m-2".into(),
        experiment_id: 0,
        name: "model".into(),
        source_run_id: None,
        status: "LOGGED_MODEL_PENDING".into(),
        params: "[]".into(),
        created_by: "token:ci".into(),
        created_at: 1,
        updated_at: 1,
    };
    db.mlflow_logged_model_insert(&model, &[]).await.expect("model");
    let other = "0/models/m-2/artifacts";
    let (a, b) = (f("a", b"x"), f("b", b"x"));
    let put = db.mlflow_artifact_insert(other, &a, Some("m-2"), "token:ci", 3).await.expect("pending");
    assert_eq!(put, ArtifactInsert::Inserted);
    assert!(db.mlflow_logged_model_status("m-2", "LOGGED_MODEL_READY", 4).await.expect("finalize"));
    assert!(
        !db.mlflow_logged_model_status("m-2", "LOGGED_MODEL_PENDING", 4).await.expect("refused"),
        "readiness is never taken back, whatever the caller read before"
    );
    let put = db.mlflow_artifact_insert(other, &b, Some("m-2"), "token:ci", 5).await.expect("finalized");
    assert_eq!(put, ArtifactInsert::Finalized);
    assert_eq!(db.mlflow_artifacts(other, "", 100).await.expect("list").len(), 1);
}

async fn new_versions_take_the_next_sequence_number(db: &Db) {
    let (a, b) = (model("ns/a"), model("ns/b"));
    for (m, label) in [(&a, "one"), (&b, "y"), (&a, "z")] {
        new_version(db, m, label).await.unwrap_or_else(|e| panic!("{m}@{label}: {e:?}"));
    }
    assert_eq!(db.version_get(&a, "one").await.expect("one").seq, 1);
    assert_eq!(db.version_get(&a, "z").await.expect("z").seq, 2);
    assert_eq!(db.version_get(&b, "y").await.expect("y").seq, 1);
    assert_eq!(db.version_by_seq(&a, 2).await.expect("by seq").version, "z");
}

/// Migration 0013 numbers the versions an older install already holds, per model, in creation
/// order; new versions continue from there.
async fn migration_numbers_existing_versions(url: &str, backend: &str) {
    let pre = tempfile::tempdir().expect("tempdir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(backend);
    let mut names: Vec<_> =
        std::fs::read_dir(&src).expect("migrations").flatten().map(|e| e.file_name()).collect();
    names.sort();
    for n in names.iter().filter(|n| n.to_string_lossy().as_ref() < "0013") {
        std::fs::copy(src.join(n), pre.path().join(n)).expect("copy");
    }
    let db = Db::open(url, false).await.expect("open");
    sqlx::migrate::Migrator::new(pre.path())
        .await
        .expect("migrator")
        .run(db.pool())
        .await
        .expect("0001-0012");
    for (ns, name) in [("ns", "a"), ("ns", "b")] {
        sqlx::query("INSERT INTO models (namespace, name, created_by, created_at) VALUES ($1, $2, 't', 0)")
            .bind(ns)
            .bind(name)
            .execute(db.pool())
            .await
            .expect("model");
    }
    for (model_id, label) in [(1i64, "first"), (2, "only"), (1, "second"), (1, "third")] {
        sqlx::query(
            "INSERT INTO versions (model_id, version, manifest_digest, oms_root_digest, manifest, lineage, \
             metadata, file_count, total_size, created_by, created_at) \
             VALUES ($1, $2, 'd', 'o', '{}', '{}', '{}', 0, 0, 't', 0)",
        )
        .bind(model_id)
        .bind(label)
        .execute(db.pool())
        .await
        .expect("version");
    }
    db.close().await;
    let db = Db::open(url, true).await.expect("0013 applied");
    let seq = |m: &str, v: &str| {
        let db = db.clone();
        let (m, v) = (model(m), v.to_owned());
        async move { db.version_get(&m, &v).await.expect("version").seq }
    };
    assert_eq!(
        [
            seq("ns/a", "first").await,
            seq("ns/a", "second").await,
            seq("ns/a", "third").await,
            seq("ns/b", "only").await
        ],
        [1, 2, 3, 1]
    );
    let mut tx = db.begin_write().await.expect("tx");
    assert_eq!(super::super::versions::next_seq(&mut tx, 1).await.expect("next"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_numbers_existing_versions_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("old.db").display());
    migration_numbers_existing_versions(&url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_numbers_existing_versions_postgres() {
    let Some(base) = postgres_base_url() else {
        eprintln!("skipped: REGISTRY_TEST_POSTGRES_URL is not set");
        return;
    };
    let url = crate::testing::fresh_postgres_db(&base).await;
    migration_numbers_existing_versions(&url, "postgres").await;
}
