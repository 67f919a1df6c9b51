//! The transparency log as a service: the signing key, checkpoints (one root per size, ever), proofs,
//! and the entries every state change appends in its own transaction.
use std::collections::BTreeMap;

use registry_core::api::{LogEntryItem, MAX_LOG_PAGE};
use registry_core::tlog::entry::LogEntry;
use registry_core::tlog::note::Checkpoint;
use registry_core::tlog::{self, Hash};
use serde_json::Value;

use crate::db::{Db, DbError, rfc3339};
use crate::error::ApiError;

pub use crate::service::keys::LogKey;

/// A log entry of `kind` about `subject` by `actor`, now.
pub fn entry(kind: &str, subject: &str, actor: &str, details: &[(&str, Value)]) -> LogEntry {
    LogEntry {
        kind: kind.into(),
        subject: subject.into(),
        actor: actor.into(),
        time: rfc3339(crate::db::now_ms()),
        details: details.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect::<BTreeMap<_, _>>(),
    }
}

fn corrupt(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(DbError::Corrupt(e.to_string()))
}

/// The root of the first `size` entries, from O(log size) stored nodes.
pub async fn root_at(db: &Db, size: u64) -> Result<Hash, ApiError> {
    if size == 0 {
        return Ok(tlog::empty_root());
    }
    let ids = tlog::range_nodes(0, size);
    let nodes = db.log_nodes(&ids).await?;
    let hashes = ids
        .iter()
        .map(|id| nodes.get(id).copied().ok_or_else(|| corrupt(format!("log node {id:?} missing"))))
        .collect::<Result<Vec<_>, _>>()?;
    tlog::fold(&hashes).ok_or_else(|| corrupt("empty fold"))
}

/// The signed checkpoint of the log as it is now. A size is signed once: if the stored checkpoint
/// of this size names another root, the tree was changed behind the server's back and nothing is
/// signed (500, logged).
pub async fn checkpoint(db: &Db, key: &LogKey) -> Result<(Checkpoint, String), ApiError> {
    let size = db.log_size().await?;
    let root = root_at(db, size).await?;
    if let Some((stored_root, note)) = db.checkpoint_get(size).await? {
        if stored_root != hex::encode(root) {
            return Err(corrupt(format!(
                "log root at size {size} differs from the root signed before: refusing to sign"
            )));
        }
        return Ok((Checkpoint { origin: key.origin().into(), size, root }, note));
    }
    let cp = Checkpoint { origin: key.origin().into(), size, root };
    let note = key.sign(&cp.to_text()).await.map_err(|e| e.to_api())?;
    db.checkpoint_put(size, &root, &note).await?;
    // Another replica may have signed this size first; serve what is stored.
    let (stored_root, stored) =
        db.checkpoint_get(size).await?.ok_or_else(|| corrupt("checkpoint vanished"))?;
    if stored_root != hex::encode(root) {
        return Err(corrupt(format!("log root at size {size} differs between replicas")));
    }
    Ok((cp, stored))
}

fn bad(m: String) -> ApiError {
    ApiError::bad_request(registry_core::api::codes::BAD_REQUEST, m)
}

/// Proof hashes for `ranges`, from one batched node read.
async fn proof(db: &Db, ranges: &[(u64, u64)]) -> Result<Vec<Hash>, ApiError> {
    let nodes = db.log_nodes(&tlog::nodes_needed(ranges)).await?;
    tlog::proof_from(ranges, |id| {
        nodes.get(&id).copied().ok_or_else(|| corrupt(format!("log node {id:?} missing")))
    })
}

/// Inclusion proof of entry `index` in the tree of `size` (which must exist already).
pub async fn inclusion(db: &Db, index: u64, size: u64) -> Result<Vec<Hash>, ApiError> {
    let now = db.log_size().await?;
    if size > now || index >= size {
        return Err(bad(format!("need index < tree_size <= {now} (got index {index}, tree_size {size})")));
    }
    proof(db, &tlog::inclusion_ranges(index, size)).await
}

/// Consistency proof from the tree of `from` entries to the tree of `to`.
pub async fn consistency(db: &Db, from: u64, to: u64) -> Result<Vec<Hash>, ApiError> {
    let now = db.log_size().await?;
    if from > to || to > now {
        return Err(bad(format!("need from <= to <= {now} (got from {from}, to {to})")));
    }
    proof(db, &tlog::consistency_ranges(from, to)).await
}

/// Entries `[start, end)` with their exact bodies; a page holds at most `MAX_LOG_PAGE` entries, so a
/// longer (or empty) range is clamped, not refused, and a reader continues from the last index it got.
pub async fn entries(db: &Db, start: u64, end: u64) -> Result<Vec<LogEntryItem>, ApiError> {
    let end = end.min(start.saturating_add(MAX_LOG_PAGE));
    let rows = if end <= start { Vec::new() } else { db.log_entries(start, end).await? };
    Ok(rows.into_iter().map(|r| LogEntryItem { index: r.idx.max(0) as u64, body: r.body }).collect())
}

/// Reading log entries (their bodies name every model) needs a credential that covers every
/// namespace (`*`); 403 otherwise. `/v1/log/entries` and the web UI's log pages ask this.
pub fn check_reads_whole_log(actor: &crate::auth::Actor) -> Result<(), ApiError> {
    if actor.pattern.is_any() {
        Ok(())
    } else {
        Err(ApiError::forbidden("reading the whole log needs a credential that covers every namespace (*)"))
    }
}
