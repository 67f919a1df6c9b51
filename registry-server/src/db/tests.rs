//! Store conformance: each story runs on SQLite always and on PostgreSQL when
//! `REGISTRY_TEST_POSTGRES_URL` is set (required in CI via `REGISTRY_REQUIRE_POSTGRES=1`). The stores
//! of promotion and the log, of access and uploads, of incidents and integrity have their own files.
use registry_core::{Digest, ModelName};

use super::models::{ModelFilter, get_or_create};
use super::versions::{self, NewVersion};
use super::{Db, DbError, now_ms};
use crate::testing::{TestDb, open_db, postgres_base_url};

/// Defines `<story>_sqlite` and `<story>_postgres` tests running `story(&Db)`.
macro_rules! conformance {
    ($($story:ident),* $(,)?) => { $(
        mod $story {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("tempdir");
                super::$story(&open_db(TestDb::Sqlite, dir.path()).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if postgres_base_url().is_none() {
                    eprintln!("skipped: REGISTRY_TEST_POSTGRES_URL is not set");
                    return;
                }
                let dir = tempfile::tempdir().expect("tempdir");
                super::$story(&open_db(TestDb::Postgres, dir.path()).await).await;
            }
        }
    )* };
}

conformance!(
    blob_rows_are_recorded_once,
    models_are_created_once_and_listed_in_order,
    versions_are_unique_per_model_and_listed_newest_first,
    concurrent_writers_all_commit,
    grouped_writes_commit_together_and_a_failed_one_is_undone_alone,
    blob_records_stored_meanwhile_commit_together,
    a_failed_group_commit_answers_every_job_with_its_failure,
    migrations_can_run_twice,
    blobs_are_visible_through_covered_models_and_usable_by_their_uploader,
    blob_references_from_before_migration_0021_are_backfilled,
    attestations_stored_before_evidence_keys_get_theirs,
    server_keys_are_recorded_once_and_replaced_only_on_purpose,
    gc_never_waits_for_a_blob_row_a_push_holds,
    oci_tags_resolve_exact_label_then_alias_then_mapped_label,
);

mod access;
mod incident;
mod mlflow;
mod promotion;

fn model(s: &str) -> ModelName {
    ModelName::parse(s).expect("valid name")
}

async fn blob_rows_are_recorded_once(db: &Db) {
    let a = Digest::of(b"a");
    let b = Digest::of(b"b");
    db.blob_insert(&a, 1, None).await.expect("insert");
    db.blob_insert(&a, 1, None).await.expect("insert again");
    assert_eq!(db.blob_size(&a).await.expect("size"), Some(1));
    let touched = db.blob_touch(&[a, b]).await.expect("touch");
    assert_eq!(touched.into_iter().collect::<Vec<_>>(), vec![(a, 1)], "only recorded blobs are touched");
    assert_eq!(db.blob_size(&b).await.expect("size"), None);
    let many: Vec<Digest> = (0..1200u32).map(|i| Digest::of(&i.to_le_bytes())).collect();
    for d in &many[..700] {
        db.blob_insert(d, 4, None).await.expect("insert");
    }
    let sizes = db.blob_sizes(&many).await.expect("sizes");
    assert_eq!(sizes.len(), 700, "lookups span several IN-list chunks");
    assert!(many[..700].iter().all(|d| sizes[d] == 4));
}

/// A push touching blobs holds their rows until its statement commits; GC, which holds the global
/// write lock while it picks candidates, must skip such a row rather than wait for it (waiting once
/// deadlocked with a touch holding one row and waiting for another that GC held, CI on PostgreSQL).
async fn gc_never_waits_for_a_blob_row_a_push_holds(db: &Db) {
    if db.backend() != super::Backend::Postgres {
        return; // SQLite has one writer at a time: there are no row locks to wait on.
    }
    let (a, b) = (Digest::of(b"gc-a"), Digest::of(b"gc-b"));
    db.blob_insert(&a, 4, None).await.expect("insert");
    db.blob_insert(&b, 4, None).await.expect("insert");
    let mut push = db.pool().begin().await.expect("begin");
    sqlx::query("SELECT digest FROM blobs WHERE digest = $1 FOR NO KEY UPDATE")
        .bind(b.hex())
        .fetch_one(&mut *push)
        .await
        .expect("lock b as a touch does");
    let cutoff = now_ms() + 60_000;
    let claimed = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        super::gc::claim_unreferenced(db, cutoff, 64, "collector", now_ms()),
    )
    .await
    .expect("GC waited for a row a push holds")
    .expect("claim");
    assert_eq!(claimed, vec![(a, 4)], "the free row is claimed, the held one skipped");
    sqlx::query("UPDATE blobs SET last_seen = $1 WHERE digest = $2")
        .bind(now_ms())
        .bind(b.hex())
        .execute(&mut *push)
        .await
        .expect("touch b");
    push.commit().await.expect("commit");
    assert_eq!(db.blob_size(&b).await.expect("size"), Some(4), "the touched blob stays");
    assert_eq!(db.blob_size(&a).await.expect("size"), None);
}

