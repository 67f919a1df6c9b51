//! The transparency log's storage: entries, complete-subtree nodes, the head, signed checkpoints.
//!
//! `append` runs inside the caller's write transaction, so a change and its entry commit together.
//! The head row is bumped with `UPDATE ... RETURNING`, which takes a row lock on PostgreSQL (and SQLite
//! writers are already serialized), so indexes are contiguous with any number of replicas.
use std::collections::HashMap;

use registry_core::tlog::entry::LogEntry;
use registry_core::tlog::{Hash, NodeId, completed_by, leaf_hash, node_hash};
use sqlx::{AnyConnection, AssertSqlSafe};

use super::{Db, DbError, now_ms};

fn parse_hash(hex: &str) -> Result<Hash, DbError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex, &mut out).map_err(|e| DbError::Corrupt(format!("log hash {hex:?}: {e}")))?;
    Ok(out)
}

/// Committed Merkle nodes of level [`NodeCache::LEVEL`] and up, kept in memory. A committed node never
/// changes (it is the hash of a complete subtree of immutable entries), so a node read once through the
/// pool is right forever; nodes written in a transaction are never put here (it may roll back). An
/// inclusion proof at 10M entries needs ~24 nodes, ~14 of them this high, each otherwise a B-tree
/// descent of a table of 20M rows; holding them costs one entry per 1,024 entries of the log, up to
/// [`NodeCache::MAX`] (then nodes are read from the database as before).
#[derive(Default)]
pub struct NodeCache(std::sync::RwLock<HashMap<NodeId, Hash>>);

impl NodeCache {
    /// Lowest level kept: a level-10 node covers 1,024 entries.
    pub const LEVEL: u8 = 10;
    /// Most nodes kept (~6 MiB): every upper node of a log of 64M entries.
    pub const MAX: usize = 1 << 17;

    /// The kept nodes among `ids`, and the ids still to read.
    fn split(&self, ids: &[NodeId]) -> (HashMap<NodeId, Hash>, Vec<NodeId>) {
        let kept = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match kept.get(id) {
                Some(h) => {
                    out.insert(*id, *h);
                }
                None => missing.push(*id),
            }
        }
        (out, missing)
    }

    /// Keeps the upper nodes among `read` (committed: read through the pool). The write lock is taken
    /// only when there is one to keep.
    fn keep(&self, read: &HashMap<NodeId, Hash>) {
        let mut upper = read.iter().filter(|(id, _)| id.0 >= Self::LEVEL).peekable();
        if upper.peek().is_none() {
            return;
        }
        let mut kept = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (id, h) in upper {
            if kept.len() >= Self::MAX {
                break;
            }
            kept.insert(*id, *h);
        }
    }
}

