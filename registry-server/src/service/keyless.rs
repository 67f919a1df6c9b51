//! Keyless trust, administered: Sigstore trust roots (installed `trusted_root.json` files) and the
//! workload identities trusted to sign attestations of a namespace pattern. The rules an identity is
//! checked by are `registry_core::keyless`'s (the client applies the same ones); every change is a
//! log entry, written under the global write lock.

use registry_core::Digest;
use registry_core::api::{AddIdentityRequest, TrustRootInfo, TrustedIdentityInfo, codes};
use registry_core::auth::NamePattern;
use std::collections::HashMap;
use std::sync::Arc;

use registry_core::ModelName;
use registry_core::keyless::{Signer, SubjectMatch, TrustRoot, TrustedIdentity};
use registry_core::tlog::entry;
use serde_json::json;

use crate::db::keyless::{self as kdb, IdentityRow, TrustRootRow};
use crate::db::{Db, DbError, now_ms, rfc3339};
use crate::error::ApiError;
use crate::service::log;

/// Parsed keyless trust: roots by name and digest (parsing a root and preparing its keys costs
/// milliseconds, and roots change rarely) and compiled subject patterns by their text. Entries no
/// longer in use are dropped on the next read.
#[derive(Debug, Default)]
pub struct RootCache {
    roots: std::sync::Mutex<HashMap<(String, String), Arc<TrustRoot>>>,
    patterns: std::sync::Mutex<HashMap<String, SubjectMatch>>,
}

impl RootCache {
    fn parsed(&self, rows: &[TrustRootRow]) -> Result<Vec<Arc<TrustRoot>>, ApiError> {
        let mut cache = self.roots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|(name, digest), _| rows.iter().any(|r| &r.name == name && &r.digest == digest));
        rows.iter()
            .map(|r| {
                let key = (r.name.clone(), r.digest.clone());
                if let Some(root) = cache.get(&key) {
                    return Ok(root.clone());
                }
                let root = Arc::new(
                    TrustRoot::from_json(&r.name, &r.body).map_err(|e| corrupt("trust_roots.body", e))?,
                );
                cache.insert(key, root.clone());
                Ok(root)
            })
            .collect()
    }
}

/// The keyless trust of one model: the installed roots, the active identities whose namespace
/// pattern covers it, and the revoked ones (to tell "revoked" from "never trusted").
#[derive(Debug, Default)]
pub struct KeylessTrust {
    /// Every installed root.
    pub roots: Vec<Arc<TrustRoot>>,
    /// Active identities for the model.
    pub identities: Vec<TrustedIdentity>,
    /// Revoked identities for the model.
    pub revoked: Vec<TrustedIdentity>,
}

impl KeylessTrust {
    /// Whether `signer`, proven through root `root`, is trusted now (`Some(true)`), was trusted by an
    /// identity since revoked (`Some(false)`), or never (`None`).
    pub fn judge(&self, signer: &Signer, root: &str) -> Option<bool> {
        let installed = self.roots.iter().any(|r| r.name() == root);
        if installed && self.identities.iter().any(|i| i.matches(signer, root)) {
            Some(true)
        } else if self.revoked.iter().any(|i| i.matches(signer, root)) {
            Some(false)
        } else {
            None
        }
    }
}

/// The rule an identity row states (patterns compiled once, from `cache`).
fn rule(r: &IdentityRow, cache: &RootCache) -> Result<TrustedIdentity, ApiError> {
    let subject = if r.subject_regex != 0 {
        let mut patterns = cache.patterns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match patterns.get(&r.subject) {
            Some(m) => m.clone(),
            None => {
                let m =
                    SubjectMatch::regex(&r.subject).map_err(|e| corrupt("trusted_identities.subject", e))?;
                if patterns.len() >= 4096 {
                    patterns.clear(); // bounded: identities are admin-made and few
                }
                patterns.insert(r.subject.clone(), m.clone());
                m
            }
        }
    } else {
        SubjectMatch::Exact(r.subject.clone())
    };
    let claims = serde_json::from_str(&r.claims).map_err(|e| corrupt("trusted_identities.claims", e))?;
    TrustedIdentity::new(&r.issuer, subject, claims, r.trust_root.clone())
        .map_err(|e| corrupt("trusted_identities", e))
}

/// [`KeylessTrust`] of `model` now.
pub async fn trust_for(state: &crate::state::AppState, model: &ModelName) -> Result<KeylessTrust, ApiError> {
    let rows = state.db.identities().await?;
    let mut out = KeylessTrust::default();
    for r in &rows {
        let pattern =
            NamePattern::parse(&r.namespace).map_err(|e| corrupt("trusted_identities.namespace", e))?;
        if !pattern.matches(model) {
            continue;
        }
        let rule = rule(r, &state.trust_roots)?;
        if r.revoked_at.is_some() { out.revoked.push(rule) } else { out.identities.push(rule) }
    }
    // Roots are only parsed when some identity could use them.
    if !out.identities.is_empty() || !out.revoked.is_empty() {
        out.roots = state.trust_roots.parsed(&state.db.trust_roots().await?)?;
    }
    Ok(out)
}

