//! Rows of the `models` table.
use registry_core::ModelName;
use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;

use super::versions::version_count_of_m;
use super::{Db, DbError};

/// A model with its version count and newest version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ModelRow {
    /// Internal id.
    pub id: i64,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Creator.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Number of versions.
    pub version_count: i64,
    /// Newest version label.
    pub latest_version: Option<String>,
}

const SELECT: &str = concat!(
    "SELECT m.id, m.namespace, m.name, m.created_by, m.created_at, ",
    version_count_of_m!(),
    " AS version_count, \
     (SELECT v.version FROM versions v WHERE v.model_id = m.id ORDER BY v.id DESC LIMIT 1) AS latest_version \
     FROM models m"
);

/// Filters and position for [`Db::models_list`].
#[derive(Debug, Default, Clone)]
pub struct ModelFilter {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this exact name.
    pub name: Option<String>,
    /// Only names starting with this.
    pub name_prefix: Option<String>,
    /// Only models after this `(namespace, name)` (the page cursor).
    pub after: Option<(String, String)>,
}

impl Db {
    /// One model.
    pub async fn model_get(&self, m: &ModelName) -> Result<ModelRow, DbError> {
        let sql = format!("{SELECT} WHERE m.namespace = $1 AND m.name = $2");
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(m.namespace())
            .bind(m.name())
            .fetch_one(self.pool())
            .await?)
    }

    /// Models in (namespace, name) order.
    pub async fn models_list(&self, f: &ModelFilter, limit: u32) -> Result<Vec<ModelRow>, DbError> {
        let (after_ns, after_name) = f.after.clone().unwrap_or_default();
        // Absent filters are bound as NULL so there is one SQL text, not one per combination.
        let sql = format!(
            "{SELECT} WHERE ($1 IS NULL OR m.namespace = $1) \
             AND ($2 IS NULL OR substr(m.name, 1, length($2)) = $2) \
             AND (m.namespace > $3 OR (m.namespace = $3 AND m.name > $4)) \
             AND ($6 IS NULL OR m.name = $6) \
             ORDER BY m.namespace, m.name LIMIT $5"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(f.namespace.clone())
            .bind(f.name_prefix.clone())
            .bind(after_ns)
            .bind(after_name)
            .bind(i64::from(limit))
            .bind(f.name.clone())
            .fetch_all(self.pool())
            .await?)
    }
}

/// The model's id, creating it if needed (inside the caller's write transaction).
pub async fn get_or_create(
    conn: &mut AnyConnection,
    m: &ModelName,
    actor: &str,
    now: i64,
) -> Result<(i64, bool), DbError> {
    // Looked up first: the model exists for all but its first version (one round trip, not two).
    if let Some(id) = id_of(conn, m).await? {
        return Ok((id, false));
    }
    let created: Option<i64> = sqlx::query_scalar(
        "INSERT INTO models (namespace, name, created_by, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (namespace, name) DO NOTHING RETURNING id",
    )
    .bind(m.namespace())
    .bind(m.name())
    .bind(actor)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    match created {
        Some(id) => Ok((id, true)),
        // Created by another writer between the lookup and the insert.
        None => Ok((id_of(conn, m).await?.ok_or(DbError::NotFound)?, false)),
    }
}

/// The id of model `m`, if it exists.
async fn id_of(conn: &mut AnyConnection, m: &ModelName) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar("SELECT id FROM models WHERE namespace = $1 AND name = $2")
        .bind(m.namespace())
        .bind(m.name())
        .fetch_optional(&mut *conn)
        .await?)
}
