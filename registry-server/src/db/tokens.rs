//! Rows of `tokens`: public id, name, SHA-256 of the secret, scopes, namespace pattern, lifetime.
use registry_core::auth::{NamePattern, Scope, TokenInfo, parse_scopes};

use super::{Db, DbError, rfc3339};

/// A stored token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    /// Public id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Hex SHA-256 of the token text.
    pub secret_hash: String,
    /// Comma-separated scopes.
    pub scopes: String,
    /// Namespace pattern.
    pub namespace: String,
    /// Creator.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: Option<i64>,
    /// Unix ms.
    pub revoked_at: Option<i64>,
}

impl TokenRow {
    /// The public record.
    pub fn info(&self) -> Result<TokenInfo, DbError> {
        let scopes: Vec<Scope> =
            parse_scopes(&self.scopes).map_err(|e| DbError::Corrupt(format!("tokens.scopes: {e}")))?;
        let namespace = NamePattern::parse(&self.namespace)
            .map_err(|e| DbError::Corrupt(format!("tokens.namespace: {e}")))?;
        Ok(TokenInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            scopes,
            namespace,
            created_by: self.created_by.clone(),
            created_at: rfc3339(self.created_at),
            expires_at: self.expires_at.map(rfc3339),
            revoked_at: self.revoked_at.map(rfc3339),
        })
    }
}

const COLUMNS: &str =
    "id, name, secret_hash, scopes, namespace, created_by, created_at, expires_at, revoked_at";

impl Db {
    /// One token by public id.
    pub async fn token_get(&self, id: &str) -> Result<Option<TokenRow>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?)
    }

    /// Every token, newest first.
    pub async fn tokens_list(&self) -> Result<Vec<TokenRow>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM tokens ORDER BY created_at DESC, id");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(self.pool()).await?)
    }

    /// How many tokens exist (revoked included): zero means a fresh install.
    pub async fn tokens_count(&self) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tokens").fetch_one(self.pool()).await?)
    }

    /// Stores a token; `Conflict` if the name (or id) is taken.
    pub async fn token_insert(&self, row: &TokenRow) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO tokens (id, name, secret_hash, scopes, namespace, created_by, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.secret_hash)
        .bind(&row.scopes)
        .bind(&row.namespace)
        .bind(&row.created_by)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.revoked_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Revokes the one token with this id (`by_id`) or else this name; returns it (`NotFound` if
    /// none).
    pub async fn token_revoke(&self, key: &str, by_id: bool, now: i64) -> Result<TokenRow, DbError> {
        let column = if by_id { "id" } else { "name" };
        let sql = format!("UPDATE tokens SET revoked_at = $1 WHERE {column} = $2 AND revoked_at IS NULL");
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(key).execute(self.pool()).await?;
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE {column} = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(key).fetch_one(self.pool()).await?)
    }
}
