//! Lineage edges for blast-radius queries, and quarantines.
use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;

use super::{Db, DbError, placeholders};

/// A quarantine row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuarantineRow {
    /// Id.
    pub id: i64,
    /// The seed, as text.
    pub seed: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// JSON array of alias rollbacks.
    pub rollbacks: String,
    /// The `quarantine.set` entry.
    pub log_index: i64,
    /// Who lifted it.
    pub lifted_by: Option<String>,
    /// When (unix ms).
    pub lifted_at: Option<i64>,
}

/// A version as a node of the lineage graph.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LineageNode {
    /// Internal id.
    pub id: i64,
    /// Namespace.
    pub namespace: String,
    /// Model name.
    pub name: String,
    /// Version label.
    pub version: String,
    /// Quarantined (0/1).
    pub quarantined: i64,
}

const Q: &str = "id, seed, reason, created_by, created_at, rollbacks, log_index, lifted_by, lifted_at";

impl Db {
    /// Versions trained on a dataset digest (hex).
    pub async fn versions_with_dataset(&self, digest_hex: &str) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT version_id FROM version_datasets WHERE digest = $1 ORDER BY version_id",
        )
        .bind(digest_hex)
        .fetch_all(self.pool())
        .await?)
    }

    /// Versions built from a commit.
    pub async fn versions_with_commit(&self, commit: &str) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar("SELECT id FROM versions WHERE code_commit = $1 ORDER BY id")
            .bind(commit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Versions with an attestation signed by a key (hex key id).
    pub async fn versions_signed_by(&self, key_hex: &str) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT version_id FROM attestations WHERE signer_key_id = $1 ORDER BY version_id",
        )
        .bind(key_hex)
        .fetch_all(self.pool())
        .await?)
    }

    /// (child, parent) edges whose parent is one of `parents`.
    pub async fn children_of(&self, parents: &[i64]) -> Result<Vec<(i64, i64)>, DbError> {
        let mut out = Vec::new();
        for chunk in parents.chunks(500) {
            let sql = format!(
                "SELECT version_id, parent_id FROM version_parents WHERE parent_id IN ({}) ORDER BY version_id",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            out.extend(q.fetch_all(self.pool()).await?);
        }
        Ok(out)
    }

    /// One generation of lineage around `ids`: up to `limit` (child, parent) edges from those
    /// versions to their parents (`up`) or children, reaching only versions in `namespace`/`name`
    /// (`None`: any), so other namespaces' versions are neither loaded nor counted.
    pub async fn lineage_step(
        &self,
        ids: &[i64],
        up: bool,
        namespace: Option<&str>,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(i64, i64)>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (near, far) = if up { ("version_id", "parent_id") } else { ("parent_id", "version_id") };
        let n = ids.len();
        let sql = format!(
            "SELECT p.version_id, p.parent_id FROM version_parents p JOIN versions v ON v.id = p.{far} \
             JOIN models m ON m.id = v.model_id WHERE p.{near} IN ({}) \
             AND (${a} IS NULL OR m.namespace = ${a}) AND (${b} IS NULL OR m.name = ${b}) \
             ORDER BY p.{far} LIMIT ${c}",
            placeholders(1, n),
            a = n + 1,
            b = n + 2,
            c = n + 3,
        );
        let mut q = sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        Ok(q.bind(namespace.map(str::to_owned))
            .bind(name.map(str::to_owned))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?)
    }

    /// The names and flags of these versions (the lineage graph's boxes; not whole rows).
    pub async fn lineage_nodes(&self, ids: &[i64]) -> Result<Vec<LineageNode>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT v.id, m.namespace, m.name, v.version, v.quarantined FROM versions v \
             JOIN models m ON m.id = v.model_id WHERE v.id IN ({}) ORDER BY v.id",
            placeholders(1, ids.len())
        );
        let mut q = sqlx::query_as::<_, LineageNode>(AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        Ok(q.fetch_all(self.pool()).await?)
    }

    /// Quarantines, newest first.
    pub async fn quarantines(&self, limit: u32) -> Result<Vec<QuarantineRow>, DbError> {
        let sql = format!("SELECT {Q} FROM quarantines ORDER BY id DESC LIMIT $1");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(i64::from(limit)).fetch_all(self.pool()).await?)
    }

    /// Quarantines covering at least one version of a model matching `namespace`/`name` (`None`:
    /// any), newest first.
    pub async fn quarantines_covering(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<QuarantineRow>, DbError> {
        let sql = format!(
            "SELECT {Q} FROM quarantines q WHERE EXISTS ( \
               SELECT 1 FROM quarantine_versions qv JOIN versions v ON v.id = qv.version_id \
               JOIN models m ON m.id = v.model_id WHERE qv.quarantine_id = q.id \
               AND ($1 IS NULL OR m.namespace = $1) AND ($2 IS NULL OR m.name = $2)) \
             ORDER BY id DESC LIMIT $3"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(namespace.map(str::to_owned))
            .bind(name.map(str::to_owned))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?)
    }

    /// One quarantine.
    pub async fn quarantine_get(&self, id: i64) -> Result<QuarantineRow, DbError> {
        let sql = format!("SELECT {Q} FROM quarantines WHERE id = $1");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(self.pool()).await?)
    }

    /// The versions a quarantine covers, with their paths (JSON arrays).
    pub async fn quarantine_members(&self, id: i64) -> Result<Vec<(i64, String)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT version_id, path FROM quarantine_versions WHERE quarantine_id = $1 ORDER BY log_index",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Stores a quarantine; returns its id.
