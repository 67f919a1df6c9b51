//! Rows of `aliases`, `alias_history` and `policies`.
use sqlx::{AnyConnection, AssertSqlSafe};

use super::{Db, DbError};

/// Where an alias points (joined with the version).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AliasRow {
    /// Alias name.
    pub name: String,
    /// Version id.
    pub version_id: i64,
    /// Version label.
    pub version: String,
    /// Hex manifest digest.
    pub manifest_digest: String,
    /// Who moved it.
    pub updated_by: String,
    /// Unix ms.
    pub updated_at: i64,
}

/// One promotion attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRow {
    /// Id.
    pub id: i64,
    /// Alias name.
    pub name: String,
    /// Target version id.
    pub version_id: i64,
    /// Target label.
    pub version: String,
    /// Previous target id.
    pub previous_version_id: Option<i64>,
    /// Previous target label.
    pub previous: Option<String>,
    /// `promote` or `rollback`.
    pub kind: String,
    /// `passed` or `failed`.
    pub decision: String,
    /// JSON array of strings.
    pub reasons: String,
    /// JSON array of policy refs.
    pub policies: String,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// VSA attestation id.
    pub vsa_attestation_id: Option<i64>,
    /// Log index.
    pub log_index: Option<i64>,
    /// Unix ms.
    pub at: i64,
}

/// A policy revision.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    /// Id.
    pub id: i64,
    /// Namespace pattern.
    pub namespace: String,
    /// Alias pattern.
    pub alias: String,
    /// Revision.
    pub revision: i64,
    /// Rego.
    pub rego: String,
    /// Hex SHA-256 of `rego`.
    pub digest: String,
    /// Who.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Log index.
    pub log_index: Option<i64>,
}

const ALIAS: &str = "SELECT a.name, a.version_id, v.version, v.manifest_digest, a.updated_by, a.updated_at \
                     FROM aliases a JOIN versions v ON v.id = a.version_id";
const HISTORY: &str = "SELECT h.id, h.name, h.version_id, v.version, h.previous_version_id, p.version AS previous, \
     h.kind, h.decision, h.reasons, h.policies, h.actor, h.reason, h.vsa_attestation_id, h.log_index, h.at \
     FROM alias_history h JOIN versions v ON v.id = h.version_id LEFT JOIN versions p ON p.id = h.previous_version_id";
const POLICY: &str = "id, namespace, alias, revision, rego, digest, created_by, created_at, log_index";

impl Db {
    /// Every alias of a model.
    pub async fn aliases_of(&self, model_id: i64) -> Result<Vec<AliasRow>, DbError> {
        let sql = format!("{ALIAS} WHERE a.model_id = $1 ORDER BY a.name");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(model_id).fetch_all(self.pool()).await?)
    }

    /// One alias.
    pub async fn alias_get(&self, model_id: i64, name: &str) -> Result<Option<AliasRow>, DbError> {
        let sql = format!("{ALIAS} WHERE a.model_id = $1 AND a.name = $2");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(model_id).bind(name).fetch_optional(self.pool()).await?)
    }

    /// An alias's history, newest first (at most `limit`); only moves (`passed`) if `passed_only`.
    pub async fn alias_history(
        &self,
        model_id: i64,
        name: &str,
        passed_only: bool,
        limit: u32,
    ) -> Result<Vec<HistoryRow>, DbError> {
        let sql = format!(
            "{HISTORY} WHERE h.model_id = $1 AND h.name = $2 AND ($3 = 0 OR h.decision = 'passed') ORDER BY h.id DESC LIMIT $4"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(model_id)
            .bind(name)
            .bind(i64::from(passed_only))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?)
    }

    /// Where the alias pointed at `at_ms` (the last move at or before then).
    pub async fn alias_at(
        &self,
        model_id: i64,
        name: &str,
        at_ms: i64,
    ) -> Result<Option<HistoryRow>, DbError> {
        let sql = format!(
            "{HISTORY} WHERE h.model_id = $1 AND h.name = $2 AND h.decision = 'passed' AND h.at <= $3 ORDER BY h.id DESC LIMIT 1"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(model_id)
            .bind(name)
            .bind(at_ms)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The newest policy id (changes whenever any policy does).
    pub async fn policy_mark(&self) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM policies").fetch_one(self.pool()).await?)
    }

    /// Versions this alias was rolled back from (never chosen again by a rollback).
    pub async fn rolled_back_from(&self, model_id: i64, name: &str) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT previous_version_id FROM alias_history WHERE model_id = $1 AND name = $2 AND kind = 'rollback' \
             AND decision = 'passed' AND previous_version_id IS NOT NULL",
        )
        .bind(model_id)
        .bind(name)
        .fetch_all(self.pool())
        .await?)
    }

    /// The policy revisions in force (the highest revision of each pattern pair).
    pub async fn policies_current(&self) -> Result<Vec<PolicyRow>, DbError> {
        let sql = format!(
            "SELECT {POLICY} FROM policies p WHERE revision = \
             (SELECT MAX(revision) FROM policies q WHERE q.namespace = p.namespace AND q.alias = p.alias) \
             ORDER BY namespace, alias"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(self.pool()).await?)
    }

    /// Every revision of one (namespace pattern, alias pattern) pair, newest first.
    pub async fn policy_revisions(&self, namespace: &str, alias: &str) -> Result<Vec<PolicyRow>, DbError> {
        let sql = format!(
            "SELECT {POLICY} FROM policies WHERE namespace = $1 AND alias = $2 ORDER BY revision DESC"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(namespace).bind(alias).fetch_all(self.pool()).await?)
    }

    /// One policy revision.
    pub async fn policy_get(&self, id: i64) -> Result<PolicyRow, DbError> {
        let sql = format!("SELECT {POLICY} FROM policies WHERE id = $1");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(self.pool()).await?)
    }
}

