//! Rows of keyless trust: installed Sigstore trust roots and trusted workload identities.
use sqlx::AnyConnection;

use super::{Db, DbError};

/// An installed trust root.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrustRootRow {
    /// Its name.
    pub name: String,
    /// The `trusted_root.json` text, as installed.
    pub body: String,
    /// Hex SHA-256 of `body`.
    pub digest: String,
    /// Who installed it.
    pub added_by: String,
    /// Unix ms.
    pub added_at: i64,
}

/// A trusted identity.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdentityRow {
    /// Its id.
    pub id: i64,
    /// Namespace pattern.
    pub namespace: String,
    /// Exact OIDC issuer.
    pub issuer: String,
    /// Exact subject, or a pattern when `subject_regex` is 1.
    pub subject: String,
    /// 1: `subject` is a pattern.
    pub subject_regex: i64,
    /// JSON object of required claims.
    pub claims: String,
    /// The only root it is accepted through.
    pub trust_root: Option<String>,
    /// Who added it.
    pub added_by: String,
    /// Unix ms.
    pub added_at: i64,
    /// Unix ms.
    pub revoked_at: Option<i64>,
}

const ROOT: &str = "name, body, digest, added_by, added_at";
const IDENTITY: &str =
    "id, namespace, issuer, subject, subject_regex, claims, trust_root, added_by, added_at, revoked_at";

impl Db {
    /// Every installed trust root, by name.
    pub async fn trust_roots(&self) -> Result<Vec<TrustRootRow>, DbError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {ROOT} FROM trust_roots ORDER BY name")))
            .fetch_all(self.pool())
            .await?)
    }

    /// Every identity (revoked ones included), oldest first.
    pub async fn identities(&self) -> Result<Vec<IdentityRow>, DbError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {IDENTITY} FROM trusted_identities ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?)
    }
}

/// The root named `name`, in the caller's transaction.
pub async fn root(conn: &mut AnyConnection, name: &str) -> Result<Option<TrustRootRow>, DbError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {ROOT} FROM trust_roots WHERE name = $1")))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Installs `r`, replacing a root of the same name.
pub async fn root_put(conn: &mut AnyConnection, r: &TrustRootRow) -> Result<(), DbError> {
    sqlx::query("DELETE FROM trust_roots WHERE name = $1").bind(&r.name).execute(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO trust_roots (name, body, digest, added_by, added_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&r.name)
    .bind(&r.body)
    .bind(&r.digest)
    .bind(&r.added_by)
    .bind(r.added_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes root `name`; whether it was installed.
pub async fn root_remove(conn: &mut AnyConnection, name: &str) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM trust_roots WHERE name = $1").bind(name).execute(&mut *conn).await?;
    Ok(r.rows_affected() > 0)
}

/// Adds an identity (its `id` is ignored); returns its id.
pub async fn identity_add(conn: &mut AnyConnection, r: &IdentityRow) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO trusted_identities (namespace, issuer, subject, subject_regex, claims, trust_root, \
         added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&r.namespace)
    .bind(&r.issuer)
    .bind(&r.subject)
    .bind(r.subject_regex)
    .bind(&r.claims)
    .bind(&r.trust_root)
    .bind(&r.added_by)
    .bind(r.added_at)
    .fetch_one(&mut *conn)
    .await?)
}

/// Revokes identity `id` at `at`; whether it was active.
pub async fn identity_revoke(conn: &mut AnyConnection, id: i64, at: i64) -> Result<bool, DbError> {
    let r = sqlx::query("UPDATE trusted_identities SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// How many active identities are tied to root `name`.
pub async fn identities_tied(conn: &mut AnyConnection, name: &str) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM trusted_identities WHERE trust_root = $1 AND revoked_at IS NULL",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await?)
}
