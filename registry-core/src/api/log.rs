//! Transparency-log wire types (`/v1/log/...`): entries and RFC 9162 proofs.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Largest page of `GET /v1/log/entries`.
pub const MAX_LOG_PAGE: u64 = 1000;

/// One log entry: its index and its exact canonical JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogEntryItem {
    /// Index in the log.
    pub index: u64,
    /// The canonical JSON whose leaf hash is in the tree.
    pub body: String,
}

/// `GET /v1/events`: the log entries a caller may see, in log order, for SIEMs that poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventsPage {
    /// Entries with an index above the request's `after` that the caller may see, in index order
    /// (each verifiable like any log entry: `/v1/log/proofs/inclusion`).
    pub events: Vec<LogEntryItem>,
    /// The `after` of the next request: the last index this page looked at, seen or not (the
    /// request's own `after` when nothing new was there).
    pub next_after: i64,
}

/// `GET /v1/log/entries`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogEntries {
    /// In index order.
    pub entries: Vec<LogEntryItem>,
}

/// `GET /v1/log/proofs/inclusion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    /// The entry.
    pub index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// RFC 9162 proof hashes, base64.
    pub hashes: Vec<String>,
}

/// `GET /v1/log/proofs/consistency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// RFC 9162 proof hashes, base64.
    pub hashes: Vec<String>,
}