async fn new_version(db: &Db, m: &ModelName, label: &str) -> Result<i64, DbError> {
    new_version_with(db, m, label, &[]).await
}

/// A version of `m` labelled `label` (manifest digest: the label's), derived from `parents`.
async fn new_version_with(db: &Db, m: &ModelName, label: &str, parents: &[i64]) -> Result<i64, DbError> {
    let mut tx = db.begin_logged().await?;
    let id = new_version_parented(&mut tx, m, label, parents).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`new_version`] in the caller's transaction (which holds the global write lock).
async fn new_version_in(tx: &mut super::Tx, m: &ModelName, label: &str) -> Result<i64, DbError> {
    new_version_parented(tx, m, label, &[]).await
}

async fn new_version_parented(
    tx: &mut super::Tx,
    m: &ModelName,
    label: &str,
    parents: &[i64],
) -> Result<i64, DbError> {
    let (model_id, _) = get_or_create(tx, m, "tester", now_ms()).await?;
    let d = Digest::of(label.as_bytes());
    let blobs = [Digest::of(b"x"), d];
    let ds = [(Digest::of(b"dataset"), "s3://d", "train")];
    versions::insert(
        tx,
        &NewVersion {
            model_id,
            version: label,
            manifest_digest: d,
            oms_root_digest: d,
            manifest: "{}",
            lineage: "{}",
            metadata: "{}",
            file_count: 2,
            total_size: 10,
            code_commit: None,
            created_by: "tester",
            created_at: now_ms(),
            log_index: None,
            oci: None,
        },
        &blobs,
        &ds,
        parents,
    )
    .await
}

async fn models_are_created_once_and_listed_in_order(db: &Db) {
    let mut tx = db.begin_write().await.expect("tx");
    let (a, created) = get_or_create(&mut tx, &model("ns/a"), "u", 1).await.expect("create");
    assert!(created);
    let (a2, created) = get_or_create(&mut tx, &model("ns/a"), "u", 2).await.expect("again");
    assert_eq!((a, created), (a2, false));
    for m in ["ns/b_x", "ns/bx", "other/a", "ns/c"] {
        get_or_create(&mut tx, &model(m), "u", 3).await.expect("create");
    }
    tx.commit().await.expect("commit");

    let all = db.models_list(&ModelFilter::default(), 100).await.expect("list");
    let names: Vec<String> = all.iter().map(|r| format!("{}/{}", r.namespace, r.name)).collect();
    assert_eq!(names, ["ns/a", "ns/b_x", "ns/bx", "ns/c", "other/a"]);

    let f =
        ModelFilter { namespace: Some("ns".into()), name_prefix: Some("b_".into()), ..Default::default() };
    let hits = db.models_list(&f, 100).await.expect("list");
    assert_eq!(hits.len(), 1, "'_' in a prefix is literal, not a wildcard");
    let f = ModelFilter { name: Some("a".into()), ..Default::default() };
    let hits = db.models_list(&f, 100).await.expect("list");
    assert_eq!(hits.iter().map(|r| r.namespace.as_str()).collect::<Vec<_>>(), ["ns", "other"]);

    let f = ModelFilter { after: Some(("ns".into(), "bx".into())), ..Default::default() };
    let page = db.models_list(&f, 2).await.expect("list");
    let names: Vec<&str> = page.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["c", "a"]);
    assert_eq!(page[1].namespace, "other");
    assert_eq!(db.model_get(&model("ns/a")).await.expect("get").created_at, 1);
    assert!(matches!(db.model_get(&model("ns/zz")).await, Err(DbError::NotFound)));
}

