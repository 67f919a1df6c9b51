//! Token management (admin API and `registry-server token ...`) and the first-start bootstrap token.
use std::io::Write;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use registry_core::api::codes;
use registry_core::auth::{CreateTokenRequest, CreatedToken, NamePattern, Scope, TokenInfo};

use crate::auth::{Actor, token};
use crate::db::tokens::TokenRow;
use crate::db::{Db, DbError, now_ms};
use crate::error::ApiError;

/// Name of the token made at first start.
pub const BOOTSTRAP_NAME: &str = "bootstrap-admin";
/// File (in the data directory) that receives a generated bootstrap token, mode 0600.
pub const BOOTSTRAP_FILE: &str = "bootstrap-admin.token";

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    (1..=64).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
        && !token::is_id(n)
}

/// Parses an RFC 3339 time into unix ms.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("invalid time {s:?} (RFC 3339, e.g. 2027-01-31T00:00:00Z): {e}"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("time {s:?} out of range"))
}

/// Creates a token; the secret is in the answer and nowhere else.
pub async fn create(db: &Db, actor: &Actor, req: CreateTokenRequest) -> Result<CreatedToken, ApiError> {
    if !valid_name(&req.name) {
        return Err(ApiError::bad_request(
            codes::INVALID_NAME,
            format!(
                "invalid token name {:?}: use [a-z0-9][a-z0-9._-], at most 64, and not 12 hex digits \
                 (that is what token ids look like)",
                crate::clip(&req.name, 80)
            ),
        ));
    }
    if req.scopes.is_empty() {
        return Err(ApiError::bad_request(codes::BAD_REQUEST, "a token needs at least one scope"));
    }
    let now = now_ms();
    let expires_at = match &req.expires_at {
        Some(s) => {
            let t = parse_time(s).map_err(|e| ApiError::bad_request(codes::BAD_REQUEST, e))?;
            if t <= now {
                return Err(ApiError::bad_request(codes::BAD_REQUEST, "expires_at is in the past"));
            }
            Some(t)
        }
        None => None,
    };
    let mut scopes = req.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let new = token::generate().map_err(ApiError::internal)?;
    let row = TokenRow {
        id: new.id.clone(),
        name: req.name.clone(),
        secret_hash: token::hash(&new.text),
        scopes: scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
        namespace: req.namespace.to_string(),
        created_by: actor.id.clone(),
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    db.token_insert(&row).await.map_err(|e| match e {
        DbError::Conflict => ApiError::new(
            StatusCode::CONFLICT,
            codes::TOKEN_EXISTS,
            format!("a token named {:?} exists", req.name),
        ),
        e => e.into(),
    })?;
    Ok(CreatedToken { info: row.info()?, token: new.text })
}

/// Every token's public record.
pub async fn list(db: &Db) -> Result<Vec<TokenInfo>, ApiError> {
    db.tokens_list().await?.iter().map(|r| r.info().map_err(ApiError::from)).collect()
}

/// Revokes by id (when the text is shaped like one: 12 hex digits) or else by name — never both, so
/// a name cannot stand in for another token's id.
pub async fn revoke(db: &Db, id_or_name: &str) -> Result<TokenInfo, ApiError> {
    let by_id = token::is_id(id_or_name);
    let row = db.token_revoke(id_or_name, by_id, now_ms()).await.map_err(|e| match e {
        DbError::NotFound => ApiError::not_found(format!("token {id_or_name:?} not found")),
        e => e.into(),
    })?;
    Ok(row.info()?)
}

/// On a fresh install (no token at all), creates the admin token: `provided` if given (from
/// `REGISTRY_BOOTSTRAP_TOKEN` or `--bootstrap-token-file`), else a new one written to
/// `DATA_DIR/bootstrap-admin.token` (0600). Returns the file written, if any.
pub async fn bootstrap(
    db: &Db,
    data_dir: &Path,
    provided: Option<String>,
) -> anyhow::Result<Option<PathBuf>> {
    if db.tokens_count().await? > 0 {
        return Ok(None);
    }
    let (id, text, generated) = match provided {
        Some(t) => {
            let id = token::id_of(&t)
                .ok_or_else(|| {
                    anyhow::anyhow!("the bootstrap token must look like reg_<12 hex>_<43 base64url>")
                })?
                .to_owned();
            (id, t, false)
        }
        None => {
            let n = token::generate()?;
            (n.id, n.text, true)
        }
    };
    let row = TokenRow {
        id,
        name: BOOTSTRAP_NAME.into(),
        secret_hash: token::hash(&text),
        scopes: Scope::Admin.as_str().into(),
        namespace: NamePattern::any().to_string(),
        created_by: "bootstrap".into(),
        created_at: now_ms(),
        expires_at: None,
        revoked_at: None,
    };
    match db.token_insert(&row).await {
        Ok(()) => {}
        Err(DbError::Conflict) => return Ok(None), // another replica bootstrapped first
        Err(e) => return Err(e.into()),
    }
    if !generated {
        return Ok(None);
    }
    let path = data_dir.join(BOOTSTRAP_FILE);
    std::fs::create_dir_all(data_dir)?;
    write_private(&path, format!("{text}\n").as_bytes())?;
    Ok(Some(path))
}

/// Writes a file readable by its owner only (created 0600, never widened).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
