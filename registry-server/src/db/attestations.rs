//! Rows of `attestations` (exact bytes plus what verification found) and `trusted_keys`, and
//! `namespace_settings`.
use sqlx::{AnyConnection, AssertSqlSafe};

use super::{Db, DbError};

/// A stored attestation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttestationRow {
    /// Id.
    pub id: i64,
    /// Owning version.
    pub version_id: i64,
    /// Hex SHA-256 of `body`.
    pub digest: String,
    /// The exact bytes received (JSON, so UTF-8).
    pub body: String,
    /// `dsse` or `sigstore_bundle`.
    pub format: String,
    /// Predicate type.
    pub predicate_type: String,
    /// Hex key id of the verified signer.
    pub signer_key_id: String,
    /// Hex subject digest.
    pub subject_digest: String,
    /// `manifest`, `files` or `content`.
    pub binding: String,
    /// Who added it.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Index of its `attestation.added` log entry.
    pub log_index: Option<i64>,
    /// Keyless: JSON of the verified `SignerIdentity`.
    pub signer_identity: Option<String>,
}

/// A trusted key row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    /// Hex key id.
    pub key_id: String,
    /// Namespace pattern.
    pub namespace: String,
    /// PEM.
    pub public_key: String,
    /// JSON array of predicate types.
    pub predicate_types: String,
    /// Who added it.
    pub added_by: String,
    /// Unix ms.
    pub added_at: i64,
    /// Unix ms.
    pub revoked_at: Option<i64>,
}

pub(super) const ATT: &str = "id, version_id, digest, body, format, predicate_type, signer_key_id, subject_digest, binding, \
                   created_by, created_at, log_index, signer_identity";
/// [`ATT`] with an empty body.
const ATT_HEAD: &str = "id, version_id, digest, '' AS body, format, predicate_type, signer_key_id, subject_digest, \
                        binding, created_by, created_at, log_index, signer_identity";
const KEY: &str = "key_id, namespace, public_key, predicate_types, added_by, added_at, revoked_at";

/// Stores an attestation of a version (inside the caller's transaction) with its evidence key; its
/// id, or `None` if the same bytes or the same evidence (`evidence_key`) were already stored.
pub async fn insert(
    conn: &mut AnyConnection,
    a: &AttestationRow,
    evidence_key: &str,
) -> Result<Option<i64>, DbError> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO attestations (version_id, digest, body, format, predicate_type, signer_key_id, subject_digest, \
         binding, created_by, created_at, evidence_key, signer_identity) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(a.version_id)
    .bind(&a.digest)
    .bind(&a.body)
    .bind(&a.format)
    .bind(&a.predicate_type)
    .bind(&a.signer_key_id)
    .bind(&a.subject_digest)
    .bind(&a.binding)
    .bind(&a.created_by)
    .bind(a.created_at)
    .bind(evidence_key)
    .bind(&a.signer_identity)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