/// The alias's current target inside the transaction.
pub async fn current(
    conn: &mut AnyConnection,
    model_id: i64,
    name: &str,
) -> Result<Option<AliasRow>, DbError> {
    let sql = format!("{ALIAS} WHERE a.model_id = $1 AND a.name = $2");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(model_id).bind(name).fetch_optional(&mut *conn).await?)
}

/// Every alias of a model, inside the transaction.
pub async fn all_in(conn: &mut AnyConnection, model_id: i64) -> Result<Vec<AliasRow>, DbError> {
    let sql = format!("{ALIAS} WHERE a.model_id = $1 ORDER BY a.name");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(model_id).fetch_all(&mut *conn).await?)
}

/// The newest policy id (changes whenever any policy does), inside the transaction.
pub async fn policy_mark_in(conn: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM policies").fetch_one(&mut *conn).await?)
}

/// Points the alias at a version.
pub async fn set(
    conn: &mut AnyConnection,
    model_id: i64,
    name: &str,
    version_id: i64,
    by: &str,
    at: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO aliases (model_id, name, version_id, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (model_id, name) DO UPDATE SET version_id = $3, updated_by = $4, updated_at = $5",
    )
    .bind(model_id)
    .bind(name)
    .bind(version_id)
    .bind(by)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records one promotion attempt; returns its id.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    conn: &mut AnyConnection,
    model_id: i64,
    name: &str,
    version_id: i64,
    previous: Option<i64>,
    kind: &str,
    decision: &str,
    reasons: &str,
    policies: &str,
    actor: &str,
    reason: &str,
    vsa: Option<i64>,
    log_index: u64,
    at: i64,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO alias_history (model_id, name, version_id, previous_version_id, kind, decision, reasons, policies, \
         actor, reason, vsa_attestation_id, log_index, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         RETURNING id",
    )
    .bind(model_id)
    .bind(name)
    .bind(version_id)
    .bind(previous)
    .bind(kind)
    .bind(decision)
    .bind(reasons)
    .bind(policies)
    .bind(actor)
    .bind(reason)
    .bind(vsa)
    .bind(log_index as i64)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?)
}

/// Stores a new policy revision (the next number for its pattern pair); returns (id, revision).
pub async fn add_policy(
    conn: &mut AnyConnection,
    namespace: &str,
    alias: &str,
    rego: &str,
    digest: &str,
    by: &str,
    at: i64,
) -> Result<(i64, i64), DbError> {
    let rev: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(revision), 0) + 1 FROM policies WHERE namespace = $1 AND alias = $2",
    )
    .bind(namespace)
    .bind(alias)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO policies (namespace, alias, revision, rego, digest, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(namespace)
    .bind(alias)
    .bind(rev)
    .bind(rego)
    .bind(digest)
    .bind(by)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, rev))
}

/// Records a policy's log index.
pub async fn set_policy_log_index(conn: &mut AnyConnection, id: i64, idx: u64) -> Result<(), DbError> {
    sqlx::query("UPDATE policies SET log_index = $1 WHERE id = $2")
        .bind(idx as i64)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What a promotion decision read about its target besides aliases and policies: the version's
/// quarantine and corruption flags, its attestations, and every trusted key, identity and trust root
/// (an attestation's status depends on all three).
/// Read before the decision and again under the write lock; any difference means the decision may
/// no longer hold and is taken again.
#[derive(Debug, PartialEq, Eq)]
pub struct EvidenceMark {
    flags: Option<(i64, i64)>,
    attestations: Vec<i64>,
    trust: super::attestations::TrustRows,
}

/// The evidence mark of `version_id` (see [`EvidenceMark`]), inside a transaction or on a connection.
pub async fn evidence_mark(conn: &mut AnyConnection, version_id: i64) -> Result<EvidenceMark, DbError> {
    let flags = sqlx::query_as("SELECT quarantined, corrupted FROM versions WHERE id = $1")
        .bind(version_id)
        .fetch_optional(&mut *conn)
        .await?;
    let attestations = sqlx::query_scalar("SELECT id FROM attestations WHERE version_id = $1 ORDER BY id")
        .bind(version_id)
        .fetch_all(&mut *conn)
        .await?;
    let trust = super::attestations::trust_rows(conn).await?;
    Ok(EvidenceMark { flags, attestations, trust })
}

impl Db {
    /// [`evidence_mark`] outside a transaction (what a decision is about to read).
    pub async fn evidence_mark(&self, version_id: i64) -> Result<EvidenceMark, DbError> {
        let mut conn = self.pool().acquire().await?;
        evidence_mark(&mut conn, version_id).await
    }
}