/// The stored nodes `ids` (those that exist), in one query per 200.
async fn nodes(conn: &mut AnyConnection, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, DbError> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(200) {
        let cond: Vec<String> =
            (0..chunk.len()).map(|i| format!("(level = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2)).collect();
        let sql = format!("SELECT level, idx, hash FROM log_nodes WHERE {}", cond.join(" OR "));
        let mut q = sqlx::query_as::<_, (i64, i64, String)>(AssertSqlSafe(sql));
        for (l, i) in chunk {
            q = q.bind(i64::from(*l)).bind(*i as i64);
        }
        for (l, i, h) in q.fetch_all(&mut *conn).await? {
            let level = u8::try_from(l).map_err(|_| DbError::Corrupt("log node level".into()))?;
            out.insert((level, i as u64), parse_hash(&h)?);
        }
    }
    Ok(out)
}

/// Takes the registry-wide write lock at the start of a write transaction: a no-op update of the log
/// head row, which every log writer touches anyway. Until the transaction ends, every other writer
/// that takes it (publishes, promotions, quarantines and lifts, GC claims, blob records) waits, on
/// every replica, and then sees the state this one left.
pub async fn lock_global_writes(conn: &mut AnyConnection) -> Result<(), DbError> {
    sqlx::query("UPDATE log_head SET size = size WHERE id = 1").execute(&mut *conn).await?;
    Ok(())
}

/// Appends `entry` (inside the caller's transaction) and stores every node it completes; returns its
/// index.
pub async fn append(conn: &mut AnyConnection, entry: &LogEntry) -> Result<u64, DbError> {
    let idx: i64 = sqlx::query_scalar("UPDATE log_head SET size = size + 1 WHERE id = 1 RETURNING size - 1")
        .fetch_one(&mut *conn)
        .await?;
    let idx = u64::try_from(idx).map_err(|_| DbError::Corrupt("negative log size".into()))?;
    let body = String::from_utf8(entry.canonical()).map_err(|e| DbError::Corrupt(e.to_string()))?;
    sqlx::query("INSERT INTO log_entries (idx, kind, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(idx as i64)
        .bind(&entry.kind)
        .bind(&entry.subject)
        .bind(&body)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
    // The left siblings read in one statement and the new nodes written in one (at most 64 of
    // each): every round trip is a hand-off to SQLite's worker thread inside the write lock.
    let completed = completed_by(idx);
    let lefts: Vec<NodeId> = completed.iter().map(|(_, left, _)| *left).collect();
    let known = if lefts.is_empty() { HashMap::new() } else { nodes(conn, &lefts).await? };
    let mut cur = leaf_hash(body.as_bytes());
    let mut new = vec![((0, idx), cur)];
    for (parent, left, _right) in completed {
        let l = known.get(&left).ok_or_else(|| DbError::Corrupt(format!("log node {left:?} is missing")))?;
        cur = node_hash(l, &cur);
        new.push((parent, cur));
    }
    let sql = format!(
        "INSERT INTO log_nodes (level, idx, hash) VALUES {}",
        (0..new.len())
            .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for ((level, i), h) in &new {
        q = q.bind(i64::from(*level)).bind(*i as i64).bind(hex::encode(h));
    }
    q.execute(&mut *conn).await?;
    Ok(idx)
}

/// One stored entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntryRow {
    /// Index.
    pub idx: i64,
    /// Canonical JSON.
    pub body: String,
}

/// An entry with its type and subject (for filtering).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubjectRow {
    /// Index.
    pub idx: i64,
    /// `type`.
    pub kind: String,
    /// `subject`.
    pub subject: String,
    /// Canonical JSON.
    pub body: String,
}

impl Db {
    /// Entries with `after < idx <= last`, in index order, at most `limit`. With `prefix`, only
    /// entries of the model types (`entry::MODEL_TYPES`) whose subject starts with it (a narrowing:
    /// the caller still checks each subject).
    pub async fn log_entries_window(
        &self,
        after: i64,
        last: i64,
        prefix: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SubjectRow>, DbError> {
        let Some(prefix) = prefix else {
            return Ok(sqlx::query_as(
                "SELECT idx, kind, subject, body FROM log_entries WHERE idx > $1 AND idx <= $2 \
                 ORDER BY idx LIMIT $3",
            )
            .bind(after)
            .bind(last)
            .bind(limit)
            .fetch_all(self.pool())
            .await?);
        };
        // The types are this crate's constants (no quote in any), not input.
        let kinds: Vec<String> =
            registry_core::tlog::entry::MODEL_TYPES.iter().map(|k| format!("'{k}'")).collect();
        let sql = format!(
            "SELECT idx, kind, subject, body FROM log_entries WHERE idx > $1 AND idx <= $2 \
             AND kind IN ({}) AND subject LIKE $4 ESCAPE '\\' ORDER BY idx LIMIT $3",
            kinds.join(", ")
        );
        let like: String = prefix
            .chars()
            .flat_map(|c| if matches!(c, '\\' | '%' | '_') { vec!['\\', c] } else { vec![c] })
            .chain(std::iter::once('%'))
            .collect();
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(after)
            .bind(last)
            .bind(limit)
            .bind(like)
            .fetch_all(self.pool())
            .await?)
    }

    /// Entries committed so far.
    pub async fn log_size(&self) -> Result<u64, DbError> {
        let s: i64 =
            sqlx::query_scalar("SELECT size FROM log_head WHERE id = 1").fetch_one(self.pool()).await?;
        u64::try_from(s).map_err(|_| DbError::Corrupt("negative log size".into()))
    }

    /// The stored nodes `ids`, fetched in one query per 200.
    /// Upper nodes come from [`NodeCache`] when it holds them; the rest in one query per 200.
    pub async fn log_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, DbError> {
        let (mut out, missing) = self.nodes.split(ids);
        if !missing.is_empty() {
            let read = nodes(&mut *self.pool().acquire().await?, &missing).await?;
            self.nodes.keep(&read);
            out.extend(read);
        }
        Ok(out)
    }

    /// Entries `[start, end)`.
    pub async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<EntryRow>, DbError> {
        Ok(sqlx::query_as("SELECT idx, body FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
            .bind(start as i64)
            .bind(end as i64)
            .fetch_all(self.pool())
            .await?)
    }

    /// Indexes below `size` of every entry whose subject is `subject` (for a version: its creation,
    /// attestations, promotion decisions, quarantines, releases, corruption), in order.
    pub async fn log_indexes_about(&self, subject: &str, size: u64) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar("SELECT idx FROM log_entries WHERE subject = $1 AND idx < $2 ORDER BY idx")
            .bind(subject)
            .bind(size as i64)
            .fetch_all(self.pool())
            .await?)
    }

    /// One entry.
    pub async fn log_entry(&self, idx: u64) -> Result<EntryRow, DbError> {
        Ok(sqlx::query_as("SELECT idx, body FROM log_entries WHERE idx = $1")
            .bind(idx as i64)
            .fetch_one(self.pool())
            .await?)
    }

    /// The checkpoint signed for `size`, if any: (root hex, note).
    pub async fn checkpoint_get(&self, size: u64) -> Result<Option<(String, String)>, DbError> {
        Ok(sqlx::query_as("SELECT root, note FROM log_checkpoints WHERE size = $1")
            .bind(size as i64)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Records a signed checkpoint unless one exists for that size (the first one stays).
    pub async fn checkpoint_put(&self, size: u64, root: &Hash, note: &str) -> Result<(), DbError> {
        sqlx::query("INSERT INTO log_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING")
            .bind(size as i64)
            .bind(hex::encode(root))
            .bind(note)
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
