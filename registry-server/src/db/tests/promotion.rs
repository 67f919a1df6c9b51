//! Conformance of the promotion and log stores: aliases with their history and policies, the
//! transparency log's entries, tree nodes and checkpoints.
use registry_core::tlog::entry::LogEntry;
use registry_core::tlog::{fold, leaf_hash, range_nodes, root_of};

use super::super::aliases;
use super::super::log::{NodeCache, append};
use super::*;

conformance!(
    aliases_move_upsert_and_keep_their_history,
    policies_get_the_next_revision_per_pattern,
    log_indexes_are_contiguous_and_the_tree_matches_the_entries,
    upper_log_nodes_kept_in_memory_are_the_committed_ones,
);

/// One promotion attempt of `name` to `to` (moving the alias when it passed).
async fn attempt(
    db: &Db,
    model_id: i64,
    to: i64,
    from: Option<i64>,
    kind: &str,
    decision: &str,
    at: i64,
) -> i64 {
    let mut tx = db.begin_write().await.expect("tx");
    if decision == "passed" {
        aliases::set(&mut tx, model_id, "prod", to, "alice", at).await.expect("set");
    }
    let id = aliases::record(
        &mut tx, model_id, "prod", to, from, kind, decision, "[]", "[]", "alice", "why", None, 7, at,
    )
    .await
    .expect("record");
    tx.commit().await.expect("commit");
    id
}

async fn aliases_move_upsert_and_keep_their_history(db: &Db) {
    let m = model("ns/m");
    let (v1, v2, v3) = (
        new_version(db, &m, "1").await.expect("v1"),
        new_version(db, &m, "2").await.expect("v2"),
        new_version(db, &m, "3").await.expect("v3"),
    );
    let other = new_version(db, &model("ns/other"), "1").await.expect("other");
    let mid = db.model_get(&m).await.expect("model").id;
    let other_mid = db.model_get(&model("ns/other")).await.expect("model").id;
    assert!(db.alias_get(mid, "prod").await.expect("get").is_none());

    let h1 = attempt(db, mid, v1, None, "promote", "passed", 10).await;
    let h2 = attempt(db, mid, v2, Some(v1), "promote", "passed", 20).await;
    let h3 = attempt(db, mid, v3, Some(v2), "promote", "failed", 30).await;
    let h4 = attempt(db, mid, v1, Some(v2), "rollback", "passed", 40).await;
    assert!(h1 < h2 && h2 < h3 && h3 < h4, "history ids grow");
    let mut tx = db.begin_write().await.expect("tx");
    aliases::set(&mut tx, mid, "canary", v3, "bob", 50).await.expect("set");
    aliases::set(&mut tx, other_mid, "prod", other, "bob", 50).await.expect("set");
    tx.commit().await.expect("commit");

    let prod = db.alias_get(mid, "prod").await.expect("get").expect("prod exists");
    assert_eq!(
        (prod.version_id, prod.version.as_str(), prod.updated_at),
        (v1, "1", 40),
        "the last move wins"
    );
    assert_eq!(prod.manifest_digest, Digest::of(b"1").hex());
    let all = db.aliases_of(mid).await.expect("aliases");
    let names: Vec<(&str, &str)> = all.iter().map(|a| (a.name.as_str(), a.version.as_str())).collect();
    assert_eq!(names, [("canary", "3"), ("prod", "1")], "one row per alias, by name, this model only");

    let history = db.alias_history(mid, "prod", false, 10).await.expect("history");
    assert_eq!(history.iter().map(|h| h.id).collect::<Vec<_>>(), [h4, h3, h2, h1], "newest first");
    assert_eq!((history[0].kind.as_str(), history[0].previous.as_deref()), ("rollback", Some("2")));
    assert_eq!(history[3].previous, None);
    let moves = db.alias_history(mid, "prod", true, 10).await.expect("moves");
    assert_eq!(moves.iter().map(|h| h.id).collect::<Vec<_>>(), [h4, h2, h1], "failed attempts are not moves");
    assert_eq!(db.alias_history(mid, "prod", false, 2).await.expect("page").len(), 2, "limit");
    assert!(db.alias_history(mid, "canary", false, 10).await.expect("none").is_empty(), "per alias");

    let at = |t| async move { db.alias_at(mid, "prod", t).await.expect("at").map(|h| h.version) };
    assert_eq!(at(5).await, None, "before the first move");
    assert_eq!(at(10).await.as_deref(), Some("1"), "at the move itself");
    assert_eq!(at(35).await.as_deref(), Some("2"), "a failed attempt moves nothing");
    assert_eq!(at(99).await.as_deref(), Some("1"));
    assert_eq!(db.rolled_back_from(mid, "prod").await.expect("rolled back"), [v2]);

    let mut promoted = db.versions_promoted().await.expect("promoted");
    promoted.sort_unstable();
    assert_eq!(promoted, [v1, v2], "v3 only failed; the other model's alias was set without a record");
    let mut tx = db.begin_write().await.expect("tx");
    assert_eq!(
        aliases::current(&mut tx, mid, "prod").await.expect("current").map(|a| a.version_id),
        Some(v1)
    );
    assert_eq!(aliases::all_in(&mut tx, mid).await.expect("all").len(), 2);
}

