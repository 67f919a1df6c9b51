//! Conformance of the incident and integrity stores: lineage edges, quarantines and their lifts, the
//! scrubber's and the compliance report's reads and marks, the `/metrics` counts.
use super::super::aliases;
use super::super::attestations::{self, AttestationRow};
use super::super::incident;
use super::super::scrub::{clear_corrupted, insert_finding, mark_corrupted};
use super::super::stats::VersionCount;
use super::*;

conformance!(
    quarantines_cover_versions_and_a_lift_releases_only_the_uncovered,
    scrub_marks_and_report_reads_see_every_version,
);

async fn quarantines_cover_versions_and_a_lift_releases_only_the_uncovered(db: &Db) {
    let m = model("ns/m");
    let v1 = new_version(db, &m, "1").await.expect("v1");
    let v2 = new_version_with(db, &m, "2", &[v1]).await.expect("v2");
    let v3 = new_version_with(db, &model("x/y"), "1", &[v1, v2]).await.expect("v3");
    let mid = db.model_get(&m).await.expect("model").id;
    assert_eq!(db.children_of(&[v1]).await.expect("children"), [(v2, v1), (v3, v1)]);
    assert_eq!(db.children_of(&[v2, v3]).await.expect("children"), [(v3, v2)]);
    let ds = Digest::of(b"dataset").hex();
    assert_eq!(db.versions_with_dataset(&ds).await.expect("dataset"), [v1, v2, v3]);
    assert!(db.versions_with_commit("abc").await.expect("commit").is_empty());
    assert_eq!(db.versions_count(VersionCount::All).await.expect("count"), 3);
    assert_eq!(db.versions_count(VersionCount::Quarantined).await.expect("count"), 0);
    let mark = db.radius_mark().await.expect("mark");
    assert_eq!(mark, (v3, 0), "newest version, no attestation");

    let mut tx = db.begin_write().await.expect("tx");
    let q1 = incident::insert(&mut tx, &format!("dataset:{ds}"), "leak", "alice", 10, 1).await.expect("q1");
    incident::add_member(&mut tx, q1, v2, r#"["seed"]"#, 3).await.expect("member");
    incident::add_member(&mut tx, q1, v1, "[]", 2).await.expect("member");
    incident::set_rollbacks(&mut tx, q1, "[1]").await.expect("rollbacks");
    let q2 = incident::insert(&mut tx, "commit:abc", "bad build", "bob", 20, 4).await.expect("q2");
    incident::add_member(&mut tx, q2, v2, "[]", 5).await.expect("member");
    aliases::set(&mut tx, mid, "prod", v2, "alice", 5).await.expect("alias");
    assert_eq!(
        incident::aliases_at(&mut tx, &[v1, v2, v3]).await.expect("aliases"),
        [(mid, "prod".into(), v2)]
    );
    tx.commit().await.expect("commit");
    let mut tx = db.begin_write().await.expect("tx");
    assert!(
        matches!(incident::add_member(&mut tx, q1, v1, "[]", 9).await, Err(DbError::Conflict)),
        "a version joins a quarantine once"
    );
    drop(tx);

    assert_eq!(db.versions_count(VersionCount::Quarantined).await.expect("count"), 2);
    let ids = |rows: Vec<incident::QuarantineRow>| rows.into_iter().map(|q| q.id).collect::<Vec<_>>();
    assert_eq!(ids(db.quarantines(10).await.expect("list")), [q2, q1], "newest first");
    assert_eq!(ids(db.quarantines(1).await.expect("list")), [q2]);
    assert_eq!(ids(db.quarantines_covering(Some("ns"), Some("m"), 10).await.expect("c")), [q2, q1]);
    assert!(db.quarantines_covering(Some("x"), None, 10).await.expect("covering").is_empty());
    assert!(db.quarantines_covering(None, Some("zz"), 10).await.expect("covering").is_empty());
    let q = db.quarantine_get(q1).await.expect("get");
    assert_eq!((q.rollbacks.as_str(), q.log_index, q.lifted_at), ("[1]", 1, None));
    assert_eq!(
        db.quarantine_members(q1).await.expect("members"),
        [(v1, "[]".into()), (v2, r#"["seed"]"#.into())]
    );
    assert!(matches!(db.quarantine_get(9999).await, Err(DbError::NotFound)));

    let mut tx = db.begin_write().await.expect("tx");
    assert!(incident::lift(&mut tx, q1, "carol", 30, "fixed").await.expect("lift"));
    assert!(!incident::lift(&mut tx, q1, "dave", 31, "again").await.expect("lift again"), "lifted once");
    let released = incident::released_by_lift(&mut tx, q1).await.expect("released");
    assert_eq!(released, [v1], "v2 stays under the other active quarantine");
    for v in released {
        incident::release(&mut tx, v).await.expect("release");
    }
    tx.commit().await.expect("commit");
    let q = db.quarantine_get(q1).await.expect("get");
    assert_eq!((q.lifted_by.as_deref(), q.lifted_at), (Some("carol"), Some(30)));
    assert_eq!(db.versions_count(VersionCount::Quarantined).await.expect("count"), 1);
    let facts = db.report_versions().await.expect("report");
    let flags: Vec<(i64, i64)> = facts.iter().map(|f| (f.id, f.quarantined)).collect();
    assert_eq!(flags, [(v1, 0), (v2, 1), (v3, 0)]);
}

async fn scrub_marks_and_report_reads_see_every_version(db: &Db) {
    let (a, b) = (model("ns/a"), model("ot/b"));
    let v1 = new_version(db, &a, "1").await.expect("v1");
    let v2 = new_version(db, &b, "1").await.expect("v2");
    let x = Digest::of(b"x");
    assert_eq!(db.versions_with_blob(&x).await.expect("with blob"), [v1, v2]);
    assert!(db.version_blob_digests(v1).await.expect("digests").contains(&x.hex()));

    let body = r#"{"payloadType":"t"}"#;
    let row = |version_id, predicate_type: &str| AttestationRow {
        id: 0,
        version_id,
        digest: Digest::of(body.as_bytes()).hex(),
        body: body.into(),
        format: "dsse".into(),
        predicate_type: predicate_type.into(),
        signer_key_id: "k1".into(),
        subject_digest: Digest::of(b"1").hex(),
        binding: "manifest".into(),
        created_by: "t".into(),
        created_at: 1,
        log_index: None,
        signer_identity: None,
    };
    let mut tx = db.begin_write().await.expect("tx");
    let a1 = attestations::insert(&mut tx, &row(v1, "p/one"), "e1").await.expect("insert").expect("new");
    let a2 = attestations::insert(&mut tx, &row(v2, "p/two"), "e2").await.expect("insert").expect("new");
    tx.commit().await.expect("commit");
    let page = db.attestation_bytes_after(0, 1).await.expect("page");
    assert_eq!(
        page.iter().map(|r| (r.id, r.version_id, r.body.as_str())).collect::<Vec<_>>(),
        [(a1, v1, body)]
    );
    assert_eq!(page[0].digest, Digest::of(body.as_bytes()).hex());
    assert_eq!(
        db.attestation_bytes_after(a1, 10).await.expect("page").iter().map(|r| r.id).collect::<Vec<_>>(),
        [a2]
    );
    assert!(db.attestation_bytes_after(a2, 10).await.expect("page").is_empty());
    let mut facts: Vec<(i64, String)> = db
        .report_attestations()
        .await
        .expect("facts")
        .into_iter()
        .map(|f| (f.version_id, f.predicate_type))
        .collect();
    facts.sort();
    assert_eq!(facts, [(v1, "p/one".into()), (v2, "p/two".into())]);

    let mut tx = db.begin_write().await.expect("tx");
    insert_finding(&mut tx, 7, "blob", &x.to_string(), "hashes wrong").await.expect("finding");
    mark_corrupted(&mut tx, v2).await.expect("mark");
    tx.commit().await.expect("commit");
    let findings: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM scrub_findings WHERE kind = 'blob' AND at = 7")
            .fetch_one(db.pool())
            .await
            .expect("count");
    assert_eq!(findings, 1);
    assert_eq!(db.versions_corrupted().await.expect("corrupted"), [v2]);
    assert_eq!(db.versions_count(VersionCount::Corrupted).await.expect("count"), 1);
    let report = db.report_versions().await.expect("report");
    let got: Vec<(&str, &str, i64, i64)> =
        report.iter().map(|r| (r.namespace.as_str(), r.name.as_str(), r.corrupted, r.datasets)).collect();
    assert_eq!(got, [("ns", "a", 0, 1), ("ot", "b", 1, 1)], "by id, with the dataset count");

    let mut tx = db.begin_write().await.expect("tx");
    assert!(clear_corrupted(&mut tx, v2).await.expect("clear"));
    assert!(!clear_corrupted(&mut tx, v2).await.expect("clear again"), "nothing left to clear");
    assert!(!clear_corrupted(&mut tx, v1).await.expect("clear unmarked"));
    tx.commit().await.expect("commit");
    assert!(db.versions_corrupted().await.expect("corrupted").is_empty());
    assert_eq!(db.versions_count(VersionCount::Corrupted).await.expect("count"), 0);
}