async fn versions_are_unique_per_model_and_listed_newest_first(db: &Db) {
    let m = model("fraud/detector");
    for v in ["1.0", "1.1", "2.0"] {
        new_version(db, &m, v).await.expect("insert");
    }
    assert!(matches!(new_version(db, &m, "1.1").await, Err(DbError::Conflict)));
    new_version(db, &model("fraud/other"), "1.1").await.expect("same label, other model");

    let row = db.version_get(&m, "1.1").await.expect("get");
    assert_eq!(row.manifest_digest, Digest::of(b"1.1").hex());
    assert_eq!((row.namespace.as_str(), row.name.as_str()), ("fraud", "detector"));
    let by_digest = db.version_by_manifest(&m, &Digest::of(b"2.0")).await.expect("by digest");
    assert_eq!(by_digest.version, "2.0");

    let model_row = db.model_get(&m).await.expect("model");
    assert_eq!((model_row.version_count, model_row.latest_version.as_deref()), (3, Some("2.0")));
    let first = db.versions_list(model_row.id, None, 2).await.expect("page 1");
    let labels: Vec<&str> = first.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(labels, ["2.0", "1.1"]);
    let rest = db.versions_list(model_row.id, Some(first[1].id), 2).await.expect("page 2");
    assert_eq!(rest.iter().map(|r| r.version.as_str()).collect::<Vec<_>>(), ["1.0"]);

    let mut tx = db.begin_write().await.expect("tx");
    let ids =
        versions::ids(&mut tx, &[(m.clone(), "1.0".into()), (m.clone(), "9.9".into())]).await.expect("ids");
    assert!(ids[0].is_some() && ids[1].is_none());
}