async fn policies_get_the_next_revision_per_pattern(db: &Db) {
    assert_eq!(db.policy_mark().await.expect("mark"), 0, "no policy yet");
    let mut tx = db.begin_write().await.expect("tx");
    let (a1, r1) = aliases::add_policy(&mut tx, "ns", "prod", "package a", "d1", "u", 1).await.expect("add");
    let (a2, r2) = aliases::add_policy(&mut tx, "ns", "prod", "package b", "d2", "u", 2).await.expect("add");
    let (b1, rb) = aliases::add_policy(&mut tx, "*", "prod", "package c", "d3", "u", 3).await.expect("add");
    aliases::set_policy_log_index(&mut tx, a2, 42).await.expect("log index");
    assert_eq!(aliases::policy_mark_in(&mut tx).await.expect("mark"), b1);
    tx.commit().await.expect("commit");
    assert_eq!((r1, r2, rb), (1, 2, 1), "revisions count per (namespace, alias)");
    assert!(a1 < a2 && a2 < b1);
    assert_eq!(db.policy_mark().await.expect("mark"), b1, "the newest id");

    let current = db.policies_current().await.expect("current");
    let got: Vec<(&str, i64, &str)> =
        current.iter().map(|p| (p.namespace.as_str(), p.revision, p.rego.as_str())).collect();
    assert_eq!(
        got,
        [("*", 1, "package c"), ("ns", 2, "package b")],
        "highest revision of each pair, in order"
    );
    let p = db.policy_get(a2).await.expect("get");
    assert_eq!((p.digest.as_str(), p.log_index), ("d2", Some(42)));
    assert!(matches!(db.policy_get(9999).await, Err(DbError::NotFound)));
}

fn log_entry(kind: &str, subject: &str, n: u32) -> LogEntry {
    LogEntry {
        kind: kind.into(),
        subject: subject.into(),
        actor: "tester".into(),
        time: "2026-01-01T00:00:00Z".into(),
        details: [("n".to_owned(), serde_json::json!(n))].into_iter().collect(),
    }
}

