//! Rows of `access_audit`: who downloaded what, when. Not the transparency log (reads are not state
//! changes), but written before the bytes go out, so a failed write fails the download.
use super::{Db, DbError};

/// One access.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    /// Sequence.
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What kind of access (`blob.download`, `bundle.download`).
    pub action: String,
    /// What (a digest, or `NS/NAME@VERSION`).
    pub target: String,
}

/// Filters of [`Db::audit_list`].
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this target.
    pub target: Option<String>,
    /// From this time (unix ms, inclusive).
    pub since: Option<i64>,
    /// Only ids below this (the page cursor).
    pub before: Option<i64>,
}

impl Db {
    /// Records one access. The row goes through the group commit ([`Db::grouped`]): the records of
    /// downloads served meanwhile (a pull fetches several files at once) share one transaction and one
    /// disk flush, and none is answered before that commit.
    pub async fn audit_insert(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        target: &str,
    ) -> Result<(), DbError> {
        let (actor, action, target) = (actor.to_owned(), action.to_owned(), target.to_owned());
        self.grouped(move |mut tx| async move {
            let r =
                sqlx::query("INSERT INTO access_audit (at, actor, action, target) VALUES ($1, $2, $3, $4)")
                    .bind(at)
                    .bind(actor)
                    .bind(action)
                    .bind(target)
                    .execute(&mut *tx)
                    .await
                    .map(drop)
                    .map_err(DbError::from);
            (tx, r)
        })
        .await
    }

    /// Accesses, newest first.
    pub async fn audit_list(&self, f: &AuditFilter, limit: u32) -> Result<Vec<AuditRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, action, target FROM access_audit \
             WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR target = $2) AND at >= $3 AND id < $4 \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(f.actor.clone())
        .bind(f.target.clone())
        .bind(f.since.unwrap_or(0))
        .bind(f.before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?)
    }
}
