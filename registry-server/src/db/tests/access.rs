//! Conformance of the access and upload stores: tokens, the access audit, resumable upload sessions.
use super::super::audit::AuditFilter;
use super::super::tokens::TokenRow;
use super::super::uploads::{PartRow, SessionRow};
use super::*;

conformance!(
    tokens_are_unique_by_name_and_id_and_revoked_once,
    audit_is_listed_newest_first_with_filters_and_cursor,
    access_records_served_meanwhile_commit_together_numbered_in_commit_order,
    upload_sessions_resume_chain_once_and_expire,
);

fn token(id: &str, name: &str, created_at: i64) -> TokenRow {
    TokenRow {
        id: id.into(),
        name: name.into(),
        secret_hash: format!("hash-of-{id}"),
        scopes: "read,push".into(),
        namespace: "team/*".into(),
        created_by: "admin".into(),
        created_at,
        expires_at: Some(created_at + 1000),
        revoked_at: None,
    }
}

async fn tokens_are_unique_by_name_and_id_and_revoked_once(db: &Db) {
    assert_eq!(db.tokens_count().await.expect("count"), 0, "a fresh install has no token");
    db.token_insert(&token("t1", "ci", 10)).await.expect("insert");
    db.token_insert(&token("t2", "laptop", 20)).await.expect("insert");
    db.token_insert(&token("t0", "backup", 20)).await.expect("insert");
    assert!(
        matches!(db.token_insert(&token("t3", "ci", 30)).await, Err(DbError::Conflict)),
        "names are unique"
    );
    assert!(
        matches!(db.token_insert(&token("t1", "other", 30)).await, Err(DbError::Conflict)),
        "ids are unique"
    );

    let got = db.token_get("t1").await.expect("get").expect("t1 exists");
    assert_eq!(
        (got.name.as_str(), got.secret_hash.as_str(), got.expires_at),
        ("ci", "hash-of-t1", Some(1010))
    );
    let info = got.info().expect("info");
    assert_eq!((info.scopes.len(), info.namespace.to_string().as_str()), (2, "team/*"));
    assert!(db.token_get("nope").await.expect("get").is_none());
    let order: Vec<String> = db.tokens_list().await.expect("list").into_iter().map(|t| t.id).collect();
    assert_eq!(order, ["t0", "t2", "t1"], "newest first, then by id");

    let r = db.token_revoke("laptop", false, 500).await.expect("revoke by name");
    assert_eq!((r.id.as_str(), r.revoked_at), ("t2", Some(500)));
    let again = db.token_revoke("t2", true, 900).await.expect("revoke by id");
    assert_eq!(again.revoked_at, Some(500), "revoking twice keeps the first time");
    assert!(matches!(db.token_revoke("t2", false, 1).await, Err(DbError::NotFound)), "an id is not a name");
    assert!(matches!(db.token_revoke("ghost", true, 1).await, Err(DbError::NotFound)));
    assert_eq!(db.token_get("t1").await.expect("get").expect("t1").revoked_at, None, "others untouched");
    assert_eq!(db.tokens_count().await.expect("count"), 3, "revoked tokens still count");
}

/// A download's access record goes through the group commit: records of downloads served at the same
/// moment share one transaction (one disk flush for several files of a pull), none is answered before it
/// commits, and as it holds the global write lock their ids are numbered in commit order, so a webhook
/// cursor into `access_audit` never passes a record that commits later (before, on PostgreSQL, an
/// insert racing another could commit a lower id after a higher one was delivered).
async fn access_records_served_meanwhile_commit_together_numbered_in_commit_order(db: &Db) {
    let (batches, _) = db.group_commits();
    // Another writer holds the write lock while three downloads record their accesses.
    let holder = db.begin_logged().await.expect("holder");
    let tasks: Vec<_> = ["d1", "d2", "d3"]
        .into_iter()
        .map(|target| {
            let db = db.clone();
            tokio::spawn(async move { db.audit_insert(7, "reader", "blob.download", target).await })
        })
        .collect();
    let queued = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while db.group_waiting() < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(queued.is_ok(), "access records wait for the group commit, not each for the lock");
    assert!(
        db.audit_list(&AuditFilter::default(), 10).await.expect("list").is_empty(),
        "nothing before the commit"
    );
    holder.commit().await.expect("holder commits");
    for t in tasks {
        t.await.expect("join").expect("recorded");
    }
    assert_eq!(db.group_commits().0, batches + 1, "the three records were committed in one transaction");
    let rows = db.audit_list(&AuditFilter::default(), 10).await.expect("list");
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| (r.at, r.actor.as_str(), r.action.as_str()) == (7, "reader", "blob.download"))
    );
}