async fn log_indexes_are_contiguous_and_the_tree_matches_the_entries(db: &Db) {
    assert_eq!(db.log_size().await.expect("size"), 0);
    let subjects = ["a_b/m@1", "a_b/m@2", "axb/m@1", "a_b/m@1", "a_b/mm@1"];
    for (i, s) in subjects.iter().enumerate() {
        let mut tx = db.begin_write().await.expect("tx");
        let kind = if i == 3 { "version.created" } else { "alias.moved" };
        let idx = append(&mut tx, &log_entry(kind, s, i as u32)).await.expect("append");
        tx.commit().await.expect("commit");
        assert_eq!(idx, i as u64);
    }
    // A rolled-back append leaves no hole.
    let mut tx = db.begin_write().await.expect("tx");
    assert_eq!(append(&mut tx, &log_entry("alias.moved", "gone", 99)).await.expect("append"), 5);
    tx.rollback().await.expect("rollback");
    assert_eq!(db.log_size().await.expect("size"), 5);
    // Concurrent appenders each get their own index, all contiguous.
    let tasks: Vec<_> = (0..8u32)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin_write().await.expect("tx");
                let idx = append(&mut tx, &log_entry("key.added", "k", 100 + i)).await.expect("append");
                tx.commit().await.expect("commit");
                idx
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.expect("join"));
    }
    got.sort_unstable();
    assert_eq!(got, (5..13).collect::<Vec<u64>>());
    assert_eq!(db.log_size().await.expect("size"), 13);

    let entries = db.log_entries(0, 13).await.expect("entries");
    assert_eq!(entries.iter().map(|e| e.idx).collect::<Vec<_>>(), (0..13).collect::<Vec<i64>>());
    assert_eq!(db.log_entries(3, 5).await.expect("range").len(), 2, "[start, end)");
    let parsed = LogEntry::parse(db.log_entry(2).await.expect("entry").body.as_bytes()).expect("parse");
    assert_eq!((parsed.subject.as_str(), parsed.kind.as_str()), ("axb/m@1", "alias.moved"));
    assert_eq!(parsed.details["n"], serde_json::json!(2));
    assert!(matches!(db.log_entry(13).await, Err(DbError::NotFound)));
    assert_eq!(db.log_indexes_about("a_b/m@1", 13).await.expect("about"), [0, 3]);
    assert_eq!(db.log_indexes_about("a_b/m@1", 3).await.expect("about"), [0], "below size only");
    let moved = db.alias_moves_of_model("a_b/m", 13).await.expect("moves of a model");
    assert_eq!(
        moved.iter().map(|e| e.idx).collect::<Vec<_>>(),
        [0, 1],
        "this kind, this model (not a_b/mm); '_' in a name is literal"
    );
    assert_eq!(db.alias_moves_of_model("a_b/m", 1).await.expect("below size").len(), 1, "below size only");
    let all = db.alias_moves_after(-1, 100).await.expect("all moves");
    assert_eq!(all.iter().map(|e| e.idx).collect::<Vec<_>>(), [0, 1, 2, 4], "every model's moves");
    assert_eq!(
        db.alias_moves_after(1, 2).await.expect("a page").iter().map(|e| e.idx).collect::<Vec<_>>(),
        [2, 4]
    );

    // Every stored node agrees with the entries: the root from stored nodes equals the root of leaves.
    let leaves: Vec<_> = entries.iter().map(|e| leaf_hash(e.body.as_bytes())).collect();
    for size in [1u64, 5, 8, 13] {
        let ids = range_nodes(0, size);
        let nodes = db.log_nodes(&ids).await.expect("nodes");
        let hashes: Vec<_> = ids.iter().map(|id| nodes[id]).collect();
        assert_eq!(fold(&hashes), Some(root_of(&leaves[..size as usize])), "root at size {size}");
    }
    let leaves_back = db.log_leaves_after(-1, 100).await.expect("leaves");
    assert_eq!(leaves_back.len(), 13);
    assert!(
        leaves_back
            .iter()
            .all(|l| l.hash.as_deref() == Some(hex::encode(leaf_hash(l.body.as_bytes())).as_str()))
    );
    assert_eq!(db.log_leaves_after(10, 100).await.expect("page").first().map(|l| l.idx), Some(11));

    assert_eq!(db.checkpoint_get(13).await.expect("get"), None);
    db.checkpoint_put(13, &[1; 32], "note one").await.expect("put");
    db.checkpoint_put(13, &[2; 32], "note two").await.expect("put again");
    assert_eq!(
        db.checkpoint_get(13).await.expect("get"),
        Some((hex::encode([1u8; 32]), "note one".to_owned())),
        "the first checkpoint of a size stays"
    );
}

/// Upper Merkle nodes are kept in memory once read (`NodeCache`): what is kept is only ever what was
/// committed. A transaction that completes a level-10 node and rolls back leaves nothing behind; the
/// node committed in its place is the one served, and served again after the table is edited under it
/// (a committed node never changes, so a kept one stays right; finding edits is the scrubber's job).
async fn upper_log_nodes_kept_in_memory_are_the_committed_ones(db: &Db) {
    let n = 1u64 << NodeCache::LEVEL;
    let mut tx = db.begin_write().await.expect("tx");
    for i in 0..n {
        append(&mut tx, &log_entry("version.created", "gone/m@1", i as u32)).await.expect("append");
    }
    tx.rollback().await.expect("rollback");
    assert!(db.log_nodes(&[(NodeCache::LEVEL, 0)]).await.expect("nodes").is_empty());

    let mut tx = db.begin_write().await.expect("tx");
    let mut leaves = Vec::new();
    for i in 0..n {
        let e = log_entry("version.created", "kept/m@1", i as u32);
        leaves.push(leaf_hash(&e.canonical()));
        append(&mut tx, &e).await.expect("append");
    }
    tx.commit().await.expect("commit");
    let top = (NodeCache::LEVEL, 0);
    let first = db.log_nodes(&[top]).await.expect("nodes")[&top];
    assert_eq!(first, root_of(&leaves), "the committed subtree, not the rolled-back one");

    sqlx::query("UPDATE log_nodes SET hash = $1 WHERE level = $2 AND idx = 0")
        .bind(hex::encode([7u8; 32]))
        .bind(i64::from(top.0))
        .execute(db.pool())
        .await
        .expect("edit");
    assert_eq!(db.log_nodes(&[top]).await.expect("nodes")[&top], first, "kept");
    // Lower nodes are not kept: they come from the table every time.
    sqlx::query("UPDATE log_nodes SET hash = $1 WHERE level = 0 AND idx = 0")
        .bind(hex::encode([7u8; 32]))
        .execute(db.pool())
        .await
        .expect("edit");
    assert_eq!(db.log_nodes(&[(0, 0)]).await.expect("nodes")[&(0, 0)], [7u8; 32]);
}