/// Largest `trusted_root.json` accepted (the public-good one is ~10 KiB).
pub const MAX_TRUST_ROOT_SIZE: usize = 1024 * 1024;
/// Bounds of an identity rule.
const MAX_ISSUER: usize = 1024;
const MAX_SUBJECT: usize = 4096;
const MAX_PATTERN: usize = 1024;
const MAX_CLAIMS: usize = 32;
const MAX_CLAIM_VALUE: usize = 1024;

fn corrupt(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(DbError::Corrupt(format!("{what}: {e}")))
}

fn bad_root(m: impl Into<String>) -> ApiError {
    ApiError::bad_request(codes::INVALID_TRUST_ROOT, m)
}

fn bad_identity(m: impl Into<String>) -> ApiError {
    ApiError::bad_request(codes::INVALID_IDENTITY, m)
}

/// A root's name: what identities and log entries call it.
pub fn check_root_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(bad_root(format!("trust root name {name:?}: 1-64 of a-z 0-9 . _ -, starting alphanumeric")))
    }
}

fn root_info(r: &TrustRootRow) -> Result<TrustRootInfo, ApiError> {
    Ok(TrustRootInfo {
        name: r.name.clone(),
        digest: Digest::from_hex(&r.digest).map_err(|e| corrupt("trust_roots.digest", e))?,
        added_by: r.added_by.clone(),
        added_at: rfc3339(r.added_at),
    })
}

/// Every installed root.
pub async fn list_roots(db: &Db) -> Result<Vec<TrustRootInfo>, ApiError> {
    db.trust_roots().await?.iter().map(root_info).collect()
}

/// Installs `body` (a `trusted_root.json`, its exact bytes) as `name`, replacing a root of that name.
/// Returns it and whether anything changed (the same bytes again change nothing and log nothing).
pub async fn put_root(
    db: &Db,
    actor: &str,
    name: &str,
    body: &[u8],
) -> Result<(TrustRootInfo, bool), ApiError> {
    check_root_name(name)?;
    if body.len() > MAX_TRUST_ROOT_SIZE {
        return Err(ApiError::too_large(format!("trust root larger than {MAX_TRUST_ROOT_SIZE} bytes")));
    }
    let text = std::str::from_utf8(body).map_err(|_| bad_root("a trust root is UTF-8 JSON"))?;
    TrustRoot::from_json(name, text).map_err(|e| bad_root(e.to_string()))?;
    let digest = Digest::of(body);
    let row = TrustRootRow {
        name: name.to_owned(),
        body: text.to_owned(),
        digest: digest.hex(),
        added_by: actor.to_owned(),
        added_at: now_ms(),
    };
    let mut tx = db.begin_logged().await?;
    let before = kdb::root(&mut tx, name).await?;
    if let Some(b) = before.as_ref().filter(|b| b.digest == row.digest) {
        return Ok((root_info(b)?, false));
    }
    kdb::root_put(&mut tx, &row).await?;
    let mut details = vec![("digest", json!(digest.to_string()))];
    if let Some(b) = &before {
        details.push(("replaces", json!(format!("sha256:{}", b.digest))));
    }
    crate::db::log::append(&mut tx, &log::entry(entry::TRUST_ROOT_ADDED, name, actor, &details)).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok((root_info(&row)?, true))
}

/// Removes root `name` (404 if not installed). Identities tied to it match nothing until a root of
/// that name is installed again.
pub async fn remove_root(db: &Db, actor: &str, name: &str) -> Result<(), ApiError> {
    check_root_name(name)?;
    let mut tx = db.begin_logged().await?;
    let Some(before) = kdb::root(&mut tx, name).await? else {
        return Err(ApiError::not_found(format!("no trust root named {name}")));
    };
    // Identities tied to it would otherwise follow whatever file is next installed under the name.
    let tied = kdb::identities_tied(&mut tx, name).await?;
    if tied > 0 {
        return Err(ApiError::conflict(
            codes::TRUST_ROOT_IN_USE,
            format!("{tied} active identities are tied to trust root {name}: revoke them first"),
        ));
    }
    kdb::root_remove(&mut tx, name).await?;
    let e = log::entry(
        entry::TRUST_ROOT_REMOVED,
        name,
        actor,
        &[("digest", json!(format!("sha256:{}", before.digest)))],
    );
    crate::db::log::append(&mut tx, &e).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// `identity-<n>`.
pub fn identity_id(n: i64) -> String {
    format!("identity-{n}")
}

/// The number of `identity-<n>`.
pub fn parse_identity_id(s: &str) -> Result<i64, ApiError> {
    // Canonical only (`identity-5`, not `identity-05` or `identity-+5`): log entries name it.
    s.strip_prefix("identity-")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0 && identity_id(*n) == s)
        .ok_or_else(|| {
            ApiError::bad_request(codes::BAD_REQUEST, format!("{s:?} is not an identity id (identity-<n>)"))
        })
}

