//! The transparency log: key, checkpoint, entries, proofs.
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use registry_core::api::{ConsistencyProof, ErrorBody, InclusionProof, LogEntries};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, need};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::service::log;
use crate::state::AppState;

fn b64(hashes: Vec<registry_core::tlog::Hash>) -> Vec<String> {
    hashes.iter().map(|h| base64::engine::general_purpose::STANDARD.encode(h)).collect()
}

/// The log's verifier key, `origin+keyid+base64key` (C2SP signed-note format). Pin it.
#[utoipa::path(get, path = "/v1/log/key", tag = "log",
    responses((status = 200, description = "The verifier key", body = String, content_type = "text/plain")))]
pub async fn log_key(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", state.log.vkey())).into_response()
}

/// The latest signed checkpoint (C2SP signed note: origin, size, base64 root).
#[utoipa::path(get, path = "/v1/log/checkpoint", tag = "log", security(("token" = ["read"])),
    responses(
        (status = 200, description = "Signed checkpoint", body = String, content_type = "text/plain"),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn checkpoint(
    State(state): State<AppState>,
    _actor: Auth<need::Read>,
) -> Result<Response, ApiError> {
    let (_, note) = log::checkpoint(&state.db, &state.log).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

/// `?start=&end=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    /// First index.
    #[param(minimum = 0)]
    start: u64,
    /// One past the last index; pages hold at most 1000 entries, so a longer range is cut to
    /// `start + 1000` (and to the log's size).
    #[param(minimum = 0)]
    end: u64,
}

/// Entries `[start, end)` with their exact bodies. The log names every model, so this needs a
/// credential that covers every namespace (`*`).
#[utoipa::path(get, path = "/v1/log/entries", tag = "log", security(("token" = ["read"])),
    params(EntriesQuery),
    responses(
        (status = 200, description = "Entries in index order: at most 1000, fewer at the end of the log, none when end <= start", body = LogEntries),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks read on *", body = ErrorBody)
    )
)]
pub async fn entries(
    State(state): State<AppState>,
    actor: Auth<need::Read>,
    ApiQuery(q): ApiQuery<EntriesQuery>,
) -> Result<Json<LogEntries>, ApiError> {
    log::check_reads_whole_log(&actor)?;
    let (start, end) = (int64(q.start, "start")?, int64(q.end, "end")?);
    Ok(Json(LogEntries { entries: log::entries(&state.db, start, end).await? }))
}

/// Log positions are int64 in the API (and the database); larger numbers are refused, not wrapped.
fn int64(v: u64, name: &str) -> Result<u64, ApiError> {
    if v > i64::MAX as u64 {
        return Err(ApiError::bad_request(
            registry_core::api::codes::BAD_REQUEST,
            format!("{name} is larger than the int64 maximum"),
        ));
    }
    Ok(v)
}

/// `?index=&tree_size=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The entry.
    #[param(minimum = 0)]
    index: u64,
    /// The tree size (at most the current size).
    #[param(minimum = 1)]
    tree_size: u64,
}

/// RFC 9162 inclusion proof of an entry in the tree of `tree_size` entries.
#[utoipa::path(get, path = "/v1/log/proofs/inclusion", tag = "log", security(("token" = ["read"])),
    params(InclusionQuery),
    responses(
        (status = 200, description = "The proof", body = InclusionProof),
        (status = 400, description = "index >= tree_size, or tree_size beyond the log", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn inclusion(
    State(state): State<AppState>,
    _actor: Auth<need::Read>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    let hashes =
        log::inclusion(&state.db, int64(q.index, "index")?, int64(q.tree_size, "tree_size")?).await?;
    Ok(Json(InclusionProof { index: q.index, tree_size: q.tree_size, hashes: b64(hashes) }))
}

/// `?from=&to=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older size.
    #[param(minimum = 0)]
    from: u64,
    /// The newer size (at most the current size).
    #[param(minimum = 0)]
    to: u64,
}

/// RFC 9162 consistency proof that the tree of `from` entries is a prefix of the tree of `to`.
#[utoipa::path(get, path = "/v1/log/proofs/consistency", tag = "log", security(("token" = ["read"])),
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProof),
        (status = 400, description = "from > to, or to beyond the log", body = ErrorBody),
        (status = 401, description = "No or bad credentials", body = ErrorBody),
        (status = 403, description = "Credential lacks the read scope", body = ErrorBody)
    )
)]
pub async fn consistency(
    State(state): State<AppState>,
    _actor: Auth<need::Read>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let hashes = log::consistency(&state.db, int64(q.from, "from")?, int64(q.to, "to")?).await?;
    Ok(Json(ConsistencyProof { from: q.from, to: q.to, hashes: b64(hashes) }))
}