async fn audit_is_listed_newest_first_with_filters_and_cursor(db: &Db) {
    for (at, actor, target) in
        [(10, "alice", "d1"), (20, "bob", "d1"), (30, "alice", "d2"), (40, "alice", "d1"), (50, "bob", "d3")]
    {
        db.audit_insert(at, actor, "blob.download", target).await.expect("insert");
    }
    let all = db.audit_list(&AuditFilter::default(), 100).await.expect("list");
    assert_eq!(all.iter().map(|r| r.at).collect::<Vec<_>>(), [50, 40, 30, 20, 10], "newest first");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    assert_eq!(all[0].action, "blob.download");

    let by = |actor: Option<&str>, target: Option<&str>, since: Option<i64>, before: Option<i64>| {
        AuditFilter { actor: actor.map(str::to_owned), target: target.map(str::to_owned), since, before }
    };
    let ats = |rows: Vec<super::super::audit::AuditRow>| rows.into_iter().map(|r| r.at).collect::<Vec<_>>();
    assert_eq!(ats(db.audit_list(&by(Some("alice"), None, None, None), 100).await.expect("l")), [40, 30, 10]);
    assert_eq!(ats(db.audit_list(&by(None, Some("d1"), None, None), 100).await.expect("l")), [40, 20, 10]);
    assert_eq!(
        ats(db.audit_list(&by(Some("alice"), Some("d1"), None, None), 100).await.expect("l")),
        [40, 10]
    );
    assert_eq!(
        ats(db.audit_list(&by(None, None, Some(30), None), 100).await.expect("l")),
        [50, 40, 30],
        "since is inclusive"
    );
    assert!(db.audit_list(&by(Some("carol"), None, None, None), 100).await.expect("l").is_empty());

    // Paging with the id cursor visits every row once.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = db.audit_list(&by(None, None, None, before), 2).await.expect("page");
        assert!(page.len() <= 2, "limit");
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        seen.extend(page.into_iter().map(|r| r.at));
    }
    assert_eq!(seen, [50, 40, 30, 20, 10]);
}

fn session(
    id: &str,
    digest: &Digest,
    size: i64,
    actor: &str,
    created_at: i64,
    expires_at: i64,
) -> SessionRow {
    SessionRow {
        id: id.into(),
        digest: digest.hex(),
        size,
        part_size: 4,
        actor: actor.into(),
        store_upload_id: format!("store-{id}"),
        chained: 0,
        hash_state: "00".into(),
        created_at,
        expires_at,
        touched_at: created_at,
    }
}

async fn upload_sessions_resume_chain_once_and_expire(db: &Db) {
    let d = Digest::of(b"big blob");
    let now = now_ms();
    let later = now + 60_000;
    db.upload_insert(&session("old", &d, 10, "alice", now - 10, later)).await.expect("insert");
    db.upload_insert(&session("new", &d, 10, "alice", now - 5, later)).await.expect("insert");
    db.upload_insert(&session("bob", &d, 10, "bob", now - 1, later)).await.expect("insert");
    db.upload_insert(&session("dead", &d, 10, "alice", now - 1, now - 1)).await.expect("insert");
    db.upload_insert(&session("other-size", &d, 11, "alice", now, later)).await.expect("insert");
    assert!(matches!(db.upload_insert(&session("new", &d, 1, "x", 0, 0)).await, Err(DbError::Conflict)));

    let found = db.upload_find(&d, 10, "alice").await.expect("find").expect("a live session");
    assert_eq!(found.id, "new", "the newest live session of this actor, digest and size");
    assert_eq!(db.upload_find(&d, 10, "bob").await.expect("find").map(|s| s.id).as_deref(), Some("bob"));
    assert!(db.upload_find(&d, 10, "carol").await.expect("find").is_none(), "sessions are per actor");
    assert!(db.upload_find(&Digest::of(b"else"), 10, "alice").await.expect("find").is_none());
    let mine: Vec<String> =
        db.uploads_of("alice", now).await.expect("of").into_iter().map(|s| s.id).collect();
    assert_eq!(mine, ["other-size", "new", "old"], "live ones, newest first");

    // Two writers race to chain part 0: exactly one wins.
    let part = |n: i64, sha: &str| PartRow { part: n, size: 4, sha256: sha.into(), store_part_id: None };
    let racers: Vec<_> = ["aa", "bb"]
        .into_iter()
        .map(|sha| {
            let (db, p) = (db.clone(), part(0, sha));
            tokio::spawn(async move { db.upload_chain("new", 0, sha, &p, later).await.expect("chain") })
        })
        .collect();
    let mut wins = 0;
    for r in racers {
        wins += usize::from(r.await.expect("join"));
    }
    assert_eq!(wins, 1, "one advance from 0 chained parts");
    assert!(
        !db.upload_chain("new", 0, "cc", &part(0, "cc"), later).await.expect("stale"),
        "a stale base loses"
    );
    assert!(db.upload_chain("new", 1, "dd", &part(1, "dd"), later + 5).await.expect("chain"));
    let s = db.upload_get("new").await.expect("get").expect("session");
    assert_eq!((s.chained, s.hash_state.as_str(), s.expires_at), (2, "dd", later + 5));
    assert!(s.touched_at >= now, "a part touches the session");
    db.upload_part_stored("new", 1, "etag-1").await.expect("stored");
    let parts = db.upload_parts("new").await.expect("parts");
    assert_eq!(parts.iter().map(|p| p.part).collect::<Vec<_>>(), [0, 1]);
    assert!(["aa", "bb"].contains(&parts[0].sha256.as_str()));
    assert_eq!(
        (parts[0].store_part_id.as_deref(), parts[1].store_part_id.as_deref()),
        (None, Some("etag-1"))
    );

    // Expired sessions, and those idle since before the cutoff, are due for cleanup.
    let due: Vec<String> =
        db.uploads_expired(now, now - 7, 100).await.expect("expired").into_iter().map(|s| s.id).collect();
    assert_eq!(due.len(), 2);
    assert!(due.contains(&"dead".to_owned()) && due.contains(&"old".to_owned()), "{due:?}");
    assert_eq!(db.uploads_expired(now, now - 7, 1).await.expect("limit").len(), 1);
    db.upload_delete("new").await.expect("delete");
    assert!(db.upload_get("new").await.expect("get").is_none());
    assert!(db.upload_parts("new").await.expect("parts").is_empty(), "parts go with their session");
    assert_eq!(db.upload_find(&d, 10, "alice").await.expect("find").map(|s| s.id).as_deref(), Some("old"));
}