async fn concurrent_writers_all_commit(db: &Db) {
    let m = model("load/test");
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let db = db.clone();
            let m = m.clone();
            tokio::spawn(async move { new_version(&db, &m, &format!("v{i}")).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("join").expect("every writer commits");
    }
    assert_eq!(db.model_get(&m).await.expect("model").version_count, 16);
}

async fn grouped_writes_commit_together_and_a_failed_one_is_undone_alone(db: &Db) {
    let m = model("group/test");
    let (batches, _) = db.group_commits();
    let size = db.log_size().await.expect("size");
    // Another writer holds the write lock while three publishes queue behind it.
    let mut holder = db.begin_logged().await.expect("holder");
    let tasks = queued_behind(db, &m, |mut tx, m, label| async move {
        let r = async {
            let e = crate::service::log::entry("version.created", &format!("{m}@{label}"), "t", &[]);
            let idx = super::log::append(&mut tx, &e).await?;
            new_version_in(&mut tx, &m, label).await?;
            // "b" fails after writing its version and its log entry.
            if label == "b" { Err(DbError::Corrupt("refused".into())) } else { Ok(idx) }
        }
        .await;
        (tx, r)
    })
    .await;
    super::log::append(&mut holder, &crate::service::log::entry("key.trusted", "k", "t", &[]))
        .await
        .expect("holder appends");
    holder.commit().await.expect("holder commits");
    let mut got = vec![];
    for t in tasks {
        got.push(t.await.expect("join"));
    }
    // One batch after the holder: "a" and "c" committed with contiguous log indexes, "b"'s version
    // and log entry undone with it (its error answered as it was).
    assert_eq!(db.group_commits().0, batches + 1, "the three ran in one transaction");
    assert_eq!(got[0].as_ref().ok(), Some(&(size + 1)));
    assert!(matches!(got[1], Err(DbError::Corrupt(_))), "{:?}", got[1]);
    assert_eq!(got[2].as_ref().ok(), Some(&(size + 2)));
    assert_eq!(db.log_size().await.expect("size"), size + 3);
    let labels: Vec<String> = db
        .versions_list(db.model_get(&m).await.expect("model").id, None, 10)
        .await
        .expect("list")
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(labels, ["c", "a"]);
}

async fn a_failed_group_commit_answers_every_job_with_its_failure(db: &Db) {
    let m = model("group/broken");
    let holder = db.begin_logged().await.expect("holder");
    // "a" writes a version; "b" answers an error of its own (as a publish finding "a"'s label taken
    // would); "c" breaks the batch (it ends the savepoint the batch opened for it).
    let tasks = queued_behind(db, &m, |mut tx, m, label| async move {
        let r = async {
            match label {
                "a" => {
                    new_version_in(&mut tx, &m, label).await?;
                }
                "b" => return Err(DbError::Conflict),
                _ => {
                    sqlx::raw_sql("RELEASE SAVEPOINT grouped").execute(&mut *tx).await?;
                }
            }
            Ok(())
        }
        .await;
        (tx, r)
    })
    .await;
    holder.commit().await.expect("holder commits");
    for t in tasks {
        let r = t.await.expect("join");
        // The batch's failure, not "b"'s own Conflict: that rested on a batch that never committed.
        assert!(matches!(r, Err(DbError::Other(_))), "{r:?}");
    }
    assert!(matches!(db.model_get(&m).await, Err(DbError::NotFound)), "nothing of the batch committed");
}

/// Queues the grouped write `job(tx, m, label)` for labels "a", "b" and "c", in that order, and returns
/// once all three are queued (the caller holds the write lock, so they wait for one batch).
/// Blobs stored by concurrent uploads (a push sends several files at once) are recorded in one
/// transaction: one commit and one disk flush for all of them, none answered before it.
async fn blob_records_stored_meanwhile_commit_together(db: &Db) {
    let (batches, _) = db.group_commits();
    let digests: Vec<Digest> = (0..3u8).map(|i| Digest::of(&[b'g', i])).collect();
    // Another writer holds the write lock while three uploads record their blobs.
    let holder = db.begin_logged().await.expect("holder");
    let tasks: Vec<_> = digests
        .iter()
        .map(|d| {
            let (db, d) = (db.clone(), *d);
            tokio::spawn(async move { db.blob_insert(&d, 2, Some("uploader")).await })
        })
        .collect();
    let queued = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while db.group_waiting() < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(queued.is_ok(), "blob records wait for the group commit, not each for the lock");
    assert_eq!(db.blob_size(&digests[0]).await.expect("size"), None, "nothing recorded before the commit");
    holder.commit().await.expect("holder commits");
    for t in tasks {
        assert!(t.await.expect("join").expect("recorded"), "no GC claim: recorded");
    }
    assert_eq!(db.group_commits().0, batches + 1, "the three rows were committed in one transaction");
    for d in &digests {
        assert_eq!(db.blob_size(d).await.expect("size"), Some(2));
    }
}

async fn queued_behind<T, F, Fut>(
    db: &Db,
    m: &ModelName,
    job: F,
) -> Vec<tokio::task::JoinHandle<Result<T, DbError>>>
where
    T: Send + 'static,
    F: Fn(super::Tx, ModelName, &'static str) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (super::Tx, Result<T, DbError>)> + Send + 'static,
{
    let mut tasks = vec![];
    for (n, label) in ["a", "b", "c"].into_iter().enumerate() {
        let (d, m, job) = (db.clone(), m.clone(), job.clone());
        tasks.push(tokio::spawn(async move { d.grouped(move |tx| job(tx, m, label)).await }));
        // Queued one after the other: the batch runs them in this order.
        while db.group_waiting() <= n {
            tokio::task::yield_now().await;
        }
    }
    tasks
}

async fn migrations_can_run_twice(db: &Db) {
    // Re-applying embedded migrations on a migrated database is a no-op, as at every restart.
    match db.backend() {
        super::Backend::Sqlite => {
            sqlx::migrate!("../migrations/sqlite").run(db.pool()).await.expect("re-run")
        }
        super::Backend::Postgres => {
            sqlx::migrate!("../migrations/postgres").run(db.pool()).await.expect("re-run")
        }
    }
    db.ping().await.expect("ping");
}

async fn blobs_are_visible_through_covered_models_and_usable_by_their_uploader(db: &Db) {
    use super::blobs::BlobViewer;
    // new_version references blobs of b"x" and of the label.
    let (x, lone) = (Digest::of(b"x"), Digest::of(b"lone"));
    for d in [x, lone] {
        db.blob_insert(&d, 1, None).await.expect("insert");
    }
    new_version(db, &model("a/m"), "1").await.expect("version");
    let viewer = |ns, actor, since| BlobViewer { namespace: ns, name: None, actor, uploaded_since: since };
    let a = viewer(Some("a"), "token:a", 0);
    let b = viewer(Some("b"), "token:b", 0);
    assert!(db.blobs_visible(&[x, lone], &a).await.expect("visible").contains(&x));
    // A credential for one model sees what that model references, not its namespace's other models'.
    let named =
        |name| BlobViewer { namespace: Some("a"), name: Some(name), actor: "token:n", uploaded_since: 0 };
    assert!(db.blobs_visible(&[x], &named("m")).await.expect("visible").contains(&x));
    assert!(db.blobs_visible(&[x], &named("other")).await.expect("visible").is_empty());
    let everywhere = BlobViewer { namespace: None, name: None, actor: "token:all", uploaded_since: 0 };
    assert!(db.blobs_visible(&[x, lone], &everywhere).await.expect("visible").contains(&x));
    assert!(
        db.blobs_visible(&[x, lone], &b).await.expect("visible").is_empty(),
        "b covers no model using them"
    );
    assert!(db.blobs_usable(&[x, lone], &b).await.expect("usable").is_empty());
    db.blob_upload_record(&lone, "token:b").await.expect("record");
    db.blob_upload_record(&lone, "token:b").await.expect("record again");
    assert_eq!(
        db.blobs_usable(&[x, lone], &b).await.expect("usable").into_iter().collect::<Vec<_>>(),
        vec![(lone, 1)]
    );
    assert!(
        db.blobs_visible(&[lone], &b).await.expect("visible").is_empty(),
        "an upload is not a read grant"
    );
    let other = viewer(Some("b"), "token:other", 0);
    assert!(db.blobs_usable(&[lone], &other).await.expect("usable").is_empty(), "proof is per uploader");
    let later = viewer(Some("b"), "token:b", now_ms() + 60_000);
    assert!(db.blobs_usable(&[lone], &later).await.expect("usable").is_empty(), "old proofs expire");
    assert_eq!(db.blob_uploads_expire(now_ms() + 60_000).await.expect("expire"), 1);
    assert!(db.blobs_usable(&[lone], &b).await.expect("usable").is_empty());
}

async fn blob_references_from_before_migration_0021_are_backfilled(db: &Db) {
    use super::blobs::BlobViewer;
    let x = Digest::of(b"x");
    db.blob_insert(&x, 1, None).await.expect("insert");
    new_version(db, &model("a/m"), "1").await.expect("version");
    new_version(db, &model("a/m"), "2").await.expect("version");
    new_version(db, &model("c/m"), "1").await.expect("version");
    let viewer = |ns| BlobViewer { namespace: Some(ns), name: None, actor: "t", uploaded_since: 0 };
    // The database as it was before the migration: versions and their blobs, no blob_models.
    sqlx::query("DROP TABLE blob_models").execute(db.pool()).await.expect("drop");
    let migration = match db.backend() {
        super::Backend::Sqlite => include_str!("../../../migrations/sqlite/0021_blob_models.sql"),
        super::Backend::Postgres => include_str!("../../../migrations/postgres/0021_blob_models.sql"),
    };
    sqlx::raw_sql(migration).execute(db.pool()).await.expect("migrate");
    for ns in ["a", "c"] {
        assert!(db.blobs_visible(&[x], &viewer(ns)).await.expect("visible").contains(&x), "{ns}");
    }
    assert!(db.blobs_visible(&[x], &viewer("b")).await.expect("visible").is_empty());
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blob_models WHERE digest = $1")
        .bind(x.hex())
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(n, 2, "one row per model, not per version");
}

async fn attestations_stored_before_evidence_keys_get_theirs(db: &Db) {
    use registry_core::attest::dsse::{Envelope, INTOTO_PAYLOAD_TYPE};
    use registry_core::attest::intoto::Statement;
    use registry_core::attest::keys::{KeyKind, SigningKey};

    use super::attestations::{AttestationRow, insert};
    use crate::service::attest::{backfill_evidence_keys, evidence_key};

    let vid = new_version(db, &model("ns/m"), "1").await.expect("version");
    let key = SigningKey::from_seed(KeyKind::P256, &[3; 32]).expect("key");
    let st = Statement::new(
        vec![Statement::subject("ns/m", &Digest::of(b"1"))],
        "https://e/v1",
        serde_json::json!({}),
    );
    let env = Envelope::sign(INTOTO_PAYLOAD_TYPE, serde_json::to_vec(&st).expect("json"), &[&key]);
    let compact = env.to_json();
    // The same envelope, re-encoded: other bytes, same evidence.
    let pretty =
        serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&compact).expect("json"))
            .expect("json");
    let signer = key.public().key_id().hex();
    let row = |raw: &[u8]| AttestationRow {
        id: 0,
        version_id: vid,
        digest: Digest::of(raw).hex(),
        body: String::from_utf8(raw.to_vec()).expect("utf-8"),
        format: "dsse".into(),
        predicate_type: "https://e/v1".into(),
        signer_key_id: signer.clone(),
        subject_digest: Digest::of(b"1").hex(),
        binding: "manifest".into(),
        created_by: "t".into(),
        created_at: now_ms(),
        log_index: None,
        signer_identity: None,
    };
    // Two rows from before keys existed (both kept: the old rule deduplicated on bytes only).
    let mut tx = db.begin_write().await.expect("tx");
    for (raw, k) in [(&compact, "old-1"), (&pretty, "old-2")] {
        insert(&mut tx, &row(raw), k).await.expect("insert").expect("new row");
    }
    sqlx::query("UPDATE attestations SET evidence_key = NULL").execute(&mut *tx).await.expect("clear");
    tx.commit().await.expect("commit");

    assert_eq!(
        backfill_evidence_keys(db).await.expect("backfill"),
        1,
        "the first gets the key, the twin none"
    );
    assert_eq!(backfill_evidence_keys(db).await.expect("again"), 0);
    let want = evidence_key(&compact, &signer).expect("key");
    assert_eq!(evidence_key(&pretty, &signer).expect("key"), want);
    let held = db.attestation_by_evidence(vid, &want).await.expect("keyed row");
    assert_eq!(held.body.as_bytes(), compact.as_slice());
    // From now on the same evidence is not stored again, whatever its bytes.
    let mut tx = db.begin_write().await.expect("tx");
    let mut third = pretty.clone();
    third.push(b'\n');
    assert_eq!(insert(&mut tx, &row(&third), &want).await.expect("insert"), None);
    tx.commit().await.expect("commit");
}