fn identity_info(r: &IdentityRow) -> Result<TrustedIdentityInfo, ApiError> {
    let (subject, subject_regex) =
        if r.subject_regex != 0 { (None, Some(r.subject.clone())) } else { (Some(r.subject.clone()), None) };
    Ok(TrustedIdentityInfo {
        id: identity_id(r.id),
        namespace: NamePattern::parse(&r.namespace)
            .map_err(|e| corrupt("trusted_identities.namespace", e))?,
        issuer: r.issuer.clone(),
        subject,
        subject_regex,
        claims: serde_json::from_str(&r.claims).map_err(|e| corrupt("trusted_identities.claims", e))?,
        trust_root: r.trust_root.clone(),
        added_by: r.added_by.clone(),
        added_at: rfc3339(r.added_at),
        revoked_at: r.revoked_at.map(rfc3339),
    })
}

/// Every identity, revoked ones included.
pub async fn list_identities(db: &Db) -> Result<Vec<TrustedIdentityInfo>, ApiError> {
    db.identities().await?.iter().map(identity_info).collect()
}

/// Checks an identity request against the rules and bounds; returns the row to store.
fn checked(actor: &str, req: &AddIdentityRequest) -> Result<IdentityRow, ApiError> {
    let issuer = req.issuer.as_str();
    if issuer.is_empty() || issuer.len() > MAX_ISSUER || issuer.chars().any(char::is_whitespace) {
        return Err(bad_identity(format!("issuer: a URL of 1-{MAX_ISSUER} bytes without spaces")));
    }
    let (subject, regex) = match (&req.subject, &req.subject_regex) {
        (Some(s), None) if !s.is_empty() && s.len() <= MAX_SUBJECT => (SubjectMatch::Exact(s.clone()), false),
        (None, Some(p)) if !p.is_empty() && p.len() <= MAX_PATTERN => {
            (SubjectMatch::regex(p).map_err(|e| bad_identity(e.to_string()))?, true)
        }
        (Some(_), Some(_)) | (None, None) => {
            return Err(bad_identity("give exactly one of subject and subject_regex"));
        }
        _ => {
            return Err(bad_identity(format!(
                "subject: 1-{MAX_SUBJECT} bytes; subject_regex: 1-{MAX_PATTERN} bytes"
            )));
        }
    };
    if req.claims.len() > MAX_CLAIMS || req.claims.values().any(|v| v.is_empty() || v.len() > MAX_CLAIM_VALUE)
    {
        return Err(bad_identity(format!(
            "claims: at most {MAX_CLAIMS}, each value 1-{MAX_CLAIM_VALUE} bytes"
        )));
    }
    if let Some(r) = &req.trust_root {
        check_root_name(r).map_err(|e| bad_identity(e.message().to_owned()))?;
    }
    let subject_text = match &subject {
        SubjectMatch::Exact(s) | SubjectMatch::Regex(s, _) => s.clone(),
    };
    TrustedIdentity::new(issuer, subject, req.claims.clone(), req.trust_root.clone())
        .map_err(|e| bad_identity(e.to_string()))?;
    Ok(IdentityRow {
        id: 0,
        namespace: req.namespace.to_string(),
        issuer: issuer.to_owned(),
        subject: subject_text,
        subject_regex: i64::from(regex),
        claims: serde_json::to_string(&req.claims).map_err(ApiError::internal)?,
        trust_root: req.trust_root.clone(),
        added_by: actor.to_owned(),
        added_at: now_ms(),
        revoked_at: None,
    })
}

/// Trusts an identity for a namespace pattern. A `trust_root` must be installed.
pub async fn add_identity(
    db: &Db,
    actor: &str,
    req: &AddIdentityRequest,
) -> Result<TrustedIdentityInfo, ApiError> {
    let mut row = checked(actor, req)?;
    let mut tx = db.begin_logged().await?;
    if let Some(r) = &row.trust_root
        && kdb::root(&mut tx, r).await?.is_none()
    {
        return Err(bad_identity(format!("no trust root named {r} is installed")));
    }
    row.id = kdb::identity_add(&mut tx, &row).await?;
    let info = identity_info(&row)?;
    let e = log::entry(
        entry::IDENTITY_TRUSTED,
        &info.id,
        actor,
        &[
            ("namespace", json!(info.namespace.to_string())),
            ("issuer", json!(info.issuer)),
            ("certificate_subject", json!(info.subject)),
            ("certificate_subject_regex", json!(info.subject_regex)),
            ("claims", json!(info.claims)),
            ("trust_root", json!(info.trust_root)),
        ],
    );
    crate::db::log::append(&mut tx, &e).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(info)
}

/// Revokes identity `id` (`identity-<n>`); 404 if it is not active.
pub async fn revoke_identity(db: &Db, actor: &str, id: &str) -> Result<(), ApiError> {
    let n = parse_identity_id(id)?;
    let mut tx = db.begin_logged().await?;
    if !kdb::identity_revoke(&mut tx, n, now_ms()).await? {
        return Err(ApiError::not_found(format!("no active identity {id}")));
    }
    crate::db::log::append(&mut tx, &log::entry(entry::IDENTITY_REVOKED, id, actor, &[])).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}
