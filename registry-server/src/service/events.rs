//! The pull feed (`GET /v1/events`, docs/events.md): the log entries a caller may see, in log order,
//! for SIEMs and scripts that poll. Each event is a log entry's exact bytes and index, so it can be
//! checked against a signed checkpoint like any other.
use registry_core::ModelName;
use registry_core::api::{EventsPage, LogEntryItem, codes};
use registry_core::auth::NamePattern;
use registry_core::tlog::entry::{self, MODEL_TYPES};

use crate::auth::Actor;
use crate::error::ApiError;
use crate::service::incident;
use crate::state::AppState;

/// Most events one page holds.
pub const MAX_PAGE: u64 = 1000;
/// Most log entries one request looks at: a caller who may see few of them still gets an answer in
/// bounded time, and its `next_after` moves on past what it was not shown.
pub const SCAN_WINDOW: i64 = 10_000;

/// Whether `actor` may see the entry of type `kind` about `subject`: every entry for a credential
/// covering `*`; otherwise only entries of the model types whose model it covers.
pub fn visible(actor: &Actor, kind: &str, subject: &str) -> bool {
    visible_to(&actor.pattern, kind, subject)
}

/// [`visible`] for a namespace pattern (a credential's, or a webhook subscription's).
pub fn visible_to(pattern: &NamePattern, kind: &str, subject: &str) -> bool {
    if pattern.is_any() {
        return true;
    }
    if !MODEL_TYPES.contains(&kind) {
        return false;
    }
    model_of(subject).is_some_and(|m| pattern.matches(&m))
}

/// Whether `pattern` may see an entry [`visible_to`] lets through, as far as quarantines go: a
/// `version.quarantined` entry names the seed, the reason and the path from the seed, and a
/// `version.released` entry the reason the quarantine was lifted; the seed may be another namespace's
/// data, so these go to a credential that sees the seed (the rule of `GET /v1/quarantines`,
/// `incident::redact`). Entries are served as logged (their bytes are what checkpoints sign), so the
/// entry is left out rather than masked. (The rollbacks a quarantine makes name only its number.)
pub async fn quarantine_visible(
    state: &AppState,
    pattern: &NamePattern,
    kind: &str,
    body: &str,
) -> Result<bool, ApiError> {
    if pattern.is_any() || !matches!(kind, entry::VERSION_QUARANTINED | entry::VERSION_RELEASED) {
        return Ok(true);
    }
    let v: serde_json::Value = serde_json::from_str(body).map_err(ApiError::internal)?;
    if kind == entry::VERSION_QUARANTINED {
        let seed = v["seed"].as_str().unwrap_or_default();
        let path: Vec<String> = serde_json::from_value(v["path"].clone()).unwrap_or_default();
        return Ok(!path.is_empty() && incident::seed_shown_through(pattern, seed, &path));
    }
    let Some(id) = v["quarantine"].as_i64() else { return Ok(false) };
    match incident::get(state, id).await {
        Ok(q) => Ok(incident::seed_shown(pattern, &q)),
        Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => Ok(false),
        Err(e) => Err(e),
    }
}

/// The model an entry's subject names (`NS/NAME` or `NS/NAME@VERSION`), if it names one.
pub fn model_of(subject: &str) -> Option<ModelName> {
    let model = subject.split_once('@').map_or(subject, |(m, _)| m);
    ModelName::parse(model).ok()
}

/// The entries after index `after` (`-1`: from the start) that `actor` may see, at most `limit`.
pub async fn page(state: &AppState, actor: &Actor, after: i64, limit: u64) -> Result<EventsPage, ApiError> {
    if after < -1 {
        return Err(ApiError::bad_request(codes::BAD_REQUEST, "after must be -1 or a log index"));
    }
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(codes::BAD_REQUEST, format!("limit must be 1 to {MAX_PAGE}")));
    }
    // Entries below the size read here are committed (the size moves in the transaction that appends).
    let size = i64::try_from(state.db.log_size().await?).map_err(ApiError::internal)?;
    let last = after.saturating_add(SCAN_WINDOW).min(size - 1);
    if last <= after {
        return Ok(EventsPage { events: Vec::new(), next_after: after });
    }
    let prefix = match (actor.pattern.namespace(), actor.pattern.name()) {
        (None, _) => None,
        (Some(ns), None) => Some(format!("{ns}/")),
        (Some(ns), Some(name)) => Some(format!("{ns}/{name}")),
    };
    let limit = i64::try_from(limit).map_err(ApiError::internal)?;
    let rows = state.db.log_entries_window(after, last, prefix.as_deref(), limit).await?;
    let full = rows.len() as i64 == limit;
    let next_after = match rows.last() {
        Some(r) if full => r.idx,
        _ => last,
    };
    let mut events = Vec::new();
    for r in rows {
        if visible(actor, &r.kind, &r.subject)
            && quarantine_visible(state, &actor.pattern, &r.kind, &r.body).await?
        {
            events.push(LogEntryItem { index: r.idx.max(0) as u64, body: r.body });
        }
    }
    Ok(EventsPage { events, next_after })
}