/// Rows stored before evidence keys existed: (id, body, signer key id), at most `limit`.
pub async fn without_evidence_key(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<(i64, String, String)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, body, signer_key_id FROM attestations WHERE evidence_key IS NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Sets a row's evidence key; `Conflict` when the version already holds that evidence (a duplicate
/// stored before keys existed, which keeps no key).
pub async fn set_evidence_key(conn: &mut AnyConnection, id: i64, key: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE attestations SET evidence_key = $1 WHERE id = $2")
        .bind(key)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records the log index of an attestation's entry.
pub async fn set_log_index(conn: &mut AnyConnection, id: i64, idx: u64) -> Result<(), DbError> {
    sqlx::query("UPDATE attestations SET log_index = $1 WHERE id = $2")
        .bind(idx as i64)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Db {
    /// How many attestations each of `version_ids` has, leaving out one predicate type (the
    /// registry's own VSAs: they record a decision, not where the version came from).
    pub async fn attestation_counts(
        &self,
        version_ids: &[i64],
        except_predicate: &str,
    ) -> Result<std::collections::HashMap<i64, i64>, DbError> {
        let mut out = std::collections::HashMap::new();
        for chunk in version_ids.chunks(500) {
            let sql = format!(
                "SELECT version_id, COUNT(*) FROM attestations WHERE predicate_type <> $1 \
                 AND version_id IN ({}) GROUP BY version_id",
                super::placeholders(2, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql)).bind(except_predicate);
            for id in chunk {
                q = q.bind(*id);
            }
            out.extend(q.fetch_all(self.pool()).await?);
        }
        Ok(out)
    }

    /// A version's attestations, oldest first.
    pub async fn attestations_of(&self, version_id: i64) -> Result<Vec<AttestationRow>, DbError> {
        let sql = format!("SELECT {ATT} FROM attestations WHERE version_id = $1 ORDER BY id");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(version_id).fetch_all(self.pool()).await?)
    }

    /// [`Db::attestations_of`] without their bodies (`body` left empty): what trust status and a
    /// listing read, a fraction of the bytes.
    pub async fn attestation_heads_of(&self, version_id: i64) -> Result<Vec<AttestationRow>, DbError> {
        let sql = format!("SELECT {ATT_HEAD} FROM attestations WHERE version_id = $1 ORDER BY id");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(version_id).fetch_all(self.pool()).await?)
    }

    /// One attestation of a version.
    pub async fn attestation_get(&self, version_id: i64, id: i64) -> Result<AttestationRow, DbError> {
        let sql = format!("SELECT {ATT} FROM attestations WHERE version_id = $1 AND id = $2");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(version_id).bind(id).fetch_one(self.pool()).await?)
    }

    /// One attestation of a version by digest.
    pub async fn attestation_by_digest(
        &self,
        version_id: i64,
        digest: &str,
    ) -> Result<AttestationRow, DbError> {
        let sql = format!("SELECT {ATT} FROM attestations WHERE version_id = $1 AND digest = $2");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(version_id).bind(digest).fetch_one(self.pool()).await?)
    }

    /// The attestation of a version holding this evidence.
    pub async fn attestation_by_evidence(
        &self,
        version_id: i64,
        key: &str,
    ) -> Result<AttestationRow, DbError> {
        let sql = format!("SELECT {ATT} FROM attestations WHERE version_id = $1 AND evidence_key = $2");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(version_id).bind(key).fetch_one(self.pool()).await?)
    }

    /// Every trusted-key row, revoked ones included.
    pub async fn keys_list(&self) -> Result<Vec<KeyRow>, DbError> {
        let sql = format!("SELECT {KEY} FROM trusted_keys ORDER BY added_at, key_id, namespace");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(self.pool()).await?)
    }
}