async fn server_keys_are_recorded_once_and_replaced_only_on_purpose(db: &Db) {
    assert_eq!(db.server_key_get("log").await.expect("get"), None);
    let (k, at) = db.server_key_pin("log", "key-a", 5).await.expect("pin");
    assert_eq!((k.as_str(), at), ("key-a", 5));
    let (k, at) = db.server_key_pin("log", "key-b", 9).await.expect("pin again");
    assert_eq!((k.as_str(), at), ("key-a", 5), "the first one stays");
    db.server_key_replace("log", "key-b", 11).await.expect("replace");
    assert_eq!(db.server_key_get("log").await.expect("get"), Some(("key-b".into(), 11)));
    assert_eq!(db.server_key_get("attestation").await.expect("get"), None, "per purpose");
}

async fn oci_tags_resolve_exact_label_then_alias_then_mapped_label(db: &Db) {
    let m = model("fraud/detector");
    // Two labels that map to one tag (`+` is written `_`), an exact label, and an alias.
    let older = new_version(db, &m, "a+b_c").await.expect("insert");
    let newer = new_version(db, &m, "a_b+c").await.expect("insert");
    let exact = new_version(db, &m, "1.0_cu").await.expect("insert");
    let mapped = new_version(db, &m, "1.0+cu").await.expect("insert");
    let plain = new_version(db, &m, "2.0").await.expect("insert");
    new_version(db, &model("fraud/other"), "9.9").await.expect("other model");
    // A label and an alias on one tag (refused since, made directly here as older data could be).
    let legacy = new_version(db, &m, "prod+x").await.expect("insert");
    let id = db.model_get(&m).await.expect("model").id;
    let mut tx = db.begin_write().await.expect("tx");
    super::aliases::set(&mut tx, id, "production", plain, "tester", now_ms()).await.expect("alias");
    super::aliases::set(&mut tx, id, "prod_x", plain, "tester", now_ms()).await.expect("alias");
    tx.commit().await.expect("commit");

    let by_tag =
        |t: &'static str| async move { db.oci_version_by_tag(id, t).await.expect("query").map(|r| r.id) };
    assert_eq!(by_tag("a_b_c").await, Some(older), "the oldest of two labels mapping to one tag");
    assert_eq!(by_tag("1.0_cu").await, Some(exact), "an exact label before a mapped one");
    assert_eq!(by_tag("production").await, Some(plain), "an alias when no label matches");
    assert_eq!(by_tag("9.9").await, None, "another model's label");
    assert_eq!(by_tag("a+b_c").await, None, "tags never hold +");
    assert_eq!(by_tag("prod_x").await, Some(plain), "an alias before a mapped label");
    let _ = (newer, mapped, legacy);

    let mut conn = db.pool().acquire().await.expect("conn");
    for (tag, want) in [
        ("a_b_c", Some("a+b_c")),
        ("2.0", Some("2.0")),
        ("prod_x", Some("prod+x")),
        ("production", None),
        ("9.9", None),
    ] {
        let got = super::oci::label_with_tag(&mut conn, id, tag).await.expect("q");
        assert_eq!(got.as_deref(), want, "{tag}");
    }
    drop(conn);

    let mut tags = db.oci_tags(id).await.expect("tags");
    tags.sort();
    tags.dedup();
    assert_eq!(tags, ["1.0_cu", "2.0", "a_b_c", "prod_x", "production"]);
}
