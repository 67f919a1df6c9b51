//! Token management (admin API and `registry-server token ...`) and the first-start bootstrap token.
use std::path::{Path, PathBuf};

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
        DbError::Conflict => {
            ApiError::conflict(codes::TOKEN_EXISTS, format!("a token named {:?} exists", req.name))
        }
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
///
/// A generated token is written (0600, under a name of its own) before its row is committed and put
/// in place after, so a first start stopped anywhere never leaves a valid token nobody holds: either
/// no row (the next start makes a token) or a pending file the next start puts in place.
pub async fn bootstrap(
    db: &Db,
    data_dir: &Path,
    provided: Option<String>,
) -> anyhow::Result<Option<PathBuf>> {
    if db.tokens_count().await? > 0 {
        let finished = finish_pending(db, data_dir).await?;
        if finished.is_none() && provided.is_none() {
            warn_if_unheld(db, data_dir).await?;
        }
        return Ok(finished);
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
    let pending = data_dir.join(format!("{BOOTSTRAP_FILE}.{id}.pending"));
    if generated {
        std::fs::create_dir_all(data_dir)?;
        write_private(&pending, format!("{text}\n").as_bytes())?;
    }
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
    let inserted = db.token_insert(&row).await;
    if !generated {
        return match inserted {
            Ok(()) | Err(DbError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        };
    }
    match inserted {
        Ok(()) => {}
        Err(e) => {
            let _ = std::fs::remove_file(&pending);
            return match e {
                DbError::Conflict => Ok(None), // another replica bootstrapped first
                e => Err(e.into()),
            };
        }
    }
    let path = data_dir.join(BOOTSTRAP_FILE);
    put_in_place(&pending, &path)?;
    Ok(Some(path))
}

fn put_in_place(pending: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::rename(pending, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Puts in place a generated token whose row was committed by a start that stopped before the
/// file's rename; discards pending files whose token has no row (their start stopped earlier).
async fn finish_pending(db: &Db, data_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(data_dir) else { return Ok(None) };
    let prefix = format!("{BOOTSTRAP_FILE}.");
    let mut finished = None;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(&prefix) && name.ends_with(".pending")) {
            continue;
        }
        let text = std::fs::read_to_string(e.path())?;
        let hash = token::hash(text.trim());
        let held = db.tokens_list().await?.iter().any(|t| t.secret_hash == hash && t.revoked_at.is_none());
        let path = data_dir.join(BOOTSTRAP_FILE);
        if held && finished.is_none() && !path.exists() {
            put_in_place(&e.path(), &path)?;
            finished = Some(path);
        } else {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(finished)
}

/// Says how to recover when the only token is a generated bootstrap token whose file is missing (a
/// first start of an older version stopped between the row and the file).
async fn warn_if_unheld(db: &Db, data_dir: &Path) -> anyhow::Result<()> {
    let tokens = db.tokens_list().await?;
    let [only] = tokens.as_slice() else { return Ok(()) };
    let file = data_dir.join(BOOTSTRAP_FILE);
    if only.name == BOOTSTRAP_NAME && only.revoked_at.is_none() && !file.exists() {
        let how = format!(
            "the only admin token is {BOOTSTRAP_NAME} and {} does not exist; if nobody holds that token (a \
             first start stopped before writing it), create another with `registry-server token create --name \
             admin --scopes admin --namespace '*'`, then `registry-server token revoke {BOOTSTRAP_NAME}`",
            file.display()
        );
        tracing::warn!("{how}");
        eprintln!("registry-server: {how}");
    }
    Ok(())
}

pub use crate::service::keys::write_private;