/// Trusts a key for a namespace pattern (in the caller's transaction); a revoked row is reinstated.
/// `Conflict` if already trusted.
pub async fn key_add(conn: &mut AnyConnection, k: &KeyRow) -> Result<(), DbError> {
    {
        let reinstated = sqlx::query(
            "UPDATE trusted_keys SET revoked_at = NULL, predicate_types = $3, added_by = $4, added_at = $5 \
             WHERE key_id = $1 AND namespace = $2 AND revoked_at IS NOT NULL",
        )
        .bind(&k.key_id)
        .bind(&k.namespace)
        .bind(&k.predicate_types)
        .bind(&k.added_by)
        .bind(k.added_at)
        .execute(&mut *conn)
        .await?;
        if reinstated.rows_affected() == 1 {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO trusted_keys (key_id, namespace, public_key, predicate_types, added_by, added_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&k.key_id)
        .bind(&k.namespace)
        .bind(&k.public_key)
        .bind(&k.predicate_types)
        .bind(&k.added_by)
        .bind(k.added_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// Revokes a key (for one pattern, or all) in the caller's transaction; returns how many rows changed.
pub async fn key_revoke(
    conn: &mut AnyConnection,
    key_id: &str,
    namespace: Option<&str>,
    now: i64,
) -> Result<u64, DbError> {
    {
        let r = sqlx::query(
            "UPDATE trusted_keys SET revoked_at = $1 WHERE key_id = $2 AND ($3 IS NULL OR namespace = $3) \
             AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(key_id)
        .bind(namespace.map(str::to_owned))
        .execute(&mut *conn)
        .await?;
        Ok(r.rows_affected())
    }
}

impl Db {
    /// Whether a namespace requires signed provenance.
    pub async fn require_provenance(&self, namespace: &str) -> Result<bool, DbError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT require_provenance FROM namespace_settings WHERE namespace = $1")
                .bind(namespace)
                .fetch_optional(self.pool())
                .await?;
        Ok(v.unwrap_or(0) != 0)
    }
}

/// What a push's or an attestation's verification read about trust: every trusted-key and
/// trusted-identity row (added, revoked), the installed trust roots, and the namespace's provenance
/// requirement. Read before verifying and again under the
/// write lock; a difference means a key was trusted or revoked, or the requirement changed, in
/// between, and the verification is done again.
#[derive(Debug, PartialEq, Eq)]
pub struct TrustMark {
    namespace: String,
    rows: TrustRows,
    require_provenance: Option<i64>,
}

/// Every row that decides whether a signer is trusted now: trusted keys and identities (added,
/// revoked, whole, so a key reinstated with other predicate types is a change even if the clock gave
/// it the same `added_at`) and the installed trust roots. Part of the push and attestation
/// [`TrustMark`] and of a promotion's evidence mark.
#[derive(Debug, PartialEq, Eq)]
pub struct TrustRows {
    keys: Vec<KeyMarkRow>,
    identities: Vec<IdentityMarkRow>,
    roots: Vec<(String, String)>,
}

/// A trusted-key row as the marks compare it.
type KeyMarkRow = (String, String, String, String, i64, Option<i64>);
/// A trusted-identity row as the marks compare it.
type IdentityMarkRow = (i64, String, String, String, i64, String, Option<String>, Option<i64>);

/// [`TrustRows`] as they are now, inside a transaction or on a connection.
pub async fn trust_rows(conn: &mut AnyConnection) -> Result<TrustRows, DbError> {
    let keys = sqlx::query_as(
        "SELECT key_id, namespace, public_key, predicate_types, added_at, revoked_at FROM trusted_keys \
         ORDER BY key_id, namespace",
    )
    .fetch_all(&mut *conn)
    .await?;
    let identities = sqlx::query_as(
        "SELECT id, namespace, issuer, subject, subject_regex, claims, trust_root, revoked_at \
         FROM trusted_identities ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let roots =
        sqlx::query_as("SELECT name, digest FROM trust_roots ORDER BY name").fetch_all(&mut *conn).await?;
    Ok(TrustRows { keys, identities, roots })
}

/// The trust mark of `namespace` (see [`TrustMark`]), inside a transaction or on a connection.
pub async fn trust_mark(conn: &mut AnyConnection, namespace: &str) -> Result<TrustMark, DbError> {
    let rows = trust_rows(conn).await?;
    let require_provenance =
        sqlx::query_scalar("SELECT require_provenance FROM namespace_settings WHERE namespace = $1")
            .bind(namespace)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(TrustMark { namespace: namespace.to_owned(), rows, require_provenance })
}

impl TrustMark {
    /// Whether trust is still as this mark read it (inside the caller's transaction, under the lock).
    /// In a group commit's transaction the rows are read once per namespace: every change to them
    /// takes the global write lock the batch holds, and no publish changes them.
    pub async fn holds(&self, tx: &mut super::Tx) -> Result<bool, DbError> {
        if let Some(now) = tx.trust_memo.as_ref().and_then(|m| m.get(&self.namespace)) {
            return Ok(now == self);
        }
        let now = trust_mark(tx, &self.namespace).await?;
        let same = now == *self;
        if let Some(memo) = tx.trust_memo.as_mut() {
            memo.insert(self.namespace.clone(), now);
        }
        Ok(same)
    }
}

impl Db {
    /// [`trust_mark`] outside a transaction (what a verification is about to read).
    pub async fn trust_mark(&self, namespace: &str) -> Result<TrustMark, DbError> {
        let mut conn = self.pool().acquire().await?;
        trust_mark(&mut conn, namespace).await
    }
}

/// Sets a namespace's settings in the caller's transaction.
pub async fn set_require_provenance(
    conn: &mut AnyConnection,
    namespace: &str,
    on: bool,
    by: &str,
    now: i64,
) -> Result<(), DbError> {
    {
        sqlx::query(
            "INSERT INTO namespace_settings (namespace, require_provenance, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (namespace) DO UPDATE SET require_provenance = $2, updated_by = $3, updated_at = $4",
        )
        .bind(namespace)
        .bind(i64::from(on))
        .bind(by)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