pub async fn insert(
    conn: &mut AnyConnection,
    seed: &str,
    reason: &str,
    by: &str,
    at: i64,
    log_index: u64,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO quarantines (seed, reason, created_by, created_at, rollbacks, log_index) \
         VALUES ($1, $2, $3, $4, '[]', $5) RETURNING id",
    )
    .bind(seed)
    .bind(reason)
    .bind(by)
    .bind(at)
    .bind(log_index as i64)
    .fetch_one(&mut *conn)
    .await?)
}

/// Adds a version to a quarantine and marks it.
pub async fn add_member(
    conn: &mut AnyConnection,
    id: i64,
    version_id: i64,
    path: &str,
    log_index: u64,
) -> Result<(), DbError> {
    sqlx::query("INSERT INTO quarantine_versions (quarantine_id, version_id, path, log_index) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(version_id)
        .bind(path)
        .bind(log_index as i64)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE versions SET quarantined = 1 WHERE id = $1")
        .bind(version_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records the alias moves a quarantine made.
pub async fn set_rollbacks(conn: &mut AnyConnection, id: i64, json: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE quarantines SET rollbacks = $1 WHERE id = $2")
        .bind(json)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks a quarantine lifted; returns false if it already was.
pub async fn lift(
    conn: &mut AnyConnection,
    id: i64,
    by: &str,
    at: i64,
    reason: &str,
) -> Result<bool, DbError> {
    let n = sqlx::query(
        "UPDATE quarantines SET lifted_by = $1, lifted_at = $2, lift_reason = $3 WHERE id = $4 AND lifted_at IS NULL",
    )
    .bind(by)
    .bind(at)
    .bind(reason)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Members of `id` that no other active quarantine covers.
pub async fn released_by_lift(conn: &mut AnyConnection, id: i64) -> Result<Vec<i64>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT m.version_id FROM quarantine_versions m WHERE m.quarantine_id = $1 AND NOT EXISTS ( \
         SELECT 1 FROM quarantine_versions o JOIN quarantines q ON q.id = o.quarantine_id \
         WHERE o.version_id = m.version_id AND o.quarantine_id <> $1 AND q.lifted_at IS NULL) ORDER BY m.version_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Clears the quarantine flag of a version.
pub async fn release(conn: &mut AnyConnection, version_id: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE versions SET quarantined = 0 WHERE id = $1")
        .bind(version_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Aliases (model id, name, version id) pointing at any of `versions`.
pub async fn aliases_at(
    conn: &mut AnyConnection,
    versions: &[i64],
) -> Result<Vec<(i64, String, i64)>, DbError> {
    let mut out = Vec::new();
    for chunk in versions.chunks(500) {
        let sql = format!(
            "SELECT model_id, name, version_id FROM aliases WHERE version_id IN ({}) ORDER BY model_id, name",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as::<_, (i64, String, i64)>(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// What can widen a quarantine's radius: the newest version and the newest attestation (a version's
/// lineage and parents never change; a new attestation can add a signer).
pub async fn radius_mark(conn: &mut AnyConnection) -> Result<(i64, i64), DbError> {
    let v = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM versions").fetch_one(&mut *conn).await?;
    let a = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM attestations").fetch_one(&mut *conn).await?;
    Ok((v, a))
}

impl super::Db {
    /// [`radius_mark`] outside a transaction.
    pub async fn radius_mark(&self) -> Result<(i64, i64), DbError> {
        let mut conn = self.pool().acquire().await?;
        radius_mark(&mut conn).await
    }
}
